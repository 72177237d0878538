/**
 * The run driver's StageExecutor over a worker's compute jobs (ts/client): every epoch sends its
 * batch plan as int32 tensors to the train job and saves a checkpoint (model and optimizer,
 * written atomically by the worker, while the next epoch trains) before it counts as done; embed
 * keeps the embedding on the worker; cluster runs k-means there and brings back only the
 * assignments.
 *
 * One encoder is live on the worker at a time. It is reused while the scheduler continues from
 * the checkpoint it just wrote; any other start (a new stage, a resumed run, a new worker) builds
 * the encoder afresh and loads the checkpoint, so a worker restart costs one reload, never a
 * wrong model. Every checkpoint's size and checksum are recorded when it is saved (committed with
 * the epoch) and checked before it is loaded. Every stage (and the baseline) gets a fresh
 * optimizer whose learning-rate schedule spans that stage's steps, and each epoch's train job its
 * first step within the stage, so the
 * warm-up and schedule run across the epochs as over one job. Checkpoint paths in the run manifest
 * are relative to the run directory; the worker gets absolute paths, so a worker reached with
 * connectWorker must see the run directory at the same path (same machine or a shared file system).
 */

import { rm } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import type { BatchPlan } from "../control/batch-planner.js";
import { deriveSeed } from "../control/rng.js";
import type {
  BaselineEpochAction,
  ClusterAction,
  EmbedAction,
  EpochCheckpoint,
  StageExecutor,
  TrainEpochAction,
} from "../run/run-driver.js";
import type { RunStore } from "../run/run-store.js";
import type { StageSchedule, StartFrom } from "../control/stage-scheduler.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import type { MclConfig } from "../config/mcl-config.js";
import type { Preprocess } from "../config/preprocess.js";
import type { EpochLr } from "../report/loss-history.js";
import { writeFileAtomic } from "../control/atomic-file.js";
import type { IntegrationSpec } from "../control/integration.js";
import type { TrainArgs, TrainOptions, WorkerJobs } from "../client/index.js";
import type {
  DatasetHandle,
  DatasetOpenResult,
  EmbeddingResult,
  EmbeddingHandle,
  ModelHandle,
  OptimizerHandle,
  ProbeResult,
  TensorHandle,
  TrainResult,
} from "../wire/index.js";
import { RunError } from "../run/errors.js";
import { PROGRESS_PER_EPOCH, type EventLog } from "./events.js";
import { lastStage, schedulerStage, trackName, type Track } from "../run/track.js";
import { leftOutWarning } from "./left-out.js";
import { samplingOf } from "../run/sampling.js";
import { readProbeFile, SUMMARY_FILE, type ExtraScores, type ProbeScores } from "../run/summary.js";
import { augmentOf, loaderOptionsOf, lossOf, modelRequest, optimizerRequest } from "./job-requests.js";

/** k-means outcome of a stage, kept until its composite groups are recorded. */
export interface KMeansOutcome {
  readonly inertia: number;
  readonly iterations: number;
  readonly converged: boolean;
  /** Clusters no sample was assigned to (warned about as KMEANS_EMPTY_CLUSTERS). */
  readonly emptyClusters: number;
}

/** What embed runs over: a dataset opened on the worker, or uint8 [N, C, H, W] images put there. */
export type ImageSource = { readonly dataset: DatasetHandle } | { readonly images: TensorHandle };

export interface LiveModel {
  readonly track: Track;
  readonly model: ModelHandle;
  /** Absent when the encoder was loaded only to embed. */
  readonly optimizer: OptimizerHandle | undefined;
  /** Run-relative path of the checkpoint the weights equal, null before the first save. */
  checkpoint: string | null;
}

/** What an epoch trained in this session left for losses.json: its mean loss and learning rates. */
export interface EpochRecord {
  readonly loss: number;
  readonly lr: EpochLr;
}

/** How long release() waits for each handle to be freed (the worker may be gone). */
export const RELEASE_TIMEOUT_MS = 5000;

/**
 * Another kind of model (ClipExecutor) reuses the epoch, checkpoint, embedding and release logic
 * and overrides the protected hooks: trainJob, imageSize, freshModel, modelAt, heldHandles, forgetModels.
 */
export class EncoderExecutor implements StageExecutor {
  protected readonly jobs: WorkerJobs;
  protected readonly store: RunStore;
  protected readonly data: DatasetOpenResult;
  protected readonly log: EventLog;
  protected readonly signal: AbortSignal;
  protected readonly config: MclConfig;
  /** The run's preprocessing (its manifest's), sent with every image transform and saved in every checkpoint. */
  protected readonly preprocess: Preprocess;
  readonly #imageSize: number;
  readonly #schedule: StageSchedule;
  /** The encoder on the worker (one at a time): the one training, or the last one loaded to embed. */
  protected live: LiveModel | undefined;
  readonly #embeddings = new Map<Track, EmbeddingHandle>();
  readonly #started = new Set<Track>();
  readonly #kmeans = new Map<number, KMeansOutcome>();
  /** Each epoch trained in this session, by `${track}:${epoch}`. */
  readonly #epochs = new Map<string, EpochRecord>();
  /** Steps of every epoch of a track (the same in each: see #train), as first seen in this session. */
  readonly #epochSteps = new Map<Track, number>();

  constructor(jobs: WorkerJobs, store: RunStore, data: DatasetOpenResult, log: EventLog, signal: AbortSignal) {
    this.jobs = jobs;
    this.store = store;
    this.data = data;
    this.log = log;
    this.signal = signal;
    this.config = store.manifest.config;
    this.preprocess = store.manifest.preprocess;
    this.#imageSize = data.image_shape[1]!;
    this.#schedule = scheduleFromConfig(this.config);
  }

  trainEpoch(action: TrainEpochAction, plan: BatchPlan, signal?: AbortSignal): Promise<EpochCheckpoint> {
    return this.#train(action.stage, action.epoch, action.epochs, action.start, plan, signal);
  }

  trainBaselineEpoch(action: BaselineEpochAction, plan: BatchPlan, signal?: AbortSignal): Promise<EpochCheckpoint> {
    return this.#train("baseline", action.epoch, action.epochs, action.start, plan, signal);
  }

  /** Embeds the stage's samples for its clustering, and probes them (the stage's curve point). */
  async embed(action: EmbedAction): Promise<void> {
    const probe = await this.stageProbe(action.stage);
    this.log.push({ type: "probe", stage: action.stage, probe });
  }

  async cluster(action: ClusterAction): Promise<Int32Array> {
    const embedding = await this.embedding(action.stage);
    const result = await this.jobs.kmeans(
      { embedding, k: action.k, seed: deriveSeed(this.config.seed, this.#seedStream(action.stage)) & 0x7fffffff },
      { signal: this.signal },
    );
    const emptyClusters = result.empty_clusters;
    this.#kmeans.set(action.stage, { inertia: result.inertia, iterations: result.iterations, converged: result.converged, emptyClusters });
    if (emptyClusters > 0) {
      this.log.push({
        type: "warning",
        stage: action.stage,
        code: "KMEANS_EMPTY_CLUSTERS",
        message:
          `stage ${action.stage}: k-means left ${emptyClusters} of its ${action.k} clusters empty: the stage's embedding has fewer ` +
          `than ${action.k} distinct rows (a collapsed encoder?), so this clustering divides the samples by ${action.k - emptyClusters} ` +
          `clusters only. Lower this stage's \`clusters\` in the config, or look at the encoder's training (loss, learning rate).`,
      });
    }
    return result.assignments;
  }

  /** The mean loss and learning rates of `track`'s `epoch` in this session (null when it was trained in an earlier one). */
  epochRecord(track: Track, epoch: number): EpochRecord | null {
    return this.#epochs.get(`${track}:${epoch}`) ?? null;
  }

  /** The k-means outcome of `stage` in this session (null when it was clustered in an earlier one). */
  kmeansOutcome(stage: number): KMeansOutcome | null {
    return this.#kmeans.get(stage) ?? null;
  }

  /**
   * Every sample embedded with the final encoder of `track` (eval transform, backbone features,
   * L2-normalised), computed once per session and kept on the worker.
   */
  async embedding(track: Track): Promise<EmbeddingHandle> {
    const held = this.#embeddings.get(track);
    if (held !== undefined) return held;
    const started = performance.now();
    const result = await this.#embed(track, { dataset: this.data.dataset });
    this.#embeddings.set(track, result.embedding);
    const [rows, dim] = result.shape;
    this.log.push({ type: "embed", stage: track, rows: rows!, dim: dim!, seconds: (performance.now() - started) / 1000 });
    return result.embedding;
  }

  /**
   * The integrated representation (ts/control/integration.ts's formula) of the run's dataset, or
   * of other images on the worker (their per-stage embeddings are freed afterwards).
   */
  async integrated(spec: IntegrationSpec, source?: ImageSource): Promise<EmbeddingResult> {
    const embeddings: EmbeddingHandle[] = [];
    const temporary: EmbeddingHandle[] = [];
    try {
      for (const stage of spec.stages) {
        if (source === undefined) embeddings.push(await this.embedding(stage));
        else {
          const { embedding } = await this.#embed(stage, source);
          temporary.push(embedding);
          embeddings.push(embedding);
        }
      }
      return await this.jobs.integrate(
        { embeddings, weights: [...spec.weights], normalize: spec.normalize },
        { signal: this.signal },
      );
    } finally {
      await Promise.allSettled(temporary.map((handle) => this.jobs.free(handle)));
    }
  }

  /** Probe scores of the integrated representation of the run's dataset, which is freed afterwards. */
  async integratedProbe(spec: IntegrationSpec): Promise<ProbeScores> {
    const integrated = await this.integrated(spec);
    try {
      return await this.probe(integrated.embedding);
    } finally {
      await this.jobs.free(integrated.embedding).catch(() => undefined);
    }
  }

  /** A stage's probe scores: read from the run directory, or measured once and written there. */
  async stageProbe(stage: number): Promise<ProbeScores> {
    const file = this.store.path(`probes/stage-${stage}.json`);
    const cached = await readProbeFile(file);
    if (cached !== null) return cached;
    const scores = await this.probe(await this.embedding(stage));
    await writeFileAtomic(file, `${JSON.stringify(scores, null, 2)}\n`);
    return scores;
  }

  /** Scores besides the probes of one stage or the baseline: none for an image-only run. */
  async trackScores(_track: Track): Promise<ExtraScores> {
    return {};
  }

  /** Scores besides the probes of the integrated representation: none for an image-only run. */
  async integratedScores(_spec: IntegrationSpec): Promise<ExtraScores> {
    return {};
  }

  /** Linear-probe (and kNN) accuracy per attribute of an embedding held on the worker; none without labelled attributes. */
  async probe(embedding: EmbeddingHandle): Promise<ProbeScores> {
    if (this.data.attributes.length === 0) return { linear: {} };
    const { attributes, knn } = this.config.probe;
    const result: ProbeResult = await this.jobs.probe(
      {
        embedding,
        dataset: this.data.dataset,
        seed: this.config.seed,
        ...(attributes === "all" ? {} : { attributes: [...attributes] }),
        ...(knn > 0 ? { knn_k: knn } : {}),
      },
      { signal: this.signal },
    );
    const linear: Record<string, number> = {};
    const nearest: Record<string, number> = {};
    for (const score of result.attributes) {
      linear[score.name] = score.linear;
      nearest[score.name] = score.knn;
    }
    return knn > 0 ? { linear, knn: nearest } : { linear };
  }

  /** Frees what this session put on the worker (best effort: the worker may be gone). */
  async release(): Promise<void> {
    const handles = [...this.#embeddings.values(), ...this.heldHandles()];
    this.#embeddings.clear();
    this.forgetModels();
    await Promise.allSettled(handles.map((handle) => this.jobs.free(handle, { timeoutMs: RELEASE_TIMEOUT_MS })));
  }

  /**
   * One epoch: the train job, then its checkpoint, returned as soon as the worker holds a copy of
   * the weights; the file is written (and its checksum recorded) while the next epoch trains.
   */
  async #train(
    track: Track,
    epoch: number,
    epochs: number,
    start: StartFrom,
    plan: BatchPlan,
    stop: AbortSignal | undefined,
  ): Promise<EpochCheckpoint> {
    const signal = stop === undefined ? this.signal : AbortSignal.any([this.signal, stop]);
    if (!this.#started.has(track)) {
      this.#started.add(track);
      this.log.push({ type: "stage-start", stage: track, epochs, fromEpoch: epoch });
      const warning = leftOutWarning(track, plan.accounting, this.config);
      if (warning !== null) this.log.push(warning);
    }
    // The learning rate of a step is a function of its index within the stage, which the worker
    // gets as first_step. Every epoch of a stage has as many steps as the first: the batch planner
    // counts a plan's batches from the group sizes alone (batch-planner.ts, phase A), so epoch e
    // starts at e × steps and the stage ends at epochs × steps.
    const steps = plan.offsets.length - 1;
    const known = this.#epochSteps.get(track) ?? steps;
    if (known !== steps) {
      throw new RunError(
        "UNEQUAL_EPOCHS",
        `${trackName(track)}: epoch ${epoch + 1} plans ${steps} steps, an earlier epoch ${known}; the learning-rate schedule needs equal epochs`,
      );
    }
    this.#epochSteps.set(track, steps);
    const firstStep = epoch * steps;
    const { model, optimizer } = await this.#trainable(track, start, epoch > 0, epochs * steps);
    const result = await this.trainJob(
      {
        model,
        optimizer,
        dataset: this.data.dataset,
        plan,
        augment: augmentOf(this.config, this.imageSize(), this.preprocess),
        data: loaderOptionsOf(this.config),
        seed: deriveSeed(this.config.seed, this.#seedStream(track), epoch) & 0x7fffffff,
        first_step: firstStep,
        progress_every: Math.max(1, Math.ceil(steps / PROGRESS_PER_EPOCH)),
      },
      {
        signal,
        onProgress: (p) =>
          this.log.push({
            type: "train-progress",
            stage: track,
            epoch,
            step: p.step - firstStep,
            steps: p.steps - firstStep,
            loss: p.loss,
            lr: p.lr,
            samplesPerSec: p.samples_per_s,
          }),
      },
    );
    const checkpoint = `checkpoints/${trackName(track)}-epoch-${epoch + 1}.safetensors`;
    // Not cancelled with the run: a run paused while the next epoch trains keeps this one.
    const save = this.jobs.saveCheckpointInBackground({
      model,
      optimizer,
      path: this.absolute(checkpoint),
      metadata: this.checkpointMetadata(track, epoch + 1),
    });
    const durable = save.written.then(() => this.store.recordCheckpoint(checkpoint, track, epoch + 1)).then(() => undefined);
    durable.catch(() => {}); // the run driver awaits it before committing the epoch
    await save.copied;
    this.live!.checkpoint = checkpoint;
    this.#epochs.set(`${track}:${epoch}`, { loss: result.mean_loss, lr: { first: result.first_lr, last: result.last_lr } });
    this.log.push({
      type: "epoch",
      stage: track,
      epoch,
      epochs,
      loss: result.mean_loss,
      samplesPerSec: result.samples_per_s,
      seconds: result.seconds,
      samples: result.samples,
      leftOut: plan.accounting.leftOut,
      leftOutFraction: samplingOf(plan.accounting).leftOutFraction,
    });
    // A stage ends when its last checkpoint is on disk.
    if (epoch + 1 === epochs) durable.then(() => this.log.push({ type: "stage-end", stage: track }), () => {});
    return { checkpoint, durable };
  }

  /**
   * The encoder and optimizer to train `track` from `start`, reusing the live one when it is there.
   * A new optimizer's schedule spans the stage's `totalSteps`; a checkpoint's optimizer state is
   * loaded only within a stage, where the worker checks that its schedule is the same.
   */
  async #trainable(
    track: Track,
    start: StartFrom,
    continuing: boolean,
    totalSteps: number,
  ): Promise<{ model: ModelHandle; optimizer: OptimizerHandle }> {
    const live = this.live;
    if (
      live !== undefined &&
      live.track === track &&
      live.optimizer !== undefined &&
      start.kind === "checkpoint" &&
      live.checkpoint === start.path
    ) {
      return { model: live.model, optimizer: live.optimizer };
    }
    const model = await this.freshModel(track, start.kind === "pretrained" ? start.path : null);
    const { optimizer } = await this.jobs.createOptimizer(optimizerRequest(this.config, model, totalSteps), { signal: this.signal });
    this.live = { track, model, optimizer, checkpoint: null };
    if (start.kind === "checkpoint") {
      // Within a stage the optimizer state continues; a new stage (init 'previous') starts a fresh optimizer.
      await this.store.verifyCheckpoint(start.path);
      await this.jobs.loadCheckpoint(
        { path: this.absolute(start.path), model, ...(continuing ? { optimizer } : {}) },
        { signal: this.signal },
      );
      if (continuing) this.live.checkpoint = start.path;
    }
    return { model, optimizer };
  }

  /** An encoder holding the final weights of `track` (the live one when it holds them), for embedding. */
  protected async modelAt(track: Track): Promise<ModelHandle> {
    const checkpoint = this.finalCheckpoint(track);
    const live = this.live;
    if (live !== undefined && live.track === track && live.checkpoint === checkpoint) return live.model;
    const model = await this.freshModel(track, null);
    this.live = { track, model, optimizer: undefined, checkpoint };
    await this.store.verifyCheckpoint(checkpoint);
    await this.jobs.loadCheckpoint({ path: this.absolute(checkpoint), model }, { signal: this.signal });
    return model;
  }

  /** The train job of this kind of run, given everything but the loss. */
  protected trainJob(args: Omit<TrainArgs, "loss">, options: TrainOptions): Promise<TrainResult> {
    return this.jobs.train({ ...args, loss: lossOf(this.config), precision: this.config.compute.precision }, options);
  }

  /** The input resolution the augmentation resizes to. */
  protected imageSize(): number {
    return this.#imageSize;
  }

  /** Frees the models held (one encoder at a time on the worker), then builds `track`'s initial encoder. */
  protected async freshModel(track: Track, pretrained: string | null): Promise<ModelHandle> {
    await this.dropModels();
    // The baseline starts from the same initial weights as stage 1: only the schedule differs.
    const seed = deriveSeed(this.config.seed, track === "baseline" ? 1 : this.#seedStream(track)) & 0x7fffffff;
    const { model } = await this.jobs.createModel(modelRequest(this.config, this.#imageSize, seed, pretrained), {
      signal: this.signal,
    });
    return model;
  }

  async #embed(track: Track, source: ImageSource): Promise<EmbeddingResult> {
    const model = await this.modelAt(track);
    return this.jobs.embed(
      {
        model,
        ...source,
        augment: augmentOf(this.config, this.imageSize(), this.preprocess),
        normalize: true,
        data: loaderOptionsOf(this.config),
      },
      { signal: this.signal },
    );
  }

  /** What every checkpoint records besides the weights: its track and epoch, and the preprocessing its weights expect. */
  protected checkpointMetadata(track: Track, epoch: number): Record<string, string> {
    return { track: trackName(track), epoch: String(epoch), preprocess: JSON.stringify(this.preprocess) };
  }

  /** The run-relative checkpoint of `track`'s final weights. */
  protected finalCheckpoint(track: Track): string {
    const state = this.store.manifest.state;
    const path = track === "baseline" ? state.baselineCheckpoint : state.checkpoints[schedulerStage(this.#schedule, track) - 1];
    if (path === null || path === undefined) {
      throw new Error(`${trackName(track)} has no checkpoint yet: it cannot be embedded before it is trained`);
    }
    return path;
  }

  /** Frees every model held, before another one is built. */
  protected async dropModels(): Promise<void> {
    const handles = this.heldHandles();
    this.forgetModels();
    await Promise.all(handles.map((handle) => this.jobs.free(handle, { signal: this.signal })));
  }

  /** The model and optimizer handles held on the worker. */
  protected heldHandles(): (ModelHandle | OptimizerHandle)[] {
    const live = this.live;
    if (live === undefined) return [];
    return live.optimizer === undefined ? [live.model] : [live.model, live.optimizer];
  }

  /** Drops the references to the models held (after their handles are taken to be freed). */
  protected forgetModels(): void {
    this.live = undefined;
  }

  /** The stream of `track`'s seeds: its stage's index in the scheduler (track.ts), the baseline's 0. */
  #seedStream(track: Track): number {
    return track === "baseline" ? 0 : schedulerStage(this.#schedule, track);
  }

  /** A run-relative path as the worker must see it. */
  protected absolute(path: string): string {
    return isAbsolute(path) ? path : resolve(this.store.dir, path);
  }
}

/**
 * At the start of a resume: a damaged checkpoint rewinds the run (RunStore.recoverCheckpoints) and
 * is reported as a warning; what was measured with the rewound stages' weights (their probe
 * caches, summary.json) is removed, to be measured again once they are retrained.
 */
export async function recoverCheckpoints(store: RunStore, log: EventLog): Promise<void> {
  const recovery = await store.recoverCheckpoints();
  if (recovery === null) return;
  const { track, fallback } = recovery;
  const last = lastStage(scheduleFromConfig(store.manifest.config));
  const rewound = track === "baseline" ? [] : Array.from({ length: last - track + 1 }, (_, i) => track + i);
  const stale = [SUMMARY_FILE, ...rewound.flatMap((stage) => [`probes/stage-${stage}.json`, `probes/clip-stage-${stage}.json`])];
  await Promise.all(stale.map((file) => rm(store.path(file), { force: true })));
  // The scheduler runs the stages in order and the baseline after them: what follows a rewound stage runs again.
  const after: string[] = [];
  if (track !== "baseline" && track + 1 === last) after.push(`stage ${last}`);
  if (track !== "baseline" && track + 1 < last) after.push(`stages ${track + 1}…${last}`);
  if (track !== "baseline" && store.manifest.config.baseline) after.push("the baseline");
  const later = after.length === 0 ? "" : ` (then ${after.join(" and ")} train again, as they come after it)`;
  log.push({
    type: "warning",
    stage: track,
    code: "CHECKPOINT_DAMAGED",
    message:
      `${recovery.file} is damaged: ${recovery.problem}. ` +
      (fallback === null
        ? `${trackName(track)} has no intact earlier checkpoint, so it trains again from its start${later}.`
        : `${trackName(track)} continues from ${fallback} (epoch ${recovery.epochs}), training the epochs after it again${later}.`) +
      " If files of the run directory get damaged again, check its disk or file system.",
  });
}
