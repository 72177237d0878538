import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  DEFAULT_MIN_BATCH_SIZE,
  planMcl,
  planUniform,
  type BatchPlan,
  type PlanOptions,
  type SmallGroupPolicy,
} from "../../../ts/control/batch-planner.js";
import { ClusterBook } from "../../../ts/control/cluster-book.js";
import { PlanError } from "../../../ts/control/errors.js";

const policies: SmallGroupPolicy[] = ["drop", "merge-to-parent", "shrink", "balanced"];

/** A random run (clusterings over a few stages) and random planning options. */
const arbitraryCase = fc
  .record({
    n: fc.integer({ min: 1, max: 400 }),
    ks: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
    worldSize: fc.constantFrom(1, 2, 4),
    slicesPerRank: fc.integer({ min: 1, max: 12 }),
    smallGroups: fc.constantFrom(...policies),
    minBatchSize: fc.integer({ min: 1, max: 6 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
    epoch: fc.integer({ min: 0, max: 50 }),
    // Skewed cluster choice so that small groups are common.
    skew: fc.double({ min: 0, max: 3, noNaN: true }),
  })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      stages: fc.tuple(
        ...c.ks.map((k) =>
          fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
            minLength: c.n,
            maxLength: c.n,
          }).map((us) => Int32Array.from(us, (u) => Math.floor(u ** (1 + c.skew) * k))),
        ),
      ),
    }),
  )
  .map(({ c, stages }) => {
    const book = new ClusterBook(c.n);
    stages.forEach((a, s) => book.addStage(a, c.ks[s]!));
    const batchSize = c.worldSize * c.slicesPerRank;
    const options: PlanOptions = {
      batchSize,
      worldSize: c.worldSize,
      smallGroups: c.smallGroups,
      minBatchSize: Math.min(c.minBatchSize, batchSize),
      seed: c.seed,
      epoch: c.epoch,
      stage: c.ks.length + 1,
    };
    return { book, options };
  });

/** The violations of the invariants every plan must satisfy (empty when fine). */
function checkLayout(plan: BatchPlan, n: number): string[] {
  const problems: string[] = [];
  const { offsets, indices, batchSize, worldSize } = plan;
  const steps = offsets.length - 1;
  if (offsets[0] !== 0 || offsets[steps] !== indices.length) problems.push("offsets do not span indices");
  const seen = new Uint8Array(n);
  for (const i of indices) {
    if (i < 0 || i >= n) problems.push(`index ${i} out of range`);
    else if (seen[i]) problems.push(`sample ${i} planned twice`);
    else seen[i] = 1;
  }
  let shrunk = 0;
  for (let t = 0; t < steps; t++) {
    const length = offsets[t + 1]! - offsets[t]!;
    if (length <= 0 || length > batchSize) problems.push(`step ${t} has ${length} samples`);
    if (length % worldSize !== 0) problems.push(`step ${t} not divisible by ${worldSize}`);
    if (length < batchSize) shrunk++;
  }
  const a = plan.accounting;
  if (a.planned !== indices.length || a.leftOut !== n - a.planned || a.samples !== n) {
    problems.push("planned / leftOut do not add up");
  }
  const reasons = Object.values(a.leftOutByReason).reduce((x, y) => x + y, 0);
  if (reasons !== a.leftOut) problems.push(`reasons sum to ${reasons}, leftOut is ${a.leftOut}`);
  if (a.steps !== steps || a.shrunkSteps !== shrunk) problems.push("step counts wrong");
  if (plan.smallGroups !== "shrink" && plan.smallGroups !== "balanced" && shrunk > 0) {
    problems.push(`smaller batch under ${plan.smallGroups}`);
  }
  let repeats = 0;
  for (let t = 1; t < steps; t++) {
    if (plan.stepGroups[t] === plan.stepGroups[t - 1] && plan.stepLevels[t] === plan.stepLevels[t - 1]) repeats++;
  }
  if (repeats !== a.consecutiveRepeats) problems.push("consecutiveRepeats miscounted");
  return problems;
}

/** Samples of a group planned vs present, per group of `labels`. */
function perGroup(plan: BatchPlan, labels: Int32Array, numGroups: number): { planned: number[]; size: number[] } {
  const planned = new Array<number>(numGroups).fill(0);
  const size = new Array<number>(numGroups).fill(0);
  for (const g of labels) size[g]!++;
  for (const i of plan.indices) planned[labels[i]!]!++;
  return { planned, size };
}

/**
 * What `balanced` must plan, worked out group by group from the book: a group (or pool) of at
 * least minBatchSize samples, cut to a multiple of W, trains as its own batches; a smaller one
 * goes whole to its parent's pool; a stage-1 cluster's pool under minBatchSize is left out.
 */
function balancedReference(book: ClusterBook, options: PlanOptions) {
  const W = options.worldSize ?? 1;
  const min = options.minBatchSize ?? 2;
  const r = { shardRemainder: 0, rootResidual: 0 };
  let mergedGroups = 0;
  let mergedSamples = 0;
  let up = Array.from(book.stage(book.numStages).sizes);
  up = up.map((size) => {
    const kept = size - (size % W);
    if (kept >= min && kept > 0) {
      r.shardRemainder += size % W;
      return 0;
    }
    mergedGroups++;
    return size;
  });
  for (let level = book.numStages - 1; level >= 1; level--) {
    const parents = book.stage(level + 1).parents;
    const pool = new Array<number>(book.stage(level).numGroups).fill(0);
    up.forEach((n, child) => (pool[parents[child]!]! += n));
    up = pool.map((size) => {
      const kept = size - (size % W);
      if (kept >= min && kept > 0) {
        r.shardRemainder += size % W;
        mergedSamples += kept;
        return 0;
      }
      return size;
    });
  }
  r.rootResidual = up.reduce((a, b) => a + b, 0);
  return {
    leftOutByReason: { smallGroup: 0, remainder: 0, belowMinBatch: 0, ...r },
    mergedGroups,
    mergedSamples,
  };
}

/** balanced: a unit's batches are at most W apart, and none is small unless the rule allows it. */
function checkBalancedSizes(plan: BatchPlan, options: PlanOptions): string[] {
  const W = plan.worldSize;
  const floor = Math.min(options.minBatchSize ?? 2, Math.floor(plan.batchSize / (2 * W)) * W);
  const sizes = new Map<string, number[]>();
  const problems: string[] = [];
  for (let t = 0; t < plan.accounting.steps; t++) {
    const length = plan.offsets[t + 1]! - plan.offsets[t]!;
    if (length < floor) problems.push(`step ${t} holds ${length} < ${floor}`);
    const key = `${plan.stepLevels[t]}:${plan.stepGroups[t]}`;
    sizes.set(key, [...(sizes.get(key) ?? []), length]);
  }
  for (const [key, list] of sizes) {
    if (Math.max(...list) - Math.min(...list) > W) problems.push(`group ${key} has batches of ${list.join(", ")}`);
  }
  return problems;
}

describe("planMcl", () => {
  test("property: layout, single-group batches and exact accounting per policy", () => {
    fc.assert(
      fc.property(arbitraryCase, ({ book, options }) => {
        const plan = planMcl(book.hierarchy(), options);
        const n = book.numSamples;
        const leaf = book.stage(book.numStages);
        const B = options.batchSize;
        const W = options.worldSize!;
        expect(checkLayout(plan, n)).toEqual([]);

        // Every batch holds one group of the stage it names (the planning stage, or an
        // ancestor stage for batches merged into a parent).
        const mixed: number[] = [];
        for (let t = 0; t < plan.accounting.steps; t++) {
          const level = plan.stepLevels[t]!;
          const labels = book.stage(level).labels;
          for (let j = plan.offsets[t]!; j < plan.offsets[t + 1]!; j++) {
            if (labels[plan.indices[j]!] !== plan.stepGroups[t]) mixed.push(t);
          }
          const pooled = options.smallGroups === "merge-to-parent" || options.smallGroups === "balanced";
          if (!pooled && level !== book.numStages) mixed.push(t);
        }
        expect(mixed).toEqual([]);

        // What each group loses is exactly what the policy says.
        const r = plan.accounting.leftOutByReason;
        const { planned, size } = perGroup(plan, leaf.labels, leaf.numGroups);
        if (options.smallGroups === "drop") {
          let small = 0;
          let remainder = 0;
          size.forEach((s, g) => {
            expect(planned[g]).toBe(s - (s % B));
            if (s < B) small += s;
            else remainder += s % B;
          });
          expect(r).toEqual({ smallGroup: small, remainder, rootResidual: 0, belowMinBatch: 0, shardRemainder: 0 });
        } else if (options.smallGroups === "shrink") {
          let below = 0;
          let shard = 0;
          size.forEach((s, g) => {
            const rest = s % B;
            const cut = rest - (rest % W);
            const kept = cut >= Math.max(options.minBatchSize!, 1) ? cut : 0;
            if (rest > 0 && kept === 0) below += rest;
            if (kept > 0) shard += rest - kept;
            expect(planned[g]).toBe(s - rest + kept);
          });
          expect(r).toEqual({ smallGroup: 0, remainder: 0, rootResidual: 0, belowMinBatch: below, shardRemainder: shard });
        } else if (options.smallGroups === "balanced") {
          expect(plan.accounting).toMatchObject(balancedReference(book, options));
          expect(checkBalancedSizes(plan, options)).toEqual([]);
        } else {
          // merge-to-parent: a stage-1 cluster loses fewer than a batch, and that is all that is lost.
          const root = book.stage(1);
          const roots = perGroup(plan, root.labels, root.numGroups);
          let lost = 0;
          roots.size.forEach((s, q) => {
            expect(s - roots.planned[q]!).toBeLessThan(B);
            lost += s - roots.planned[q]!;
          });
          expect(r).toEqual({ smallGroup: 0, remainder: 0, rootResidual: lost, belowMinBatch: 0, shardRemainder: 0 });
          expect(plan.accounting.mergedGroups).toBe(size.filter((s) => s < B).length);
          let mergedSamples = 0;
          for (let t = 0; t < plan.accounting.steps; t++) {
            if (plan.stepLevels[t] !== book.numStages) mergedSamples += plan.offsets[t + 1]! - plan.offsets[t]!;
          }
          expect(plan.accounting.mergedSamples).toBe(mergedSamples);
        }
      }),
      { numRuns: 150 },
    );
  });

  test("property: same seed gives the same plan; another epoch another order, as many steps", () => {
    fc.assert(
      fc.property(arbitraryCase, ({ book, options }) => {
        const plan = planMcl(book.hierarchy(), options);
        expect(planMcl(book.hierarchy(), options)).toEqual(plan);
        const next = planMcl(book.hierarchy(), { ...options, epoch: options.epoch + 1 });
        // A stage's learning-rate schedule spans epochs × steps (encoder-executor.ts).
        expect(next.offsets.length).toBe(plan.offsets.length);
        fc.pre(plan.accounting.planned >= 12); // 12! orders: a collision is out of reach
        expect(Array.from(next.indices)).not.toEqual(Array.from(plan.indices));
      }),
      { numRuns: 60 },
    );
  });

  test("property: consecutive batches share a group only when unavoidable", () => {
    fc.assert(
      fc.property(arbitraryCase, ({ book, options }) => {
        const plan = planMcl(book.hierarchy(), options);
        const counts = new Map<string, number>();
        for (let t = 0; t < plan.accounting.steps; t++) {
          const key = `${plan.stepLevels[t]}:${plan.stepGroups[t]}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        const largest = Math.max(0, ...counts.values());
        const bound = Math.max(0, 2 * largest - plan.accounting.steps - 1);
        expect(plan.accounting.consecutiveRepeats).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 100 },
    );
  });

  test("merge-to-parent: a small group's samples fill a batch of its parent group", () => {
    // Stage 1: clusters A (samples 0-9) and B (10-19). Stage 2 splits A into 7 + 3, B into 10.
    const book = new ClusterBook(20);
    book.addStage(Int32Array.from({ length: 20 }, (_, i) => (i < 10 ? 0 : 1)), 2);
    book.addStage(Int32Array.from({ length: 20 }, (_, i) => (i < 7 ? 0 : i < 10 ? 1 : 0)), 2);
    const options: PlanOptions = { batchSize: 5, smallGroups: "merge-to-parent", seed: 7, epoch: 0 };
    const plan = planMcl(book.hierarchy(), options);
    // A-0 (7): one batch of its own, 2 left; A-1 (3) is small: 2 + 3 = 5 → one batch of A.
    // B-0 (10): two batches. Nothing is left out.
    expect(plan.accounting.planned).toBe(20);
    expect(plan.accounting.mergedGroups).toBe(1);
    expect(plan.accounting.mergedSamples).toBe(5);
    const levels = Array.from(plan.stepLevels).sort();
    expect(levels).toEqual([1, 2, 2, 2]);
    const t = plan.stepLevels.indexOf(1);
    expect(plan.stepGroups[t]).toBe(0);
    const merged = Array.from(plan.indices.subarray(plan.offsets[t]!, plan.offsets[t + 1]!)).sort((a, b) => a - b);
    expect(merged.filter((i) => i >= 7 && i < 10)).toEqual([7, 8, 9]);
    expect(merged.every((i) => i < 10)).toBe(true);

    const dropped = planMcl(book.hierarchy(), { ...options, smallGroups: "drop" });
    expect(dropped.accounting.leftOutByReason).toMatchObject({ smallGroup: 3, remainder: 2 });
  });

  test("balanced: groups cut into equal batches, small siblings pooled under their parent", () => {
    // Stage 1: clusters A (samples 0-9) and B (10-19). Stage 2 splits A into 7 + 2 + 1, leaves B whole.
    const book = new ClusterBook(20);
    book.addStage(Int32Array.from({ length: 20 }, (_, i) => (i < 10 ? 0 : 1)), 2);
    book.addStage(Int32Array.from({ length: 20 }, (_, i) => (i < 7 ? 0 : i < 9 ? 1 : i < 10 ? 2 : 0)), 3);
    const options: PlanOptions = { batchSize: 4, smallGroups: "balanced", minBatchSize: 3, seed: 3, epoch: 0 };
    const plan = planMcl(book.hierarchy(), options);
    // A-0 (7): 4 + 3; A-1 and A-2 (2 + 1) pool into one batch of A; B-0 (group 3, 10): 4 + 3 + 3.
    expect(plan.accounting.planned).toBe(20);
    expect(plan.accounting).toMatchObject({ steps: 6, shrunkSteps: 4, mergedGroups: 2, mergedSamples: 3 });
    const batches = Array.from({ length: 6 }, (_, t) => {
      const samples = Array.from(plan.indices.subarray(plan.offsets[t]!, plan.offsets[t + 1]!)).sort((a, b) => a - b);
      return `${plan.stepLevels[t]}:${plan.stepGroups[t]}:${samples.length}`;
    });
    expect(batches.sort()).toEqual(["1:0:3", "2:0:3", "2:0:4", "2:3:3", "2:3:3", "2:3:4"]);
    const t = plan.stepLevels.indexOf(1);
    expect(Array.from(plan.indices.subarray(plan.offsets[t]!, plan.offsets[t + 1]!)).sort()).toEqual([7, 8, 9]);

    // With batches of at least 4, the pool of 3 is short of one: it is all that is left out.
    const strict = planMcl(book.hierarchy(), { ...options, minBatchSize: 4 });
    expect(strict.accounting.leftOutByReason).toMatchObject({ rootResidual: 3 });
    expect(strict.accounting.leftOut).toBe(3);
  });

  test("errors name the field and the fix", () => {
    const book = new ClusterBook(4);
    book.addStage(Int32Array.from([0, 0, 1, 1]), 2);
    const base: PlanOptions = { batchSize: 4, smallGroups: "drop", seed: 1, epoch: 0 };
    expect(() => planMcl(book.hierarchy(), { ...base, batchSize: 10, worldSize: 3 })).toThrow(
      /batchSize 10 is not divisible by worldSize 3/,
    );
    expect(() => planMcl(book.hierarchy(), { ...base, batchSize: 10, worldSize: 3 })).toThrow(
      expect.objectContaining({ code: "PLAN_INFEASIBLE" }),
    );
    expect(() => planMcl(book.hierarchy(), { ...base, batchSize: 0 })).toThrow(
      /batchSize: expected an integer >= 1, got 0/,
    );
    expect(() => planMcl(book.hierarchy(), { ...base, smallGroups: "dorp" as SmallGroupPolicy })).toThrow(PlanError);
    expect(() =>
      planMcl({ labels: Int32Array.from([0, 5]), levels: [{ numGroups: 2, parents: Int32Array.from([-1, -1]) }] }, base),
    ).toThrow(/hierarchy.labels\[1\]: expected a group id in \[0, 2\), got 5/);
  });
});

describe("planUniform", () => {
  test("property: one shuffled pass, remainder per policy", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom(...policies),
        fc.integer({ min: 0, max: 1000 }),
        (n, batchSize, smallGroups, seed) => {
          const plan = planUniform(n, { batchSize, smallGroups, seed, epoch: 0 });
          expect(checkLayout(plan, n)).toEqual([]);
          expect(plan.accounting.consecutiveRepeats).toBe(Math.max(0, plan.accounting.steps - 1));
          const rest = n % batchSize;
          const min = Math.min(DEFAULT_MIN_BATCH_SIZE, batchSize);
          if (smallGroups === "shrink") {
            expect(plan.accounting.planned).toBe(rest >= min ? n : n - rest);
          } else if (smallGroups === "balanced") {
            // One group of n, cut evenly into ceil(n / batchSize) batches (W = 1).
            expect(plan.accounting.planned).toBe(n >= min ? n : 0);
            expect(plan.accounting.steps).toBe(n >= min ? Math.ceil(n / batchSize) : 0);
          } else {
            expect(plan.accounting.leftOutByReason.remainder).toBe(rest);
          }
          expect(Array.from(plan.stepLevels).every((l) => l === 0)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});
