import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ClusterBook, composeLabels } from "../../../ts/control/cluster-book.js";
import { ClusterBookError } from "../../../ts/control/errors.js";

/** Random runs: N samples, S stages, each with its own K and assignments. */
const arbitraryRun = fc
  .record({
    n: fc.integer({ min: 1, max: 120 }),
    ks: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
  })
  .chain(({ n, ks }) =>
    fc.record({
      n: fc.constant(n),
      ks: fc.constant(ks),
      stages: fc.tuple(
        ...ks.map((k) => fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: n, maxLength: n })),
      ),
    }),
  );

function tupleKey(stages: readonly number[][], i: number, upTo: number): string {
  return stages
    .slice(0, upTo)
    .map((a) => a[i])
    .join(",");
}

describe("ClusterBook", () => {
  test("composite labels are the intersection of all stages, not the latest clustering", () => {
    // Stage 1 splits by colour (first half / second half), stage 2 by shape (even / odd).
    const colour = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
    const shape = Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]);
    const book = new ClusterBook(8);
    book.addStage(colour, 2);
    const stage2 = book.addStage(shape, 2);

    // The reference script's bug would give the latest clustering: 2 groups, 0 and 4 together.
    expect(stage2.numGroups).toBe(4);
    expect(Array.from(stage2.labels)).toEqual([0, 1, 0, 1, 2, 3, 2, 3]);
    expect(stage2.labels[0]).not.toBe(stage2.labels[4]); // same shape, different colour
    expect(Array.from(stage2.parents)).toEqual([0, 0, 1, 1]);
    expect(Array.from(stage2.sizes)).toEqual([2, 2, 2, 2]);
  });

  test("property: same label iff same tuple of assignments; dense, lexicographic, with parents", () => {
    fc.assert(
      fc.property(arbitraryRun, ({ n, ks, stages }) => {
        const book = new ClusterBook(n);
        stages.forEach((a, s) => book.addStage(Int32Array.from(a), ks[s]!));
        for (let s = 1; s <= ks.length; s++) {
          const record = book.stage(s);
          const keyOf = (i: number) => tupleKey(stages, i, s);
          const distinct = [...new Set(Array.from({ length: n }, (_, i) => keyOf(i)))];
          expect(record.numGroups).toBe(distinct.length);
          const sizes = new Array<number>(record.numGroups).fill(0);
          const violations: string[] = [];
          for (let i = 0; i < n; i++) {
            const g = record.labels[i]!;
            if (!(g >= 0 && g < record.numGroups)) violations.push(`stage ${s}: label ${g} not dense`);
            sizes[g]!++;
            const parent = s > 1 ? book.stage(s - 1).labels[i] : -1;
            if (record.parents[g] !== parent) violations.push(`stage ${s}: wrong parent of group ${g}`);
          }
          expect(Array.from(record.sizes)).toEqual(sizes);
          for (let i = 0; i < n; i++) {
            for (let j = i + 1; j < n; j++) {
              if ((record.labels[i] === record.labels[j]) !== (keyOf(i) === keyOf(j))) {
                violations.push(`stage ${s}: samples ${i}, ${j} grouped wrongly`);
              }
              // Dense ids follow the lexicographic order of the tuples.
              const cmp = compareTuples(stages, i, j, s);
              if (cmp !== 0 && Math.sign(record.labels[i]! - record.labels[j]!) !== cmp) {
                violations.push(`stage ${s}: samples ${i}, ${j} out of lexicographic order`);
              }
            }
          }
          expect(violations).toEqual([]);
          for (let g = 1; g < record.numGroups; g++) {
            expect(record.parents[g]!).toBeGreaterThanOrEqual(record.parents[g - 1]!);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  test("property: the table and bucket strategies give identical compositions", () => {
    fc.assert(
      fc.property(arbitraryRun, ({ ks, stages }) => {
        let byTable: { labels: Int32Array; numGroups: number } | null = null;
        let byBuckets: { labels: Int32Array; numGroups: number } | null = null;
        stages.forEach((a, s) => {
          const assignments = Int32Array.from(a);
          const table = composeLabels(byTable, assignments, ks[s]!, Number.MAX_SAFE_INTEGER);
          const buckets = composeLabels(byBuckets, assignments, ks[s]!, 0);
          expect(buckets).toEqual(table);
          byTable = table;
          byBuckets = buckets;
        });
      }),
      { numRuns: 60 },
    );
  });

  test("stats: group count, smallest / median / largest, empty clusters", () => {
    const book = new ClusterBook(10);
    const record = book.addStage(Int32Array.from([0, 0, 0, 0, 0, 2, 2, 2, 4, 4]), 6);
    expect(record.stats).toEqual({
      numGroups: 3,
      smallest: 2,
      median: 3,
      largest: 5,
      emptyClusters: 3,
    });
    expect(book.hierarchy().levels).toHaveLength(1);
  });

  test("bad input is refused with the field and the value", () => {
    const book = new ClusterBook(4);
    expect(() => book.addStage(Int32Array.from([0, 1, 2]), 3)).toThrow(
      /assignments: expected 4 entries \(one per sample\), got 3/,
    );
    expect(() => book.addStage(Int32Array.from([0, 1, 3, 0]), 3)).toThrow(
      /assignments\[2\]: expected a cluster id in \[0, 3\), got 3/,
    );
    expect(() => book.addStage(Int32Array.from([0, 0, 0, 0]), 0)).toThrow(ClusterBookError);
    expect(() => book.stage(1)).toThrow(/stage: expected an integer in \[1, 0\], got 1/);
    expect(() => new ClusterBook(0)).toThrow(/numSamples: expected an integer >= 1, got 0/);
    expect(() => book.addStage(Int32Array.from([0, 0, 0, -1]), 2)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});

function compareTuples(stages: readonly number[][], i: number, j: number, upTo: number): number {
  for (let s = 0; s < upTo; s++) {
    const d = stages[s]![i]! - stages[s]![j]!;
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
