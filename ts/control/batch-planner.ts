/**
 * Batch planner: turns pseudo-labels into one epoch's batch plan (docs/method.md, step 4).
 *
 * Policies
 *  - uniform: ordinary contrastive learning; the whole dataset is one group (stage 1, baselines).
 *  - mcl: every batch holds samples of one group only. A group's samples are shuffled, cut into
 *    full batches, and what is left (the remainder, or the whole group when it is smaller than a
 *    batch) is handled by `smallGroups`:
 *      drop             left out, counted as `smallGroup` (whole group) or `remainder`;
 *      shrink           one smaller batch, rounded down to a multiple of the world size
 *                       (`shardRemainder`); dropped when under `minBatchSize` (`belowMinBatch`);
 *      merge-to-parent  joins the pool of its parent group at the previous stage; the pool is
 *                       shuffled and cut into full batches of that parent group, and its own
 *                       leftover joins the grandparent's pool, up to the stage-1 clusters. What a
 *                       stage-1 cluster still cannot fill is left out (`rootResidual`): mixing
 *                       two stage-1 clusters would break the one-group-per-batch rule.
 *      balanced         a group of at least minBatchSize samples (after the cut to a multiple of
 *                       the world size, `shardRemainder`) is cut into the fewest batches of at
 *                       most batchSize, of sizes as equal as the world size allows, so nothing of
 *                       it is left over; a smaller group joins the pool of its parent group, as
 *                       under merge-to-parent, and a pool is cut in the same way. What a stage-1
 *                       cluster's pool still cannot make a batch of is left out (`rootResidual`).
 *                       A batch holds at least min(minBatchSize, ⌊batchSize / 2W⌋·W) samples.
 *    Under uniform, merge-to-parent has no parent and acts as drop (`remainder`); balanced cuts
 *    the whole dataset evenly (`belowMinBatch` when it is under minBatchSize).
 *  Batches of different groups are interleaved (interleave.ts) so that consecutive steps rarely
 *  come from the same group. Everything is deterministic in (seed, stage, epoch).
 *
 * Layout of a plan (what the worker receives as tensors)
 *  indices  Int32Array: sample indices of every step, concatenated in step order;
 *  offsets  Int32Array(steps + 1): step t is indices[offsets[t], offsets[t + 1]); its length is
 *           batchSize except under `shrink` and `balanced`; every length is a multiple of worldSize;
 *  stepGroups / stepLevels  Int32Array(steps): step t's samples all belong to group
 *           stepGroups[t] of stage stepLevels[t] (level 0 = the whole dataset, under uniform).
 *  With W data-parallel ranks, the worker's rank r takes the r-th of W equal slices of each
 *  step (mcl_worker.distributed.shard), so the gathered global batch is the single-group batch
 *  and every rank runs the same number of steps.
 *
 * Memory: one Int32Array of N to bucket samples by group, the plan itself, and per-group and
 * per-batch arrays. Nothing per sample is a JS object.
 */

import type { GroupHierarchy, GroupLevel } from "./cluster-book.js";
import { PlanError } from "./errors.js";
import { interleaveBatches } from "./interleave.js";
import { deriveSeed, Rng, shuffleRange } from "./rng.js";

export type SamplingPolicy = "uniform" | "mcl";
/** sampling.minBatchSize when unset (capped at batchSize): docs/method.md has the comparison behind it. */
export const DEFAULT_MIN_BATCH_SIZE = 32;

export const SMALL_GROUP_POLICIES = ["drop", "merge-to-parent", "shrink", "balanced"] as const;
export type SmallGroupPolicy = (typeof SMALL_GROUP_POLICIES)[number];

export interface PlanOptions {
  /** Global batch size B (all ranks together). */
  readonly batchSize: number;
  /** What to do with groups (and remainders) smaller than a batch. */
  readonly smallGroups: SmallGroupPolicy;
  /** Run seed; with `stage` and `epoch` it fixes the plan. */
  readonly seed: number;
  /** 0-based epoch within the stage: another epoch gives another order. */
  readonly epoch: number;
  /** 1-based stage being trained (a stream id for the seed). Default 0. */
  readonly stage?: number;
  /** Data-parallel ranks W; batchSize must be a multiple of it. Default 1. */
  readonly worldSize?: number;
  /**
   * Under `shrink`, a smaller batch below this size is dropped; under `balanced`, a group below it
   * joins its parent's pool. Default min(DEFAULT_MIN_BATCH_SIZE, batchSize).
   */
  readonly minBatchSize?: number;
}

/** Samples left out of the epoch, by reason (they add up to `leftOut`). */
export interface LeftOutByReason {
  /** drop: whole groups smaller than a batch. */
  readonly smallGroup: number;
  /** drop (and uniform): the last partial batch of a group. */
  readonly remainder: number;
  /** merge-to-parent (balanced): still short of a batch (of minBatchSize) after merging up to a stage-1 cluster. */
  readonly rootResidual: number;
  /** shrink: a smaller batch under minBatchSize (or under one sample per rank); balanced under uniform: N is. */
  readonly belowMinBatch: number;
  /** shrink, balanced: cut so that a smaller batch (a group) divides evenly among the ranks. */
  readonly shardRemainder: number;
}

export interface PlanAccounting {
  /** N: samples in the dataset. */
  readonly samples: number;
  /** Samples placed in a batch (each exactly once). */
  readonly planned: number;
  /** samples - planned. */
  readonly leftOut: number;
  readonly leftOutByReason: LeftOutByReason;
  /** Global steps in the epoch (the same on every rank). */
  readonly steps: number;
  /** Steps whose batch is smaller than batchSize (shrink and balanced only). */
  readonly shrunkSteps: number;
  /** Groups at the planning stage (1 under uniform). */
  readonly groups: number;
  /**
   * merge-to-parent: groups smaller than a batch, balanced: groups under minBatchSize, whose samples
   * all went to their parent (left out as `rootResidual` at stage 2, whose groups have none).
   */
  readonly mergedGroups: number;
  /** merge-to-parent, balanced: samples planned in a batch of an earlier stage's group. */
  readonly mergedSamples: number;
  /** Steps whose group (and stage) equals the previous step's. */
  readonly consecutiveRepeats: number;
}

export interface BatchPlan {
  readonly policy: SamplingPolicy;
  readonly smallGroups: SmallGroupPolicy;
  readonly batchSize: number;
  readonly worldSize: number;
  readonly indices: Int32Array;
  readonly offsets: Int32Array;
  readonly stepGroups: Int32Array;
  readonly stepLevels: Int32Array;
  readonly accounting: PlanAccounting;
}

/** One epoch of ordinary contrastive learning over samples 0…numSamples-1. */
export function planUniform(numSamples: number, options: PlanOptions): BatchPlan {
  if (!Number.isInteger(numSamples) || numSamples < 1) {
    throw new PlanError("INVALID_ARGUMENT", `numSamples: expected an integer >= 1, got ${numSamples}`);
  }
  const settings = resolveOptions(options);
  const order = new Int32Array(numSamples);
  for (let i = 0; i < numSamples; i++) order[i] = i;
  const starts = Int32Array.of(0, numSamples);
  return buildPlan("uniform", order, starts, null, settings);
}

/** One epoch of MCL batches over the groups of `hierarchy`'s finest level. */
export function planMcl(hierarchy: GroupHierarchy, options: PlanOptions): BatchPlan {
  const settings = resolveOptions(options);
  const levels = hierarchy.levels;
  const leaf = levels.at(-1);
  if (leaf === undefined) {
    throw new PlanError("INVALID_ARGUMENT", "hierarchy.levels: expected at least one stage, got none");
  }
  if (settings.smallGroups === "merge-to-parent" || settings.smallGroups === "balanced") validateLevels(levels);
  const { order, starts } = bucketByGroup(hierarchy.labels, leaf.numGroups);
  return buildPlan("mcl", order, starts, levels, settings);
}

interface Settings {
  readonly batchSize: number;
  readonly worldSize: number;
  readonly minBatchSize: number;
  readonly smallGroups: SmallGroupPolicy;
  readonly shuffleRng: Rng;
  readonly orderRng: Rng;
}

function resolveOptions(options: PlanOptions): Settings {
  const { batchSize, seed, epoch } = options;
  const worldSize = options.worldSize ?? 1;
  const minBatchSize = options.minBatchSize ?? Math.min(DEFAULT_MIN_BATCH_SIZE, batchSize);
  const stage = options.stage ?? 0;
  requireInteger("batchSize", batchSize, 1);
  requireInteger("worldSize", worldSize, 1);
  requireInteger("minBatchSize", minBatchSize, 1);
  requireInteger("epoch", epoch, 0);
  requireInteger("stage", stage, 0);
  if (!Number.isSafeInteger(seed)) {
    throw new PlanError("INVALID_ARGUMENT", `seed: expected a safe integer, got ${seed}`);
  }
  if (!SMALL_GROUP_POLICIES.includes(options.smallGroups)) {
    throw new PlanError(
      "INVALID_ARGUMENT",
      `smallGroups: expected one of ${SMALL_GROUP_POLICIES.map((p) => JSON.stringify(p)).join(", ")}, got ${JSON.stringify(options.smallGroups)}`,
    );
  }
  if (batchSize % worldSize !== 0) {
    throw new PlanError(
      "PLAN_INFEASIBLE",
      `batchSize ${batchSize} is not divisible by worldSize ${worldSize}: every rank needs an equal ` +
        `slice of each single-group batch; use a batch size that is a multiple of ${worldSize}`,
    );
  }
  if (minBatchSize > batchSize) {
    throw new PlanError(
      "INVALID_ARGUMENT",
      `minBatchSize: expected at most batchSize (${batchSize}), got ${minBatchSize}`,
    );
  }
  return {
    batchSize,
    worldSize,
    minBatchSize,
    smallGroups: options.smallGroups,
    shuffleRng: new Rng(deriveSeed(seed, stage, epoch, 0)),
    orderRng: new Rng(deriveSeed(seed, stage, epoch, 1)),
  };
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new PlanError("INVALID_ARGUMENT", `${name}: expected an integer >= ${min}, got ${value}`);
  }
}

function validateLevels(levels: readonly GroupLevel[]): void {
  for (let l = 1; l < levels.length; l++) {
    const { parents, numGroups } = levels[l]!;
    const parentGroups = levels[l - 1]!.numGroups;
    if (parents.length !== numGroups) {
      throw new PlanError(
        "INVALID_ARGUMENT",
        `hierarchy.levels[${l}].parents: expected ${numGroups} entries, got ${parents.length}`,
      );
    }
    let previous = 0;
    for (let g = 0; g < numGroups; g++) {
      const p = parents[g]!;
      if (p < previous || p >= parentGroups) {
        throw new PlanError(
          "INVALID_ARGUMENT",
          `hierarchy.levels[${l}].parents[${g}]: expected a non-decreasing group id in ` +
            `[${previous}, ${parentGroups}), got ${p} (build the hierarchy with ClusterBook)`,
        );
      }
      previous = p;
    }
  }
}

/** Counting sort of sample indices by group: group g owns order[starts[g], starts[g + 1]). */
function bucketByGroup(labels: Int32Array, numGroups: number): { order: Int32Array; starts: Int32Array } {
  const n = labels.length;
  const starts = new Int32Array(numGroups + 1);
  for (let i = 0; i < n; i++) {
    const g = labels[i]!;
    if (g < 0 || g >= numGroups) {
      throw new PlanError(
        "INVALID_ARGUMENT",
        `hierarchy.labels[${i}]: expected a group id in [0, ${numGroups}), got ${g}`,
      );
    }
    starts[g + 1]!++;
  }
  for (let g = 0; g < numGroups; g++) starts[g + 1]! += starts[g]!;
  const cursor = starts.slice(0, numGroups);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[cursor[labels[i]!]!++] = i;
  return { order, starts };
}

/**
 * Growable struct-of-arrays list of units: a unit is one group's batches at one stage. Its first
 * `first` batches hold `firstSize` samples each, the rest `restSize`.
 */
class Units {
  count = 0;
  batches: Int32Array = new Int32Array(64);
  first: Int32Array = new Int32Array(64);
  firstSize: Int32Array = new Int32Array(64);
  restSize: Int32Array = new Int32Array(64);
  group: Int32Array = new Int32Array(64);
  level: Int32Array = new Int32Array(64);

  add(batches: number, first: number, firstSize: number, restSize: number, group: number, level: number): number {
    if (this.count === this.batches.length) {
      this.batches = grow(this.batches);
      this.first = grow(this.first);
      this.firstSize = grow(this.firstSize);
      this.restSize = grow(this.restSize);
      this.group = grow(this.group);
      this.level = grow(this.level);
    }
    const u = this.count++;
    this.batches[u] = batches;
    this.first[u] = first;
    this.firstSize[u] = firstSize;
    this.restSize[u] = restSize;
    this.group[u] = group;
    this.level[u] = level;
    return u;
  }

  /** Samples in batch b of unit u. */
  size(u: number, b: number): number {
    return b < this.first[u]! ? this.firstSize[u]! : this.restSize[u]!;
  }

  /** Where batch b of unit u starts among the unit's samples. */
  start(u: number, b: number): number {
    const first = this.first[u]!;
    return b < first ? b * this.firstSize[u]! : first * this.firstSize[u]! + (b - first) * this.restSize[u]!;
  }

  /** Samples in all batches of unit u. */
  samples(u: number): number {
    return this.start(u, this.batches[u]!);
  }
}

function grow(array: Int32Array): Int32Array {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

interface Tally {
  smallGroup: number;
  remainder: number;
  rootResidual: number;
  belowMinBatch: number;
  shardRemainder: number;
  mergedGroups: number;
}

/**
 * Plans one epoch. `order` holds the sample indices bucketed by leaf group (see
 * bucketByGroup); `levels` is null under uniform (a single group, level 0).
 */
function buildPlan(
  policy: SamplingPolicy,
  order: Int32Array,
  starts: Int32Array,
  levels: readonly GroupLevel[] | null,
  settings: Settings,
): BatchPlan {
  const { batchSize, smallGroups } = settings;
  const numLeafGroups = starts.length - 1;
  const leafLevel = levels === null ? 0 : levels.length;
  const pooled = levels !== null && (smallGroups === "merge-to-parent" || smallGroups === "balanced");
  const tally: Tally = { smallGroup: 0, remainder: 0, rootResidual: 0, belowMinBatch: 0, shardRemainder: 0, mergedGroups: 0 };

  // Phase A: how many batches every unit gets, from group sizes alone.
  const units = new Units();
  const leafUnit = new Int32Array(numLeafGroups).fill(-1);
  const leafTail = new Int32Array(numLeafGroups);
  for (let g = 0; g < numLeafGroups; g++) {
    const size = starts[g + 1]! - starts[g]!;
    if (pooled) {
      const before = units.count;
      leafTail[g] = cutGroup(size, g, leafLevel, units, settings, tally);
      if (units.count > before) leafUnit[g] = before;
      if (leafTail[g] === size && size > 0) tally.mergedGroups++;
    } else {
      leafUnit[g] = cutAlone(size, g, leafLevel, policy, units, settings, tally);
    }
  }
  const pools = pooled ? planPools(levels!, leafTail, units, tally, settings) : null;

  // Interleave the units' batches into steps and lay out the offsets.
  const batchCounts = units.batches.slice(0, units.count);
  const firstBatch = new Int32Array(units.count + 1);
  let mergedSamples = 0;
  for (let u = 0; u < units.count; u++) {
    firstBatch[u + 1] = firstBatch[u]! + batchCounts[u]!;
    if (units.level[u] !== leafLevel) mergedSamples += units.samples(u);
  }
  const stepUnits = interleaveBatches(batchCounts, settings.orderRng);
  const steps = stepUnits.length;
  const offsets = new Int32Array(steps + 1);
  const stepOfBatch = new Int32Array(steps);
  const stepGroups = new Int32Array(steps);
  const stepLevels = new Int32Array(steps);
  const nextBatch = new Int32Array(units.count);
  let shrunkSteps = 0;
  let consecutiveRepeats = 0;
  for (let t = 0; t < steps; t++) {
    const u = stepUnits[t]!;
    const b = nextBatch[u]!++;
    stepOfBatch[firstBatch[u]! + b] = t;
    const size = units.size(u, b);
    if (size < batchSize) shrunkSteps++;
    offsets[t + 1] = offsets[t]! + size;
    stepGroups[t] = units.group[u]!;
    stepLevels[t] = units.level[u]!;
    if (t > 0 && stepUnits[t - 1] === u) consecutiveRepeats++;
  }

  // Phase B: shuffle each group's samples and copy its batches to their steps.
  const indices = new Int32Array(offsets[steps]!);
  const writeBatches = (u: number, source: Int32Array, start: number): void => {
    const count = batchCounts[u]!;
    for (let b = 0; b < count; b++) {
      const t = stepOfBatch[firstBatch[u]! + b]!;
      const from = start + units.start(u, b);
      indices.set(source.subarray(from, from + offsets[t + 1]! - offsets[t]!), offsets[t]!);
    }
  };
  if (pools === null) {
    for (let g = 0; g < numLeafGroups; g++) {
      const u = leafUnit[g]!;
      if (u < 0) continue;
      shuffleRange(order, starts[g]!, starts[g + 1]!, settings.shuffleRng);
      writeBatches(u, order, starts[g]!);
    }
  } else {
    fillMergedBatches(levels!, order, starts, leafUnit, leafTail, pools, settings, writeBatches);
  }

  const planned = indices.length;
  const samples = order.length;
  return {
    policy,
    smallGroups,
    batchSize,
    worldSize: settings.worldSize,
    indices,
    offsets,
    stepGroups,
    stepLevels,
    accounting: {
      samples,
      planned,
      leftOut: samples - planned,
      leftOutByReason: {
        smallGroup: tally.smallGroup,
        remainder: tally.remainder,
        rootResidual: tally.rootResidual,
        belowMinBatch: tally.belowMinBatch,
        shardRemainder: tally.shardRemainder,
      },
      steps,
      shrunkSteps,
      groups: numLeafGroups,
      mergedGroups: tally.mergedGroups,
      mergedSamples,
      consecutiveRepeats,
    },
  };
}

/**
 * drop, shrink, uniform, and balanced without a hierarchy: the batches of a group that has no
 * parent to pass its leftover to; returns the unit (-1 for none) and counts what is left out.
 */
function cutAlone(
  size: number,
  group: number,
  level: number,
  policy: SamplingPolicy,
  units: Units,
  settings: Settings,
  tally: Tally,
): number {
  const { batchSize, smallGroups } = settings;
  if (smallGroups === "balanced") {
    const before = units.count;
    const tail = cutEvenly(size, group, level, units, settings, tally);
    tally.belowMinBatch += tail;
    return units.count > before ? before : -1;
  }
  const full = Math.floor(size / batchSize);
  const rest = size - full * batchSize;
  let lastSize = 0;
  if (smallGroups === "shrink") lastSize = shrunkBatchSize(rest, settings, tally);
  else if (full === 0 && policy === "mcl") tally.smallGroup += rest;
  else tally.remainder += rest;
  if (full === 0 && lastSize === 0) return -1;
  return units.add(full + (lastSize > 0 ? 1 : 0), full, batchSize, lastSize, group, level);
}

/**
 * merge-to-parent and balanced: the batches of a group (or pool) of `size` samples of `group` at
 * `level`; returns how many of its samples go on to its parent's pool.
 */
function cutGroup(size: number, group: number, level: number, units: Units, settings: Settings, tally: Tally): number {
  if (settings.smallGroups === "balanced") return cutEvenly(size, group, level, units, settings, tally);
  const full = Math.floor(size / settings.batchSize);
  if (full > 0) units.add(full, full, settings.batchSize, 0, group, level);
  return size - full * settings.batchSize;
}

/**
 * balanced: the fewest batches of at most batchSize over the group's samples, cut to a multiple of
 * the world size (counted as `shardRemainder`), each a multiple of it and sizes at most one rank's
 * share apart. Returns the group's size when it is under minBatchSize (nothing planned), else 0.
 */
function cutEvenly(size: number, group: number, level: number, units: Units, settings: Settings, tally: Tally): number {
  const { worldSize, batchSize, minBatchSize } = settings;
  const slices = Math.floor(size / worldSize);
  if (slices === 0 || slices * worldSize < minBatchSize) return size;
  const batches = Math.ceil(slices / (batchSize / worldSize));
  const small = Math.floor(slices / batches);
  const large = slices - small * batches; // batches that take one slice more
  units.add(batches, large, (small + 1) * worldSize, small * worldSize, group, level);
  tally.shardRemainder += size - slices * worldSize;
  return 0;
}

/** shrink: the size of the smaller batch made of `rest` samples (0 = none), counting the cut. */
function shrunkBatchSize(rest: number, settings: Settings, tally: Tally): number {
  if (rest === 0) return 0;
  const size = rest - (rest % settings.worldSize);
  if (size === 0 || size < settings.minBatchSize) {
    tally.belowMinBatch += rest;
    return 0;
  }
  tally.shardRemainder += rest - size;
  return size;
}

/** Per level above the leaves (index l - 1 for stage l): pool sizes and units. */
interface Pools {
  readonly poolSize: Int32Array[];
  readonly unit: Int32Array[];
  readonly tail: Int32Array[];
  /** children of group q at stage l are groups childStart[l][q] … childStart[l][q + 1] - 1 of stage l + 1. */
  readonly childStart: Int32Array[];
  /** The most samples the pool stack holds at once during phase B. */
  readonly capacity: number;
}

/** merge-to-parent and balanced, phase A: bottom-up pool sizes and the batches each pool yields. */
function planPools(
  levels: readonly GroupLevel[],
  leafTail: Int32Array,
  units: Units,
  tally: Tally,
  settings: Settings,
): Pools {
  const depth = levels.length;
  const poolSize: Int32Array[] = [];
  const unit: Int32Array[] = [];
  const tail: Int32Array[] = [];
  const childStart: Int32Array[] = [];
  for (let l = 1; l <= depth; l++) {
    const groups = levels[l - 1]!.numGroups;
    poolSize.push(new Int32Array(groups));
    unit.push(new Int32Array(groups).fill(-1));
    tail.push(l === depth ? leafTail : new Int32Array(groups));
    childStart.push(new Int32Array(l === depth ? 0 : groups + 1));
  }
  for (let l = depth - 1; l >= 1; l--) {
    const parents = levels[l]!.parents; // stage l + 1 → stage l
    const childTail = tail[l]!;
    const pool = poolSize[l - 1]!;
    const starts = childStart[l - 1]!;
    for (let c = 0; c < parents.length; c++) {
      pool[parents[c]!]! += childTail[c]!;
      starts[parents[c]! + 1]!++;
    }
    for (let q = 0; q < pool.length; q++) {
      starts[q + 1]! += starts[q]!;
      const before = units.count;
      tail[l - 1]![q] = cutGroup(pool[q]!, q, l, units, settings, tally);
      if (units.count > before) unit[l - 1]![q] = before;
    }
  }
  // A stage-1 cluster's leftover has nowhere to go.
  const rootTail = tail[0]!;
  for (let q = 0; q < rootTail.length; q++) tally.rootResidual += rootTail[q]!;

  // Pool stack bound: the largest sum of pool sizes along a path from a stage-1 cluster down.
  let capacity = 0;
  let above = new Int32Array(0);
  for (let l = 1; l < depth; l++) {
    const pool = poolSize[l - 1]!;
    const cumulative = new Int32Array(pool.length);
    const parents = levels[l - 1]!.parents;
    for (let q = 0; q < pool.length; q++) {
      cumulative[q] = pool[q]! + (l === 1 ? 0 : above[parents[q]!]!);
      capacity = Math.max(capacity, cumulative[q]!);
    }
    above = cumulative;
  }
  return { poolSize, unit, tail, childStart, capacity };
}

/**
 * merge-to-parent and balanced, phase B: depth-first over the hierarchy. Each leaf is shuffled and
 * gives its batches; its tail (the samples after them) is pushed on a stack of pools. When all
 * children of a group are done, the group's pool (on top of the stack) is shuffled, gives its
 * batches, and only its tail stays on the stack for the level above. Under balanced a tail is all
 * of a group or nothing, and what lies between the batches and the tail (the world-size cut) is
 * left out.
 */
function fillMergedBatches(
  levels: readonly GroupLevel[],
  order: Int32Array,
  starts: Int32Array,
  leafUnit: Int32Array,
  leafTail: Int32Array,
  pools: Pools,
  settings: Settings,
  writeBatches: (u: number, source: Int32Array, start: number) => void,
): void {
  const depth = levels.length;
  const stack = new Int32Array(pools.capacity);
  const rng = settings.shuffleRng;
  let top = 0;

  const visit = (l: number, q: number): void => {
    if (l === depth) {
      const lo = starts[q]!;
      const hi = starts[q + 1]!;
      const u = leafUnit[q]!;
      if (u >= 0) {
        shuffleRange(order, lo, hi, rng);
        writeBatches(u, order, lo);
      }
      if (l > 1) {
        const rest = leafTail[q]!;
        stack.set(order.subarray(hi - rest, hi), top);
        top += rest;
      }
      return;
    }
    const base = top;
    const children = pools.childStart[l - 1]!;
    for (let c = children[q]!; c < children[q + 1]!; c++) visit(l + 1, c);
    const u = pools.unit[l - 1]![q]!;
    if (u >= 0) {
      shuffleRange(stack, base, top, rng);
      writeBatches(u, stack, base);
    }
    const rest = pools.tail[l - 1]![q]!;
    if (l > 1) {
      stack.copyWithin(base, top - rest, top);
      top = base + rest;
    } else {
      top = base;
    }
  };
  for (let q = 0; q < levels[0]!.numGroups; q++) visit(1, q);
}
