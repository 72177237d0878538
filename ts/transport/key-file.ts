import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeOnExit } from "./child-reaper.js";

/** Random bytes of a generated key (written as hex). */
const KEY_BYTES = 32;

/**
 * The key of a worker this process launches: 32 random bytes, hex, in a file only this user can
 * read (0600, inside a fresh 0700 directory), so that no other local user can run jobs on the
 * worker's loopback port. The worker reads it with `--auth <path>`, never from its command line
 * (which any user can read). The directory goes with dispose() or when this process exits.
 */
export class WorkerKey {
  private disposed = false;
  private readonly forget: () => void;

  private constructor(
    private readonly dir: string,
    /** The key file, for the worker's --auth. */
    readonly path: string,
    /** The key, as the worker reads it from the file. */
    readonly key: Buffer,
  ) {
    this.forget = removeOnExit(dir);
  }

  static async create(): Promise<WorkerKey> {
    const dir = await mkdtemp(join(tmpdir(), "mcl-worker-key-")); // mode 0700
    try {
      const key = Buffer.from(randomBytes(KEY_BYTES).toString("hex"));
      const path = join(dir, "key");
      await writeFile(path, key, { mode: 0o600, flag: "wx" });
      return new WorkerKey(dir, path, key);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes the key file and its directory. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.forget();
    await rm(this.dir, { recursive: true, force: true });
  }
}
