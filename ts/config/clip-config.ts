/**
 * The `clip` section of a run config: MCL on a CLIP dual encoder (docs/clip.md).
 *
 *   stage 0     the initial model: clip.checkpoint (or seeded random weights), optionally trained
 *               clip.stage0Epochs epochs of ordinary CLIP; its image embeddings give the first clustering
 *   stage 1…S   each fine-tuned from stage 0's weights (clip.stageInit "initial"; "previous": from
 *               stage s-1's) on single-group batches; clustered on image embeddings
 *   integrated  both towers of stages 0…S concatenated before the image-text similarity
 *
 * A CLIP run counts `stages` MCL stages after stage 0, so it clusters `stages` times (after stages
 * 0…S-1) and `clusters` takes one number or `stages` numbers. Fields of the config that a CLIP run
 * cannot use are refused by `clipProblems`, naming the field and the fix.
 */

import { z } from "zod";
import { CLIP_ACTIVATIONS } from "../wire/index.js";

export const CLIP_ENCODERS = ["clip-tiny", "clip-rn50", "clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14"] as const;
export type ClipEncoder = (typeof CLIP_ENCODERS)[number];
export const CLIP_LOSSES = ["clip", "xsample"] as const;
export { CLIP_ACTIVATIONS };
/** Encoders whose image tower is open_clip's ModifiedResNet, which can only be locked whole. */
const RESNET_ENCODERS: readonly ClipEncoder[] = ["clip-rn50"];
export const CLIP_STAGE_INITS = ["initial", "previous"] as const;

export function isClipEncoder(encoder: string): encoder is ClipEncoder {
  return (CLIP_ENCODERS as readonly string[]).includes(encoder);
}

/** A CLIP encoder whose image tower is open_clip's ModifiedResNet. */
export function isResNetClipEncoder(encoder: string): boolean {
  return (RESNET_ENCODERS as readonly string[]).includes(encoder);
}

const tokenizerSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({ kind: z.literal("words") }).describe("One token per word of the training captions (small synthetic data)"),
    z
      .strictObject({
        kind: z.literal("bpe"),
        vocab: z.string().min(1).describe("Path of OpenAI's bpe_simple_vocab_16e6.txt.gz"),
      })
      .describe("OpenAI's byte-pair encoding, as the pretrained text towers were trained with"),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? "expected { kind: 'words' } or { kind: 'bpe', vocab: <path> }" : undefined) },
);

const clipLossSchema = z.strictObject({
  name: z.enum(CLIP_LOSSES).default("clip").describe("CLIP's symmetric InfoNCE, or X-Sample contrastive (soft targets)"),
  temperature: z
    .number()
    .positive()
    .optional()
    .describe("A fixed temperature instead of the model's learnable logit scale, used as it is (only the learnable one is clamped, at 1/100)"),
  targetTemperature: z.number().positive().optional().describe("xsample: temperature of the target distribution"),
  graph: z
    .enum(["tokens", "labels"])
    .optional()
    .describe("xsample: sample similarity as the captions' token overlap (Jaccard of their token sets; default) or from a labelled attribute"),
  attribute: z.string().min(1).optional().describe("xsample with graph 'labels': the attribute whose classes make the graph"),
});

const clipEvaluationSchema = z.strictObject({
  mmvpPairsPerCategory: z
    .int()
    .min(1)
    .default(100)
    .describe("MMVP-style pairs drawn per category (attribute) from the training set's captions"),
  zeroShotTemplate: z
    .string()
    .refine((t) => t.includes("{}"), { error: "expected a template with {} where the class name goes, e.g. 'a photo of a {}.'" })
    .optional()
    .describe("Prompt of attributes the captions do not name (default: the worker's 'a photo of a {}.')"),
  mmvpVlm: z
    .string()
    .min(1)
    .optional()
    .describe("Folder of the published MMVP-VLM benchmark (Questions.csv and 'MLLM_VLM Images/'); scored when given"),
});

export const clipSchema = z.strictObject({
  checkpoint: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Local weights of the initial model: OpenAI's .pt (TorchScript or state dict), an open_clip state dict or safetensors (its" +
        " activation read from an open_clip_config.json beside it, when there is one), or an MCL checkpoint (a stage's" +
        " .safetensors, which records its activation); absent: seeded random weights",
    ),
  tokenizer: tokenizerSchema.default({ kind: "words" }).describe("Caption tokenizer"),
  contextLength: z.int().min(2).optional().describe("Tokens per caption (default: the model configuration's)"),
  imageSize: z.int().min(1).optional().describe("Input resolution (default: the model configuration's, e.g. 224)"),
  activation: z
    .enum(CLIP_ACTIVATIONS)
    .optional()
    .describe(
      "The transformers' MLP activation: quick_gelu (OpenAI's weights, open_clip's -quickgelu models) or gelu (open_clip's others);" +
        " default quick_gelu for every CLIP encoder. A checkpoint that says otherwise is refused",
    ),
  lockImage: z
    .boolean()
    .default(false)
    .describe("open_clip's --lock-image: freeze the image tower, but its last lockImageUnlockedGroups groups"),
  lockImageUnlockedGroups: z
    .int()
    .min(0)
    .optional()
    .describe(
      "open_clip's --lock-image-unlocked-groups (with lockImage): a ViT's groups, last first, are the projection, the last block" +
        " with ln_post, each earlier block, and the embeddings; more than there are unlock all. A ResNet takes only 0",
    ),
  lockText: z.boolean().default(false).describe("open_clip's --lock-text: freeze the whole text tower"),
  loss: clipLossSchema.prefault({}).describe("Image-text loss"),
  stage0Epochs: z
    .int()
    .min(0)
    .default(0)
    .describe("Ordinary CLIP epochs that make stage 0 from the initial weights (0: stage 0 is the initial model as it is)"),
  stageInit: z
    .enum(CLIP_STAGE_INITS)
    .default("initial")
    .describe("Start of stages 1…S: stage 0's weights (the recipe), or the previous stage's"),
  evaluation: clipEvaluationSchema.prefault({}).describe("Zero-shot and MMVP evaluation of every stage and the integrated model"),
});

export type ClipOptions = z.output<typeof clipSchema>;

const DEFAULT_CLIP_OPTIONS: ClipOptions = clipSchema.parse({});

/** A CLIP run's options: its `clip` section, or every default when it has none. */
export function clipOptionsOf(config: { readonly clip?: ClipOptions | undefined }): ClipOptions {
  return config.clip ?? DEFAULT_CLIP_OPTIONS;
}

/** The fields of a run config that `clipProblems` looks at. */
interface ClipCheckedConfig {
  readonly encoder: string;
  readonly clip?: ClipOptions | undefined;
  readonly init: string;
  readonly pretrained?: string | undefined;
  readonly loss: { readonly name: string; readonly temperature: number; readonly args?: unknown };
}

/**
 * `[path, message]` for every field that makes no sense with (or without) a CLIP encoder.
 * `defaultLoss` is the top-level `loss` section's default (a CLIP run takes its loss from clip.loss).
 */
export function clipProblems(
  config: ClipCheckedConfig,
  defaultLoss: { readonly name: string; readonly temperature: number },
): [(string | number)[], string][] {
  const problems: [(string | number)[], string][] = [];
  if (!isClipEncoder(config.encoder)) {
    if (config.clip !== undefined) {
      problems.push([["clip"], `only a CLIP encoder (${CLIP_ENCODERS.join(", ")}) takes a clip section; ${JSON.stringify(config.encoder)} is unimodal: remove it or change encoder`]);
    }
    return problems;
  }
  const clip = clipOptionsOf(config);
  if (config.pretrained !== undefined) {
    problems.push([["pretrained"], "a CLIP run loads its initial weights from clip.checkpoint; move the path there"]);
  }
  if (config.init !== "scratch") {
    problems.push([["init"], "a CLIP run starts every stage from stage 0's weights (or the previous stage's: clip.stageInit); remove init"]);
  }
  if (config.loss.name !== defaultLoss.name || config.loss.temperature !== defaultLoss.temperature || config.loss.args !== undefined) {
    problems.push([["loss"], "a CLIP run takes its loss from clip.loss (clip or xsample); remove loss"]);
  }
  // As open_clip, which reads the groups only under --lock-image: 0 without it unlocks nothing that trains anyway.
  if ((clip.lockImageUnlockedGroups ?? 0) > 0 && !clip.lockImage) {
    problems.push([["clip", "lockImageUnlockedGroups"], "only applies to a locked image tower: set clip.lockImage to true, or remove it"]);
  } else if ((clip.lockImageUnlockedGroups ?? 0) > 0 && isResNetClipEncoder(config.encoder)) {
    problems.push([
      ["clip", "lockImageUnlockedGroups"],
      `the ${config.encoder} image tower (open_clip's ModifiedResNet) can only be locked whole: remove it, or set clip.lockImage to false to train the whole tower`,
    ]);
  }
  if (clip.checkpoint !== undefined && clip.tokenizer.kind === "words") {
    problems.push([["clip", "tokenizer"], "pretrained text towers were trained with OpenAI's BPE: use { kind: 'bpe', vocab: <path of bpe_simple_vocab_16e6.txt.gz> }"]);
  }
  const { loss } = clip;
  if (loss.name === "clip") {
    for (const field of ["targetTemperature", "graph", "attribute"] as const) {
      if (loss[field] !== undefined) problems.push([["clip", "loss", field], "only the xsample loss takes it; remove it or set clip.loss.name to 'xsample'"]);
    }
  } else if (loss.graph === "labels" && loss.attribute === undefined) {
    problems.push([["clip", "loss", "attribute"], "the 'labels' graph needs the attribute whose classes make it, e.g. 'shape'"]);
  } else if (loss.graph !== "labels" && loss.attribute !== undefined) {
    problems.push([["clip", "loss", "attribute"], "only the 'labels' graph takes an attribute; set clip.loss.graph to 'labels' or remove it"]);
  }
  return problems;
}
