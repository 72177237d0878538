// One writer per run, on a real worker (CPU): a stale lock (its pid gone) is taken over with a
// warning and stop() releases the lock; a failed start leaves nothing behind, lock included. Two
// starts or two resumes of one directory at once, readers under the lock and another host's lock
// are checked on the shared paused-and-resumed run (paused-run.test.ts).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclRun } from "../../../ts/index.js";
import { LOCK_FILE, type LockHolder, STALE_LOCK_WARNING } from "../../../ts/sdk/run-lock.js";
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
