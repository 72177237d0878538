/**
 * Run driver: the loop that ties the stage scheduler, the cluster book, the batch planner and the
 * run store together. It asks the scheduler for the next action, has an executor (the SDK's
 * worker client, or a fake in tests) carry out the tensor work, and commits the scheduler's next
 * state to the run store after every action, so a run stopped at any point resumes at the first
 * action that was not committed. Batch plans are never stored: they are recomputed from
 * (seed, stage, epoch) and come out identical.
 *
 * The driver is where the scheduler's stage indices (1…S) become stage numbers (track.ts): the
 * executor and the callbacks get every action with its stages numbered as the run numbers them,
 * and the files and records it writes use those numbers; the indices stay with the scheduler's
 * state, the arrays it indexes and the batch plans' seeds.
 *
 * An epoch's checkpoint may still be on its way to disk when the executor returns: the driver then
 * starts the next epoch of the same track at once and commits the finished one when its file is
 * durable, so writing a checkpoint costs the training no time. Nothing is committed before its
 * checkpoint is durable; a checkpoint that fails to become durable stops the epoch training beside
 * it and fails the run, and an epoch whose checkpoint is durable is committed even when the
 * training beside it fails.
 */

import type { MclConfig } from "../config/mcl-config.js";
import { planMcl, planUniform, type BatchPlan, type PlanOptions } from "../control/batch-planner.js";
import { ClusterBook } from "../control/cluster-book.js";
import { PlanError, RunStoreError, SchedulerError } from "../control/errors.js";
import type { ManifestChanges, RunStore, StageRecord } from "./run-store.js";
import {
  advance,
  nextAction,
  type Action,
  type Event,
  type SchedulerState,
  type StageSchedule,
} from "../control/stage-scheduler.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import { stageNumber } from "./track.js";

export type TrainEpochAction = Extract<Action, { kind: "train-epoch" }>;
export type EmbedAction = Extract<Action, { kind: "embed" }>;
export type SaveInitialAction = Extract<Action, { kind: "save-initial" }>;
export type ClusterAction = Extract<Action, { kind: "cluster" }>;
export type BaselineEpochAction = Extract<Action, { kind: "train-baseline-epoch" }>;

/** A trained epoch's checkpoint file. */
export interface EpochCheckpoint {
  readonly checkpoint: string;
  /**
   * Resolves once the file is durable, rejects if writing it failed; absent when it already is.
   * The driver commits the epoch only after it resolves.
   */
  readonly durable?: Promise<void>;
}

/**
 * The tensor work, done by the worker. Every action's stages are stage numbers (track.ts), not
 * the scheduler's indices. Each call resolves once its result is durable, but for an
 * epoch's checkpoint (EpochCheckpoint.durable). The epoch calls take a signal that is aborted when
 * the previous epoch's checkpoint failed to become durable: the epoch is then not needed.
 */
export interface StageExecutor {
  /** Trains one epoch on `plan` from `action.start`; returns the checkpoint it writes. */
  trainEpoch(action: TrainEpochAction, plan: BatchPlan, signal?: AbortSignal): Promise<EpochCheckpoint>;
  /**
   * Writes the initial weights of a 0-epoch stage 0 (a stageZero schedule: CLIP) as its
   * checkpoint; returns the checkpoint. Only executors of such runs implement it.
   */
  saveInitial?(action: SaveInitialAction): Promise<{ readonly checkpoint: string }>;
  /** Embeds every training sample with the stage's encoder (kept on the worker). */
  embed(action: EmbedAction): Promise<void>;
  /** k-means over the stage's embeddings; returns one cluster id in [0, k) per sample. */
  cluster(action: ClusterAction): Promise<Int32Array>;
  /** One epoch of the single-stage baseline on a uniform `plan`. */
  trainBaselineEpoch(action: BaselineEpochAction, plan: BatchPlan, signal?: AbortSignal): Promise<EpochCheckpoint>;
}

export interface DriveOptions {
  /** N: samples in the training set. Must match the run's, once recorded. */
  readonly numSamples: number;
  /** Data-parallel ranks of the worker. Default 1. */
  readonly worldSize?: number;
  /**
   * Called after an action's work (its stages numbered as the executor's are) and before its
   * commit, for what must be on disk with it: a process killed in between repeats the action on
   * resume, and with it this call.
   */
  readonly beforeCommit?: (action: Action) => Promise<void>;
  /** Called after every committed transition, with the action numbered as the executor's are. */
  readonly onTransition?: (action: Action, state: SchedulerState) => void;
  /** Stops the loop (between actions) when aborted. */
  readonly signal?: AbortSignal;
}

/** Drives the run in `store` until it is done (or aborted); returns the final state. */
export async function driveRun(store: RunStore, executor: StageExecutor, options: DriveOptions): Promise<SchedulerState> {
  const config = store.manifest.config;
  const schedule = scheduleFromConfig(config);
  const numSamples = options.numSamples;
  if (store.manifest.numSamples === null) await store.commit({ numSamples });
  else if (store.manifest.numSamples !== numSamples) {
    throw new RunStoreError(
      "CONFIG_CHANGED",
      `the run was made with ${store.manifest.numSamples} samples, the dataset now has ${numSamples}`,
    );
  }
  const book = await rebuildBook(store, numSamples);
  const planOptions = (stage: number, epoch: number): PlanOptions => planOptionsOf(config, options.worldSize ?? 1, stage, epoch);

  const commit = async (done: Done): Promise<void> => {
    await done.durable;
    await options.beforeCommit?.(done.work);
    await store.commit(done.changes);
    options.onTransition?.(done.work, done.next);
  };
  // The last epoch, while its checkpoint is being written.
  let writing: Done | undefined;
  /** Trains an epoch while `writing` commits; stops the epoch when that commit fails. */
  const trainBesideCommit = async (train: (signal?: AbortSignal) => Promise<EpochCheckpoint>): Promise<EpochCheckpoint> => {
    const previous = writing;
    if (previous === undefined) return train();
    writing = undefined;
    const stop = new AbortController();
    const training = train(stop.signal);
    training.catch(() => {}); // awaited below, after the commit
    try {
      await commit(previous);
    } catch (error) {
      stop.abort(error);
      await training.then((epoch) => epoch.durable?.catch(() => {}), () => {});
      throw error;
    }
    return training;
  };

  try {
    for (;;) {
      if (options.signal?.aborted === true && writing !== undefined) {
        const done = writing;
        writing = undefined;
        await commit(done);
      }
      options.signal?.throwIfAborted();
      const state = writing?.next ?? store.manifest.state;
      const action = nextAction(schedule, state);
      if (writing !== undefined && !continuesTrack(writing.action, action)) {
        const done = writing;
        writing = undefined;
        await commit(done);
      }
      /** `action` numbered (numberedAction), as the executor and the callbacks get it. */
      let work: Action;
      let event: Event;
      let stages: readonly StageRecord[] | undefined;
      let durable: Promise<void> | undefined;
      switch (action.kind) {
        case "done":
          return state;
        case "train-epoch": {
          const numbered = numberedAction(schedule, action); // a const: the training closure below keeps its type
          work = numbered;
          const plan =
            action.sampling.policy === "uniform"
              ? planUniform(numSamples, planOptions(action.stage, action.epoch))
              : planMcl(book.hierarchy(action.sampling.labelsStage), planOptions(action.stage, action.epoch));
          requireBatches(plan, work.stage, config);
          const trained = await trainBesideCommit((signal) => executor.trainEpoch(numbered, plan, signal));
          durable = trained.durable;
          event = { kind: "epoch-trained", stage: action.stage, epoch: action.epoch, checkpoint: trained.checkpoint };
          break;
        }
        case "save-initial": {
          work = numberedAction(schedule, action);
          if (executor.saveInitial === undefined) {
            throw new SchedulerError("INVALID_ARGUMENT", `stage ${work.stage} trains 0 epochs, and this executor cannot save initial weights`);
          }
          const { checkpoint } = await executor.saveInitial(work);
          event = { kind: "initial-saved", stage: action.stage, checkpoint };
          break;
        }
        case "embed":
          work = numberedAction(schedule, action);
          await executor.embed(work);
          event = { kind: "embedded", stage: action.stage };
          break;
        case "cluster": {
          work = numberedAction(schedule, action);
          const assignments = await executor.cluster(work);
          const ref = await store.writeArray(`stage-${work.stage}/assignments.i32`, assignments);
          stages = [...store.manifest.stages.slice(0, action.stage - 1), { stage: work.stage, k: action.k, assignments: ref }];
          event = { kind: "clustered", stage: action.stage };
          break;
        }
        case "plan": {
          work = numberedAction(schedule, action);
          stages = await recordComposite(store, book, action.stage, schedule, planOptions(action.stage + 1, 0));
          event = { kind: "planned", stage: action.stage };
          break;
        }
        case "train-baseline-epoch": {
          work = numberedAction(schedule, action);
          // Stream 0 keeps the baseline's batches apart from every stage's.
          const plan = planUniform(numSamples, planOptions(0, action.epoch));
          const trained = await trainBesideCommit((signal) => executor.trainBaselineEpoch(action, plan, signal));
          durable = trained.durable;
          event = { kind: "baseline-epoch-trained", epoch: action.epoch, checkpoint: trained.checkpoint };
          break;
        }
      }
      const next = advance(schedule, state, event);
      const changes = stages === undefined ? { state: next } : { state: next, stages };
      const done: Done = { action, work, next, changes, durable };
      if (durable === undefined) {
        await commit(done);
      } else {
        durable.catch(() => {}); // awaited by its commit
        writing = done;
      }
    }
  } catch (error) {
    // An epoch whose checkpoint is durable is kept, whatever failed after it; the first failure is the one reported.
    if (writing !== undefined) await commit(writing).catch(() => {});
    throw error;
  }
}

/** An action carried out, and what committing it takes. */
interface Done {
  readonly action: Action;
  /** `action` numbered (numberedAction), for the callbacks. */
  readonly work: Action;
  readonly next: SchedulerState;
  readonly changes: ManifestChanges;
  /** The epoch's checkpoint, durable once this resolves. */
  readonly durable: Promise<void> | undefined;
}

/**
 * The scheduler's `action` with its stages as stage numbers (track.ts), as the executor and the
 * callbacks get it.
 */
export function numberedAction<A extends Action>(schedule: StageSchedule, action: A): A {
  if (!("stage" in action)) return action;
  const stage = stageNumber(schedule, action.stage);
  if (action.kind !== "train-epoch" || action.sampling.policy !== "mcl") return { ...action, stage };
  return { ...action, stage, sampling: { policy: "mcl", labelsStage: stageNumber(schedule, action.sampling.labelsStage) } };
}

/** Whether `next` trains on the track `previous` trained, so that it may start before `previous` commits. */
function continuesTrack(previous: Action, next: Action): boolean {
  if (previous.kind === "train-epoch") return next.kind === "train-epoch" && next.stage === previous.stage;
  return previous.kind === "train-baseline-epoch" && next.kind === "train-baseline-epoch";
}

/** The planning options of the scheduler's stage `stage` (1…S), epoch `epoch` (stage 0: the baseline's stream). */
export function planOptionsOf(config: MclConfig, worldSize: number, stage: number, epoch: number): PlanOptions {
  return {
    batchSize: config.batchSize,
    smallGroups: config.sampling.smallGroups,
    minBatchSize: config.sampling.minBatchSize,
    worldSize,
    seed: config.seed,
    stage,
    epoch,
  };
}

/** A plan without a single batch would train nothing: refuse it, naming the settings that decide it. */
function requireBatches(plan: BatchPlan, stage: number, config: MclConfig): void {
  if (plan.offsets.length > 1) return;
  throw new PlanError(
    "PLAN_INFEASIBLE",
    `stage ${stage}: no group fills a batch of batchSize ${config.batchSize} under sampling.smallGroups ` +
      `'${config.sampling.smallGroups}', so the epoch would train on nothing; lower batchSize or clusters, ` +
      `use more samples, or set sampling.smallGroups to 'balanced' (or 'shrink') with a low sampling.minBatchSize`,
  );
}

/** Replays the committed clusterings into a cluster book (composition is deterministic). */
async function rebuildBook(store: RunStore, numSamples: number): Promise<ClusterBook> {
  const book = new ClusterBook(numSamples);
  for (const record of store.manifest.stages) {
    if (record.composite === undefined) break;
    book.addStage(await store.readArray(record.assignments), record.k);
  }
  return book;
}

/** plan action: composes the labels after the scheduler's stage `stage`, writes them, and records stats and plan accounting. */
async function recordComposite(
  store: RunStore,
  book: ClusterBook,
  stage: number,
  schedule: StageSchedule,
  firstEpoch: PlanOptions,
): Promise<StageRecord[]> {
  const record = store.manifest.stages[stage - 1];
  if (record === undefined) {
    throw new RunStoreError("CORRUPT_FILE", `manifest.json: stage ${stageNumber(schedule, stage)} is in the plan phase but has no assignments`);
  }
  const clustering =
    book.numStages >= stage ? book.stage(stage) : book.addStage(await store.readArray(record.assignments), record.k);
  const accounting =
    schedule.sampling === "mcl" ? planMcl(book.hierarchy(stage), firstEpoch).accounting : undefined;
  const dir = `stage-${record.stage}`;
  const composite = {
    labels: await store.writeArray(`${dir}/labels.i32`, clustering.labels),
    parents: await store.writeArray(`${dir}/parents.i32`, clustering.parents),
    sizes: await store.writeArray(`${dir}/sizes.i32`, clustering.sizes),
    stats: clustering.stats,
    ...(accounting === undefined ? {} : { plan: { ...accounting } as Record<string, unknown> }),
  };
  return [...store.manifest.stages.slice(0, stage - 1), { ...record, composite }];
}
