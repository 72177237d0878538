/**
 * An append-only file written in the order of append() calls. The caller does not wait: each
 * append goes to the file and is flushed to disk (fdatasync) in the background, and appends made
 * while a write is in flight go out together in the next one, so a process that dies loses at
 * most the appends after the last completed write. A failed write stops the file; flush() and
 * close() throw its error (DISK_FULL or WRITE_FAILED, naming the file).
 */

import { type FileHandle, open } from "node:fs/promises";
import { writeFailure } from "../control/atomic-file.js";

/** How open() treats an existing file: keep its content and append, or empty it first. */
export type AppendMode = "append" | "truncate";

export class AppendFile {
  readonly path: string;
  readonly #handle: FileHandle;
  #queued: Buffer[] = [];
  #writing: Promise<void> | undefined;
  #failure: { readonly error: unknown } | undefined;
  #closed = false;

  private constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  /** Opens `path` (created when absent) for appending. */
  static async open(path: string, mode: AppendMode): Promise<AppendFile> {
    try {
      return new AppendFile(path, await open(path, mode === "append" ? "a" : "w"));
    } catch (error) {
      throw writeFailure(path, error);
    }
  }

  /** Creates `path` for appending; null when a file of that name exists already. */
  static async create(path: string): Promise<AppendFile | null> {
    try {
      return new AppendFile(path, await open(path, "wx"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return null;
      throw writeFailure(path, error);
    }
  }

  /** Queues `data` for the end of the file. */
  append(data: Uint8Array | string): void {
    if (this.#closed) throw new Error(`${this.path}: append after close`);
    if (this.#failure !== undefined) return;
    this.#queued.push(typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.#writing ??= this.#drain();
  }

  /** Waits until everything appended so far is on disk; throws the write error that stopped the file. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /** Flushes, then closes the file (also when the flush throws). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.flush();
    } finally {
      await this.#handle.close();
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queued.length > 0) {
        const chunk = Buffer.concat(this.#queued);
        this.#queued = [];
        await this.#handle.writeFile(chunk);
        await this.#handle.datasync();
      }
    } catch (error) {
      this.#failure = { error: writeFailure(this.path, error) };
      this.#queued = [];
    } finally {
      this.#writing = undefined;
    }
  }
}
