// The quality benchmark's core on tiny settings: two seeds of a 2-stage run through the SDK give
// a report whose means, standard deviations and gains are those of the per-seed accuracies.
import { describe, expect, it } from "vitest";
import { QUALITY_CASES, quick, runQuality, stat, type SeedResult } from "../../../bench/quality.js";

// The bench's --quick settings, smaller still: 96 images, batches of 16, two attributes probed.
const trifeature = QUALITY_CASES.find((c) => c.name === "trifeature")!;
const tiny = (seed: number) => ({
  ...quick(trifeature.config)(seed),
  dataset: `synthetic:trifeature?n=96&size=16&seed=${seed}`,
  clusters: 2,
  batchSize: 16,
  probe: { attributes: ["shape", "color"], knn: 0 },
});

describe("stat", () => {
  it("gives the mean and the sample standard deviation", () => {
    const s = stat([0.1, 0.2, 0.3, 0.4]);
    expect(s.mean).toBeCloseTo(0.25, 10);
    expect(s.std).toBeCloseTo(Math.sqrt(0.05 / 3), 4);
    expect(s.values).toEqual([0.1, 0.2, 0.3, 0.4]);
    expect(stat([0.7]).std).toBeNull();
    expect(() => stat([])).toThrow(RangeError);
  });
});

describe("runQuality", () => {
  it("aggregates per-seed probe accuracies of real runs", { timeout: 600_000 }, async () => {
    const seen: SeedResult[] = [];
    const [report] = await runQuality([{ name: "tiny", config: tiny }], {
      seeds: [0, 1],
      jobs: 2,
      onRun: (_, result) => seen.push(result),
    });
    expect(report!.name).toBe("tiny");
    expect(report!.seeds).toEqual([0, 1]);
    expect(report!.representations).toEqual(["stage 1", "stage 2", "integrated", "baseline"]);
    expect([...report!.attributes].sort()).toEqual(["color", "shape"]);
    const bySeed = [...seen].sort((x, y) => x.seed - y.seed);
    expect(bySeed.map((r) => r.seed)).toEqual([0, 1]);
    expect(report!.config.dataset).toBe("synthetic:trifeature?n=96&size=16&seed=0");

    for (const attribute of report!.attributes) {
      for (const representation of report!.representations) {
        const [a, b] = bySeed.map((r) => r.probe[representation]![attribute]!);
        const cell = report!.probe[attribute]![representation]!;
        expect(cell.values).toEqual([a, b].map((v) => Math.round(v! * 1e4) / 1e4));
        expect(cell.mean).toBeCloseTo((a! + b!) / 2, 4);
        expect(cell.std).toBeCloseTo(Math.abs(a! - b!) / Math.SQRT2, 4);
      }
      const gain = report!.gains[attribute]!["integrated - stage 1"]!;
      const diffs = bySeed.map((r) => r.probe["integrated"]![attribute]! - r.probe["stage 1"]![attribute]!);
      expect(gain.mean).toBeCloseTo((diffs[0]! + diffs[1]!) / 2, 4);
      expect(report!.gains[attribute]!["integrated - baseline"]).toBeDefined();
    }
    expect(report!.seconds.values).toHaveLength(2);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
