/**
 * What a track's epochs train on and leave out, as a plan's accounting and the manifest record
 * it (the SDK's left-out.ts warns about it, the report shows it).
 */

import { z } from "zod";
import type { PlanAccounting } from "../control/batch-planner.js";
import type { RunManifest } from "./run-store.js";
import { leftOutByReasonSchema, type Sampling } from "./summary.js";

/** A track that leaves out more than this fraction of the samples every epoch is warned about. */
export const LEFT_OUT_WARNING_FRACTION = 0.1;

/** What a plan's accounting says of the samples it trains on. */
export function samplingOf(accounting: Pick<PlanAccounting, "samples" | "planned" | "leftOut" | "leftOutByReason">): Sampling {
  const { samples, planned, leftOut, leftOutByReason } = accounting;
  return { planned, leftOut, leftOutFraction: samples === 0 ? 0 : leftOut / samples, leftOutByReason: { ...leftOutByReason } };
}

/** The plan accounting the run recorded with a clustering (manifest stages[s].composite.plan). */
const recordedPlanSchema = z.looseObject({
  samples: z.int().min(0),
  planned: z.int().min(0),
  leftOut: z.int().min(0),
  leftOutByReason: leftOutByReasonSchema,
});

/**
 * What every epoch of MCL stage `stage` (a stage number after the first, track.ts) trains on, as
 * recorded in the manifest when its groups were planned (null until then), without planning anything.
 */
export function recordedSampling(manifest: RunManifest, stage: number): Sampling | null {
  const groups = manifest.stages.find((record) => record.stage === stage - 1);
  const recorded = recordedPlanSchema.safeParse(groups?.composite?.plan);
  return recorded.success ? samplingOf(recorded.data) : null;
}
