/**
 * Cluster book: the k-means assignments of every stage and the composite pseudo-labels built
 * from them (docs/method.md, step 3).
 *
 * After stage s the pseudo-label of sample i is the tuple (c_1(i), …, c_s(i)): the true
 * intersection of every clustering so far, encoded as p_s = p_{s-1} * K_s + c_s and compacted
 * to dense ids 0…G_s-1 after every stage, so ids stay below N whatever K and S are.
 * Dense ids follow the lexicographic order of the tuples, hence:
 *  - the groups of stage s that share a parent (their stage s-1 group) have consecutive ids,
 *    so `parents` (group → parent group) is non-decreasing;
 *  - a bucket of samples by stage-s group is also a bucket by every earlier stage's group.
 * (The reference script reloads only the latest clustering; its "intersection" is c_s alone.)
 *
 * Everything per sample lives in Int32Arrays; per-group arrays have one entry per group.
 */

import { ClusterBookError } from "./errors.js";

/** Distribution of group sizes at one stage. */
export interface GroupStats {
  /** Non-empty composite groups. */
  readonly numGroups: number;
  /** Size of the smallest, median (lower median) and largest group. */
  readonly smallest: number;
  readonly median: number;
  readonly largest: number;
  /** Clusters of this stage's k-means that received no sample (k - distinct c_s). */
  readonly emptyClusters: number;
}

/** One level of the group hierarchy: the composite groups after a stage. */
export interface GroupLevel {
  /** Number of composite groups G_s. */
  readonly numGroups: number;
  /** Per group: its group at the previous stage (-1 at stage 1). Non-decreasing. */
  readonly parents: Int32Array;
}

/** Everything the cluster book knows about one stage's clustering. */
export interface StageClustering extends GroupLevel {
  /** 1-based stage whose embeddings were clustered. */
  readonly stage: number;
  /** Clusters asked of k-means at this stage. */
  readonly k: number;
  /** c_s(i) in [0, k): the raw k-means assignments, as recorded. */
  readonly assignments: Int32Array;
  /** p_s(i) in [0, numGroups): the composite pseudo-label (intersection of stages 1…s). */
  readonly labels: Int32Array;
  /** Per group: number of samples. */
  readonly sizes: Int32Array;
  readonly stats: GroupStats;
}

/** The composite labels of one stage, with the hierarchy down to stage 1 (for merge-to-parent). */
export interface GroupHierarchy {
  /** Dense composite labels of the finest level. */
  readonly labels: Int32Array;
  /** levels[l - 1] describes stage l; the last level is the one `labels` refers to. */
  readonly levels: readonly GroupLevel[];
}

/** Result of composing one more clustering onto the previous composite labels. */
export interface Composition {
  readonly labels: Int32Array;
  readonly numGroups: number;
  readonly parents: Int32Array;
  readonly sizes: Int32Array;
  /** Distinct values of c_s present (k minus the empty clusters). */
  readonly distinctClusters: number;
}

/**
 * Intersects `assignments` (c_s in [0, k)) with the previous composite labels (or with nothing
 * at stage 1) and compacts the result to dense lexicographic ids.
 *
 * `maxTableEntries` picks the strategy: a direct table over every (parent, c) key when
 * G_{s-1} * k fits (fast, the usual case), else a bucket pass by parent group whose memory does
 * not depend on k. Both give identical results; tests pin the threshold to exercise both.
 */
export function composeLabels(
  previous: { readonly labels: Int32Array; readonly numGroups: number } | null,
  assignments: Int32Array,
  k: number,
  maxTableEntries: number = Math.max(assignments.length, 1 << 16),
): Composition {
  const n = assignments.length;
  if (!Number.isInteger(k) || k < 1) {
    throw new ClusterBookError("INVALID_ARGUMENT", `k: expected an integer >= 1, got ${k}`);
  }
  if (previous !== null && previous.labels.length !== n) {
    throw new ClusterBookError(
      "INVALID_ARGUMENT",
      `assignments: expected ${previous.labels.length} entries (one per sample), got ${n}`,
    );
  }
  const parentGroups = previous === null ? 1 : previous.numGroups;
  if (parentGroups * k <= maxTableEntries) {
    return composeByTable(previous?.labels ?? null, parentGroups, assignments, k);
  }
  return composeByBuckets(previous?.labels ?? null, parentGroups, assignments, k);
}

function badAssignment(index: number, value: number, k: number): ClusterBookError {
  return new ClusterBookError(
    "INVALID_ARGUMENT",
    `assignments[${index}]: expected a cluster id in [0, ${k}), got ${value}`,
  );
}

/** Counts every (parent, c) key in a table of parentGroups * k entries. */
function composeByTable(
  parentLabels: Int32Array | null,
  parentGroups: number,
  assignments: Int32Array,
  k: number,
): Composition {
  const n = assignments.length;
  const table = new Int32Array(parentGroups * k);
  if (parentLabels === null) {
    for (let i = 0; i < n; i++) {
      const c = assignments[i]!;
      if (c >>> 0 >= k) throw badAssignment(i, c, k);
      table[c]!++;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const c = assignments[i]!;
      if (c >>> 0 >= k) throw badAssignment(i, c, k);
      table[parentLabels[i]! * k + c]!++;
    }
  }
  let numGroups = 0;
  for (let key = 0; key < table.length; key++) if (table[key]! > 0) numGroups++;
  const sizes = new Int32Array(numGroups);
  const parents = new Int32Array(numGroups);
  const seen = new Uint8Array(k);
  let g = 0;
  for (let key = 0; key < table.length; key++) {
    const size = table[key]!;
    if (size === 0) {
      table[key] = -1;
      continue;
    }
    sizes[g] = size;
    parents[g] = parentLabels === null ? -1 : Math.floor(key / k);
    seen[key % k] = 1;
    table[key] = g++; // the table now maps key → dense id
  }
  const labels = new Int32Array(n);
  if (parentLabels === null) {
    for (let i = 0; i < n; i++) labels[i] = table[assignments[i]!]!;
  } else {
    for (let i = 0; i < n; i++) labels[i] = table[parentLabels[i]! * k + assignments[i]!]!;
  }
  return { labels, numGroups, parents, sizes, distinctClusters: countOnes(seen) };
}

/**
 * Buckets samples by parent group, then numbers the distinct c values of each parent in
 * ascending order. Memory O(N + G + k), independent of parentGroups * k.
 */
function composeByBuckets(
  parentLabels: Int32Array | null,
  parentGroups: number,
  assignments: Int32Array,
  k: number,
): Composition {
  const n = assignments.length;
  const starts = new Int32Array(parentGroups + 1);
  if (parentLabels === null) starts[1] = n;
  else {
    for (let i = 0; i < n; i++) starts[parentLabels[i]! + 1]!++;
    for (let p = 0; p < parentGroups; p++) starts[p + 1]! += starts[p]!;
  }
  const order = new Int32Array(n);
  if (parentLabels === null) for (let i = 0; i < n; i++) order[i] = i;
  else {
    const cursor = starts.slice(0, parentGroups);
    for (let i = 0; i < n; i++) order[cursor[parentLabels[i]!]!++] = i;
  }
  const capacity = Math.min(n, parentGroups * k);
  let sizes = new Int32Array(capacity);
  let parents = new Int32Array(capacity);
  const stamp = new Int32Array(k).fill(-1); // stamp[c] === p: c already seen under parent p
  const localId = new Int32Array(k);
  const distinct = new Int32Array(Math.min(k, n));
  const seen = new Uint8Array(k);
  const labels = new Int32Array(n);
  let numGroups = 0;
  for (let p = 0; p < parentGroups; p++) {
    const lo = starts[p]!;
    const hi = starts[p + 1]!;
    let count = 0;
    for (let j = lo; j < hi; j++) {
      const c = assignments[order[j]!]!;
      if (c >>> 0 >= k) throw badAssignment(order[j]!, c, k);
      if (stamp[c] !== p) {
        stamp[c] = p;
        distinct[count++] = c;
      }
    }
    const cs = distinct.subarray(0, count).sort();
    for (let m = 0; m < count; m++) {
      const c = cs[m]!;
      localId[c] = numGroups;
      parents[numGroups] = parentLabels === null ? -1 : p;
      seen[c] = 1;
      numGroups++;
    }
    for (let j = lo; j < hi; j++) {
      const i = order[j]!;
      const g = localId[assignments[i]!]!;
      labels[i] = g;
      sizes[g]!++;
    }
  }
  sizes = sizes.slice(0, numGroups);
  parents = parents.slice(0, numGroups);
  return { labels, numGroups, parents, sizes, distinctClusters: countOnes(seen) };
}

function countOnes(flags: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < flags.length; i++) count += flags[i]!;
  return count;
}

/** Smallest / median / largest of group sizes. */
export function groupStats(sizes: Int32Array, k: number, distinctClusters: number): GroupStats {
  const sorted = sizes.slice().sort();
  const numGroups = sorted.length;
  return {
    numGroups,
    smallest: numGroups === 0 ? 0 : sorted[0]!,
    median: numGroups === 0 ? 0 : sorted[(numGroups - 1) >> 1]!,
    largest: numGroups === 0 ? 0 : sorted[numGroups - 1]!,
    emptyClusters: k - distinctClusters,
  };
}

/** The per-stage history of clusterings of one run. Stages are added in order 1, 2, …. */
export class ClusterBook {
  readonly numSamples: number;
  readonly #stages: StageClustering[] = [];

  constructor(numSamples: number) {
    if (!Number.isInteger(numSamples) || numSamples < 1) {
      throw new ClusterBookError(
        "INVALID_ARGUMENT",
        `numSamples: expected an integer >= 1, got ${numSamples}`,
      );
    }
    this.numSamples = numSamples;
  }

  /** Stages recorded so far. */
  get numStages(): number {
    return this.#stages.length;
  }

  /** Every stage recorded, stage 1 first. */
  get stages(): readonly StageClustering[] {
    return this.#stages;
  }

  /**
   * Records the k-means assignments of the next stage (stage numStages + 1) and builds its
   * composite labels. The book keeps `assignments` as given: do not mutate it afterwards.
   */
  addStage(assignments: Int32Array, k: number): StageClustering {
    if (assignments.length !== this.numSamples) {
      throw new ClusterBookError(
        "INVALID_ARGUMENT",
        `assignments: expected ${this.numSamples} entries (one per sample), got ${assignments.length}`,
      );
    }
    const previous = this.#stages.at(-1) ?? null;
    const composed = composeLabels(previous, assignments, k);
    const record: StageClustering = {
      stage: this.#stages.length + 1,
      k,
      assignments,
      labels: composed.labels,
      numGroups: composed.numGroups,
      parents: composed.parents,
      sizes: composed.sizes,
      stats: groupStats(composed.sizes, k, composed.distinctClusters),
    };
    this.#stages.push(record);
    return record;
  }

  /** The clustering of 1-based `stage`. */
  stage(stage: number): StageClustering {
    const record = this.#stages[stage - 1];
    if (record === undefined || !Number.isInteger(stage)) {
      throw new ClusterBookError(
        "INVALID_ARGUMENT",
        `stage: expected an integer in [1, ${this.#stages.length}], got ${stage}`,
      );
    }
    return record;
  }

  /** Composite labels of `stage` with the levels above it, as the batch planner takes them. */
  hierarchy(stage: number = this.#stages.length): GroupHierarchy {
    const record = this.stage(stage);
    return { labels: record.labels, levels: this.#stages.slice(0, stage) };
  }
}
