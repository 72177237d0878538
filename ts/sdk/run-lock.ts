/**
 * One writer per run directory: Mcl.start and Mcl.resume hold an exclusive lock, the file
 * run.lock in the run directory, for as long as the run may write there.
 *
 * The file is created with O_EXCL (flag "wx"), which the file system grants to one process only,
 * and names its holder: pid, host, since when, and what for. A second writer is refused with
 * RunError RUN_LOCKED naming the holder. A lock left by a process that died without releasing it
 * (SIGKILL, a crash) is stale when its host is this one and its pid runs no more: it is taken over,
 * with a process warning (code MCL_STALE_LOCK) saying whose it was. A lock of another host is never
 * taken over, as its pid cannot be checked from here: the message says which file to remove once
 * that run is known to be gone. Readers (mcl report, readClusters, renderReport) take no lock:
 * every run file is replaced atomically, so they read a consistent state while a run goes on.
 *
 * Releasing removes the file (only while it is still this lock's), and the directories acquiring
 * created when nothing else was put in them, so a start that fails early leaves nothing behind.
 * A process that exits without releasing (process.exit, e.g. a second Ctrl-C) still removes its
 * locks, synchronously, in an "exit" listener.
 */

import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { mkdir, open, readFile, rm, rmdir } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { writeFailure } from "../control/atomic-file.js";
import { formatPath } from "../errors.js";
import { RunError } from "../run/errors.js";

export const LOCK_FILE = "run.lock";

/** Process warning code of a stale lock taken over. */
export const STALE_LOCK_WARNING = "MCL_STALE_LOCK";

/** What a lock is held for. */
export type LockPurpose = "start" | "resume" | "evaluate";

const holderSchema = z.strictObject({
  pid: z.int().min(1),
  host: z.string().min(1),
  /** ISO time the lock was taken. */
  since: z.string(),
  purpose: z.enum(["start", "resume", "evaluate"]),
  /** Tells this lock from a later one of the same pid (a lock is only removed by its token). */
  token: z.string().min(1),
});
export type LockHolder = z.output<typeof holderSchema>;

/**
 * Whether `holder`'s lock is stale, seen from `host`: only a lock of this host whose process is
 * gone is; another host's process cannot be checked from here.
 */
export function isStale(holder: LockHolder, host: string, isAlive: (pid: number) => boolean): boolean {
  return holder.host === host && !isAlive(holder.pid);
}

/** The RUN_LOCKED message: who holds `dir`, and what to do. */
export function lockedMessage(dir: string, holder: LockHolder, host: string): string {
  const lockFile = join(dir, LOCK_FILE);
  const who = `pid ${holder.pid} on host ${holder.host} (a ${holder.purpose}, since ${holder.since})`;
  const gone =
    holder.host === host
      ? `if pid ${holder.pid} is not an mcl run (its id was reused), remove ${lockFile}`
      : `this host cannot check that process, so the lock is never taken over here: once that run is gone, remove ${lockFile}`;
  return `${dir} is in use by another run: ${who}; wait for it to end or stop it (Ctrl-C, or run.stop()) and try again; ${gone}`;
}

/** Reading a lock that is being written: how often, and how long between tries. */
const READ_TRIES = 20;
const READ_PAUSE_MS = 25;
/** Locks released or taken over between our tries: how many rounds before giving up. */
const ACQUIRE_ROUNDS = 10;

/** Locks of this process not released yet, removed at exit. */
const held = new Set<RunLock>();
let exitListener = false;

export class RunLock {
  /** The run directory. */
  readonly dir: string;
  readonly holder: LockHolder;
  /** Directories acquire() made, deepest first: removed on release when empty. */
  readonly #created: readonly string[];
  #released = false;

  private constructor(dir: string, holder: LockHolder, created: readonly string[]) {
    this.dir = dir;
    this.holder = holder;
    this.#created = created;
  }

  get path(): string {
    return join(this.dir, LOCK_FILE);
  }

  /**
   * Takes the lock of run directory `dir` (created when missing), taking over a stale one;
   * RunError RUN_LOCKED when another live process holds it. A lock that cannot be written (a full
   * disk) is DISK_FULL or WRITE_FAILED naming the file, and leaves neither it nor the directories made for it.
   */
  static async acquire(dir: string, purpose: LockPurpose): Promise<RunLock> {
    const created: string[] = [];
    try {
      return await RunLock.#acquire(dir, purpose, created);
    } catch (error) {
      await removeEmpty([...created].reverse());
      throw error;
    }
  }

  static async #acquire(dir: string, purpose: LockPurpose, created: string[]): Promise<RunLock> {
    const host = hostname();
    const holder: LockHolder = {
      pid: process.pid,
      host,
      since: new Date().toISOString(),
      purpose,
      token: randomBytes(8).toString("hex"),
    };
    const path = join(dir, LOCK_FILE);
    for (let round = 0; round < ACQUIRE_ROUNDS; round++) {
      if (await createExclusive(dir, path, holder, created)) {
        const lock = new RunLock(dir, holder, [...created].reverse());
        held.add(lock);
        if (!exitListener) {
          process.on("exit", releaseAllSync);
          exitListener = true;
        }
        return lock;
      }
      const current = await readHolder(path);
      if (current === "gone") continue; // released meanwhile: try again
      if (!isStale(current, host, isAlive)) throw new RunError("RUN_LOCKED", lockedMessage(dir, current, host));
      if (await takeOver(dir, path, current, holder)) {
        process.emitWarning(
          `${path}: took over the lock of pid ${current.pid} (a ${current.purpose} since ${current.since}), which no longer runs; ` +
            "its run resumes from its last commit",
          { code: STALE_LOCK_WARNING },
        );
      }
    }
    throw new RunError("RUN_LOCKED", `${dir}: its lock changed hands ${ACQUIRE_ROUNDS} times while this process tried to take it; try again`);
  }

  /** Releases the lock; idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    held.delete(this);
    const current = await readHolder(this.path).catch(() => "gone" as const);
    // Someone removed it by hand and another run took it: that one is not ours to remove.
    if (current !== "gone" && current.token === this.holder.token) await rm(this.path, { force: true });
    await removeEmpty(this.#created);
  }
}

/** Removes `directories` (deepest first) while they are empty: one that holds other files stays, and so do its parents. */
async function removeEmpty(directories: readonly string[]): Promise<void> {
  for (const directory of directories) {
    if (!(await rmdir(directory).then(() => true, () => false))) break;
  }
}

/**
 * Creates the lock file with O_EXCL; false when it exists. Makes the directories when missing.
 * A failed write removes the file and throws writeFailure's error, naming it.
 */
async function createExclusive(dir: string, path: string, holder: LockHolder, created: string[]): Promise<boolean> {
  for (;;) {
    const first = await mkdir(dir, { recursive: true }).catch((error: unknown) => {
      throw writeFailure(dir, error);
    });
    for (const directory of first === undefined ? [] : chain(first, dir)) if (!created.includes(directory)) created.push(directory);
    let file;
    try {
      file = await open(path, "wx");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return false;
      if (code === "ENOENT") continue; // the directory was removed by a release meanwhile
      throw writeFailure(path, error);
    }
    try {
      await file.writeFile(`${JSON.stringify(holder)}\n`);
      await file.close();
    } catch (error) {
      await file.close().catch(() => undefined);
      await rm(path, { force: true });
      throw writeFailure(path, error);
    }
    return true;
  }
}

/** `first` (made by mkdir) and each directory below it down to `dir`, outermost first. */
function chain(first: string, dir: string): string[] {
  const directories = [first];
  for (const part of relative(first, dir).split(sep).filter(Boolean)) directories.push(join(directories.at(-1)!, part));
  return directories;
}

/**
 * The holder a lock file names, or "gone" when there is none. A file just created by another
 * process may not hold its content yet: it is read again for a moment before it counts as unreadable.
 */
async function readHolder(path: string): Promise<LockHolder | "gone"> {
  let problem = "";
  for (let attempt = 0; attempt < READ_TRIES; attempt++) {
    if (attempt > 0) await sleep(READ_PAUSE_MS);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
      throw error;
    }
    const parsed = parseHolder(text);
    if (typeof parsed !== "string") return parsed;
    problem = parsed;
  }
  throw new RunError(
    "RUN_LOCKED",
    `${dirname(path)} is locked, but its lock file ${path} cannot be read (${problem}); if no run is using the directory, remove that file`,
  );
}

/** The holder, or what is wrong with the text. */
function parseHolder(text: string): LockHolder | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not valid JSON: ${(error as Error).message}`;
  }
  const parsed = holderSchema.safeParse(value);
  return parsed.success ? parsed.data : parsed.error.issues.map((issue) => `${formatPath(issue.path) || "lock"}: ${issue.message}`).join("; ");
}

/**
 * Removes `stale`'s lock file, if it is still that one. Two processes may judge the same lock
 * stale at once, and one of them may have replaced it by its own before the other removes it: a
 * takeover file, created with O_EXCL too, lets one process at a time check and remove. True when
 * this process removed the stale lock.
 */
async function takeOver(dir: string, path: string, stale: LockHolder, taker: LockHolder): Promise<boolean> {
  const guard = `${path}.takeover`;
  let file;
  try {
    file = await open(guard, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw writeFailure(guard, error);
    const other = await readHolder(guard);
    if (other === "gone") return false; // that takeover is over: look at the lock again
    if (isStale(other, taker.host, isAlive)) {
      throw new RunError(
        "RUN_LOCKED",
        `${dir}: pid ${other.pid} died while taking over the stale lock of pid ${stale.pid}; no run holds the directory: remove ${guard} and ${path}`,
      );
    }
    throw new RunError("RUN_LOCKED", lockedMessage(dir, other, taker.host));
  }
  try {
    await file.writeFile(`${JSON.stringify(taker)}\n`).catch((error: unknown) => {
      throw writeFailure(guard, error);
    });
    const current = await readHolder(path);
    if (current === "gone" || current.token !== stale.token) return false;
    await rm(path, { force: true }).catch((error: unknown) => {
      throw writeFailure(path, error);
    });
    return true;
  } finally {
    await file.close().catch(() => undefined);
    await rm(guard, { force: true });
  }
}

/** Whether process `pid` runs on this host (EPERM: it does, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** At exit, every lock this process still holds goes; no await is possible there. */
function releaseAllSync(): void {
  for (const lock of held) {
    try {
      const current = parseHolder(readFileSync(lock.path, "utf8"));
      if (typeof current !== "string" && current.token === lock.holder.token) rmSync(lock.path, { force: true });
    } catch {
      // Already gone, or unreadable: nothing of ours to remove.
    }
  }
  held.clear();
}
