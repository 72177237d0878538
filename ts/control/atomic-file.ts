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

/** This module's temporary files: `<name>.tmp-<pid>-<8 hex digits>` (writeFileAtomic). */
const OWN_TEMPORARY = /^.+\.tmp-\d+-[0-9a-f]{8}$/;
/** The worker's checkpoint writes (mcl_worker/checkpoint.py, tempfile.mkstemp): `.<name>.<8 of a-z, 0-9, _>.tmp`. */
const WORKER_TEMPORARY = /^\..+\.[a-z0-9_]{8}\.tmp$/;

/** Whether the file name `name` (no folder) is the temporary file of an atomic write. */
export function isTemporaryFile(name: string): boolean {
  return OWN_TEMPORARY.test(name) || WORKER_TEMPORARY.test(name);
}

/** Writes `data` to `path` atomically, creating the parent directory when needed. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const directory = dirname(path);
  await mkdir(directory, { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
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
    throw error;
  }
  await syncDirectory(directory);
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
