/**
 * Stage scheduler: the explicit state machine of an MCL run (docs/method.md, "The procedure").
 *
 *   for stage s = 1…S:  train E_s epochs → (s < S) embed → cluster (K_s) → plan stage s+1
 *   then, with a baseline: train one single-stage model for ΣE_s epochs (equal compute)
 *
 * A CLIP run (docs/clip.md) sets `stageZero`: its stage 1 is the paper's "stage 0", the initial
 * model, whose epochs may be 0 (then its checkpoint is the initial weights as they are, written
 * by a save-initial action); it is clustered like any stage, and every later stage starts from its
 * weights (init 'pretrained') or from the previous stage's (init 'previous'). Outside the scheduler
 * every stage goes by its number (ts/run/track.ts), which is that stage 0.
 *
 * It is pure: `nextAction(schedule, state)` says what to do, the driver (SDK) does it on the
 * worker, and `advance(schedule, state, event)` gives the next state, which the run store
 * persists before anything else happens. A run therefore resumes exactly at the action that
 * had not been confirmed. Events that do not answer the pending action are refused.
 */

import { z } from "zod";
import type { SamplingPolicy } from "./batch-planner.js";
import { SchedulerError } from "./errors.js";

export type StageInit = "scratch" | "pretrained" | "previous";

/** What the scheduler needs from the config, with per-stage values expanded. */
export interface StageSchedule {
  /** S. */
  readonly stages: number;
  /** Epochs of stage s at index s-1 (length S). */
  readonly epochs: readonly number[];
  /** K of the clustering after stage s at index s-1 (length S-1). */
  readonly clusters: readonly number[];
  readonly init: StageInit;
  /** Pretrained weights (required by init 'pretrained'; the start of stage 1 under 'previous'). */
  readonly pretrained: string | null;
  /** Negatives of stages 2…S (stage 1 is always uniform). */
  readonly sampling: SamplingPolicy;
  /** Epochs of the equal-compute single-stage baseline (0 = none). */
  readonly baselineEpochs: number;
  /**
   * Stage 1 is the initial model of a fine-tuning recipe (CLIP's stage 0): it starts from
   * `pretrained` (else fresh weights), epochs[0] may be 0, and the stages after it and the
   * baseline start from its final weights (under init 'previous': later stages from stage s-1's).
   */
  readonly stageZero?: boolean;
}

/** Checks a schedule's lengths and epochs (SchedulerError naming the field). */
export function validateSchedule(schedule: StageSchedule): StageSchedule {
  const { stages, epochs, clusters } = schedule;
  if (epochs.length !== stages || clusters.length !== stages - 1) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `schedule: expected ${stages} epoch counts and ${stages - 1} cluster counts, got ${epochs.length} and ${clusters.length}`,
    );
  }
  if (schedule.init === "pretrained" && schedule.pretrained === null && schedule.stageZero !== true) {
    throw new SchedulerError("INVALID_ARGUMENT", "pretrained: required when init is 'pretrained'");
  }
  epochs.forEach((e, i) => {
    if (!Number.isInteger(e) || e < (i === 0 && schedule.stageZero === true ? 0 : 1)) {
      throw new SchedulerError("INVALID_ARGUMENT", `schedule: epochs[${i}] must be an integer >= ${i === 0 && schedule.stageZero === true ? 0 : 1}, got ${e}`);
    }
  });
  return schedule;
}

export const schedulerStateSchema = z.strictObject({
  stage: z.int().min(1),
  phase: z.enum(["train", "embed", "cluster", "plan", "baseline", "done"]),
  /** Epochs completed in the current train or baseline phase. */
  epoch: z.int().min(0),
  /** Latest checkpoint of each stage (index s-1), null before its first epoch. */
  checkpoints: z.array(z.string().nullable()),
  baselineCheckpoint: z.string().nullable(),
});

export type SchedulerState = Readonly<z.output<typeof schedulerStateSchema>>;

/** Where a model's weights come from before an epoch. */
export type StartFrom =
  | { readonly kind: "scratch" }
  | { readonly kind: "pretrained"; readonly path: string }
  | { readonly kind: "checkpoint"; readonly path: string };

/** How the batches of an epoch are drawn. */
export type EpochSampling =
  | { readonly policy: "uniform" }
  /** One group per batch, groups from the composite labels after clustering stage `labelsStage`. */
  | { readonly policy: "mcl"; readonly labelsStage: number };

export type Action =
  | {
      readonly kind: "train-epoch";
      readonly stage: number;
      /** 0-based epoch within the stage. */
      readonly epoch: number;
      readonly epochs: number;
      /** Weights to load first; on later epochs the stage's own latest checkpoint (skip if warm). */
      readonly start: StartFrom;
      readonly sampling: EpochSampling;
    }
  /** Stage 1 of a stageZero schedule trains 0 epochs: write the initial weights (from `start`) as its checkpoint. */
  | { readonly kind: "save-initial"; readonly stage: number; readonly start: StartFrom }
  /** Embed every training sample with f_stage (eval transform, L2-normalised). */
  | { readonly kind: "embed"; readonly stage: number }
  /** k-means with k clusters over the embeddings of `stage`; the driver records the assignments. */
  | { readonly kind: "cluster"; readonly stage: number; readonly k: number }
  /** Compose the composite labels after `stage` for the batches of stage + 1. */
  | { readonly kind: "plan"; readonly stage: number }
  | {
      readonly kind: "train-baseline-epoch";
      readonly epoch: number;
      readonly epochs: number;
      readonly start: StartFrom;
    }
  | { readonly kind: "done" };

export type Event =
  | { readonly kind: "epoch-trained"; readonly stage: number; readonly epoch: number; readonly checkpoint: string }
  | { readonly kind: "initial-saved"; readonly stage: number; readonly checkpoint: string }
  | { readonly kind: "embedded"; readonly stage: number }
  | { readonly kind: "clustered"; readonly stage: number }
  | { readonly kind: "planned"; readonly stage: number }
  | { readonly kind: "baseline-epoch-trained"; readonly epoch: number; readonly checkpoint: string };

export function initialState(schedule: StageSchedule): SchedulerState {
  return {
    stage: 1,
    phase: "train",
    epoch: 0,
    checkpoints: Array.from({ length: schedule.stages }, () => null),
    baselineCheckpoint: null,
  };
}

/** The action the state is waiting for. */
export function nextAction(schedule: StageSchedule, state: SchedulerState): Action {
  const { stage, epoch } = state;
  switch (state.phase) {
    case "train":
      if (schedule.epochs[stage - 1] === 0) return { kind: "save-initial", stage, start: stageStart(schedule, state, stage) };
      return {
        kind: "train-epoch",
        stage,
        epoch,
        epochs: schedule.epochs[stage - 1]!,
        start: epoch > 0 ? checkpoint(state.checkpoints[stage - 1]) : stageStart(schedule, state, stage),
        sampling:
          stage === 1 || schedule.sampling === "uniform"
            ? { policy: "uniform" }
            : { policy: "mcl", labelsStage: stage - 1 },
      };
    case "embed":
      return { kind: "embed", stage };
    case "cluster":
      return { kind: "cluster", stage, k: schedule.clusters[stage - 1]! };
    case "plan":
      return { kind: "plan", stage };
    case "baseline":
      return {
        kind: "train-baseline-epoch",
        epoch,
        epochs: schedule.baselineEpochs,
        start: epoch > 0 ? checkpoint(state.baselineCheckpoint) : baselineStart(schedule, state),
      };
    case "done":
      return { kind: "done" };
  }
}

function checkpoint(path: string | null | undefined): StartFrom {
  if (path === null || path === undefined) {
    throw new SchedulerError("INVALID_TRANSITION", "state: an epoch was completed but its checkpoint is not recorded");
  }
  return { kind: "checkpoint", path };
}

function stageStart(schedule: StageSchedule, state: SchedulerState, stage: number): StartFrom {
  if (schedule.init === "previous" && stage > 1) return checkpoint(state.checkpoints[stage - 2]);
  if (schedule.stageZero === true && stage > 1) return checkpoint(state.checkpoints[0]);
  return initialStart(schedule);
}

/** Stage zero's weights under stageZero; else as stage 1 starts (the baseline shares its initial weights). */
function baselineStart(schedule: StageSchedule, state: SchedulerState): StartFrom {
  return schedule.stageZero === true ? checkpoint(state.checkpoints[0]) : initialStart(schedule);
}

/** scratch, or the pretrained weights when the run has them (init pretrained, or previous; any init under stageZero). */
function initialStart(schedule: StageSchedule): StartFrom {
  if (schedule.stageZero === true) return schedule.pretrained === null ? { kind: "scratch" } : { kind: "pretrained", path: schedule.pretrained };
  if (schedule.init !== "scratch" && schedule.pretrained !== null) return { kind: "pretrained", path: schedule.pretrained };
  return { kind: "scratch" };
}

/** The state after `event`, which must answer nextAction(schedule, state). */
export function advance(schedule: StageSchedule, state: SchedulerState, event: Event): SchedulerState {
  const action = nextAction(schedule, state);
  const refuse = (): never => {
    throw new SchedulerError(
      "INVALID_TRANSITION",
      `event ${JSON.stringify(event)} does not answer the pending action ${JSON.stringify(action)}`,
    );
  };
  const { stage } = state;
  const stageTrained = (checkpoints: (string | null)[]): SchedulerState => {
    if (stage < schedule.stages) return { ...state, phase: "embed", epoch: 0, checkpoints };
    return { ...state, phase: schedule.baselineEpochs > 0 ? "baseline" : "done", epoch: 0, checkpoints };
  };
  switch (action.kind) {
    case "train-epoch": {
      if (event.kind !== "epoch-trained" || event.stage !== stage || event.epoch !== state.epoch) return refuse();
      const checkpoints = state.checkpoints.map((c, i) => (i === stage - 1 ? event.checkpoint : c));
      const epoch = state.epoch + 1;
      if (epoch < action.epochs) return { ...state, epoch, checkpoints };
      return stageTrained(checkpoints);
    }
    case "save-initial": {
      if (event.kind !== "initial-saved" || event.stage !== stage) return refuse();
      return stageTrained(state.checkpoints.map((c, i) => (i === stage - 1 ? event.checkpoint : c)));
    }
    case "embed":
      if (event.kind !== "embedded" || event.stage !== stage) return refuse();
      return { ...state, phase: "cluster" };
    case "cluster":
      if (event.kind !== "clustered" || event.stage !== stage) return refuse();
      return { ...state, phase: "plan" };
    case "plan":
      if (event.kind !== "planned" || event.stage !== stage) return refuse();
      return { ...state, stage: stage + 1, phase: "train", epoch: 0 };
    case "train-baseline-epoch": {
      if (event.kind !== "baseline-epoch-trained" || event.epoch !== state.epoch) return refuse();
      const epoch = state.epoch + 1;
      const phase = epoch < action.epochs ? "baseline" : "done";
      return { ...state, phase, epoch: phase === "done" ? 0 : epoch, baselineCheckpoint: event.checkpoint };
    }
    case "done":
      return refuse();
  }
}
