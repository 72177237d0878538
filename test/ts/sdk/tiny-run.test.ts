// A tiny run through the SDK on a real worker (CPU) it connects to, as to a worker on a GPU box:
// 2 stages and the baseline complete, every event arrives in order, summary.json holds
// accuracies in [0, 1], and the integrated representation of another dataset comes back with the
// right shape; the run leaves its report (report.html, the accuracy SVG, losses.json with the loss
// of every epoch event) behind, and the worker, which keeps serving, holds nothing of it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerJobs } from "../../../ts/client/index.js";
import { ACCURACY_SVG_FILE, Mcl, type MclEvent, type MclRun, readLossHistory, REPORT_FILE } from "../../../ts/index.js";
import { launchWorker, type WorkerHandle } from "../../../ts/transport/index.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-"));
let worker: WorkerHandle;
let run: MclRun | undefined;

beforeAll(async () => {
  worker = await launchWorker({ onOutput: () => {} });
});

afterAll(async () => {
  await run?.stop();
  await worker?.close();
  rmSync(root, { recursive: true, force: true });
});

/** Options that attach the run to the worker above instead of launching one. */
function connected() {
  return { worker: { endpoint: worker.client.endpoint, connect: { keyFile: worker.keyFile } } };
}

describe("Mcl.start", () => {
  it("runs 2 stages and the baseline, reporting events and writing summary.json", { timeout: 180_000 }, async () => {
    run = await Mcl.start(tinyConfig(root, "tiny"), connected());
    const events: MclEvent[] = [];
    for await (const event of run.events()) events.push(event);
    const summary = await run.result();

    const types = events.map((e) => e.type);
    expect(types[0]).toBe("run-start");
    expect(types.at(-1)).toBe("done");
    expect(events.filter((e) => e.type === "stage-start").map((e) => (e as { stage: unknown }).stage)).toEqual([1, 2, "baseline"]);
    expect(events.filter((e) => e.type === "epoch")).toHaveLength(1 + 1 + 2);
    expect(events.some((e) => e.type === "train-progress")).toBe(true);
    const cluster = events.find((e) => e.type === "cluster");
    expect(cluster).toMatchObject({ stage: 1, k: 4 });
    const probed = events.filter((e) => e.type === "probe").map((e) => (e as { stage: unknown }).stage);
    expect(probed).toEqual([1, 2, "integrated", "baseline"]);

    const onDisk = JSON.parse(readFileSync(join(run.dir, "summary.json"), "utf8")) as typeof summary;
    expect(onDisk).toEqual(summary);
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(summary.attributes.sort()).toEqual(["background", "color", "shape", "texture"]);
    for (const probe of [...summary.stages.map((s) => s.probe), summary.integrated.probe, summary.baseline!.probe]) {
      expect(Object.keys(probe).sort()).toEqual(["background", "color", "shape", "texture"]);
      for (const accuracy of Object.values(probe)) {
        expect(accuracy).toBeGreaterThanOrEqual(0);
        expect(accuracy).toBeLessThanOrEqual(1);
      }
    }
    expect(summary.baseline!.epochs).toBe(2);
    // summary.json and every epoch event say how many of the 256 samples each track left out.
    for (const track of [...summary.stages, summary.baseline!]) expect(track.sampling!.planned + track.sampling!.leftOut).toBe(256);
    const leftOut = events.flatMap((e) => (e.type === "epoch" ? [[e.stage, e.leftOut]] : []));
    const recorded = (stage: number | "baseline") => (stage === "baseline" ? summary.baseline! : summary.stages[stage - 1]!).sampling!.leftOut;
    expect(leftOut).toEqual(leftOut.map(([stage]) => [stage, recorded(stage as number | "baseline")]));
    expect(summary.seconds).toBeGreaterThan(0);

    // A late consumer still sees the whole session.
    const replay: MclEvent[] = [];
    for await (const event of run.events()) replay.push(event);
    expect(replay).toEqual(events);
  });

  it("leaves report.html, the accuracy SVG and the loss history of every epoch", async () => {
    const events: MclEvent[] = [];
    for await (const event of run!.events()) events.push(event);
    const epochs = events.filter((e): e is Extract<MclEvent, { type: "epoch" }> => e.type === "epoch");
    const history = await readLossHistory(run!.dir);
    const recorded = epochs.map((e) => history?.tracks[e.stage === "baseline" ? "baseline" : `stage-${e.stage}`]?.[e.epoch]);
    expect(recorded).toEqual(epochs.map((e) => e.loss));
    expect(Object.values(history!.tracks).map((losses) => losses.length)).toEqual([1, 1, 2]);

    const html = readFileSync(join(run!.dir, REPORT_FILE), "utf8");
    expect(html).toContain("Per-attribute accuracy across stages");
    expect(html).not.toContain("no loss history");
    expect(readFileSync(join(run!.dir, ACCURACY_SVG_FILE), "utf8")).toMatch(/^<svg /);
    expect((await run!.report()).html).toBe(html);
  });

  it("embeds another dataset with the integrated representation", async () => {
    const z = await run!.embed("synthetic:trifeature?n=10&size=16&seed=9");
    expect(z.rows).toBe(10);
    expect(z.dim).toBe(2 * 256); // two small-cnn stages of 256 features
    expect(z.data).toHaveLength(10 * z.dim);
    for (let row = 0; row < z.rows; row++) {
      let norm = 0;
      for (let d = 0; d < z.dim; d++) norm += z.data[row * z.dim + d]! ** 2;
      expect(Math.sqrt(norm)).toBeCloseTo(1, 4); // concat-then-l2
    }
  });

  it("resuming a finished run reports its summary without training again", { timeout: 120_000 }, async () => {
    const dir = run!.dir;
    await run!.stop();
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as unknown;
    run = await Mcl.resume(dir, connected());
    const events: MclEvent[] = [];
    for await (const event of run.events()) events.push(event);
    expect(events.map((e) => e.type)).toEqual(["run-start", "done"]);
    expect(await run.result()).toEqual(summary);
  });

  it("leaves nothing on the worker it connected to once stopped", async () => {
    await run!.stop();
    expect(await new WorkerJobs(worker.client).handles()).toEqual([]);
  });
});
