/**
 * The run config a user writes (as JSON for `mcl run config.json`, or as an object for
 * `Mcl.start`). Every field is documented with `.describe()`, every default is explicit, and
 * every object is strict, so a misspelt key is an error that names it.
 *
 * Per-stage values (`clusters`, `epochsPerStage`) take one number for every stage or an array;
 * `stageSchedule` in the control plane expands them.
 */

import { z } from "zod";
import { DEFAULT_MIN_BATCH_SIZE, SMALL_GROUP_POLICIES } from "../control/batch-planner.js";
import { integrationProblems, NORMALIZATIONS } from "../control/integration.js";
import { PLUGIN_REF, isPluginRef } from "./plugin-ref.js";
import { CLIP_ENCODERS, clipProblems, clipSchema, isClipEncoder } from "./clip-config.js";
import { computeProblems, computeSchema } from "./compute-config.js";
import { LR_SCHEDULES, OPTIMIZERS } from "../wire/index.js";
import { preprocessSchema } from "./preprocess.js";

export const ENCODERS = ["small-cnn", "resnet18", "resnet50", "vit-tiny", "vit-small", "vit-base"] as const;
export const STAGE_INITS = ["scratch", "pretrained", "previous"] as const;
export const SAMPLING_POLICIES = ["uniform", "mcl"] as const;
export const LOSSES = ["nt-xent", "supcon", "dcl"] as const;
export { LR_SCHEDULES, OPTIMIZERS, SMALL_GROUP_POLICIES };

/**
 * Keys that earlier versions took, by path, with what replaced them (a run made with one reads as
 * its replacement: ts/run/run-store.ts).
 */
export const RETIRED_CONFIG_KEYS: Readonly<Record<string, string>> = {
  "clip.imageUnlockedBlocks":
    "replaced by clip.lockImage and clip.lockImageUnlockedGroups (open_clip's groups): for a ViT encoder, N unlocked blocks" +
    " are lockImage true with lockImageUnlockedGroups N + 1 (N = 0: 0); the clip-rn50 tower locks only whole (lockImage" +
    " true) or trains whole (false)",
};

/** The built-in losses that take no labels. */
const SELF_SUPERVISED = ["nt-xent", "dcl"] as const;

const probability = z.number().min(0).max(1);
/** Keyword arguments the worker passes to a plugin: JSON values, never code. */
const pluginArgs = (what: string) =>
  z
    .record(z.string(), z.json())
    .optional()
    .describe(`Keyword arguments (JSON values) of the ${what} plugin; only with a py:<module>:<attr> ${what}`);
/** The worker passes these to an encoder plugin itself (from the dataset's images). */
const ENCODER_SIZE_ARGS = ["image_size", "in_channels"] as const;

const samplingSchema = z
  .strictObject({
    policy: z
      .enum(SAMPLING_POLICIES)
      .default("mcl")
      .describe("Negatives for every stage after the first clustering: 'mcl' = one pseudo-label group per batch; 'uniform' = plain contrastive"),
    smallGroups: z
      .enum(SMALL_GROUP_POLICIES)
      .default("balanced")
      .describe(
        "Groups and remainders smaller than a batch: 'balanced' (default) cuts every group into the fewest batches of at most batchSize, of equal sizes, and pools groups under minBatchSize with their siblings in the previous stage's group; 'drop' leaves them out; 'merge-to-parent' merges them into the previous stage's group (up to the first clustering's cluster, whose leftover is left out); 'shrink' allows one smaller batch. docs/method.md compares them",
      ),
    minBatchSize: z
      .int()
      .min(2)
      .optional()
      .describe(
        "Under 'balanced', a group below this size joins its parent group's pool; under 'shrink', a smaller batch below it is left out (and counted). Default: 32, or batchSize when that is smaller",
      ),
  });

const lossSchema = z
  .strictObject({
    name: z
      .string()
      .refine((name) => (LOSSES as readonly string[]).includes(name) || PLUGIN_REF.test(name), {
        error: (issue) =>
          `expected one of ${LOSSES.join(", ")} or a plugin py:<module>:<attr>, got ${JSON.stringify(issue.input)}`,
        params: { values: LOSSES }, // for "did you mean" (config-error.ts)
      })
      .default("nt-xent")
      .describe(
        "Contrastive loss: SimCLR's NT-Xent, SupCon, decoupled (DCL), or a Python plugin py:<module>:<attr> with the built-in signature loss(z_a, z_b, *, temperature, labels=None, **args)",
      ),
    temperature: z.number().positive().default(0.2).describe("Softmax temperature tau"),
    args: pluginArgs("loss"),
    attribute: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The dataset's labelled attribute whose classes are the labels: required by supcon, refused by nt-xent and dcl, given to a plugin loss as labels",
      ),
  });

/** The `loss` section as parsed from nothing: what a CLIP run (whose loss is clip.loss) must leave alone. */
const DEFAULT_LOSS = lossSchema.parse({});

const optimizerSchema = z
  .strictObject({
    name: z.enum(OPTIMIZERS).default("adamw").describe("Optimiser"),
    lr: z.number().positive().default(1e-3).describe("Peak learning rate, reached at the end of the warm-up"),
    weightDecay: z.number().min(0).default(1e-4).describe("Weight decay"),
    momentum: z.number().min(0).max(1).default(0.9).describe("Momentum (sgd only)"),
    warmupSteps: z
      .int()
      .min(0)
      .default(0)
      .describe(
        "Linear warm-up steps at the start of every stage (and of the baseline), each from its own step 0; as open_clip, a" +
          " warm-up longer than a stage is allowed, and that stage's rate then never reaches lr",
      ),
    schedule: z
      .enum(LR_SCHEDULES)
      .default("constant")
      .describe("After the warm-up: the constant peak rate (the paper), or a cosine decay to 0 at the stage's last step"),
  });

const augmentationSchema = z
  .strictObject({
    cropScale: z
      .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
      .default([0.2, 1])
      .describe("Random resized crop: [min, max] fraction of the image area"),
    flip: z.boolean().default(true).describe("Random horizontal flip"),
    jitter: probability.default(0.4).describe("Colour jitter strength (0 = off)"),
    grayscale: probability.default(0.2).describe("Probability of converting a view to grayscale"),
    blur: probability.default(0).describe("Probability of a Gaussian blur"),
  });

const integrationSchema = z
  .strictObject({
    stages: z
      .array(z.int().min(0))
      .min(1)
      .optional()
      .describe("Stages to concatenate, by number: 1…stages, a CLIP run's 0…stages (default: every stage)"),
    weights: z
      .array(z.number().min(0))
      .min(1)
      .optional()
      .describe("One weight per integrated stage (default: 1 each)"),
    normalize: z
      .enum(NORMALIZATIONS)
      .default("concat-then-l2")
      .describe("The stages' L2-normalised embeddings are concatenated at their weights, then: scaled to unit norm (concat-then-l2), or left as they are (per-stage-l2, none; on unit-norm stages the three differ only by a constant factor). docs/method.md, step 5"),
  });

const probeSchema = z
  .strictObject({
    attributes: z
      .union([z.literal("all"), z.array(z.string().min(1)).min(1)])
      .default("all")
      .describe("Labelled attributes to probe ('all' = every attribute the dataset labels)"),
    knn: z.int().min(0).default(20).describe("k of the kNN probe (0 = no kNN probe)"),
  });

/** Loading images never changes results (the worker augments in the training loop, seeded by the step). */
const dataSchema = z.strictObject({
  workers: z
    .union([z.literal("auto"), z.int().min(0).max(64)], {
      error: (issue) =>
        issue.code === "invalid_union" ? `expected "auto" or an integer in [0, 64], got ${JSON.stringify(issue.input)}` : undefined,
    })
    .default("auto")
    .describe(
      "Loader processes that read, decode and resize the next batches' images while a step computes (0 = in the training process). 'auto': none for datasets held in memory; for image files (folder:, csv:, webdataset:), min(4, CPUs - 1) and at least 1, counted on the worker's machine",
    ),
  prefetch: z.int().min(1).max(64).default(2).describe("Batches each loader process keeps ready ahead of the step"),
});

/** Experiment logs besides metrics.jsonl, which every run writes (docs/experiment-logs.md). */
const loggingSchema = z.strictObject({
  tensorboard: z
    .boolean()
    .default(true)
    .describe("Write TensorBoard event files to <run>/tensorboard/ as the run goes (losses, learning rate, samples/s, left-out fraction, probe accuracies)"),
  wandb: z
    .strictObject({
      project: z.string().min(1).describe("W&B project"),
      entity: z.string().min(1).optional().describe("W&B entity (user or team; default: the account's default entity)"),
      name: z.string().min(1).optional().describe("W&B run name (default: the config's name)"),
      mode: z.enum(["online", "offline"]).default("online").describe("online streams to W&B; offline writes <run>/wandb/ for `wandb sync`"),
    })
    .optional()
    .describe("Also log the metrics to Weights & Biases, through a sidecar in the worker's Python; needs `pip install wandb` there (absent: no W&B)"),
});

const perStageInt = (min: number, what: string) =>
  z
    .union([z.int().min(min), z.array(z.int().min(min)).min(1)], {
      error: (issue) =>
        issue.code === "invalid_union"
          ? `expected an integer >= ${min} or an array of them (${what}), got ${JSON.stringify(issue.input)}`
          : undefined,
    });

export const mclConfigSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
        error: "expected letters, digits, '.', '_' or '-' (it names the run directory)",
      })
      .describe("Run name; the run lives in <runDir>/<name>"),
    dataset: z
      .string()
      .regex(/^[a-z][a-z0-9+.-]*:.+$/, { error: "expected a dataset URI such as synthetic:trifeature" })
      .refine((uri) => !isPluginRef(uri) || PLUGIN_REF.test(uri), {
        error: (issue) => `expected a plugin reference py:<module.path>:<attribute>, got ${JSON.stringify(issue.input)}`,
      })
      .default("synthetic:trifeature")
      .describe(
        "Dataset URI: synthetic:<name>, digits:colored, npz:<path>, folder:<path>, csv:<file>, webdataset:<folder or shard pattern>, or a Python plugin py:<module>:<attr> that builds a map-style dataset",
      ),
    datasetArgs: pluginArgs("dataset"),
    encoder: z
      .string()
      .refine((name) => (ENCODERS as readonly string[]).includes(name) || isClipEncoder(name) || PLUGIN_REF.test(name), {
        error: (issue) =>
          `expected one of ${[...ENCODERS, ...CLIP_ENCODERS].join(", ")} or a plugin py:<module>:<attr>, got ${JSON.stringify(issue.input)}`,
        params: { values: [...ENCODERS, ...CLIP_ENCODERS] }, // for "did you mean" (config-error.ts)
      })
      .default("small-cnn")
      .describe(
        "Encoder architecture, or a Python plugin py:<module>:<attr>: a callable returning an nn.Module from images to features (the worker adds its projection head)",
      ),
    encoderArgs: pluginArgs("encoder"),
    clip: clipSchema
      .optional()
      .describe("CLIP runs (encoder clip-*): weights, tokenizer, freezing, loss, stage 0 and evaluation (ts/config/clip-config.ts)"),
    stages: z.int().min(1).max(64).default(3).describe("Number of MCL stages S (1 = ordinary contrastive learning)"),
    clusters: perStageInt(2, "one per clustering, after stages 1…S-1")
      .default(10)
      .describe("k-means clusters K after each stage but the last: one number, or S-1 numbers"),
    epochsPerStage: perStageInt(1, "one per stage")
      .default(20)
      .describe("Training epochs of each stage: one number, or S numbers"),
    batchSize: z.int().min(2).default(256).describe("Global batch size B (all data-parallel ranks together)"),
    init: z
      .enum(STAGE_INITS)
      .default("scratch")
      .describe("Start of each stage's encoder: fresh weights, the pretrained weights, or the previous stage's weights"),
    pretrained: z
      .string()
      .min(1)
      .optional()
      .describe("Pretrained weights (path or name); required when init is 'pretrained', the start of the first stage under 'previous'"),
    sampling: samplingSchema.prefault({}).describe("Negative sampling"),
    loss: lossSchema.prefault({}).describe("Contrastive loss"),
    optimizer: optimizerSchema.prefault({}).describe("Optimiser, re-created at the start of every stage"),
    augmentation: augmentationSchema.prefault({}).describe("Augmentations that make the two views of a sample"),
    preprocess: preprocessSchema
      .prefault({})
      .describe(
        "Input preprocessing (normalisation, resampling filter, eval crop) of training and embedding; an absent field takes the encoder's weights' own (ts/config/preprocess.ts)",
      ),
    data: dataSchema
      .prefault({})
      .describe("How training and embedding load images: loader processes and prefetch (results do not depend on them)"),
    integration: integrationSchema.prefault({}).describe("How per-stage embeddings combine into the final representation"),
    seed: z.int().min(0).default(0).describe("Seed of every random choice (batch plans, initialisation, k-means)"),
    baseline: z
      .boolean()
      .default(true)
      .describe("Also train a single-stage baseline with the same total epochs (the equal-compute comparison)"),
    probe: probeSchema.prefault({}).describe("Per-attribute probes that measure feature suppression"),
    compute: computeSchema
      .prefault({})
      .describe("Device, precision, torch.compile, gradient checkpointing and memory format of the encoder (ts/config/compute-config.ts)"),
    logging: loggingSchema
      .prefault({})
      .describe("Experiment logs (docs/experiment-logs.md): metrics.jsonl is always written to the run directory; TensorBoard event files and Weights & Biases as asked here"),
    runDir: z.string().min(1).default("runs").describe("Folder that holds the run directories"),
  })
  .superRefine((config, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message, input: undefined });
    if (config.init === "pretrained" && config.pretrained === undefined) {
      issue(["pretrained"], "required when init is 'pretrained' (a path or model name)");
    }
    // A CLIP run clusters after stage 0 too: `stages` clusterings, and stages+1 stages to integrate.
    const clip = isClipEncoder(config.encoder);
    const clusterings = clip ? config.stages : config.stages - 1;
    if (Array.isArray(config.clusters) && config.clusters.length !== clusterings) {
      const after = clip ? `stages 0…${config.stages - 1}` : `stages 1…${config.stages - 1}`;
      issue(["clusters"], `expected ${clusterings} entries (one per clustering, after ${after}), got ${config.clusters.length}`);
    }
    for (const [path, message] of clipProblems(config, DEFAULT_LOSS)) issue(path, message);
    for (const [path, message] of computeProblems(config.encoder, config.compute)) issue(path, message);
    if (Array.isArray(config.epochsPerStage) && config.epochsPerStage.length !== config.stages) {
      issue(["epochsPerStage"], `expected ${config.stages} entries (one per stage), got ${config.epochsPerStage.length}`);
    }
    const plugins: [(string | number)[], string, Record<string, unknown> | undefined][] = [
      [["encoderArgs"], config.encoder, config.encoderArgs],
      [["datasetArgs"], config.dataset, config.datasetArgs],
      [["loss", "args"], config.loss.name, config.loss.args],
    ];
    for (const [path, name, args] of plugins) {
      if (args !== undefined && !isPluginRef(name)) {
        issue(path, `only a plugin (py:<module>:<attr>) takes arguments, and ${JSON.stringify(name)} is built in; remove it`);
      }
    }
    if (config.loss.name === "supcon" && config.loss.attribute === undefined) {
      issue(["loss", "attribute"], "supcon needs the dataset's labelled attribute whose classes are its labels, e.g. 'shape'");
    } else if (config.loss.attribute !== undefined && (SELF_SUPERVISED as readonly string[]).includes(config.loss.name)) {
      issue(["loss", "attribute"], `${config.loss.name} is self-supervised and takes no labels; remove it or use supcon`);
    }
    for (const name of ENCODER_SIZE_ARGS) {
      if (config.encoderArgs !== undefined && Object.hasOwn(config.encoderArgs, name)) {
        issue(["encoderArgs", name], "the worker passes it from the dataset's images; remove it");
      }
    }
    const { minBatchSize } = config.sampling;
    if (minBatchSize !== undefined && minBatchSize > config.batchSize) {
      issue(["sampling", "minBatchSize"], `expected at most batchSize (${config.batchSize}), got ${minBatchSize}`);
    }
    const [low, high] = config.augmentation.cropScale;
    if (low > high) issue(["augmentation", "cropScale"], `expected [min, max] with min <= max, got [${low}, ${high}]`);
    for (const problem of integrationProblems(config.integration, clip ? config.stages + 1 : config.stages, clip ? 0 : 1)) {
      const colon = problem.indexOf(": ");
      issue(["integration", ...parsePath(problem.slice(0, colon))], problem.slice(colon + 2));
    }
  })
  // The default minimum depends on batchSize; filled in here so that a run's stored config is explicit.
  .overwrite((config) =>
    config.sampling.minBatchSize !== undefined
      ? config
      : { ...config, sampling: { ...config.sampling, minBatchSize: Math.min(DEFAULT_MIN_BATCH_SIZE, config.batchSize) } },
  );

/** `stages[2]` → ["stages", 2]. */
function parsePath(text: string): (string | number)[] {
  return text.split(/[.[\]]/).filter(Boolean).map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** The config as written (defaults optional). */
export type MclConfigInput = z.input<typeof mclConfigSchema>;
/** The config after parsing: every default filled in. */
export type MclConfig = z.output<typeof mclConfigSchema>;

/** One value per stage (or per clustering) from a number-or-array field. */
export function perStage(value: number | readonly number[], count: number): number[] {
  return typeof value === "number" ? Array.from({ length: count }, () => value) : [...value];
}
