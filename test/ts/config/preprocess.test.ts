import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { MclConfigInput } from "../../../ts/config/mcl-config.js";
import { DEFAULT_PREPROCESS, preprocessOf, preprocessProblems, type Preprocess } from "../../../ts/config/preprocess.js";
import { MANIFEST_FILE, RunStore } from "../../../ts/run/run-store.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { planUniform } from "../../../ts/control/batch-planner.js";
import type { TrainEpochAction } from "../../../ts/run/run-driver.js";
import { EventLog } from "../../../ts/sdk/events.js";
import { EncoderExecutor } from "../../../ts/sdk/encoder-executor.js";
import { augmentOf } from "../../../ts/sdk/job-requests.js";
import type { WorkerJobs } from "../../../ts/client/index.js";
import { type DatasetOpenResult, type TrainResult, datasetHandleSchema, modelHandleSchema, optimizerHandleSchema } from "../../../ts/wire/index.js";
import { issuesOf } from "../support/config-issues.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

// The peers' own preprocessing of the weights each encoder family loads (test/py/oracles/peers.py).
const PEER_PREPROCESSING = `
import json
from oracles import peers

def of_transform(t, size):
    steps = t.transforms
    resize = next(s for s in steps if isinstance(s, tv.transforms.Resize))
    normalize = next(s for s in steps if isinstance(s, tv.transforms.Normalize))
    return {"mean": list(normalize.mean), "std": list(normalize.std), "interpolation": resize.interpolation.value, "cropPct": size / resize.size}

def of_weights(w):
    t = w.transforms()
    return {"mean": list(t.mean), "std": list(t.std), "interpolation": t.interpolation.value, "cropPct": t.crop_size[0] / t.resize_size[0]}

tv, oc, timm = peers.torchvision(), peers.open_clip(), peers.timm()
out = {
    "open_clip": of_transform(oc.image_transform(224, is_train=False), 224),
    "resnet18": of_weights(tv.models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet50": of_weights(tv.models.ResNet50_Weights.IMAGENET1K_V1),
}
for size in ("tiny", "small", "base"):
    cfg = timm.models.get_pretrained_cfg(f"vit_{size}_patch16_224")
    out[f"vit-{size}"] = {"mean": list(cfg.mean), "std": list(cfg.std), "interpolation": cfg.interpolation, "cropPct": cfg.crop_pct}
json.dump(out, __import__("sys").stdout)
`;

function resolved(input: Omit<MclConfigInput, "name">): Preprocess {
  return preprocessOf(parseConfig({ name: "p", ...input }));
}


describe("preprocessing resolved from the encoder and its weights", () => {
  let peer: Record<string, Preprocess>;
  beforeAll(() => {
    const run = spawnSync(`${ROOT}.venv/bin/python`, ["-c", PEER_PREPROCESSING], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: join(ROOT, "test/py") },
    });
    if (run.status !== 0) throw new Error(`the oracle peers failed: ${run.stderr}`);
    peer = JSON.parse(run.stdout) as Record<string, Preprocess>;
  }, 120_000);

  test("a CLIP checkpoint gets open_clip's OpenAI preprocessing", () => {
    expect(resolved({ encoder: "clip-vit-b-32", clip: { checkpoint: "ViT-B-32.pt", tokenizer: { kind: "bpe", vocab: "v.gz" } } })).toEqual(
      peer["open_clip"],
    );
  });

  test.each(["resnet18", "resnet50"])("pretrained %s gets torchvision's IMAGENET1K_V1 transforms", (encoder) => {
    expect(resolved({ encoder, init: "pretrained", pretrained: "w.pt" })).toEqual(peer[encoder]);
    expect(resolved({ encoder, init: "previous", pretrained: "w.pt" })).toEqual(peer[encoder]);
  });

  test.each(["vit-tiny", "vit-small", "vit-base"])("pretrained %s gets timm's default config", (encoder) => {
    expect(resolved({ encoder, init: "pretrained", pretrained: "w.pt" })).toEqual(peer[encoder]);
  });

  test("without loaded weights every encoder keeps the worker's default", () => {
    for (const encoder of ["small-cnn", "resnet50", "vit-tiny", "clip-tiny"]) expect(resolved({ encoder })).toEqual(DEFAULT_PREPROCESS);
    // init 'scratch' never loads `pretrained` (as the scheduler); a plugin's weights are unknown here.
    expect(resolved({ encoder: "resnet50", init: "scratch", pretrained: "w.pt" })).toEqual(DEFAULT_PREPROCESS);
    expect(resolved({ encoder: "small-cnn", init: "pretrained", pretrained: "w.pt" })).toEqual(DEFAULT_PREPROCESS);
  });

  test("the default augment request is the worker's defaults, unchanged", () => {
    const config = parseConfig({ name: "p" });
    const augment = augmentOf(config, 32, preprocessOf(config));
    expect(augment).toMatchObject({ size: 32, mean: [0.5], std: [0.5], interpolation: "bilinear" });
    expect(augment).not.toHaveProperty("crop_pct");
    const pretrained = parseConfig({ name: "p", encoder: "resnet50", init: "pretrained", pretrained: "w.pt" });
    expect(augmentOf(pretrained, 224, preprocessOf(pretrained))).toMatchObject({
      mean: peer["resnet50"]!.mean,
      std: peer["resnet50"]!.std,
      interpolation: "bilinear",
      crop_pct: peer["resnet50"]!.cropPct,
    });
  });
});

describe("the preprocess section", () => {
  test("overrides the fields it sets, the others stay the weights'", () => {
    const weights = { encoder: "resnet50", init: "pretrained", pretrained: "w.pt" } as const;
    const base = resolved(weights);
    expect(resolved({ ...weights, preprocess: { cropPct: 224 / 232 } })).toEqual({ ...base, cropPct: 224 / 232 });
    expect(resolved({ ...weights, preprocess: { cropPct: null, interpolation: "bicubic" } })).toEqual({
      ...base,
      cropPct: null,
      interpolation: "bicubic",
    });
    expect(resolved({ preprocess: { mean: [0.2], std: [0.3, 0.3, 0.3] } })).toEqual({ ...DEFAULT_PREPROCESS, mean: [0.2], std: [0.3, 0.3, 0.3] });
  });

  test("bad values are refused naming the field", () => {
    expect(issuesOf({ name: "p", preprocess: { mean: [0.1, 0.2] } })).toEqual(["preprocess.mean: expected 1 value (every channel) or 3 (R, G, B) means, got 2"]);
    expect(issuesOf({ name: "p", preprocess: { std: [0.1, 0.2, 0.3, 0.4] } })).toEqual([
      "preprocess.std: expected 1 value (every channel) or 3 (R, G, B) standard deviations, got 4",
    ]);
    expect(issuesOf({ name: "p", preprocess: { std: [0] } })[0]).toMatch(/^preprocess\.std\[0\]: /);
    expect(issuesOf({ name: "p", preprocess: { cropPct: 0 } })[0]).toMatch(/^preprocess\.cropPct: /);
    expect(issuesOf({ name: "p", preprocess: { interpolation: "nearest" as never } })[0]).toMatch(/^preprocess\.interpolation: /);
    expect(issuesOf({ name: "p", preprocess: { means: [0.5] } as never })[0]).toMatch(/^preprocess/);
  });

  test("3 values for a 1-channel dataset are named before anything trains", () => {
    const config = parseConfig({ name: "p", encoder: "resnet50", init: "pretrained", pretrained: "w.pt" });
    expect(preprocessProblems(preprocessOf(config), 1, config)).toEqual([
      "preprocess.mean: 3 values (the default of encoder resnet50 with its weights) for a dataset of 1 channel; set it to 1 value",
      "preprocess.std: 3 values (the default of encoder resnet50 with its weights) for a dataset of 1 channel; set it to 1 value",
    ]);
    const set = parseConfig({ name: "p", preprocess: { mean: [0.1, 0.2, 0.3] } });
    expect(preprocessProblems(preprocessOf(set), 1, set)).toEqual(["preprocess.mean: 3 values for a dataset of 1 channel; set it to 1 value"]);
    expect(preprocessProblems(preprocessOf(config), 3, config)).toEqual([]);
  });
});

describe("the run manifest", () => {
  test("records the resolved preprocessing; a manifest without it reads as the worker's default", async () => {
    const config = parseConfig({ name: "p", encoder: "vit-tiny", init: "pretrained", pretrained: "w.pt", stages: 1 });
    const dir = await mkdtemp(join(tmpdir(), "mcl-preprocess-"));
    const store = await RunStore.create(dir, {
      config,
      versions: { package: "0", protocol: 1 },
      state: initialState(scheduleFromConfig(config)),
    });
    expect(store.manifest.preprocess).toEqual(preprocessOf(config));
    const written = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as Record<string, unknown>;
    expect(written["preprocess"]).toEqual(preprocessOf(config));
    expect((await RunStore.open(dir)).manifest.preprocess).toEqual(preprocessOf(config));
    delete written["preprocess"];
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(written));
    expect((await RunStore.open(dir)).manifest.preprocess).toEqual(DEFAULT_PREPROCESS);
  });
});

describe("the executor", () => {
  type Request = { type: string; body: unknown };
  /** The jobs a first training epoch sends, answered and recorded by a stand-in for the worker. */
  function recordingJobs(requests: Request[]): WorkerJobs {
    const model = modelHandleSchema.parse("model:1");
    const trained: TrainResult = { steps: 1, samples: 4, mean_loss: 1, last_loss: 1, first_lr: 1e-3, last_lr: 1e-3, samples_per_s: 1, seconds: 1 };
    const jobs: Pick<WorkerJobs, "createModel" | "createOptimizer" | "train" | "saveCheckpointInBackground"> = {
      createModel: async (body) => {
        requests.push({ type: "model.create", body });
        return { model, arch: body.arch, feature_dim: 8, proj_dim: 8, parameters: 1, device: "cpu" };
      },
      createOptimizer: async (body) => {
        requests.push({ type: "optimizer.create", body });
        return { optimizer: optimizerHandleSchema.parse("optimizer:1") };
      },
      train: async (body) => {
        requests.push({ type: "train", body });
        return trained;
      },
      saveCheckpointInBackground: (body) => {
        requests.push({ type: "checkpoint.save", body });
        // The executor hashes what the worker wrote (the run store records each checkpoint's digest).
        const bytes = Buffer.from("a stand-in checkpoint");
        const written = mkdir(dirname(body.path), { recursive: true })
          .then(() => writeFile(body.path, bytes))
          .then(() => ({ path: body.path, bytes: bytes.length }));
        return { copied: Promise.resolve(), written };
      },
    };
    return jobs as WorkerJobs;
  }

  async function executorFor(input: Omit<MclConfigInput, "name">, channels: number, requests: Request[]) {
    const config = parseConfig({ name: "p", stages: 1, baseline: false, ...input });
    const dir = await mkdtemp(join(tmpdir(), "mcl-preprocess-executor-"));
    const store = await RunStore.create(dir, { config, versions: { package: "0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
    const data: DatasetOpenResult = {
      dataset: datasetHandleSchema.parse("dataset:1"),
      uri: config.dataset,
      size: 4,
      image_shape: [channels, 224, 224],
      attributes: [],
      has_captions: false,
    };
    return new EncoderExecutor(recordingJobs(requests), store, data, new EventLog(), new AbortController().signal);
  }

  test("sends the run's preprocessing to train and records it in the checkpoint", async () => {
    const requests: Request[] = [];
    const weights = { encoder: "resnet50", init: "pretrained", pretrained: "w.pt" } as const;
    const executor = await executorFor(weights, 3, requests);
    const plan = planUniform(4, { batchSize: 4, smallGroups: "drop", seed: 0, epoch: 0 });
    await executor.trainEpoch({ kind: "train-epoch", stage: 1, epoch: 0, epochs: 1, start: { kind: "pretrained", path: "w.pt" } } as TrainEpochAction, plan);
    const expected = preprocessOf(parseConfig({ name: "p", ...weights }));
    const train = requests.find((r) => r.type === "train")!.body as { augment: Record<string, unknown> };
    expect(train.augment).toMatchObject({ mean: expected.mean, std: expected.std, interpolation: expected.interpolation, crop_pct: expected.cropPct });
    const save = requests.find((r) => r.type === "checkpoint.save")!.body as { metadata: Record<string, string> };
    expect(JSON.parse(save.metadata["preprocess"]!)).toEqual(expected);
    expect(save.metadata).toMatchObject({ track: "stage-1", epoch: "1" });
  });
});
