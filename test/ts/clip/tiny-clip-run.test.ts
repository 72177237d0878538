// One tiny CLIP run through the SDK on a real worker (CPU): stage 0 (the initial weights, saved as
// they are) and 2 MCL stages complete, and summary.json holds zero-shot accuracy per attribute and
// MMVP scores per category, in [0, 1], for every stage (numbered from 0) and the integrated model. A dataset
// without captions is refused before anything trains.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun } from "../../../ts/index.js";
import { readReportData } from "../../../ts/report/report-data.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { tinyClipConfig } from "./tiny-clip-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-clip-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const runs: MclRun[] = [];

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

function inUnitRange(scores: Record<string, number> | undefined): void {
  expect(scores).toBeDefined();
  const values = Object.values(scores!);
  expect(values.length).toBeGreaterThan(0);
  for (const value of values) {
    expect(value).toBeGreaterThanOrEqual(0);
    expect(value).toBeLessThanOrEqual(1);
  }
}

describe("a CLIP run", () => {
  it("keeps stage 0, trains 2 MCL stages and scores zero-shot and MMVP for each", { timeout: 300_000 }, async () => {
    const run = await Mcl.start(tinyClipConfig(root, "tiny-clip"), quiet);
    runs.push(run);
    const events: MclEvent[] = [];
    for await (const event of run.events()) events.push(event);
    const summary = await run.result();

    // Scheduler stages 1…3 are stage 0 and MCL stages 1, 2; each is clustered but the last.
    const starts = events.filter((e) => e.type === "stage-start");
    expect(starts.map((e) => [e.stage, e.epochs])).toEqual([[1, 0], [2, 1], [3, 1]]);
    expect(events.filter((e) => e.type === "cluster").map((e) => (e as { stage: unknown }).stage)).toEqual([1, 2]);
    expect(summary.stages.map((s) => [s.stage, s.epochs])).toEqual([[0, 0], [1, 1], [2, 1]]);
    expect(summary.integrated.spec.stages).toEqual([0, 1, 2]);
    expect(summary.baseline).toBeUndefined();

    const categories = Object.keys(summary.stages[0]!.mmvp ?? {}).sort();
    expect(categories).toEqual(["color", "shape", "texture"]); // what the trifeature captions name
    for (const result of [...summary.stages, summary.integrated]) {
      inUnitRange(result.zeroShot);
      inUnitRange(result.mmvp);
      expect(Object.keys(result.mmvp!).sort()).toEqual(categories);
      expect(Object.keys(result.zeroShot!).sort()).toEqual([...summary.attributes].sort());
      inUnitRange(result.probe);
    }
    expect(existsSync(join(run.dir, "report.html"))).toBe(true);
    // The report counts as the scheduler does: stage 0 too (its loss chart offsets come from these epochs).
    const { facts } = await readReportData(run.dir);
    expect([facts.stages, facts.epochs, facts.clusters]).toEqual([3, [0, 1, 1], [2, 2]]);
  });

  it("refuses a dataset without captions before training", { timeout: 60_000 }, async () => {
    const npz = join(root, "no-captions.npz");
    const python = join(projectRoot(), ".venv", "bin", "python");
    execFileSync(python, ["-c", `import numpy as np; np.savez(${JSON.stringify(npz)}, images=np.zeros((8, 32, 32, 3), np.uint8), attr_color=np.arange(8) % 2)`]);
    const run = await Mcl.start(tinyClipConfig(root, "no-captions", { dataset: `npz:${npz}` }), quiet);
    runs.push(run);
    await expect(run.result()).rejects.toMatchObject({ code: "DATASET_MISMATCH", message: expect.stringContaining("dataset: npz:") });
    await expect(run.result()).rejects.toThrow(/has no captions, which a CLIP run \(encoder clip-tiny\) needs/);
    expect(existsSync(run.dir)).toBe(false);
  });
});
