/**
 * Orders the batches of several units (a unit = one group's batches) into a sequence of steps
 * so that consecutive steps rarely come from the same unit.
 *
 * Each step draws a unit at random, weighted by its remaining batches (so the order looks like
 * a shuffle of all batches), excluding the unit of the previous step. When one unit holds more
 * than half of what remains it is taken whenever the previous step was not its own, which keeps
 * the sequence feasible. The number of consecutive repeats is therefore the minimum possible,
 * max(0, 2·M − T − 1) for T batches of which M belong to the largest unit.
 */

import type { Rng } from "./rng.js";

/** Returns, for each step, the unit it takes a batch from. `batchCounts[u]` ≥ 0. */
export function interleaveBatches(batchCounts: Int32Array, rng: Rng): Int32Array {
  const units = batchCounts.length;
  let remaining = 0;
  for (let u = 0; u < units; u++) remaining += batchCounts[u]!;
  const steps = new Int32Array(remaining);
  if (remaining === 0) return steps;

  const left = batchCounts.slice();
  const tree = new FenwickTree(left);
  // unitsWithCount[c]: units having exactly c batches left; maxLeft tracks the largest c.
  let maxLeft = 0;
  for (let u = 0; u < units; u++) maxLeft = Math.max(maxLeft, left[u]!);
  const unitsWithCount = new Int32Array(maxLeft + 1);
  for (let u = 0; u < units; u++) unitsWithCount[left[u]!]!++;
  let dominant = -1;

  let last = -1;
  for (let t = 0; t < steps.length; t++) {
    let pick: number;
    if (2 * maxLeft > remaining) {
      if (dominant < 0 || left[dominant] !== maxLeft) dominant = findUnitWithCount(left, maxLeft);
      const othersLeft = remaining - left[dominant]!;
      pick = dominant !== last || othersLeft === 0 ? dominant : drawExcluding(tree, left, last, remaining, rng);
    } else {
      pick = drawExcluding(tree, left, last, remaining, rng);
    }
    steps[t] = pick;
    const count = left[pick]!;
    left[pick] = count - 1;
    tree.add(pick, -1);
    unitsWithCount[count]!--;
    unitsWithCount[count - 1]!++;
    while (maxLeft > 0 && unitsWithCount[maxLeft] === 0) maxLeft--;
    remaining--;
    last = pick;
  }
  return steps;
}

function findUnitWithCount(left: Int32Array, count: number): number {
  for (let u = 0; u < left.length; u++) if (left[u] === count) return u;
  throw new Error("interleave: no unit holds the maximum count (internal invariant broken)");
}

/** Weighted draw over the units with batches left, never `excluded` (unless nothing else is). */
function drawExcluding(
  tree: FenwickTree,
  left: Int32Array,
  excluded: number,
  remaining: number,
  rng: Rng,
): number {
  const excludedLeft = excluded < 0 ? 0 : left[excluded]!;
  if (remaining - excludedLeft === 0) return excluded;
  let target = rng.below(remaining - excludedLeft);
  if (excluded >= 0 && target >= tree.prefixSum(excluded)) target += excludedLeft;
  return tree.findByCumulative(target);
}

/** Fenwick tree over non-negative counts: prefix sums and search in O(log n). */
class FenwickTree {
  readonly #tree: Float64Array;
  readonly #topBit: number;

  constructor(counts: Int32Array) {
    const n = counts.length;
    const tree = new Float64Array(n + 1);
    for (let i = 1; i <= n; i++) {
      tree[i]! += counts[i - 1]!;
      const parent = i + (i & -i);
      if (parent <= n) tree[parent]! += tree[i]!;
    }
    this.#tree = tree;
    let top = 1;
    while (top * 2 <= n) top *= 2;
    this.#topBit = top;
  }

  add(index: number, delta: number): void {
    for (let i = index + 1; i < this.#tree.length; i += i & -i) this.#tree[i]! += delta;
  }

  /** Sum of counts[0, index). */
  prefixSum(index: number): number {
    let sum = 0;
    for (let i = index; i > 0; i -= i & -i) sum += this.#tree[i]!;
    return sum;
  }

  /** The index u with prefixSum(u) <= target < prefixSum(u + 1). */
  findByCumulative(target: number): number {
    let pos = 0;
    let rest = target;
    for (let step = this.#topBit; step > 0; step >>= 1) {
      const next = pos + step;
      if (next < this.#tree.length && this.#tree[next]! <= rest) {
        pos = next;
        rest -= this.#tree[next]!;
      }
    }
    return pos;
  }
}
