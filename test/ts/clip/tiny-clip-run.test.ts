// One tiny CLIP run through the SDK on a real worker (CPU): stage 0 (the initial weights, saved as
// they are) and 2 MCL stages complete, and summary.json holds zero-shot accuracy per attribute and
// MMVP scores per category, in [0, 1], for every stage and the integrated model. Its events, run
// files, experiment logs, summary, report data and CLI progress lines all number the stages from 0.
// A dataset without captions is refused before anything trains.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun } from "../../../ts/index.js";
import { ProgressPrinter } from "../../../ts/cli/progress.js";
import { readReportData } from "../../../ts/report/report-data.js";
import { RunStore } from "../../../ts/run/run-store.js";
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

    // Stage 0 and MCL stages 1, 2; each is clustered but the last.
    const stagesOf = (type: MclEvent["type"]) => events.flatMap((e) => (e.type === type && "stage" in e ? [e.stage] : []));
    const starts = events.filter((e) => e.type === "stage-start");
    expect(starts.map((e) => [e.stage, e.epochs])).toEqual([[0, 0], [1, 1], [2, 1]]);
    expect(stagesOf("epoch")).toEqual([1, 2]);
    expect(stagesOf("stage-end")).toEqual([0, 1, 2]);
    expect(stagesOf("cluster")).toEqual([0, 1]);
    expect(stagesOf("probe")).toEqual([0, 1, 2, "integrated"]);
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

    // The run files: clusterings, checkpoints, caches, losses and metrics, and the manifest's records.
    const files = (folder: string) => readdirSync(join(run.dir, folder)).sort();
    expect(readdirSync(run.dir).filter((name) => name.startsWith("stage-")).sort()).toEqual(["stage-0", "stage-1"]);
    expect(files("checkpoints")).toEqual(["stage-0-initial.safetensors", "stage-1-epoch-1.safetensors", "stage-2-epoch-1.safetensors"]);
    expect(files("probes")).toEqual(["clip-stage-0.json", "clip-stage-1.json", "clip-stage-2.json", "stage-0.json", "stage-1.json", "stage-2.json"]);
    const losses = JSON.parse(readFileSync(join(run.dir, "losses.json"), "utf8")) as { tracks: Record<string, unknown> };
    expect(Object.keys(losses.tracks).sort()).toEqual(["stage-1", "stage-2"]);
    const metrics = readFileSync(join(run.dir, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { kind: string; stage: unknown });
    expect([...new Set(metrics.filter((m) => m.kind === "epoch").map((m) => m.stage))]).toEqual([1, 2]);
    expect(metrics.filter((m) => m.kind === "probe").map((m) => m.stage)).toEqual([0, 1, 2, "integrated"]);
    const { manifest } = await RunStore.open(run.dir);
    expect(manifest.stages.map((s) => s.stage)).toEqual([0, 1]);
    expect(Object.values(manifest.checkpointFiles).map((ref) => ref.track).sort()).toEqual([0, 1, 2]);

    // The report: stage 0 first, stage 0's clustering first; the scheduler's facts (its loss chart offsets come from these epochs).
    const data = await readReportData(run.dir);
    expect([data.firstStage, data.stages.map((s) => s.stage), data.groups.map((g) => g.stage)]).toEqual([0, [0, 1, 2], [0, 1]]);
    expect([data.facts.stages, data.facts.epochs, data.facts.clusters]).toEqual([3, [0, 1, 1], [2, 2]]);

    // The CLI's progress lines.
    let printed = "";
    const printer = new ProgressPrinter({ write: (text) => ((printed += text), true), isTTY: false });
    for (const event of events) printer.show(event);
    expect(printed).toMatch(/^stage 0: 0 epochs$/m);
    expect(printed).toMatch(/^stage 0: k-means k=2 -> \d+ groups .*, stage 1 leaves out \d+ samples per epoch$/m);
    expect(printed).toMatch(/^stage 1 epoch 1\/1: loss /m);
    expect(printed).toMatch(/^linear probe, stage 0: color /m);
    expect(printed).not.toMatch(/stage 3/);
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
