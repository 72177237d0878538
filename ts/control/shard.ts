/**
 * Data-parallel sharding of a batch plan. Every global step is one single-group batch; rank r of
 * W takes the r-th of W equal consecutive slices of it, so all ranks run the same number of
 * steps and the batch gathered across ranks is the planned one. The planner guarantees that
 * every step's length is a multiple of W (batch-planner.ts).
 */

import type { BatchPlan } from "./batch-planner.js";
import { PlanError } from "./errors.js";

/** The part of a plan one rank executes; same layout as BatchPlan.indices / offsets. */
export interface RankPlan {
  readonly rank: number;
  readonly worldSize: number;
  /** Samples of this rank, step after step. */
  readonly indices: Int32Array;
  /** Int32Array(steps + 1): step t is indices[offsets[t], offsets[t + 1]). */
  readonly offsets: Int32Array;
}

/** The slice of `plan` that `rank` (0-based, < plan.worldSize) executes. */
export function shardPlan(plan: BatchPlan, rank: number): RankPlan {
  const worldSize = plan.worldSize;
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new PlanError(
      "INVALID_ARGUMENT",
      `rank: expected an integer in [0, ${worldSize}) for a plan made for worldSize ${worldSize}, got ${rank}`,
    );
  }
  const steps = plan.offsets.length - 1;
  const offsets = new Int32Array(steps + 1);
  const indices = new Int32Array(plan.indices.length / worldSize);
  for (let t = 0; t < steps; t++) {
    const start = plan.offsets[t]!;
    const length = plan.offsets[t + 1]! - start;
    if (length % worldSize !== 0) {
      throw new PlanError(
        "PLAN_INFEASIBLE",
        `step ${t} has ${length} samples, not divisible by worldSize ${worldSize}`,
      );
    }
    const slice = length / worldSize;
    indices.set(plan.indices.subarray(start + rank * slice, start + (rank + 1) * slice), offsets[t]!);
    offsets[t + 1] = offsets[t]! + slice;
  }
  return { rank, worldSize, indices, offsets };
}
