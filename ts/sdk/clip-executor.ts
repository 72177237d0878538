/**
 * The run driver's StageExecutor for a CLIP run (MCL.md's CLIP recipe) over the worker's clip.*
 * jobs. It is the WorkerExecutor with CLIP models: the scheduler's stage 1 is the recipe's stage 0
 * (the initial model, saved as it is by saveInitial when it trains 0 epochs), every later stage
 * is a fresh clip.create that loads stage 0's checkpoint (or the previous stage's), clustering
 * runs on the image embeddings of the generic embed job, and the evaluation of a stage or of the
 * integrated model (both towers concatenated) is clip.zero_shot and clip.mmvp (and clip.mmvp_vlm
 * when the config names the benchmark's folder).
 *
 * Scheduler stage s is reported as stage s-1 in summary.json (stage 0 = the initial model); run
 * files (checkpoints/stage-<s>…, probes/stage-<s>.json) and events keep the scheduler's numbers.
 */

import { rm } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import type { BatchPlan } from "../control/batch-planner.js";
import { deriveSeed } from "../control/rng.js";
import type { BaselineEpochAction, SaveInitialAction, TrainEpochAction } from "../control/run-driver.js";
import type { RunStore } from "../control/run-store.js";
import type { StartFrom } from "../control/stage-scheduler.js";
import { writeFileAtomic } from "../control/atomic-file.js";
import type { IntegrationSpec, Normalization } from "../control/integration.js";
import { clipSchema, isClipEncoder, type ClipEncoder, type ClipOptions } from "../config/clip-config.js";
import type { MclConfig } from "../config/mcl-config.js";
import type {
  ClipCreateRequest,
  ClipTrainRequest,
  DatasetOpenResult,
  EmbeddingHandle,
  EmbeddingResult,
  ModelHandle,
  OptimizerHandle,
  PairBenchmarkResult,
  WorkerJobs,
} from "../worker/index.js";
import { MclError } from "./errors.js";
import { PROGRESS_PER_EPOCH, type EventLog, type Track } from "./events.js";
import { readJsonFile, type Accuracies, type ProbeScores } from "./summary.js";
import { type ImageSource, trackName, WorkerExecutor } from "./worker-executor.js";
import { augmentOf } from "./worker-requests.js";

const scores = z.record(z.string(), z.number().min(0).max(1));
const clipScoresSchema = z.strictObject({ zeroShot: scores, mmvp: scores, mmvpVlm: scores.optional() });
/** What a CLIP representation scores: zero-shot accuracy per attribute, MMVP pair score per category. */
export type ClipScores = z.output<typeof clipScoresSchema>;

interface HeldModel {
  readonly model: ModelHandle;
  /** Only on the model being trained. */
  readonly optimizer: OptimizerHandle | undefined;
  /** Run-relative checkpoint the weights equal, null before the first save. */
  checkpoint: string | null;
}

/** How long release() waits for each handle to be freed (the worker may be gone). */
const RELEASE_TIMEOUT_MS = 5000;

/** Refuses a dataset without captions before anything trains: a CLIP run needs one per image. */
export function requireCaptions(config: MclConfig, data: DatasetOpenResult): void {
  if (data.has_captions) return;
  throw new MclError(
    "INVALID_INPUT",
    `dataset: ${config.dataset} has no captions, which a CLIP run (encoder ${config.encoder}) needs: give npz datasets a` +
      " `captions` array, folder datasets a .txt file beside every image, or use synthetic:trifeature",
  );
}

export class ClipExecutor extends WorkerExecutor {
  readonly #jobs: WorkerJobs;
  readonly #store: RunStore;
  readonly #data: DatasetOpenResult;
  readonly #log: EventLog;
  readonly #signal: AbortSignal;
  readonly #config: MclConfig;
  readonly #clip: ClipOptions;
  /** The model being trained (and reused while the scheduler continues from its checkpoint). */
  #live: (HeldModel & { readonly track: Track }) | undefined;
  /** Final models of earlier stages, loaded for embedding and evaluation. */
  readonly #models = new Map<Track, HeldModel>();
  readonly #embeddings = new Map<Track, EmbeddingHandle>();
  readonly #started = new Set<Track>();
  /** The models' input resolution, known after the first clip.create. */
  #imageSize: number | undefined;

  constructor(jobs: WorkerJobs, store: RunStore, data: DatasetOpenResult, log: EventLog, signal: AbortSignal) {
    super(jobs, store, data, log, signal);
    this.#config = store.manifest.config;
    requireCaptions(this.#config, data);
    this.#jobs = jobs;
    this.#store = store;
    this.#data = data;
    this.#log = log;
    this.#signal = signal;
    this.#clip = this.#config.clip ?? clipSchema.parse({});
  }

  override trainEpoch(action: TrainEpochAction, plan: BatchPlan): Promise<{ readonly checkpoint: string }> {
    return this.#train(action.stage, action.epoch, action.epochs, action.start, plan);
  }

  override trainBaselineEpoch(action: BaselineEpochAction, plan: BatchPlan): Promise<{ readonly checkpoint: string }> {
    return this.#train("baseline", action.epoch, action.epochs, action.start, plan);
  }

  /** Stage 0 as it is: the initial weights (clip.checkpoint, or seeded random ones) saved as its checkpoint. */
  async saveInitial(action: SaveInitialAction): Promise<{ readonly checkpoint: string }> {
    this.#log.push({ type: "stage-start", stage: action.stage, epochs: 0, fromEpoch: 0 });
    await this.#dropModels();
    const model = await this.#create(action.start.kind === "pretrained" ? action.start.path : null);
    const checkpoint = `checkpoints/${trackName(action.stage)}-initial.safetensors`;
    await this.#jobs.saveCheckpoint(
      { model, path: this.#absolute(checkpoint), metadata: { track: trackName(action.stage), epoch: "0" } },
      { signal: this.#signal },
    );
    this.#live = { track: action.stage, model, optimizer: undefined, checkpoint };
    this.#log.push({ type: "stage-end", stage: action.stage });
    return { checkpoint };
  }

  /** Every training image embedded with the final image tower of `track` (eval transform, L2-normalised). */
  override async embedding(track: Track): Promise<EmbeddingHandle> {
    const held = this.#embeddings.get(track);
    if (held !== undefined) return held;
    const started = performance.now();
    const result = await this.#embedImages(track, { dataset: this.#data.dataset });
    this.#embeddings.set(track, result.embedding);
    const [rows, dim] = result.shape;
    this.#log.push({ type: "embed", stage: track, rows: rows!, dim: dim!, seconds: (performance.now() - started) / 1000 });
    return result.embedding;
  }

  /** The integrated image representation (per-stage image embeddings concatenated), of the run's dataset or other images. */
  override async integrated(spec: IntegrationSpec, source?: ImageSource): Promise<EmbeddingResult> {
    if (source === undefined) return super.integrated(spec);
    const embeddings: EmbeddingHandle[] = [];
    try {
      for (const stage of spec.stages) embeddings.push((await this.#embedImages(stage, source)).embedding);
      return await this.#jobs.integrate({ embeddings, weights: [...spec.weights], normalize: spec.normalize }, { signal: this.#signal });
    } finally {
      await Promise.allSettled(embeddings.map((handle) => this.#jobs.free(handle)));
    }
  }

  /** Zero-shot and MMVP scores of one stage (cached in the run directory) or of the baseline. */
  async trackScores(track: Track): Promise<ClipScores> {
    const file = track === "baseline" ? null : this.#store.path(`probes/clip-${trackName(track)}.json`);
    const cached = file === null ? null : await readJsonFile(file, clipScoresSchema);
    if (cached !== null) return cached;
    const result = await this.#scores([await this.#modelAt(track)], {});
    if (file !== null) await writeFileAtomic(file, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  }

  /** Zero-shot and MMVP scores of the integrated model: both towers of `spec.stages` concatenated. */
  async integratedScores(spec: IntegrationSpec): Promise<ClipScores> {
    const models: ModelHandle[] = [];
    for (const stage of spec.stages) models.push(await this.#modelAt(stage));
    return this.#scores(models, { weights: [...spec.weights], normalize: spec.normalize });
  }

  /** No probe without labelled attributes (web image-caption data): nothing to measure. */
  override async probe(embedding: EmbeddingHandle): Promise<ProbeScores> {
    return this.#data.attributes.length === 0 ? { linear: {} } : super.probe(embedding);
  }

  override async release(): Promise<void> {
    const handles = [...this.#embeddings.values(), ...this.#heldHandles()];
    this.#embeddings.clear();
    this.#models.clear();
    this.#live = undefined;
    await Promise.allSettled(handles.map((handle) => this.#jobs.free(handle, { timeoutMs: RELEASE_TIMEOUT_MS })));
    await super.release();
  }

  async #scores(models: ModelHandle[], integration: { weights?: number[]; normalize?: Normalization }): Promise<ClipScores> {
    const { evaluation } = this.#clip;
    const { attributes } = this.#config.probe;
    const options = { signal: this.#signal };
    const common = { models, ...integration, augment: augmentOf(this.#config, this.#size()) };
    const result: ClipScores = { zeroShot: {}, mmvp: {} };
    if (evaluation.mmvpVlm !== undefined) {
      result.mmvpVlm = pairScores(await this.#jobs.mmvpVlm({ ...common, path: resolve(evaluation.mmvpVlm) }, options));
    }
    // Zero-shot and the synthetic pairs need labelled attributes (web image-caption data has none).
    if (this.#data.attributes.length === 0) return result;
    const zeroShot = await this.#jobs.zeroShot(
      {
        ...common,
        dataset: this.#data.dataset,
        ...(attributes === "all" ? {} : { attributes: [...attributes] }),
        ...(evaluation.zeroShotTemplate === undefined ? {} : { template: evaluation.zeroShotTemplate }),
      },
      options,
    );
    const mmvp = await this.#jobs.mmvp(
      { ...common, dataset: this.#data.dataset, seed: this.#config.seed, pairs_per_category: evaluation.mmvpPairsPerCategory },
      options,
    );
    result.zeroShot = Object.fromEntries(zeroShot.attributes.map((a) => [a.name, a.accuracy]));
    result.mmvp = pairScores(mmvp);
    return result;
  }

  async #train(track: Track, epoch: number, epochs: number, start: StartFrom, plan: BatchPlan): Promise<{ readonly checkpoint: string }> {
    if (!this.#started.has(track)) {
      this.#started.add(track);
      this.#log.push({ type: "stage-start", stage: track, epochs, fromEpoch: epoch });
    }
    const { model, optimizer } = await this.#trainable(track, start, epoch > 0);
    const steps = plan.offsets.length - 1;
    const result = await this.#jobs.trainClip(
      {
        model,
        optimizer,
        dataset: this.#data.dataset,
        plan,
        augment: augmentOf(this.#config, this.#size()),
        loss: clipLoss(this.#clip),
        seed: deriveSeed(this.#config.seed, track === "baseline" ? 0 : track, epoch) & 0x7fffffff,
        progress_every: Math.max(1, Math.ceil(steps / PROGRESS_PER_EPOCH)),
      },
      {
        signal: this.#signal,
        onProgress: (p) =>
          this.#log.push({ type: "train-progress", stage: track, epoch, step: p.step, steps: p.steps, loss: p.loss, samplesPerSec: p.samples_per_s }),
      },
    );
    const checkpoint = `checkpoints/${trackName(track)}-epoch-${epoch + 1}.safetensors`;
    await this.#jobs.saveCheckpoint(
      { model, optimizer, path: this.#absolute(checkpoint), metadata: { track: trackName(track), epoch: String(epoch + 1) } },
      { signal: this.#signal },
    );
    this.#live!.checkpoint = checkpoint;
    // The manifest references the previous epoch's file until this one is committed; older ones are unused.
    if (epoch >= 1) await rm(this.#absolute(`checkpoints/${trackName(track)}-epoch-${epoch - 1}.safetensors`), { force: true });
    this.#log.push({
      type: "epoch", stage: track, epoch, epochs, loss: result.mean_loss,
      samplesPerSec: result.samples_per_s, seconds: result.seconds, samples: result.samples,
    });
    if (epoch + 1 === epochs) this.#log.push({ type: "stage-end", stage: track });
    return { checkpoint };
  }

  /** The model and optimizer to train `track` from `start`, reusing the live one when it holds `start`. */
  async #trainable(track: Track, start: StartFrom, continuing: boolean): Promise<{ model: ModelHandle; optimizer: OptimizerHandle }> {
    const live = this.#live;
    if (live?.track === track && live.optimizer !== undefined && start.kind === "checkpoint" && live.checkpoint === start.path) {
      return { model: live.model, optimizer: live.optimizer };
    }
    await this.#dropModels();
    const model = await this.#create(start.kind === "pretrained" ? start.path : null);
    const { optimizer: settings } = this.#config;
    const { optimizer } = await this.#jobs.createOptimizer(
      {
        model,
        name: settings.name,
        lr: settings.lr,
        weight_decay: settings.weightDecay,
        ...(settings.name === "sgd" ? { momentum: settings.momentum } : {}),
      },
      { signal: this.#signal },
    );
    this.#live = { track, model, optimizer, checkpoint: null };
    if (start.kind === "checkpoint") {
      // Within a stage the optimizer state continues; a new stage starts a fresh optimizer from stage 0's weights.
      await this.#jobs.loadCheckpoint(
        { path: this.#absolute(start.path), model, ...(continuing ? { optimizer } : {}) },
        { signal: this.#signal },
      );
      if (continuing) this.#live.checkpoint = start.path;
    }
    return { model, optimizer };
  }

  /** A model holding the final weights of `track`: the live one, one loaded before, or loaded now. */
  async #modelAt(track: Track): Promise<ModelHandle> {
    const checkpoint = this.#finalCheckpoint(track);
    const live = this.#live;
    if (live?.track === track && live.checkpoint === checkpoint) return live.model;
    const held = this.#models.get(track);
    if (held?.checkpoint === checkpoint) return held.model;
    if (held !== undefined) await this.#jobs.free(held.model, { signal: this.#signal });
    const model = await this.#create(null);
    await this.#jobs.loadCheckpoint({ path: this.#absolute(checkpoint), model }, { signal: this.#signal });
    this.#models.set(track, { model, optimizer: undefined, checkpoint });
    return model;
  }

  /** Frees every model held (before a new one trains: one training model at a time on the worker). */
  async #dropModels(): Promise<void> {
    const handles = this.#heldHandles();
    this.#live = undefined;
    this.#models.clear();
    await Promise.all(handles.map((handle) => this.#jobs.free(handle, { signal: this.#signal })));
  }

  /** clip.create with the run's settings; every stage gets the same seeded initial weights (stage 0's start). */
  async #create(pretrained: string | null): Promise<ModelHandle> {
    const clip = this.#clip;
    const request: ClipCreateRequest = {
      config: clipConfigName(this.#config.encoder),
      seed: deriveSeed(this.#config.seed, 1) & 0x7fffffff,
      tokenizer: clip.tokenizer.kind === "bpe" ? { kind: "bpe", vocab: resolve(clip.tokenizer.vocab) } : { kind: "words", dataset: this.#data.dataset },
      ...(pretrained === null ? {} : { checkpoint: resolve(pretrained) }),
      ...(clip.imageSize === undefined ? {} : { image_size: clip.imageSize }),
      ...(clip.contextLength === undefined ? {} : { context_length: clip.contextLength }),
      lock_text: clip.lockText,
      ...(clip.imageUnlockedBlocks === undefined ? {} : { image_unlocked_blocks: clip.imageUnlockedBlocks }),
    };
    const created = await this.#jobs.createClip(request, { signal: this.#signal });
    this.#imageSize = created.image_size;
    return created.model;
  }

  async #embedImages(track: Track, source: ImageSource): Promise<EmbeddingResult> {
    const model = await this.#modelAt(track);
    return this.#jobs.embed({ model, ...source, augment: augmentOf(this.#config, this.#size()), normalize: true }, { signal: this.#signal });
  }

  #size(): number {
    if (this.#imageSize === undefined) throw new Error("ClipExecutor: no CLIP model was created yet");
    return this.#imageSize;
  }

  #finalCheckpoint(track: Track): string {
    const state = this.#store.manifest.state;
    const path = track === "baseline" ? state.baselineCheckpoint : state.checkpoints[track - 1];
    if (path === null || path === undefined) {
      throw new Error(`${trackName(track)} has no checkpoint yet: it cannot be embedded before it is trained`);
    }
    return path;
  }

  #heldHandles(): (ModelHandle | OptimizerHandle)[] {
    const handles: (ModelHandle | OptimizerHandle)[] = [...this.#models.values()].map((held) => held.model);
    if (this.#live !== undefined) {
      handles.push(this.#live.model);
      if (this.#live.optimizer !== undefined) handles.push(this.#live.optimizer);
    }
    return handles;
  }

  #absolute(path: string): string {
    return isAbsolute(path) ? path : resolve(this.#store.dir, path);
  }
}

function clipConfigName(encoder: string): ClipEncoder {
  if (!isClipEncoder(encoder)) throw new MclError("INVALID_INPUT", `encoder: ${JSON.stringify(encoder)} is not a CLIP encoder`);
  return encoder;
}

function clipLoss(clip: ClipOptions): ClipTrainRequest["loss"] {
  const { name, temperature, targetTemperature, graph, attribute } = clip.loss;
  return {
    name,
    ...(temperature === undefined ? {} : { temperature }),
    ...(targetTemperature === undefined ? {} : { target_temperature: targetTemperature }),
    ...(graph === undefined ? {} : { graph }),
    ...(attribute === undefined ? {} : { attribute }),
  };
}

function pairScores(result: PairBenchmarkResult): Accuracies {
  return Object.fromEntries(result.categories.map((c) => [c.name, c.score]));
}
