/**
 * Stage numbers: the one numbering of a run's stages that events, run files, manifest records,
 * summary.json, the report, the CLI, the experiment logs and pauseAfterStage use. A CLIP run
 * (docs/clip.md) numbers its initial model stage 0 and its MCL stages 1…S, as the paper does; a
 * unimodal run has no stage 0 and numbers its stages 1…S.
 *
 * Only the stage scheduler counts otherwise: its stages are 1…S in both kinds of run (a CLIP
 * run's stage 0 is its stage 1), the indices of its per-stage values and checkpoints and the
 * streams of its seeds. The run driver turns the scheduler's actions into stage numbers before
 * anything else sees them (stageNumber); schedulerStage turns a stage number back.
 */

import type { StageSchedule } from "../control/stage-scheduler.js";

/** A stage, by its number, or the equal-compute single-stage baseline. */
export type Track = number | "baseline";

/** The number of a run's first stage: 0 when it is the initial model of a fine-tuning recipe (CLIP), else 1. */
export function firstStage(schedule: StageSchedule): 0 | 1 {
  return schedule.stageZero === true ? 0 : 1;
}

/** The number of a run's last stage. */
export function lastStage(schedule: StageSchedule): number {
  return firstStage(schedule) + schedule.stages - 1;
}

/** The position (from 0) of stage number `stage` among the run's stages, whose first is `first` (firstStage). */
export function stagePosition(first: 0 | 1, stage: number): number {
  return stage - first;
}

/** Every stage number of the run, in order. */
export function stageNumbers(schedule: StageSchedule): number[] {
  return Array.from({ length: schedule.stages }, (_, i) => firstStage(schedule) + i);
}

/** The number of the scheduler's stage `index` (1…S). */
export function stageNumber(schedule: StageSchedule, index: number): number {
  return index - 1 + firstStage(schedule);
}

/** The scheduler's stage (1…S) of stage number `stage`. */
export function schedulerStage(schedule: StageSchedule, stage: number): number {
  return stage + 1 - firstStage(schedule);
}

/** The track's name in file names and messages: "stage-2", "baseline". */
export function trackName(track: Track): string {
  return track === "baseline" ? "baseline" : `stage-${track}`;
}
