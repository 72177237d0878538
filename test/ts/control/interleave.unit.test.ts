import fc from "fast-check";
import { expect, test } from "vitest";
import { interleaveBatches } from "../../../ts/control/interleave.js";
import { Rng } from "../../../ts/control/rng.js";

test("property: every batch once, and the fewest consecutive repeats possible", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 12 }),
      fc.integer({ min: 0, max: 1e9 }),
      (counts, seed) => {
        const steps = interleaveBatches(Int32Array.from(counts), new Rng(seed));
        const total = counts.reduce((a, b) => a + b, 0);
        expect(steps.length).toBe(total);
        const seen = new Array<number>(counts.length).fill(0);
        let repeats = 0;
        steps.forEach((u, t) => {
          seen[u]!++;
          if (t > 0 && steps[t - 1] === u) repeats++;
        });
        expect(seen).toEqual(counts);
        const largest = Math.max(0, ...counts);
        expect(repeats).toBe(Math.max(0, 2 * largest - total - 1));
      },
    ),
    { numRuns: 300 },
  );
});

test("the order is a seeded shuffle: same seed same order, other seed other order", () => {
  const counts = Int32Array.from([10, 10, 10, 10]);
  const a = interleaveBatches(counts, new Rng(1));
  expect(interleaveBatches(counts, new Rng(1))).toEqual(a);
  expect(interleaveBatches(counts, new Rng(2))).not.toEqual(a);
  // Not a fixed round-robin: the first cycle of four is not always 0, 1, 2, 3.
  expect(Array.from(a.subarray(0, 8))).not.toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
});
