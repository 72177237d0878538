// Step-by-step control on a real worker (CPU): a run paused after stage 1's clustering ends its
// session resumably, its clusters read back from the run directory, Mcl.resume finishes it, and
// the finished run embeds raw uint8 images.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, MclError, type MclEvent, type MclRun, readClusters, tensor } from "../../../ts/index.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-steps-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const config = tinyConfig(root, "steps", { baseline: false, probe: { knn: 0 } });
let run: MclRun | undefined;

afterAll(async () => {
  await run?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function collect(events: AsyncIterable<MclEvent>): Promise<MclEvent[]> {
  const out: MclEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof MclError ? error.code : String(error)),
  );
}

describe("pauseAfterStage, readClusters, resume", () => {
  it("refuses a stage with no clustering after it before creating anything", async () => {
    await expect(Mcl.start(config, { pauseAfterStage: 2 })).rejects.toThrow(/^pauseAfterStage: expected an integer from 1 to 1 \(stages with a clustering after them\), got 2$/);
    await expect(Mcl.start(config, { pauseAfterStage: 0.5 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(readClusters(join(root, "steps"))).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  it("pauses after stage 1's clustering, with its clusters on disk", { timeout: 300_000 }, async () => {
    run = await Mcl.start(config, { ...quiet, pauseAfterStage: 1 });
    const events = await collect(run.events());
    expect(events.at(-1)).toEqual({ type: "paused", runDir: run.dir, stage: 1 });
    expect(events.filter((e) => e.type === "stage-start").map((e) => (e as { stage: unknown }).stage)).toEqual([1]);
    expect(events.some((e) => e.type === "cluster" && e.stage === 1 && e.k === 4)).toBe(true);
    expect(await codeOf(run.result())).toBe("PAUSED");
    await expect(run.embed("synthetic:trifeature?n=4&size=16&seed=2")).rejects.toMatchObject({ code: "INVALID_STATE" });
    expect(run.workerPid).toBeUndefined();

    const clusters = await readClusters(run.dir);
    expect(clusters).toHaveLength(1);
    const [stage1] = clusters;
    expect(stage1).toMatchObject({ stage: 1, k: 4 });
    expect(stage1!.assignments).toHaveLength(256);
    expect(stage1!.clusterSizes.reduce((a, b) => a + b, 0)).toBe(256);
    for (let c = 0; c < 4; c++) expect(stage1!.clusterSizes[c]).toBe(stage1!.assignments.filter((a) => a === c).length);
    // After one clustering the composite groups are its non-empty clusters.
    const nonEmpty = [...stage1!.clusterSizes].filter((size) => size > 0).sort((a, b) => a - b);
    expect([...stage1!.composite!.sizes].sort((a, b) => a - b)).toEqual(nonEmpty);
    expect(stage1!.composite!.stats.numGroups).toBe(nonEmpty.length);

    await expect(Mcl.resume(run.dir, { pauseAfterStage: 1 })).rejects.toThrow(/already past stage 1's clustering/);
  });

  it("resumes to the end from the pause and measures every stage", { timeout: 300_000 }, async () => {
    run = await Mcl.resume(run!.dir, quiet);
    const events = await collect(run.events());
    expect(events.filter((e) => e.type === "stage-start").map((e) => (e as { stage: unknown }).stage)).toEqual([2]);
    const summary = await run.result();
    expect(summary.resumed).toBe(true);
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
  });

  it("embeds raw uint8 images [N, C, H, W] with the integrated representation", async () => {
    const pixels = new Uint8Array(3 * 3 * 16 * 16);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + (i >> 8) * 11) % 256;
    const z = await run!.embed(tensor("uint8", [3, 3, 16, 16], pixels));
    expect([z.rows, z.dim]).toEqual([3, 2 * 256]);
    for (let row = 0; row < 3; row++) {
      const norm = Math.hypot(...z.data.subarray(row * z.dim, (row + 1) * z.dim));
      expect(norm).toBeCloseTo(1, 4); // concat-then-l2
    }
    // The same images give the same rows; the first image alone gives the first row.
    const again = await run!.embed(tensor("uint8", [1, 3, 16, 16], pixels.slice(0, 3 * 16 * 16)));
    for (let d = 0; d < z.dim; d++) expect(again.data[d]).toBeCloseTo(z.data[d]!, 5);
    // Other sizes are resized to the run's; bad images are refused before anything is sent.
    expect((await run!.embed(tensor("uint8", [2, 3, 24, 24], new Uint8Array(2 * 3 * 24 * 24)))).rows).toBe(2);
    await expect(run!.embed(tensor("uint8", [1, 16, 16, 3], new Uint8Array(768)))).rejects.toThrow(/images\.shape\[1\].*channels-last/);
  });
});
