// A full disk: runs on a small tmpfs. A write that does not fit fails with ENOSPC naming the file
// (the worker's checkpoint, the SDK's manifest), what was committed before stays intact, and once
// there is room again (the tmpfs remounted larger, or the run copied elsewhere) the run resumes
// and ends whole. Needs mount(8) and the right to use it; without it the group is skipped, saying why.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Mcl, type MclRun, type Summary } from "../../ts/index.js";
import { LOCK_FILE } from "../../ts/sdk/run-lock.js";
import { type SharedWorker, shareWorker } from "./support/shared-worker.js";
import { faultConfig } from "./support/tiny.js";
import { expectWholeRun, temporaryFiles } from "./support/whole-run.js";

const root = mkdtempSync(join(tmpdir(), "mcl-faults-disk-"));
const mounts: string[] = [];
const runs: MclRun[] = [];
let worker: SharedWorker;
let reference: Summary;

/** Mounts a tmpfs of `size` (e.g. "1m") at a new folder; the reason it cannot, or the folder. */
function tmpfs(name: string, size: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
  mounts.push(dir);
  return dir;
}

function remount(dir: string, size: string): void {
  execFileSync("mount", ["-o", `remount,size=${size}`, dir], { stdio: "pipe" });
}

const unavailable = ((): string | null => {
  try {
    execFileSync("umount", [tmpfs("probe", "64k")], { stdio: "pipe" });
    mounts.pop();
    return null;
  } catch (error) {
    return `cannot mount a tmpfs here (${((error as { stderr?: Buffer }).stderr?.toString() ?? String(error)).trim()})`;
  }
})();
if (unavailable !== null) console.warn(`disk: every case skipped: ${unavailable}`);

beforeAll(async () => {
  if (unavailable !== null) return;
  worker = await shareWorker();
  const run = await Mcl.start(faultConfig(root, "reference"), worker.options);
  runs.push(run);
  reference = await run.result();
}, 600_000);

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  await worker?.close();
  for (const dir of mounts.reverse()) execFileSync("umount", ["-l", dir], { stdio: "pipe" });
  rmSync(root, { recursive: true, force: true });
});

async function outcome(run: MclRun): Promise<{ code?: string; message?: string } | undefined> {
  runs.push(run);
  for await (const _ of run.events());
  const error = await run.result().then(
    () => undefined,
    (e: unknown) => e as { code?: string; message?: string },
  );
  await run.stop();
  return error;
}

function manifestState(dir: string): { phase: string; stage: number; epoch: number } {
  return (JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { state: { phase: string; stage: number; epoch: number } }).state;
}

describe.skipIf(unavailable !== null)("a full disk", () => {
  test("disk: 1 MiB: the first checkpoint does not fit: ENOSPC naming it; remounted larger, the run resumes and ends whole", { timeout: 300_000 }, async () => {
    const disk = tmpfs("one-mib", "1m");
    const dir = join(disk, "run");
    const error = await outcome(await Mcl.start(faultConfig(disk, "run"), worker.options));
    expect(error?.message).toMatch(/No space left on device|ENOSPC/);
    // Soft: the recovery below is checked whether or not the message names the file.
    expect.soft(error?.message, `code ${error?.code}`).toContain("checkpoints/stage-1-epoch-1.safetensors");
    // Nothing was committed: either no run is left (a new run that committed nothing is removed)
    // or its manifest is still at the start of stage 1.
    const committed = existsSync(join(dir, "manifest.json"));
    if (committed) expect(manifestState(dir)).toMatchObject({ phase: "train", stage: 1, epoch: 0 });
    if (existsSync(dir)) expect(temporaryFiles(dir)).toEqual([]);
    remount(disk, "64m");
    const again = committed ? Mcl.resume(dir, worker.options) : Mcl.start(faultConfig(disk, "run"), worker.options);
    expect(await outcome(await again)).toBeUndefined();
    await expectWholeRun(dir, reference);
  });

  test("disk: fills in stage 2: ENOSPC naming the checkpoint; stage 1 intact; remounted larger, the run resumes and ends whole", { timeout: 300_000 }, async () => {
    // Two checkpoints fit (5.6 MiB each), not a third: the write of stage 2's second epoch fails.
    const disk = tmpfs("fills", "14m");
    const dir = join(disk, "run");
    const error = await outcome(await Mcl.start(faultConfig(disk, "run"), worker.options));
    expect(error?.message).toMatch(/No space left on device|ENOSPC/);
    expect.soft(error?.message, `code ${error?.code}`).toContain("checkpoints/stage-2-epoch-2.safetensors");
    expect(manifestState(dir)).toMatchObject({ phase: "train", stage: 2, epoch: 1 });
    remount(disk, "64m");
    expect(await outcome(await Mcl.resume(dir, worker.options))).toBeUndefined();
    await expectWholeRun(dir, reference);
  });

  test("disk: copied off the full disk, the run resumes elsewhere and ends whole", { timeout: 300_000 }, async () => {
    const disk = tmpfs("copied", "14m");
    const error = await outcome(await Mcl.start(faultConfig(disk, "run"), worker.options));
    expect(error?.message).toMatch(/No space left on device|ENOSPC/);
    const elsewhere = join(root, "copied-run");
    cpSync(join(disk, "run"), elsewhere, { recursive: true });
    expect(await outcome(await Mcl.resume(elsewhere, worker.options))).toBeUndefined();
    await expectWholeRun(elsewhere, reference);
  });

  test("disk: no room at all: the start fails naming the file it could not write, and leaves no run behind", { timeout: 240_000 }, async () => {
    const disk = tmpfs("no-room", "1m");
    // Fill every block: the run's first file (its lock, then its manifest) cannot be written.
    const free = statfsSync(disk);
    writeFileSync(join(disk, "filler"), Buffer.alloc(Number(free.bavail) * Number(free.bsize)));
    const error = await Mcl.start(faultConfig(disk, "run"), worker.options).then(outcome, (e: unknown) => e as { code?: string; message?: string });
    expect(error?.message).toMatch(/No space left on device|ENOSPC/);
    expect.soft(error?.message, `code ${error?.code}`).toMatch(/run\.lock|manifest\.json/);
    expect(existsSync(join(disk, "run", "manifest.json"))).toBe(false);
    expect(existsSync(join(disk, "run", LOCK_FILE)), `a ${LOCK_FILE} left behind would refuse the next start`).toBe(false);
    expect(existsSync(join(disk, "run")) ? temporaryFiles(join(disk, "run")) : []).toEqual([]);
  });
});
