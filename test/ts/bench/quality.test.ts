// The quality benchmark's core on tiny settings: two seeds of a 2-stage run through the SDK, under
// a small-group policy, give a report whose means, standard deviations and gains are those of the
// per-seed accuracies, with the share of the samples each stage left out.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_POLICIES,
  formatQualityTable,
  parsePolicies,
  policyLabel,
  QUALITY_CASES,
  quick,
  runQuality,
  stat,
  summarizeSeeds,
  type SeedResult,
} from "../../../bench/quality.js";

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

describe("policies", () => {
  it("parse from --policies and print back the same", () => {
    expect(parsePolicies("drop,shrink:8,balanced:32")).toEqual([
      { smallGroups: "drop" },
      { smallGroups: "shrink", minBatchSize: 8 },
      { smallGroups: "balanced", minBatchSize: 32 },
    ]);
    expect(parsePolicies(DEFAULT_POLICIES.map(policyLabel).join(","))).toEqual(DEFAULT_POLICIES);
    expect(() => parsePolicies("shrnk:8")).toThrow(/--policies: expected sampling.smallGroups values .* got "shrnk:8"/);
    expect(() => parsePolicies("shrink:1")).toThrow(/an integer >= 2/);
  });

  it("make one table row per policy, with the left-out share of each stage", () => {
    const result = (seed: number, digit: number): SeedResult => ({
      seed,
      seconds: 100,
      probe: { "stage 1": { digit: 0.5 }, "stage 2": { digit: digit }, integrated: { digit: digit + 0.1 }, baseline: { digit: 0.6 } },
      leftOut: { "stage 1": 0, "stage 2": 0.25, baseline: 0 },
    });
    const config = (smallGroups: "drop" | "balanced") => ({ name: "d", sampling: { smallGroups, minBatchSize: 8 } });
    const table = formatQualityTable([
      summarizeSeeds("d", config("drop"), [result(0, 0.6), result(1, 0.62)]),
      summarizeSeeds("d", config("balanced"), [result(0, 0.8), result(1, 0.9)]),
    ]);
    const lines = table.split("\n");
    expect(lines[0]).toBe("d (seeds 0, 1)");
    expect(lines[2]).toBe(
      "| policy | digit: stage 1 | digit: stage 2 | digit: integrated | digit: baseline | digit: integrated − baseline per seed | left out, stage 1 | left out, stage 2 | seconds per run |",
    );
    expect(lines[5]).toBe("| `balanced:8` | 50.0 ± 0.0 | 85.0 ± 7.1 | 95.0 ± 7.1 | 60.0 ± 0.0 | +30.0 / +40.0 | 0.0 % | 25.0 % | 100 |");
  });
});

describe("runQuality", () => {
  it("aggregates per-seed probe accuracies of real runs", { timeout: 600_000 }, async () => {
    const seen: SeedResult[] = [];
    const [report] = await runQuality([{ name: "tiny", config: tiny }], {
      seeds: [0, 1],
      jobs: 2,
      policies: [{ smallGroups: "drop" }],
      onRun: (_, policy, result) => {
        expect(policy).toBe("drop");
        if ("reason" in result) throw new Error(`seed ${result.seed} had no batch plan: ${result.reason}`);
        seen.push(result);
      },
    });
    expect(report!.name).toBe("tiny");
    expect(report!.policy).toBe("drop");
    // 96 samples in batches of 16: stage 1 and the baseline leave out nothing; stage 2 what drop leaves.
    expect(Object.keys(report!.leftOut)).toEqual(["stage 1", "stage 2", "baseline"]);
    expect(report!.leftOut["stage 1"]!.values).toEqual([0, 0]);
    const perSeed = [...seen].sort((x, y) => x.seed - y.seed).map((r) => Math.round(r.leftOut["stage 2"]! * 1e4) / 1e4);
    expect(report!.leftOut["stage 2"]!.values).toEqual(perSeed);
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
    expect(report!.infeasible).toEqual([]);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it("records a policy that leaves a stage without a batch and goes on", { timeout: 300_000 }, async () => {
    // Batches of 64 from 2 clusters of about 48 images: under drop, stage 2 has no batch at all.
    const bigBatches = (seed: number) => ({ ...tiny(seed), batchSize: 64 });
    const [refused, planned] = await runQuality([{ name: "big-batches", config: bigBatches }], {
      seeds: [0],
      policies: [{ smallGroups: "drop" }, { smallGroups: "balanced", minBatchSize: 16 }],
    });
    expect(refused).toMatchObject({ policy: "drop", seeds: [], attributes: [], probe: {} });
    expect(refused!.infeasible).toEqual([{ seed: 0, seconds: expect.any(Number), reason: expect.stringContaining("stage 2: no group fills a batch") }]);
    expect(planned).toMatchObject({ policy: "balanced:16", seeds: [0], infeasible: [] });
    const table = formatQualityTable([refused!, planned!]).split("\n");
    expect(table[4]).toMatch(/^\| `drop` \(no batch plan: seed 0\) \| - \| - \| - \| - \| {2}\| - \| /);
    expect(table[5]).toMatch(/^\| `balanced:16` \| \d/);
  });
});
