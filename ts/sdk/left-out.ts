/**
 * The samples a track's epochs leave out under the small-group policy, as the run shows them: in
 * every `epoch` event, in summary.json (`sampling` of every stage and of the baseline), in the
 * report, and as a SAMPLES_LEFT_OUT warning when a track leaves out more than
 * LEFT_OUT_WARNING_FRACTION of the dataset. Every epoch of a track leaves out as many samples as
 * its first (the planner counts from group sizes alone), so one figure describes the track.
 */

import { z } from "zod";
import { planUniform, type LeftOutByReason, type PlanAccounting } from "../control/batch-planner.js";
import { planOptionsOf } from "../control/run-driver.js";
import type { RunManifest } from "../control/run-store.js";
import { scheduleFromConfig } from "../control/stage-scheduler.js";
import type { MclConfig } from "../config/mcl-config.js";
import type { MclEvent, Track } from "./events.js";
import type { Sampling } from "./summary.js";

/** A track that leaves out more than this fraction of the samples every epoch is warned about. */
export const LEFT_OUT_WARNING_FRACTION = 0.1;

/** What a plan's accounting says of the samples it trains on. */
export function samplingOf(accounting: Pick<PlanAccounting, "samples" | "planned" | "leftOut" | "leftOutByReason">): Sampling {
  const { samples, planned, leftOut, leftOutByReason } = accounting;
  return { planned, leftOut, leftOutFraction: samples === 0 ? 0 : leftOut / samples, leftOutByReason: { ...leftOutByReason } };
}

/** What each left-out reason means, for a person. */
const REASONS: Readonly<Record<keyof LeftOutByReason, string>> = {
  smallGroup: "groups smaller than a batch",
  remainder: "the last partial batch of each group",
  rootResidual: "leftovers that even a stage-1 cluster's pool could not make a batch of",
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

/** The plan accounting the run recorded with a clustering (manifest stages[s].composite.plan). */
const recordedPlanSchema = z.looseObject({
  samples: z.int().min(0),
  planned: z.int().min(0),
  leftOut: z.int().min(0),
  leftOutByReason: z.strictObject({
    smallGroup: z.int().min(0),
    remainder: z.int().min(0),
    rootResidual: z.int().min(0),
    belowMinBatch: z.int().min(0),
    shardRemainder: z.int().min(0),
  }),
});

/**
 * What every epoch of `track` trains on in the run of `manifest` on `worldSize` ranks, or null
 * when the track trains no epoch (a CLIP run's stage 0) or the manifest does not tell (a stage
 * planned by an earlier version). An MCL stage's figure is the one recorded when its groups were
 * planned; a uniform track's (stage 1, the baseline) is planned again here, which costs two
 * arrays of N int32.
 */
export function trackSampling(manifest: RunManifest, track: Track, worldSize: number): Sampling | null {
  const { config, numSamples } = manifest;
  const schedule = scheduleFromConfig(config);
  if (numSamples === null) return null;
  if (track !== "baseline" && (schedule.epochs[track - 1] ?? 0) === 0) return null;
  if (track === "baseline" || track === 1 || schedule.sampling === "uniform") {
    return samplingOf(planUniform(numSamples, planOptionsOf(config, worldSize, track === "baseline" ? 0 : track, 0)).accounting);
  }
  return recordedSampling(manifest, track);
}

/**
 * What every epoch of MCL stage `stage` (2…S) trains on, as recorded in the manifest when its
 * groups were planned (null until then), without planning anything.
 */
export function recordedSampling(manifest: RunManifest, stage: number): Sampling | null {
  const recorded = recordedPlanSchema.safeParse(manifest.stages[stage - 2]?.composite?.plan);
  return recorded.success ? samplingOf(recorded.data) : null;
}
