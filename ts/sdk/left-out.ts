/**
 * The samples a track's epochs leave out under the small-group policy, as the run shows them: in
 * every `epoch` event, in summary.json (`sampling` of every stage and of the baseline), in the
 * report, and as a SAMPLES_LEFT_OUT warning when a track leaves out more than
 * LEFT_OUT_WARNING_FRACTION of the dataset. Every epoch of a track leaves out as many samples as
 * its first (the planner counts from group sizes alone), so one figure describes the track.
 */

import { planUniform, type LeftOutByReason, type PlanAccounting } from "../control/batch-planner.js";
import { planOptionsOf } from "../run/run-driver.js";
import type { RunManifest } from "../run/run-store.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import type { MclConfig } from "../config/mcl-config.js";
import type { MclEvent } from "./events.js";
import { firstStage, schedulerStage, type Track } from "../run/track.js";
import type { Sampling } from "../run/summary.js";
import { LEFT_OUT_WARNING_FRACTION, recordedSampling, samplingOf } from "../run/sampling.js";

/** What each left-out reason means, for a person. */
const REASONS: Readonly<Record<keyof LeftOutByReason, string>> = {
  smallGroup: "groups smaller than a batch",
  remainder: "the last partial batch of each group",
  rootResidual: "leftovers that even a first-stage cluster's pool could not make a batch of",
  belowMinBatch: "batches under sampling.minBatchSize",
  shardRemainder: "cuts to a multiple of the data-parallel ranks",
};

/** The setting to change, by the policy that left the samples out. */
function remedy(config: MclConfig): string {
  switch (config.sampling.smallGroups) {
    case "drop":
    case "merge-to-parent":
      return "set sampling.smallGroups to 'balanced' (or 'shrink'), or lower batchSize or clusters";
    case "shrink":
      return "lower sampling.minBatchSize, or set sampling.smallGroups to 'balanced'";
    case "balanced":
      return "lower sampling.minBatchSize, or clusters";
  }
}

/** The SAMPLES_LEFT_OUT warning for a track whose plan leaves out more than LEFT_OUT_WARNING_FRACTION, else null. */
export function leftOutWarning(track: Track, accounting: PlanAccounting, config: MclConfig): MclEvent | null {
  const { samples, leftOut, leftOutByReason } = accounting;
  if (leftOut <= LEFT_OUT_WARNING_FRACTION * samples) return null;
  const name = track === "baseline" ? "the baseline" : `stage ${track}`;
  const reasons = (Object.keys(REASONS) as (keyof LeftOutByReason)[])
    .filter((reason) => leftOutByReason[reason] > 0)
    .map((reason) => `${leftOutByReason[reason]} in ${REASONS[reason]}`)
    .join(", ");
  return {
    type: "warning",
    stage: track,
    code: "SAMPLES_LEFT_OUT",
    message:
      `${name} leaves out ${leftOut} of its ${samples} samples (${(100 * leftOut / samples).toFixed(1)}%) every epoch under ` +
      `sampling.smallGroups '${config.sampling.smallGroups}' (${reasons}): they train in no batch of it. ` +
      `To train on them, ${remedy(config)}.`,
  };
}

/**
 * What every epoch of `track` trains on in the run of `manifest` on `worldSize` ranks, or null
 * when the track trains no epoch (a CLIP run's stage 0) or the manifest does not tell (a stage
 * planned by an earlier version). An MCL stage's figure is the one recorded when its groups were
 * planned; a uniform track's (the first stage, the baseline) is planned again here, which costs two
 * arrays of N int32.
 */
export function trackSampling(manifest: RunManifest, track: Track, worldSize: number): Sampling | null {
  const { config, numSamples } = manifest;
  const schedule = scheduleFromConfig(config);
  if (numSamples === null) return null;
  const index = track === "baseline" ? 0 : schedulerStage(schedule, track);
  if (track !== "baseline" && (schedule.epochs[index - 1] ?? 0) === 0) return null;
  if (track === "baseline" || track === firstStage(schedule) || schedule.sampling === "uniform") {
    return samplingOf(planUniform(numSamples, planOptionsOf(config, worldSize, index, 0)).accounting);
  }
  return recordedSampling(manifest, track);
}
