import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { LOSS_FILE, readLossHistory, withEpochLoss } from "../../../ts/report/loss-history.js";
import { readReportData, sizeHistogram } from "../../../ts/report/report-data.js";
import { ACCURACY_SVG_FILE, REPORT_FILE, renderReport, writeReport } from "../../../ts/report/report.js";
import { syntheticRun } from "./synthetic-run.js";

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
  test("the HTML is one self-contained page with the probe table and every chart", async () => {
    const { html, charts } = await renderReport(await syntheticRun({ finished: true, losses: true }));
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
    expect(html.match(/<svg[\s>]/g)).toHaveLength(3);
    expect(charts.mmvp).toBeNull();
    for (const svg of [charts.accuracy, charts.groupSizes, charts.loss]) {
      expect(svg.startsWith("<svg")).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    }
    expect(html).toContain("<td>baseline (4 epochs)</td><td>40.0%</td><td>99.0%</td><td>55.0%</td>");
    expect(html).toContain("<td>integrated</td><td>50.0%</td>");
    // The kNN table beside the probe's: stage 1 is shift 0.05 along (synthetic-run.ts).
    expect(html).toContain("kNN accuracy per attribute (k = 20)");
    expect(html).toContain("<td>stage 1</td><td>25.0%</td><td>90.0%</td><td>30.0%</td>");
  });

  test("an unfinished run without losses.json: stage probes so far, and the loss chart says there is no history", async () => {
    const dir = await syntheticRun({ finished: false, losses: false });
    const { html, charts, specs } = await renderReport(dir);
    expect(html).toContain("has not finished");
    expect(charts.loss).toContain("no loss history");
    // Stage 1 only, in both grids (its probe cache holds kNN too); no headline before the summary.
    const grids = (specs.accuracy as { vconcat: { data: { values: { kind: string; representation: string }[] } }[] }).vconcat;
    expect(grids).toHaveLength(2);
    for (const grid of grids) expect(new Set(grid.data.values.map((v) => `${v.kind} ${v.representation}`))).toEqual(new Set(["stage stage 1"]));
    expect(html).not.toContain('class="headline"');
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
