import { expect, test } from "vitest";
import { deriveSeed, Rng, shuffleRange } from "../../../ts/control/rng.js";

test("same seed, same stream; derived seeds give separate streams", () => {
  const draw = (seed: number) => Array.from({ length: 8 }, ((rng) => () => rng.nextUint32())(new Rng(seed)));
  expect(draw(42)).toEqual(draw(42));
  expect(draw(42)).not.toEqual(draw(43));
  expect(deriveSeed(1, 2, 3)).not.toBe(deriveSeed(1, 3, 2));
  expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
  expect(deriveSeed(2 ** 40, 0)).not.toBe(deriveSeed(0, 0)); // high bits of a seed count
  expect(() => deriveSeed(1.5)).toThrow(/safe integers/);
});

test("below(n) stays in range and is close to uniform, on both code paths", () => {
  const rng = new Rng(7);
  for (const n of [1, 3, 10, 1000, 2 ** 21, 2 ** 21 + 1, 3 * 2 ** 30, 2 ** 32]) {
    for (let i = 0; i < 2000; i++) {
      const x = rng.below(n);
      if (!(Number.isInteger(x) && x >= 0 && x < n)) throw new Error(`below(${n}) gave ${x}`);
    }
  }
  // 60,000 draws over 6 values (small-n path) and over 3 halves of a large n (modulo path).
  for (const [n, buckets, bucketOf] of [
    [6, 6, (x: number) => x],
    [3 * 2 ** 30, 3, (x: number) => Math.floor(x / 2 ** 30)],
  ] as const) {
    const counts = new Array<number>(buckets).fill(0);
    for (let i = 0; i < 60_000; i++) counts[bucketOf(rng.below(n))]!++;
    for (const c of counts) expect(Math.abs(c - 60_000 / buckets)).toBeLessThan(600); // > 5 sigma
  }
});

test("shuffleRange permutes only its range", () => {
  const a = Int32Array.from({ length: 100 }, (_, i) => i);
  shuffleRange(a, 10, 90, new Rng(3));
  expect(Array.from(a.subarray(0, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(Array.from(a.subarray(90))).toEqual([90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
  expect(Array.from(a.subarray(10, 90)).sort((x, y) => x - y)).toEqual(Array.from({ length: 80 }, (_, i) => i + 10));
  expect(Array.from(a.subarray(10, 90))).not.toEqual(Array.from({ length: 80 }, (_, i) => i + 10));
});
