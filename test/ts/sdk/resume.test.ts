// Killing the worker mid-stage stops the run with WORKER_LOST; Mcl.resume finishes it with the
// completed stage's files untouched. stop() leaves a resumable run too.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun } from "../../../ts/index.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-resume-"));
const quiet = { worker: { launch: { onOutput: () => {}, maxRestarts: 0 } } };
const runs: MclRun[] = [];

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

function digest(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

async function drain(run: MclRun): Promise<MclEvent[]> {
  const events: MclEvent[] = [];
  for await (const event of run.events()) events.push(event);
  return events;
}

describe("a run whose worker dies mid-stage", () => {
  it("fails with WORKER_LOST and resumes to the end with stage 1 untouched", { timeout: 300_000 }, async () => {
    const run = await Mcl.start(tinyConfig(root, "killed", { epochsPerStage: [1, 2], baseline: false }), quiet);
    runs.push(run);
    const events: MclEvent[] = [];
    let stage1: Record<string, string> = {};
    for await (const event of run.events()) {
      events.push(event);
      if (event.type === "train-progress" && event.stage === 2 && event.epoch === 1) {
        // Stage 1 is committed (trained, clustered, planned); stage 2 has one epoch done.
        const manifest = JSON.parse(readFileSync(join(run.dir, "manifest.json"), "utf8")) as {
          state: { checkpoints: string[] };
        };
        const files = ["stage-1/assignments.i32", "stage-1/labels.i32", "probes/stage-1.json", manifest.state.checkpoints[0]!];
        stage1 = Object.fromEntries(files.map((file) => [file, digest(join(run.dir, file))]));
        process.kill(run.workerPid!, "SIGKILL");
      }
    }
    const error = await run.result().then(
      () => undefined,
      (e: unknown) => e as { code: string },
    );
    expect(error?.code).toBe("WORKER_LOST");
    expect(events.at(-1)).toMatchObject({ type: "error", error: { code: "WORKER_LOST" } });
    expect(Object.keys(stage1)).toHaveLength(4);

    const resumed = await Mcl.resume(run.dir, quiet);
    runs.push(resumed);
    const after = await drain(resumed);
    const summary = await resumed.result();
    expect(after[0]).toMatchObject({ type: "run-start", resumed: true });
    // Only stage 2's second epoch is trained again; stage 1 is not retrained.
    expect(after.filter((e) => e.type === "epoch").map((e) => [(e as { stage: number }).stage, (e as { epoch: number }).epoch])).toEqual([[2, 1]]);
    expect(after.find((e) => e.type === "stage-start")).toMatchObject({ stage: 2, fromEpoch: 1 });
    for (const [file, hash] of Object.entries(stage1)) expect(digest(join(run.dir, file)), file).toBe(hash);
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(summary.resumed).toBe(true);
  });
});

describe("stop()", () => {
  it("stops at a committed point; resume continues from there", { timeout: 300_000 }, async () => {
    const run = await Mcl.start(tinyConfig(root, "stopped", { baseline: false }), quiet);
    runs.push(run);
    const events: MclEvent[] = [];
    for await (const event of run.events()) {
      events.push(event);
      if (event.type === "cluster") void run.stop();
    }
    expect(events.at(-1)).toMatchObject({ type: "stopped" });
    await expect(run.result()).rejects.toMatchObject({ code: "STOPPED" });
    expect(run.workerPid).toBeUndefined();

    const resumed = await Mcl.resume(run.dir, quiet);
    runs.push(resumed);
    const after = await drain(resumed);
    expect(after.filter((e) => e.type === "epoch").every((e) => (e as { stage: number }).stage === 2)).toBe(true);
    expect((await resumed.result()).stages).toHaveLength(2);
  });
});
