// One writer per run, on a real worker (CPU): of two starts, or two resumes, of one directory at
// once exactly one proceeds and the other is refused with RUN_LOCKED naming the holder; readers
// (readClusters, renderReport, mcl report) work while a run holds the lock; the lock goes when the
// run finishes, stops, pauses or fails, and a failed start leaves nothing behind.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { reportCommand } from "../../../ts/cli/report-command.js";
import { Mcl, type MclEvent, type MclRun, readClusters, renderReport } from "../../../ts/index.js";
import { LOCK_FILE, type LockHolder, STALE_LOCK_WARNING } from "../../../ts/sdk/run-lock.js";
import { readSummary } from "../../../ts/run/summary.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-one-writer-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const runs: MclRun[] = [];

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

function lockOf(dir: string): LockHolder | null {
  const path = join(dir, LOCK_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as LockHolder) : null;
}

/** Of concurrent calls, the one run made; the others' errors. */
async function oneOf(calls: Promise<MclRun>[]): Promise<{ run: MclRun; refused: unknown[] }> {
  const outcomes = await Promise.allSettled(calls);
  const made = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
  runs.push(...made);
  expect(made).toHaveLength(1);
  return { run: made[0]!, refused: outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : [])) };
}

/** A lock of a run on another host (its pid cannot be checked from here). */
const foreignLock = (): string =>
  `${JSON.stringify({ pid: 1, host: "elsewhere.example", since: "2026-01-01T00:00:00.000Z", purpose: "resume", token: "feedface" })}\n`;

const holderText = (purpose: string) => `is in use by another run: pid ${process.pid} on host ${hostname()} (a ${purpose}, since `;

describe("two writers of one run directory", () => {
  const config = tinyConfig(root, "shared", { dataset: "synthetic:trifeature?n=128&size=16&seed=1", baseline: false, probe: { knn: 0 } });
  const dir = join(root, "shared");

  it("two starts at once: one runs (readers work meanwhile), the other is RUN_LOCKED; the lock goes when it pauses", { timeout: 300_000 }, async () => {
    const { run, refused } = await oneOf([Mcl.start(config, { ...quiet, pauseAfterStage: 1 }), Mcl.start(config, { ...quiet, pauseAfterStage: 1 })]);
    expect(refused).toEqual([expect.objectContaining({ code: "RUN_LOCKED", message: expect.stringContaining(`${dir} ${holderText("start")}`) })]);
    expect(lockOf(dir)).toMatchObject({ pid: process.pid, host: hostname(), purpose: "start" });

    const events: MclEvent[] = [];
    for await (const event of run.events()) {
      events.push(event);
      if (event.type !== "cluster") continue;
      // Stage 1's clustering is committed and the run still holds the directory.
      expect(lockOf(dir)).toMatchObject({ pid: process.pid });
      expect((await readClusters(dir)).map((stage) => stage.stage)).toEqual([1]);
      expect((await renderReport(dir)).html).toContain("<html");
      const log = vi.spyOn(console, "log").mockImplementation(() => {});
      try {
        expect(await reportCommand.run([dir])).toBe(0);
        expect(log.mock.calls.flat().join("\n")).toContain(`${dir} has not finished`);
      } finally {
        log.mockRestore();
      }
    }
    expect(events.filter((e) => e.type === "run-start")).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "paused" });
    await expect(run.result()).rejects.toMatchObject({ code: "PAUSED" });
    expect(lockOf(dir)).toBeNull();
  });

  it("two resumes at once: one finishes the run alone, the other is RUN_LOCKED; the lock goes when it finishes", { timeout: 300_000 }, async () => {
    const { run, refused } = await oneOf([Mcl.resume(dir, quiet), Mcl.resume(dir, quiet)]);
    expect(refused).toEqual([expect.objectContaining({ code: "RUN_LOCKED", message: expect.stringContaining(`${dir} ${holderText("resume")}`) })]);
    const events: MclEvent[] = [];
    for await (const event of run.events()) events.push(event);
    const summary = await run.result();
    expect(lockOf(dir)).toBeNull();
    // Nothing mixed: one session's stage 2, its summary on disk.
    expect(events.filter((e) => e.type === "run-start")).toEqual([expect.objectContaining({ resumed: true })]);
    expect(events.filter((e) => e.type === "epoch").map((e) => (e as { stage: number }).stage)).toEqual([2]);
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(await readSummary(dir)).toEqual(summary);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { state: { phase: string } };
    expect(manifest.state.phase).toBe("done");

    // Re-measuring the finished run writes summary.json again: under the lock, taken for that while.
    writeFileSync(join(dir, LOCK_FILE), foreignLock());
    await expect(run.evaluate()).rejects.toMatchObject({ code: "RUN_LOCKED" });
    rmSync(join(dir, LOCK_FILE));
    expect((await run.evaluate()).stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(lockOf(dir)).toBeNull();

    // A start of a name that holds a run is still RUN_EXISTS, and leaves no lock.
    await expect(Mcl.start(config, quiet)).rejects.toMatchObject({ code: "RUN_EXISTS" });
    expect(lockOf(dir)).toBeNull();
  });

  it("another host's lock is never broken: the resume is refused and the lock kept", async () => {
    const text = foreignLock();
    writeFileSync(join(dir, LOCK_FILE), text);
    try {
      await expect(Mcl.resume(dir, quiet)).rejects.toMatchObject({
        code: "RUN_LOCKED",
        message: expect.stringContaining(`pid 1 on host elsewhere.example (a resume, since 2026-01-01T00:00:00.000Z)`),
      });
      expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(text);
    } finally {
      rmSync(join(dir, LOCK_FILE));
    }
  });
});

describe("the lock's end", () => {
  it("a stale lock (its pid gone) is taken over with a warning; stop() releases it", { timeout: 300_000 }, async () => {
    const dir = join(root, "stale");
    mkdirSync(dir);
    const stale = { pid: 2 ** 22 + 1, host: hostname(), since: "2026-01-01T00:00:00.000Z", purpose: "resume", token: "feedface" };
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(stale));
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on("warning", onWarning);
    let run: MclRun;
    try {
      run = await Mcl.start(tinyConfig(root, "stale"), quiet);
      runs.push(run);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).toEqual([expect.objectContaining({ code: STALE_LOCK_WARNING, message: expect.stringContaining(`the lock of pid ${stale.pid}`) })]);
    expect(lockOf(dir)).toMatchObject({ pid: process.pid, purpose: "start" });
    for await (const event of run.events()) if (event.type === "run-start") void run.stop();
    await expect(run.result()).rejects.toMatchObject({ code: "STOPPED" });
    expect(lockOf(dir)).toBeNull();
    expect(existsSync(join(dir, "manifest.json"))).toBe(true);
  });

  it("a start that fails its dataset checks leaves nothing behind, lock included; a resume of no run makes nothing", { timeout: 120_000 }, async () => {
    const run = await Mcl.start(tinyConfig(root, "nope", { probe: { attributes: ["nope"] } }), quiet);
    runs.push(run);
    await expect(run.result()).rejects.toMatchObject({ code: "UNKNOWN_ATTRIBUTE" });
    expect(existsSync(run.dir)).toBe(false);

    await expect(Mcl.resume(join(root, "missing", "run"), quiet)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    expect(existsSync(join(root, "missing"))).toBe(false);
  });
});
