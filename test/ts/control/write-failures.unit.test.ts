// A run file that cannot be written fails with a package code naming the file, never Node's bare
// "ENOSPC: no space left on device, write": DISK_FULL when the disk is full, WRITE_FAILED for any
// other system error, and no temporary or lock file left behind. The full-disk cases run on a
// tiny tmpfs and are skipped (saying why) where this process cannot mount one.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { writeFailure, writeFileAtomic } from "../../../ts/control/atomic-file.js";
import { RunStoreError } from "../../../ts/control/errors.js";
import { LOCK_FILE, RunLock } from "../../../ts/sdk/run-lock.js";

const root = mkdtempSync(join(tmpdir(), "mcl-write-failures-"));
const mounts: string[] = [];

/** A tmpfs of 64 KiB with every block taken by a filler file, or why there cannot be one. */
function fullDisk(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "pipe" });
  mounts.push(dir);
  const free = statfsSync(dir);
  writeFileSync(join(dir, "filler"), Buffer.alloc(Number(free.bavail) * Number(free.bsize)));
  return dir;
}

const unavailable = ((): string | null => {
  if (process.platform !== "linux") return "a tmpfs needs Linux";
  try {
    fullDisk("probe");
    return null;
  } catch (error) {
    return `cannot mount a tmpfs here (${((error as { stderr?: Buffer }).stderr?.toString() ?? String(error)).trim()})`;
  }
})();
if (unavailable !== null) console.warn(`write failures on a full disk skipped: ${unavailable}`);

afterAll(() => {
  for (const dir of mounts.reverse()) execFileSync("umount", ["-l", dir], { stdio: "pipe" });
  rmSync(root, { recursive: true, force: true });
});

function systemError(code: string, errno: number, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} failed`), { code, errno, syscall });
}

describe("writeFailure", () => {
  test("a full disk or quota is DISK_FULL, any other system error WRITE_FAILED, each naming the file", () => {
    for (const [code, errno] of [["ENOSPC", -28], ["EDQUOT", -122]] as const) {
      const error = writeFailure("/runs/a/manifest.json", systemError(code, errno, "write"));
      expect(error).toBeInstanceOf(RunStoreError);
      expect(error).toMatchObject({ code: "DISK_FULL", message: expect.stringMatching(/^\/runs\/a\/manifest\.json: cannot be written, its disk is full/) as unknown });
    }
    expect(writeFailure("/runs/a/manifest.json", systemError("EROFS", -30, "open"))).toMatchObject({
      code: "WRITE_FAILED",
      message: "/runs/a/manifest.json: cannot be written (EROFS: open failed)",
    });
  });

  test("an error that is not the system's is kept as it is", () => {
    const error = new TypeError("bad data");
    expect(writeFailure("/runs/a/manifest.json", error)).toBe(error);
  });
});

describe.skipIf(unavailable !== null)("on a full disk", () => {
  test("writeFileAtomic: DISK_FULL naming the file; no temporary file, the old file kept", async () => {
    const disk = fullDisk("atomic");
    const path = join(disk, "stage-1", "assignments.i32");
    await expect(writeFileAtomic(path, new Uint8Array(1 << 16))).rejects.toMatchObject({
      code: "DISK_FULL",
      message: expect.stringContaining(`${path}: cannot be written, its disk is full (ENOSPC`) as unknown,
    });
    expect(readdirSync(join(disk, "stage-1"))).toEqual([]);
  });

  test("RunLock.acquire: DISK_FULL naming run.lock; neither the lock nor the directories it made are left", async () => {
    const disk = fullDisk("lock");
    const dir = join(disk, "runs", "run");
    await expect(RunLock.acquire(dir, "start")).rejects.toMatchObject({
      code: "DISK_FULL",
      message: expect.stringContaining(`${join(dir, LOCK_FILE)}: cannot be written, its disk is full (ENOSPC`) as unknown,
    });
    expect(existsSync(join(disk, "runs"))).toBe(false);
    // An existing directory stays, without a lock.
    mkdirSync(dir, { recursive: true });
    await expect(RunLock.acquire(dir, "start")).rejects.toMatchObject({ code: "DISK_FULL" });
    expect(readdirSync(dir)).toEqual([]);
  });
});
