/**
 * The run driver's StageExecutor for a CLIP run (docs/clip.md) over the worker's clip.*
 * jobs. It is the EncoderExecutor with CLIP models: stage 0 is the initial model (saved as it is
 * by saveInitial when it trains 0 epochs), every later stage
 * is a fresh clip.create that loads stage 0's checkpoint (or the previous stage's), clustering
 * runs on the image embeddings of the generic embed job, and the evaluation of a stage or of the
 * integrated model (both towers concatenated) is clip.zero_shot and clip.mmvp (and clip.mmvp_vlm
 * when the config names the benchmark's folder).
 *
 * Its actions come numbered from stage 0 (ts/run/track.ts), and so do its events, its checkpoints
 * (checkpoints/stage-0-initial.safetensors…) and its score caches (probes/clip-stage-<s>.json).
 */

import { resolve } from "node:path";
import { z } from "zod";
import { deriveSeed } from "../control/rng.js";
import type { SaveInitialAction } from "../run/run-driver.js";
import type { RunStore } from "../run/run-store.js";
import { writeFileAtomic } from "../control/atomic-file.js";
import type { IntegrationSpec, Normalization } from "../control/integration.js";
import { clipOptionsOf, isClipEncoder, type ClipEncoder, type ClipOptions } from "../config/clip-config.js";
import type { MclConfig } from "../config/mcl-config.js";
import type { ClipTrainArgs, TrainOptions, WorkerJobs } from "../client/index.js";
import type {
  ClipCreateRequest,
  ClipTrainRequest,
  ClipTrainResult,
  DatasetHandle,
  DatasetOpenResult,
  ModelHandle,
  OptimizerHandle,
  PairBenchmarkResult,
} from "../wire/index.js";
import { RunError } from "../run/errors.js";
import type { EventLog } from "./events.js";
import type { Track } from "../run/track.js";
import { readJsonFile, type Accuracies } from "../run/summary.js";
import { EncoderExecutor } from "./encoder-executor.js";
import { trackName } from "../run/track.js";
import { augmentOf, createOptionsOf } from "./job-requests.js";

const scores = z.record(z.string(), z.number().min(0).max(1));
export const clipScoresSchema = z.strictObject({ zeroShot: scores, mmvp: scores, mmvpVlm: scores.optional() });
/** What a CLIP representation scores: zero-shot accuracy per attribute, MMVP pair score per category. */
export type ClipScores = z.output<typeof clipScoresSchema>;

/** A stage's final model, loaded for embedding and evaluation. */
interface HeldModel {
  readonly model: ModelHandle;
  /** The run-relative checkpoint the weights equal. */
  readonly checkpoint: string;
}

/** Refuses a dataset without captions (MclRun does before anything trains): a CLIP run needs one per image. */
export function requireCaptions(config: MclConfig, data: DatasetOpenResult): void {
  if (data.has_captions) return;
  throw new RunError(
    "DATASET_MISMATCH",
    `dataset: ${config.dataset} has no captions, which a CLIP run (encoder ${config.encoder}) needs: give npz datasets a` +
      " `captions` array, folder datasets a .txt file beside every image, or use synthetic:trifeature",
  );
}

export class ClipExecutor extends EncoderExecutor {
  readonly #clip: ClipOptions;
  /** Final models of earlier stages, loaded for embedding and evaluation (the live one trains). */
  readonly #models = new Map<Track, HeldModel>();
  /** The models' input resolution, known after the first clip.create. */
  #imageSize: number | undefined;

  constructor(jobs: WorkerJobs, store: RunStore, data: DatasetOpenResult, log: EventLog, signal: AbortSignal) {
    super(jobs, store, data, log, signal);
    this.#clip = clipOptionsOf(this.config);
  }

  /** Stage 0 as it is: the initial weights (clip.checkpoint, or seeded random ones) saved as its checkpoint. */
  async saveInitial(action: SaveInitialAction): Promise<{ readonly checkpoint: string }> {
    this.log.push({ type: "stage-start", stage: action.stage, epochs: 0, fromEpoch: 0 });
    const model = await this.freshModel(action.stage, action.start.kind === "pretrained" ? action.start.path : null);
    const checkpoint = `checkpoints/${trackName(action.stage)}-initial.safetensors`;
    await this.jobs.saveCheckpoint(
      { model, path: this.absolute(checkpoint), metadata: this.checkpointMetadata(action.stage, 0) },
      { signal: this.signal },
    );
    await this.store.recordCheckpoint(checkpoint, action.stage, 0);
    this.live = { track: action.stage, model, optimizer: undefined, checkpoint };
    this.log.push({ type: "stage-end", stage: action.stage });
    return { checkpoint };
  }

  /** Zero-shot and MMVP scores of one stage (cached in the run directory) or of the baseline. */
  override async trackScores(track: Track): Promise<ClipScores> {
    const file = track === "baseline" ? null : this.store.path(`probes/clip-${trackName(track)}.json`);
    const cached = file === null ? null : await readJsonFile(file, clipScoresSchema);
    if (cached !== null) return cached;
    const result = await this.#scores([await this.modelAt(track)], {});
    if (file !== null) await writeFileAtomic(file, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  }

  /** Zero-shot and MMVP scores of the integrated model: both towers of `spec.stages` concatenated. */
  override async integratedScores(spec: IntegrationSpec): Promise<ClipScores> {
    const models: ModelHandle[] = [];
    for (const stage of spec.stages) models.push(await this.modelAt(stage));
    return this.#scores(models, { weights: [...spec.weights], normalize: spec.normalize });
  }

  protected override trainJob(args: Omit<ClipTrainArgs, "loss">, options: TrainOptions): Promise<ClipTrainResult> {
    return this.jobs.trainClip({ ...args, loss: clipLoss(this.#clip), precision: this.config.compute.precision }, options);
  }

  protected override imageSize(): number {
    if (this.#imageSize === undefined) throw new Error("ClipExecutor: no CLIP model was created yet");
    return this.#imageSize;
  }

  /** Every stage starts from clip.create's seeded initial weights (stage 0's start), or the checkpoint `start` names. */
  protected override async freshModel(_track: Track, pretrained: string | null): Promise<ModelHandle> {
    await this.dropModels();
    return this.#create(pretrained);
  }

  /** A model holding the final weights of `track`: the live one, one loaded before, or loaded now (kept beside the others). */
  protected override async modelAt(track: Track): Promise<ModelHandle> {
    const checkpoint = this.finalCheckpoint(track);
    const live = this.live;
    if (live?.track === track && live.checkpoint === checkpoint) return live.model;
    const held = this.#models.get(track);
    if (held?.checkpoint === checkpoint) return held.model;
    if (held !== undefined) await this.jobs.free(held.model, { signal: this.signal });
    const model = await this.#create(null);
    await this.store.verifyCheckpoint(checkpoint);
    await this.jobs.loadCheckpoint({ path: this.absolute(checkpoint), model }, { signal: this.signal });
    this.#models.set(track, { model, checkpoint });
    return model;
  }

  protected override heldHandles(): (ModelHandle | OptimizerHandle)[] {
    return [...[...this.#models.values()].map((held) => held.model), ...super.heldHandles()];
  }

  protected override forgetModels(): void {
    this.#models.clear();
    super.forgetModels();
  }

  async #scores(models: ModelHandle[], integration: { weights?: number[]; normalize?: Normalization }): Promise<ClipScores> {
    const { evaluation } = this.#clip;
    const { attributes } = this.config.probe;
    const options = { signal: this.signal };
    const common = { models, ...integration, augment: augmentOf(this.config, this.imageSize(), this.preprocess) };
    const result: ClipScores = { zeroShot: {}, mmvp: {} };
    if (evaluation.mmvpVlm !== undefined) {
      result.mmvpVlm = pairScores(await this.jobs.mmvpVlm({ ...common, path: resolve(evaluation.mmvpVlm) }, options));
    }
    // Zero-shot and the synthetic pairs need labelled attributes (web image-caption data has none).
    if (this.data.attributes.length === 0) return result;
    const zeroShot = await this.jobs.zeroShot(
      {
        ...common,
        dataset: this.data.dataset,
        ...(attributes === "all" ? {} : { attributes: [...attributes] }),
        ...(evaluation.zeroShotTemplate === undefined ? {} : { template: evaluation.zeroShotTemplate }),
      },
      options,
    );
    const mmvp = await this.jobs.mmvp(
      { ...common, dataset: this.data.dataset, seed: this.config.seed, pairs_per_category: evaluation.mmvpPairsPerCategory },
      options,
    );
    result.zeroShot = Object.fromEntries(zeroShot.attributes.map((a) => [a.name, a.accuracy]));
    result.mmvp = pairScores(mmvp);
    return result;
  }

  /** clip.create with the run's settings. */
  async #create(pretrained: string | null): Promise<ModelHandle> {
    const created = await this.jobs.createClip(clipCreateRequest(this.config, this.data.dataset, pretrained), { signal: this.signal });
    this.#imageSize = created.image_size;
    return created.model;
  }
}

/**
 * The clip.create request of a CLIP run's model (its words tokenizer reads the captions of
 * `dataset`); every stage gets the same seeded initial weights (stage 0's start), or `pretrained`'s.
 */
export function clipCreateRequest(config: MclConfig, dataset: DatasetHandle, pretrained: string | null): ClipCreateRequest {
  const clip = clipOptionsOf(config);
  return {
    config: clipConfigName(config.encoder),
    seed: deriveSeed(config.seed, 1) & 0x7fffffff,
    tokenizer: clip.tokenizer.kind === "bpe" ? { kind: "bpe", vocab: resolve(clip.tokenizer.vocab) } : { kind: "words", dataset },
    ...(pretrained === null ? {} : { checkpoint: resolve(pretrained) }),
    ...(clip.imageSize === undefined ? {} : { image_size: clip.imageSize }),
    ...(clip.contextLength === undefined ? {} : { context_length: clip.contextLength }),
    ...(clip.activation === undefined ? {} : { activation: clip.activation }),
    lock_image: clip.lockImage,
    ...(clip.lockImageUnlockedGroups === undefined ? {} : { lock_image_unlocked_groups: clip.lockImageUnlockedGroups }),
    lock_text: clip.lockText,
    ...createOptionsOf(config),
  };
}

function clipConfigName(encoder: string): ClipEncoder {
  if (!isClipEncoder(encoder)) throw new RunError("INVALID_INPUT", `encoder: ${JSON.stringify(encoder)} is not a CLIP encoder`);
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
