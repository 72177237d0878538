// The paper's setting, examples/configs/clip-vit-l14-cc12m.json, run end to end by the compiled `mcl`
// binary (dist/ts/cli/main.js) with tiny stand-ins: the example file is read as it is and only the fields
// in `SWAPS` change (each says why); stages, clusters, epochs, warm-up, optimizer, sampling, augmentation,
// integration and the baseline stay as written. The stand-ins (test/py/oracles/make_paper_standins.py):
// captioned images in img2dataset's "files" layout, a random open_clip CLIP of clip-tiny's shapes saved
// by open_clip itself, the real OpenAI BPE vocabulary of the installed openai-clip package, and a few
// MMVP-VLM pairs in the benchmark's release layout.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLossHistory } from "../../../ts/report/loss-history.js";
import { summarySchema } from "../../../ts/run/summary.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { assertBuildCurrent, binary, run } from "../support/cli-binary.js";

const root = projectRoot();
const example = join(root, "examples", "configs", "clip-vit-l14-cc12m.json");
const dir = mkdtempSync(join(tmpdir(), "mcl-paper-"));

/** What make_paper_standins prints: the stand-ins' paths. */
interface StandIns {
  readonly dataset: string;
  readonly checkpoint: string;
  /** The checkpoint's weights as safetensors, which the run never reads. */
  readonly reference: string;
  readonly mmvpVlm: string;
  readonly vocab: string;
  readonly images: number;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Swap {
  /** The field, as a path into the example config; it must exist there. */
  readonly path: readonly string[];
  readonly value: (standIns: StandIns) => Json;
  readonly why: string;
}

/** Every field of the example that the test changes, and why it cannot stay as written at this size. */
const SWAPS: readonly Swap[] = [
  { path: ["dataset"], value: (s) => `folder:${s.dataset}`, why: "CC12M (12 M images) becomes a few dozen captioned images in the same folder layout" },
  { path: ["encoder"], value: () => "clip-tiny", why: "ViT-L/14 (428 M parameters) becomes the CPU-sized CLIP the stand-in checkpoint has the shapes of" },
  { path: ["clip", "checkpoint"], value: (s) => s.checkpoint, why: "OpenAI's ViT-L/14 weights become a random open_clip CLIP of clip-tiny's shapes" },
  { path: ["clip", "tokenizer", "vocab"], value: (s) => s.vocab, why: "the same OpenAI vocabulary, where the openai-clip package installs it" },
  { path: ["clip", "evaluation", "mmvpVlm"], value: (s) => s.mmvpVlm, why: "the published benchmark becomes a few pairs of generated images in its release layout" },
  {
    path: ["clip", "lockImageUnlockedGroups"],
    value: () => 2,
    why:
      "open_clip's groups of ViT-L/14's image tower are 26 and the last 6 train; clip-tiny's are 4, which 6 would unlock all of:" +
      " its projection and last block train, its first block and embeddings stay frozen",
  },
  {
    path: ["batchSize"],
    value: () => 2,
    why:
      "8000 cannot form a batch from a few dozen images; 10 clusters hold about 5 each and smallGroups 'drop' leaves out every group" +
      " smaller than a batch, so the smallest batch keeps the most of them training",
  },
];

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The example with every swap applied; a swap whose field the example lacks is an error (the example changed). */
function paperConfig(standIns: StandIns): { [key: string]: Json } {
  const config = JSON.parse(readFileSync(example, "utf8")) as Json;
  if (!isObject(config)) throw new Error(`${example}: expected a JSON object`);
  for (const { path, value, why } of SWAPS) {
    let parent: Json | undefined = config;
    for (const key of path.slice(0, -1)) parent = isObject(parent) ? parent[key] : undefined;
    const last = path[path.length - 1]!;
    if (!isObject(parent) || !(last in parent)) {
      throw new Error(`${example} has no ${path.join(".")} (swapped as ${why}): update SWAPS to the example's fields`);
    }
    parent[last] = value(standIns);
  }
  return config;
}

/** The raw bytes of every tensor of a safetensors file, by name. */
function tensors(file: string): Map<string, Buffer> {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { data_offsets?: [number, number] }>;
  const start = 8 + headerLength;
  const out = new Map<string, Buffer>();
  for (const [name, entry] of Object.entries(header)) {
    if (entry.data_offsets !== undefined) out.set(name, bytes.subarray(start + entry.data_offsets[0], start + entry.data_offsets[1]));
  }
  return out;
}

/** The model tensors whose bytes differ after training. */
function changedWeights(before: Map<string, Buffer>, after: Map<string, Buffer>): string[] {
  return [...before].filter(([name, bytes]) => name.startsWith("model.") && !bytes.equals(after.get(name) ?? Buffer.alloc(0))).map(([name]) => name);
}

let standIns: StandIns;

beforeAll(async () => {
  assertBuildCurrent();
  const python = join(root, ".venv", "bin", "python");
  const made = await run(python, ["-m", "oracles.make_paper_standins", join(dir, "standins")], root, {
    ...process.env,
    PYTHONPATH: join(root, "test", "py"),
  });
  if (made.code !== 0) throw new Error(`make_paper_standins failed:\n${made.stderr}`);
  standIns = JSON.parse(made.stdout) as StandIns;
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the paper's config (examples/configs/clip-vit-l14-cc12m.json)", () => {
  it("runs to its summary through `mcl run` with tiny stand-ins, the learning rate still warming up", { timeout: 300_000 }, async () => {
    const written = JSON.parse(readFileSync(example, "utf8")) as { [key: string]: Json };
    const config = paperConfig(standIns);
    const file = join(dir, "clip-vit-l14-cc12m.json");
    writeFileSync(file, JSON.stringify(config, null, 2));

    // The run directory is <runDir>/<name>, relative to where `mcl run` starts: both as written.
    const { code, stderr } = await run(process.execPath, [binary, "run", file], dir);
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    const runDir = resolvePath(dir, String(written.runDir), String(written.name));

    const summary = summarySchema.parse(JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8")));
    expect(summary.dataset.samples).toBe(standIns.images);
    const stages = Number(written.stages);
    const epochs = Number(written.epochsPerStage);
    // Stage 0 is the checkpoint as it is (stage0Epochs 0); stages 1…S train epochsPerStage each.
    expect(summary.stages.map((s) => [s.stage, s.epochs])).toEqual(
      Array.from({ length: stages + 1 }, (_, s) => [s, s === 0 ? 0 : epochs]),
    );
    expect(summary.integrated.spec.stages).toEqual(Array.from({ length: stages + 1 }, (_, s) => s));
    expect(summary.baseline).toBeUndefined();
    const questions = readFileSync(join(standIns.mmvpVlm, "Questions.csv"), "utf8").trim().split("\n").slice(1);
    const categories = [...new Set(questions.map((row) => row.split(",")[1]!))].sort();
    for (const result of [...summary.stages, summary.integrated]) {
      expect(Object.keys(result.mmvpVlm ?? {}).sort()).toEqual(categories);
    }

    // Stage 0 is open_clip's checkpoint exactly, every tensor of it.
    const checkpoints = readdirSync(join(runDir, "checkpoints"));
    const initial = checkpoints.filter((name) => name.endsWith("-initial.safetensors"));
    expect(initial.length).toBe(1);
    const stage0 = tensors(join(runDir, "checkpoints", initial[0]!));
    const reference = tensors(standIns.reference);
    expect(reference.size).toBeGreaterThan(0);
    for (const [name, bytes] of reference) expect({ name, equal: stage0.get(`model.${name}`)?.equals(bytes) }).toEqual({ name, equal: true });

    // The locks: the text tower stays as loaded, and so do the image tower's frozen groups; its last ones train.
    const finals = checkpoints.filter((name) => name.endsWith(`-epoch-${epochs}.safetensors`));
    expect(finals.length).toBe(stages);
    // open_clip's first group: the patch embedding, class and position embeddings, and ln_pre.
    const firstGroup = ["conv1.weight", "class_embedding", "positional_embedding", "ln_pre.weight", "ln_pre.bias"].map((name) => `model.visual.${name}`);
    for (const name of firstGroup) expect({ name, stored: stage0.has(name) }).toEqual({ name, stored: true });
    for (const final of finals) {
      const changed = changedWeights(stage0, tensors(join(runDir, "checkpoints", final)));
      expect(changed.filter((name) => !name.startsWith("model.visual.") && name !== "model.logit_scale")).toEqual([]);
      expect(changed).toContain("model.visual.proj");
      expect(changed).toContain("model.visual.transformer.resblocks.1.mlp.c_fc.weight");
      expect(changed.filter((name) => name.startsWith("model.visual.transformer.resblocks.0.") || firstGroup.includes(name))).toEqual([]);
    }

    // Every stage warms up from its own step 0 (open_clip's warm-up: lr * (step + 1) / warmupSteps), the
    // rate rises with every step, and no stage reaches warmupSteps: the rate stays below optimizer.lr.
    const { lr, warmupSteps } = written.optimizer as { lr: number; warmupSteps: number };
    const history = await readLossHistory(runDir);
    const rates = Object.values(history?.lr ?? {});
    expect(rates.length).toBe(stages);
    for (const stage of rates) {
      expect(stage.length).toBe(epochs);
      expect(stage).not.toContain(null);
      const steps = stage.flatMap((epoch) => [epoch!.first, epoch!.last]);
      expect(steps[0]! / (lr / warmupSteps)).toBeCloseTo(1, 6);
      // Strictly rising: within an epoch (each trains more than one step) and from one epoch to the next.
      for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThan(steps[i - 1]!);
      expect(steps[steps.length - 1]).toBeLessThan(lr);
    }
  });
});
