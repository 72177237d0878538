// The CLIP case of the quality benchmark: per-seed MMVP and zero-shot scores aggregate into means,
// standard deviations and paired gains; the results go under their own key of the results file,
// which keeps every other key; and a real --quick run through the SDK gives every representation.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  clipCaseConfig,
  formatClipQualityTable,
  RESULTS_KEY,
  runClipQuality,
  summarizeClipSeeds,
  writeClipResults,
  type ClipSeedResult,
} from "../../../bench/quality-clip.js";
import { CLIP_DEMO_CONFIG } from "../../../ts/sdk/clip-demo-config.js";

const dir = await mkdtemp(join(tmpdir(), "mcl-quality-clip-test-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

const result = (seed: number, shape: number): ClipSeedResult => ({
  seed,
  seconds: 60 + seed,
  mmvp: { "stage 0": { shape: 0.2 }, "stage 1": { shape: 0.1 }, integrated: { shape }, baseline: { shape: 0.4 } },
  zeroShot: { "stage 0": { shape: 0.15 }, "stage 1": { shape: 0.1 }, integrated: { shape: 0.2 }, baseline: { shape: 0.25 } },
});

describe("summarizeClipSeeds", () => {
  it("gives per category and representation the mean ± std of the seeds, and the paired MMVP gains", () => {
    const report = summarizeClipSeeds("clip", { name: "c" }, [result(0, 0.3), result(1, 0.5)]);
    expect(report.representations).toEqual(["stage 0", "stage 1", "integrated", "baseline"]);
    expect(report.categories).toEqual(["shape"]);
    expect(report.mmvp["shape"]!["integrated"]).toEqual({ mean: 0.4, std: 0.1414, values: [0.3, 0.5] });
    expect(report.zeroShot["shape"]!["baseline"]).toEqual({ mean: 0.25, std: 0, values: [0.25, 0.25] });
    expect(report.gains["shape"]!["integrated - stage 0"]!.values).toEqual([0.1, 0.3]);
    expect(report.gains["shape"]!["integrated - baseline"]!.values).toEqual([-0.1, 0.1]);
    expect(report.seconds.values).toEqual([60, 61]);
    const table = formatClipQualityTable([report]).split("\n");
    expect(table[0]).toBe("| loss | model | MMVP shape | zero-shot shape |");
    expect(table[4]).toBe("| `clip` | integrated | 40 ± 14 | 20 ± 0 |");
    expect(table.at(-1)).toBe("seeds 0, 1; seconds per run: clip 60 / 61");
  });
});

describe("clipCaseConfig", () => {
  it("is the CLIP demo's config with the loss, and the seed in both the data and the run", () => {
    const config = clipCaseConfig("xsample", 2);
    expect(config.clip?.loss).toEqual({ name: "xsample" });
    expect(config.seed).toBe(2);
    expect(config.dataset).toBe(CLIP_DEMO_CONFIG.dataset.replace(/seed=\d+/, "seed=2"));
    expect({ ...config, name: CLIP_DEMO_CONFIG.name, dataset: CLIP_DEMO_CONFIG.dataset, seed: 0, clip: CLIP_DEMO_CONFIG.clip }).toEqual(CLIP_DEMO_CONFIG);
  });
});

describe("writeClipResults", () => {
  it("replaces only its own key and keeps the others", async () => {
    const path = join(dir, "quality.json");
    await writeFile(path, `${JSON.stringify({ bench: "quality", datasets: [1, 2], [RESULTS_KEY]: { old: true } })}\n`);
    await writeClipResults(path, { losses: [] });
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual({ bench: "quality", datasets: [1, 2], [RESULTS_KEY]: { losses: [] } });
    const fresh = join(dir, "new", "quality.json");
    await writeClipResults(fresh, { losses: [] });
    expect(JSON.parse(await readFile(fresh, "utf8"))).toEqual({ [RESULTS_KEY]: { losses: [] } });
    await writeFile(path, "[1]\n");
    await expect(writeClipResults(path, {})).rejects.toThrow(/quality\.json: expected a JSON object/);
  });
});

describe("runClipQuality", () => {
  it("scores every representation of a real --quick run", { timeout: 300_000 }, async () => {
    const seen: ClipSeedResult[] = [];
    const [report, ...rest] = await runClipQuality({ seeds: [1], losses: ["xsample"], quick: true, onRun: (_, r) => seen.push(r) });
    expect(rest).toEqual([]);
    expect(report!.loss).toBe("xsample");
    expect(report!.config.dataset).toMatch(/n=128&.*seed=1/);
    expect(report!.representations).toEqual(["stage 0", "stage 1", "stage 2", "integrated", "baseline"]);
    // The demo's captions name the background as well as the object: a category of its own.
    expect([...report!.categories].sort()).toEqual(["background", "color", "shape", "texture"]);
    expect(seen.map((r) => r.seed)).toEqual([1]);
    for (const category of report!.categories) {
      for (const representation of report!.representations) {
        for (const scores of [report!.mmvp, report!.zeroShot]) {
          const cell = scores[category]![representation]!;
          expect(cell.std).toBeNull();
          expect(cell.mean).toBeGreaterThanOrEqual(0);
          expect(cell.mean).toBeLessThanOrEqual(1);
        }
        expect(report!.mmvp[category]![representation]!.values).toEqual([Math.round(seen[0]!.mmvp[representation]![category]! * 1e4) / 1e4]);
      }
    }
    expect(report!.seconds.values[0]).toBeGreaterThan(0);
  });
});
