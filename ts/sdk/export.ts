/**
 * Taking a finished run's model out (docs/usage.md, "Taking the model out"):
 *
 *   const out = await exportRun("runs/demo", { stage: 2 });          // weights torchvision / timm / open_clip load
 *   const all = await exportRun("runs/demo", { integrated: true });  // TorchScript: images -> run.embed's output
 *   await run.export({ integrated: true, format: "safetensors" });   // a finished MclRun, on its own worker
 *
 * exportRun opens the run directory read-only (a reader: no lock, see docs/safety.md) and starts a
 * worker (or connects to one), which opens the run's dataset (the encoders' input size is its
 * images'). Each stage's encoder is built as the run built it and loaded with its committed
 * checkpoint, checked first against the size and SHA-256 the manifest records; the worker's
 * `export` job then writes the file (export-plan.ts says which and where).
 */

import { join, resolve } from "node:path";
import { deriveSeed } from "../control/rng.js";
import { MANIFEST_FILE, RunStore } from "../run/run-store.js";
import { RunStoreError } from "../control/errors.js";
import { isClipEncoder } from "../config/clip-config.js";
import { checkRunPlugins } from "../plugins/plugin-check.js";
import { WorkerJobs } from "../client/index.js";
import { type DatasetOpenResult, type ExportResult as ExportJobResult, type ModelHandle } from "../wire/index.js";
import { clipCreateRequest } from "./clip-executor.js";
import { RunError } from "../run/errors.js";
import { configHash, type ExportFormat, type ExportOptions, type ExportPlan, planExport } from "./export-plan.js";
import { datasetOpenError } from "./preflight.js";
import { type WorkerOptions, openWorker } from "../transport/index.js";
import { modelRequest } from "./job-requests.js";

export type { ExportFormat, ExportOptions };

/** One exported stage: who loads its weights as they are (mcl: nobody but mcl_worker.load_encoder). */
export interface ExportedStage {
  /** As summary.json numbers it. */
  readonly stage: number;
  /** Ours: resnet50, vit-base, small-cnn, clip-vit-b-16, py:<module>:<attr>. */
  readonly architecture: string;
  readonly stem?: "cifar" | "imagenet";
  readonly library: "torchvision" | "timm" | "open_clip" | "mcl";
  /** The peer's model: resnet50, vit_base_patch16_224, ViT-B-16-quickgelu, CLIP. */
  readonly name?: string;
  /** The peer model's keys the file lacks (its classifier, e.g. torchvision's fc.weight and fc.bias). */
  readonly absentKeys: readonly string[];
  /** Why no peer library loads these weights (library mcl: our own format). */
  readonly noPeer?: string;
}

export interface ExportResult {
  /** Absolute, on the worker's file system. */
  readonly path: string;
  readonly bytes: number;
  readonly format: ExportFormat;
  readonly kind: "stage" | "integrated";
  readonly stages: readonly ExportedStage[];
  /** The width of the embedding the exported module returns. */
  readonly dim: number;
  /** Python that loads the file: the peer library's own calls where one loads it alone. */
  readonly load: string;
  /** The run's config hash, recorded in the file (configHash). */
  readonly configHash: string;
}

export interface RunExportOptions extends ExportOptions {
  /** The worker: launched locally by default. */
  readonly worker?: WorkerOptions;
  /** The modules a plugin encoder or dataset of the run may come from (as Mcl.resume's allowPlugins). */
  readonly allowPlugins?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Exports from the finished run in `runDir`, on a worker of its own (closed before it returns). */
export async function exportRun(runDir: string, options: RunExportOptions = {}): Promise<ExportResult> {
  const store = await RunStore.open(runDir);
  const plan = planExport(runDir, store.manifest, options);
  await verifyCheckpoints(store, plan);
  const { config } = store.manifest;
  const worker = await checkRunPlugins(config, options.worker, {
    allowPlugins: options.allowPlugins,
    entry: "export",
    source: join(runDir, MANIFEST_FILE),
  });
  const connection = await openWorker(worker);
  try {
    const jobs = new WorkerJobs(connection.client);
    const request = { signal: options.signal };
    const { dataset: uri, datasetArgs: args } = config;
    const data = await jobs.openDataset(args === undefined ? uri : { uri, args }, request).catch((error: unknown) => {
      throw datasetOpenError(error);
    });
    try {
      return await writeExport(jobs, store, data, plan, options.signal);
    } finally {
      if (!connection.launched) await jobs.free(data.dataset).catch(() => undefined); // a connected worker keeps serving
    }
  } finally {
    await connection.close();
  }
}

/** Exports from a finished run whose worker holds its dataset (MclRun.export). */
export async function exportEncoders(
  jobs: WorkerJobs,
  store: RunStore,
  data: DatasetOpenResult,
  options: ExportOptions,
  signal?: AbortSignal,
): Promise<ExportResult> {
  const plan = planExport(store.dir, store.manifest, options);
  await verifyCheckpoints(store, plan);
  return writeExport(jobs, store, data, plan, signal);
}

async function writeExport(jobs: WorkerJobs, store: RunStore, data: DatasetOpenResult, plan: ExportPlan, signal?: AbortSignal): Promise<ExportResult> {
  const { config, preprocess } = store.manifest;
  const request = { signal };
  const models: ModelHandle[] = [];
  try {
    let size = data.image_shape[1]!;
    for (const { index, checkpoint } of plan.stages) {
      if (isClipEncoder(config.encoder)) {
        const created = await jobs.createClip(clipCreateRequest(config, data.dataset, null), request);
        models.push(created.model);
        size = created.image_size;
      } else {
        const seed = deriveSeed(config.seed, index) & 0x7fffffff; // the weights come from the checkpoint
        models.push((await jobs.createModel(modelRequest(config, size, seed, null), request)).model);
      }
      await jobs.loadCheckpoint({ path: resolve(store.dir, checkpoint), model: models.at(-1)! }, request);
    }
    const hash = configHash(config);
    const result = await jobs.exportEncoders(
      {
        models,
        stages: plan.stages.map((s) => s.stage),
        kind: plan.kind,
        format: plan.format,
        path: plan.path,
        preprocess: {
          size,
          in_channels: data.image_shape[0]!,
          mean: [...preprocess.mean],
          std: [...preprocess.std],
          interpolation: preprocess.interpolation,
          ...(preprocess.cropPct === null ? {} : { crop_pct: preprocess.cropPct }),
        },
        weights: [...plan.weights],
        normalize: plan.normalize,
        metadata: {
          run: store.manifest.name,
          config_hash: hash,
          encoder: config.encoder,
          dataset: config.dataset,
          checkpoints: JSON.stringify(plan.stages.map((s) => s.checkpoint)),
          package: store.manifest.versions.package,
        },
      },
      request,
    );
    return exportResult(result, plan, hash);
  } finally {
    await Promise.allSettled(models.map((model) => jobs.free(model)));
  }
}

/**
 * The planned checkpoints as the manifest records them (size, SHA-256), before anything loads them;
 * else RunError CORRUPT_FILE naming the file and the fix.
 */
async function verifyCheckpoints(store: RunStore, plan: ExportPlan): Promise<void> {
  for (const { checkpoint } of plan.stages) {
    try {
      await store.verifyCheckpoint(checkpoint);
    } catch (error) {
      if (!(error instanceof RunStoreError) || error.code !== "CORRUPT_FILE") throw error;
      throw new RunError(
        "CORRUPT_FILE",
        `${store.path(checkpoint)}: ${error.message.slice(checkpoint.length + 2)}; an export takes the checkpoint the run ` +
          `committed (manifest.json checkpointFiles): restore it from a copy of the run, or run \`mcl resume ${store.dir}\`, ` +
          "which trains the stage again from its last intact checkpoint",
        { cause: error },
      );
    }
  }
}

function exportResult(result: ExportJobResult, plan: ExportPlan, hash: string): ExportResult {
  return {
    path: result.path,
    bytes: result.bytes,
    format: result.format,
    kind: plan.kind,
    stages: result.encoders.map((e) => ({
      stage: e.stage,
      architecture: e.architecture,
      ...(e.stem === undefined ? {} : { stem: e.stem }),
      library: e.library,
      ...(e.name === undefined ? {} : { name: e.name }),
      absentKeys: e.absent_keys,
      ...(e.no_peer === undefined ? {} : { noPeer: e.no_peer }),
    })),
    dim: result.dim,
    load: result.load,
    configHash: hash,
  };
}
