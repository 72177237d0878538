import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { driveRun, type StageExecutor } from "../../../ts/control/run-driver.js";
import type { SmallGroupPolicy } from "../../../ts/control/batch-planner.js";
import { RunStore } from "../../../ts/control/run-store.js";
import { initialState, scheduleFromConfig } from "../../../ts/control/stage-scheduler.js";
import { trackSampling } from "../../../ts/sdk/left-out.js";
import { type Summary, SUMMARY_FORMAT, writeSummary } from "../../../ts/sdk/summary.js";
import { BASELINE_DASH } from "../../../ts/report/charts.js";
import { LOSS_FILE, LossRecorder, readLossHistory, withEpochLoss } from "../../../ts/report/loss-history.js";
import { readReportData, sizeHistogram } from "../../../ts/report/report-data.js";
import { ACCURACY_SVG_FILE, REPORT_FILE, renderReport, writeReport } from "../../../ts/report/report.js";

const N = 20;
// Stage 1: two clusters of 12 and 8. Stage 2 splits them into 1 + 3 + 8 and 5 + 3.
const CLUSTERINGS: Record<number, number[]> = {
  1: [...Array(12).fill(0), ...Array(8).fill(1)],
  2: [0, 1, 1, 1, ...Array(8).fill(2), ...Array(5).fill(0), 1, 1, 1],
};
const ATTRIBUTES = ["shape", "color", "texture"];

/** Drives a 3-stage run (K = 2, 3) with a stand-in for the worker that records losses as the SDK does. */
async function syntheticRun(options: { finished: boolean; losses: boolean; smallGroups?: SmallGroupPolicy }): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-report-")), "tiny");
  const sampling = { smallGroups: options.smallGroups ?? "merge-to-parent" };
  const config = parseConfig({ name: "tiny", stages: 3, clusters: [2, 3], epochsPerStage: [1, 2, 1], batchSize: 4, seed: 3, sampling });
  const store = await RunStore.create(dir, { config, versions: { package: "0.1.0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
  const recorder = new LossRecorder(dir);
  const record = (track: number | "baseline", epoch: number) => {
    if (options.losses) recorder.record(track, epoch, 5 - epoch / 2 - (track === "baseline" ? 0 : track / 10));
  };
  const executor: StageExecutor = {
    async trainEpoch(action) {
      record(action.stage, action.epoch);
      return { checkpoint: `checkpoints/stage-${action.stage}-epoch-${action.epoch + 1}.safetensors` };
    },
    async embed() {},
    async cluster(action) {
      return Int32Array.from(CLUSTERINGS[action.stage]!);
    },
    async trainBaselineEpoch(action) {
      record("baseline", action.epoch);
      return { checkpoint: `checkpoints/baseline-epoch-${action.epoch + 1}.safetensors` };
    },
  };
  await driveRun(store, executor, { numSamples: N });
  await recorder.flush();
  if (options.finished) await writeSummary(dir, summary(store));
  else {
    await mkdir(join(dir, "probes"));
    await writeFile(join(dir, "probes", "stage-1.json"), JSON.stringify({ linear: { shape: 0.3, color: 1 } }));
  }
  return dir;
}

/** The summary of the run in `store`, with the samples each track left out as the SDK records them. */
function summary(store: RunStore): Summary {
  const probe = (shift: number) => ({ shape: 0.3 + shift, color: 0.99, texture: 0.35 + 2 * shift });
  const sampling = (track: number | "baseline") => ({ sampling: trackSampling(store.manifest, track, 1)! });
  return {
    format: SUMMARY_FORMAT,
    name: "tiny",
    dataset: { uri: "synthetic:trifeature", samples: N },
    encoder: "small-cnn",
    attributes: ATTRIBUTES,
    stages: [1, 2, 3].map((stage) => ({ stage, epochs: [1, 2, 1][stage - 1]!, probe: probe(stage / 20), ...sampling(stage) })),
    integrated: { probe: probe(0.2), spec: { stages: [1, 2, 3], weights: [1, 1, 1], normalize: "per-stage-l2" } },
    baseline: { probe: probe(0.1), epochs: 4, ...sampling("baseline") },
    seconds: 12.5,
    resumed: false,
    finishedAt: new Date().toISOString(),
  };
}

describe("report data", () => {
  test("group-size histogram of a known clustering, per stage", async () => {
    const data = await readReportData(await syntheticRun({ finished: true, losses: true }));
    expect(data.groups.map((g) => [g.stage, g.k, g.stats.numGroups])).toEqual([
      [1, 2, 2],
      [2, 3, 5],
    ]);
    expect(data.groups[0]!.bins).toEqual([{ lower: 8, upper: 15, groups: 2, samples: 20 }]);
    // Composite sizes after stage 2: 1, 3, 8, 5, 3.
    expect(data.groups[1]!.bins).toEqual([
      { lower: 1, upper: 1, groups: 1, samples: 1 },
      { lower: 2, upper: 3, groups: 2, samples: 6 },
      { lower: 4, upper: 7, groups: 1, samples: 5 },
      { lower: 8, upper: 15, groups: 1, samples: 8 },
    ]);
  });

  test("sizeHistogram keeps empty bins between the extremes and refuses empty groups", () => {
    expect(sizeHistogram(Int32Array.from([1, 40])).map((b) => [b.lower, b.groups])).toEqual([
      [1, 1], [2, 0], [4, 0], [8, 0], [16, 0], [32, 1],
    ]);
    expect(sizeHistogram(new Int32Array(0))).toEqual([]);
    expect(() => sizeHistogram(Int32Array.from([3, 0]))).toThrow(/group 1 has size 0/);
  });

  test("the loss history holds every epoch of every track, as the driver trained them", async () => {
    const dir = await syntheticRun({ finished: true, losses: true });
    const history = await readLossHistory(dir);
    expect(Object.keys(history!.tracks).sort()).toEqual(["baseline", "stage-1", "stage-2", "stage-3"]);
    expect(history!.tracks["stage-2"]).toEqual([4.8, 4.3]);
    expect(history!.tracks["baseline"]).toHaveLength(4);
  });

  test("an epoch trained again overwrites its loss and drops the later ones; gaps are null", () => {
    let history = withEpochLoss(null, "stage-1", 0, 3);
    history = withEpochLoss(history, "stage-1", 1, 2);
    history = withEpochLoss(history, "stage-1", 2, 1);
    history = withEpochLoss(history, "stage-1", 1, 2.5);
    expect(history.tracks["stage-1"]).toEqual([3, 2.5]);
    expect(withEpochLoss(history, "baseline", 2, Number.NaN).tracks["baseline"]).toEqual([null, null, null]);
    expect(() => withEpochLoss(history, "stage-1", -1, 1)).toThrow(/epoch/);
  });

  test("a directory that holds no run: the error names the path and the missing manifest", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mcl-not-a-run-"));
    await expect(renderReport(dir)).rejects.toMatchObject({
      code: "RUN_NOT_FOUND",
      message: expect.stringContaining(`${dir} holds no run (no manifest.json)`),
    });
  });

  test("a damaged losses.json is refused with its path", async () => {
    const dir = await syntheticRun({ finished: true, losses: true });
    await writeFile(join(dir, LOSS_FILE), JSON.stringify({ format: "mcl-losses/1", tracks: { "stage-1": ["x"] } }));
    await expect(readReportData(dir)).rejects.toMatchObject({ code: "CORRUPT_FILE", message: expect.stringContaining(LOSS_FILE) });
  });
});

describe("report rendering", () => {
  test("accuracy chart: one line per attribute, the baseline as a dashed rule", async () => {
    const report = await renderReport(await syntheticRun({ finished: true, losses: true }));
    const spec = report.specs.accuracy as { layer: { mark: { type: string; strokeDash?: number[] }; data: { values: { attribute: string; representation: string }[] } }[] };
    const [lines, integrated, baseline] = spec.layer;
    expect(lines!.mark.type).toBe("line");
    expect(new Set(lines!.data.values.map((v) => v.attribute))).toEqual(new Set(ATTRIBUTES));
    expect(lines!.data.values).toHaveLength(3 * ATTRIBUTES.length);
    expect(integrated!.mark.type).toBe("point");
    expect(baseline!.mark).toMatchObject({ type: "rule", strokeDash: BASELINE_DASH });
    expect(baseline!.data.values).toHaveLength(ATTRIBUTES.length);
    // The SVG draws them: one line mark per attribute (Vega groups each series), and dashed strokes.
    const svg = report.charts.accuracy;
    expect(svg.match(/<g class="mark-line role-mark /g)).toHaveLength(ATTRIBUTES.length);
    expect(svg).toContain(`stroke-dasharray="${BASELINE_DASH.join(",")}"`);
  });

  test("the HTML is one self-contained page with the probe table and every chart", async () => {
    const { html, charts } = await renderReport(await syntheticRun({ finished: true, losses: true }));
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
    expect(html.match(/<svg[\s>]/g)).toHaveLength(3);
    for (const svg of Object.values(charts)) {
      expect(svg.startsWith("<svg")).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    }
    expect(html).toContain("<td>baseline (4 epochs)</td><td>40.0%</td><td>99.0%</td><td>55.0%</td>");
    expect(html).toContain("<td>integrated</td><td>50.0%</td>");
  });

  test("loss chart: stages one after another, the baseline dashed", async () => {
    const { specs, charts } = await renderReport(await syntheticRun({ finished: true, losses: true }));
    const values = (specs.loss as { data: { values: { track: string; epoch: number; kind: string }[] } }).data.values;
    expect(values.filter((v) => v.track === "stage 2").map((v) => v.epoch)).toEqual([2, 3]);
    expect(values.filter((v) => v.track === "stage 3").map((v) => v.epoch)).toEqual([4]);
    expect(values.filter((v) => v.kind === "baseline").map((v) => v.epoch)).toEqual([1, 2, 3, 4]);
    expect(charts.loss).toContain(`stroke-dasharray="${BASELINE_DASH.join(",")}"`);
  });

  test("an unfinished run without losses.json: stage probes so far, and the loss chart says there is no history", async () => {
    const dir = await syntheticRun({ finished: false, losses: false });
    const { html, charts, specs } = await renderReport(dir);
    expect(html).toContain("has not finished");
    expect(charts.loss).toContain("no loss history");
    expect((specs.accuracy as { layer: unknown[] }).layer).toHaveLength(1);
    expect(html).toContain("<td>stage 1</td><td>30.0%</td><td>100.0%</td>");
  });

  test("the samples each track left out: a table by reason, and a warning that names the setting above the threshold", async () => {
    // Composite groups after stage 2 are 1, 3, 8, 5 and 3: in batches of 4, merge-to-parent trains
    // them all; drop leaves out the groups of 1 and 3 and the 5's remainder, 8 of 20.
    const merged = await renderReport(await syntheticRun({ finished: true, losses: false }));
    expect(merged.html).toContain("<td>stage 3</td><td>20</td><td>0</td><td>0.0%</td>");
    expect(merged.html).toContain("<td>baseline (4 epochs)</td><td>20</td><td>0</td>");
    expect(merged.html).not.toContain('class="warning"');

    const dropped = await syntheticRun({ finished: true, losses: false, smallGroups: "drop" });
    const { html } = await renderReport(dropped);
    expect(html).toContain("<td>stage 3</td><td>12</td><td>8</td><td>40.0%</td><td>7</td><td>1</td>");
    expect(html).toMatch(/<p class="warning">stage 3 left out more than 10.0% of the samples every epoch.*sampling.smallGroups/);

    // Before summary.json, the MCL stages come from the plan accounting recorded with each clustering.
    const running = await readReportData(await syntheticRun({ finished: false, losses: false, smallGroups: "drop" }));
    expect(running.sampling.map((t) => [t.track, t.sampling.leftOut])).toEqual([
      ["stage 2", 0],
      ["stage 3", 8],
    ]);
  });

  test("writeReport writes report.html and the accuracy SVG into the run directory", async () => {
    const dir = await syntheticRun({ finished: true, losses: true });
    const written = await writeReport(dir);
    expect(written).toEqual({ html: join(dir, REPORT_FILE), accuracySvg: join(dir, ACCURACY_SVG_FILE) });
    const svg = await readFile(written.accuracySvg, "utf8");
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(await readFile(written.html, "utf8")).toContain("Per-attribute accuracy across stages");
  });
});
