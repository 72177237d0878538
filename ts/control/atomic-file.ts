/**
 * Crash-safe file writes: the data goes to a temporary file beside the target, is flushed to
 * disk, and replaces the target with one rename, then the directory entry is flushed. A crash at
 * any moment leaves either the old file or the new one, never a torn one. A process killed
 * between the write and the rename leaves its temporary file behind: isTemporaryFile tells such
 * files (this module's and the worker's checkpoint writes') from any other.
 */

import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { RunStoreError } from "./errors.js";

/** This module's temporary files: `<name>.tmp-<pid>-<8 hex digits>` (writeFileAtomic). */
const OWN_TEMPORARY = /^.+\.tmp-\d+-[0-9a-f]{8}$/;
/** The worker's checkpoint writes (mcl_worker/checkpoint.py, tempfile.mkstemp): `.<name>.<8 of a-z, 0-9, _>.tmp`. */
const WORKER_TEMPORARY = /^\..+\.[a-z0-9_]{8}\.tmp$/;

/** Whether the file name `name` (no folder) is the temporary file of an atomic write. */
export function isTemporaryFile(name: string): boolean {
  return OWN_TEMPORARY.test(name) || WORKER_TEMPORARY.test(name);
}

/**
 * Writes `data` to `path` atomically, creating the parent directory when needed. A failure is
 * DISK_FULL or WRITE_FAILED naming `path` (writeFailure), and leaves no temporary file.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const directory = dirname(path);
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await mkdir(directory, { recursive: true });
    const file = await open(temporary, "wx");
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw writeFailure(path, error);
  }
  await syncDirectory(directory);
}

/**
 * What a failed write of `path` throws: a system error (Node's names no file for a failed write,
 * and carries no package code) becomes DISK_FULL when the disk or quota is full, else
 * WRITE_FAILED, naming the file and the system's reason; any other error is kept as it is.
 */
export function writeFailure(path: string, error: unknown): unknown {
  if (!(error instanceof Error) || typeof (error as NodeJS.ErrnoException).errno !== "number") return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new RunStoreError(
      "DISK_FULL",
      `${path}: cannot be written, its disk is full (${error.message}); free space there and try again ` +
        "(what the run committed before is intact)",
      { cause: error },
    );
  }
  return new RunStoreError("WRITE_FAILED", `${path}: cannot be written (${error.message})`, { cause: error });
}

/** Flushes a directory's entries (the rename) to disk; a no-op where the OS does not allow it. */
async function syncDirectory(directory: string): Promise<void> {
  let handle;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}

/** Views a typed array's memory as bytes, without copying. */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
