// The run directory's lock on its own: one holder at a time (O_EXCL), a dead holder of this host
// taken over with a warning, another host's lock never broken, the lock file and the directories
// it needed removed on release, and a process that exits without releasing leaving no lock.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { LOCK_FILE, type LockHolder, RunLock, STALE_LOCK_WARNING } from "../../../ts/sdk/run-lock.js";
import { projectRoot } from "../../../ts/transport/index.js";

const root = mkdtempSync(join(tmpdir(), "mcl-run-lock-"));
const held: RunLock[] = [];
let warnings: Error[] = [];
const onWarning = (warning: Error): void => void warnings.push(warning);
process.on("warning", onWarning);

afterEach(async () => {
  await Promise.all(held.splice(0).map((lock) => lock.release()));
  warnings = [];
});

afterAll(() => {
  process.off("warning", onWarning);
  rmSync(root, { recursive: true, force: true });
});

async function acquire(dir: string, purpose: LockHolder["purpose"] = "start"): Promise<RunLock> {
  const lock = await RunLock.acquire(dir, purpose);
  held.push(lock);
  return lock;
}

function holderOf(dir: string): LockHolder {
  return JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")) as LockHolder;
}

/** A pid that ran on this host and has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", ""]);
  return child.pid!;
}

function writeLock(dir: string, holder: Omit<LockHolder, "token">): string {
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify({ ...holder, token: "0123456789abcdef" })}\n`;
  writeFileSync(join(dir, LOCK_FILE), text);
  return text;
}

describe("RunLock", () => {
  it("names its holder, refuses a second one with RUN_LOCKED, and is free again once released", async () => {
    const dir = join(root, "one");
    const lock = await acquire(dir, "resume");
    expect(holderOf(dir)).toEqual({ ...lock.holder, pid: process.pid, host: hostname(), purpose: "resume" });
    expect(Date.parse(lock.holder.since)).not.toBeNaN();

    const refused = RunLock.acquire(dir, "start");
    await expect(refused).rejects.toMatchObject({ code: "RUN_LOCKED" });
    await expect(refused).rejects.toThrow(
      `${dir} is in use by another run: pid ${process.pid} on host ${hostname()} (a resume, since ${lock.holder.since}); ` +
        `wait for it to end or stop it (Ctrl-C, or run.stop()) and try again; ` +
        `if pid ${process.pid} is not an mcl run (its id was reused), remove ${join(dir, LOCK_FILE)}`,
    );

    await lock.release();
    await lock.release(); // idempotent
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const again = await acquire(dir);
    expect(again.holder.token).not.toBe(lock.holder.token);
    expect(holderOf(dir).token).toBe(again.holder.token);
  });

  it("of many acquired at once, exactly one is granted", async () => {
    const dir = join(root, "race");
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => RunLock.acquire(dir, "start")));
    const granted = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    held.push(...granted);
    expect(granted).toHaveLength(1);
    for (const outcome of outcomes) if (outcome.status === "rejected") expect(outcome.reason).toMatchObject({ code: "RUN_LOCKED" });
    expect(holderOf(dir).token).toBe(granted[0]!.holder.token);
  });

  it("removes on release the directories it made, and keeps those that were there or hold other files", async () => {
    const lock = await acquire(join(root, "made", "a", "b"));
    await lock.release();
    expect(existsSync(join(root, "made"))).toBe(false);
    expect(existsSync(root)).toBe(true);

    const kept = await acquire(join(root, "kept", "run"));
    writeFileSync(join(root, "kept", "run", "manifest.json"), "{}");
    await kept.release();
    expect(existsSync(join(root, "kept", "run", "manifest.json"))).toBe(true);
    expect(existsSync(join(root, "kept", "run", LOCK_FILE))).toBe(false);
  });

  it("takes over the lock of a process of this host that no longer runs, with a warning naming it", async () => {
    const dir = join(root, "stale");
    const pid = deadPid();
    writeLock(dir, { pid, host: hostname(), since: "2026-01-01T00:00:00.000Z", purpose: "resume" });
    // Two takers at once: one takes it over, the other meets the new holder.
    const outcomes = await Promise.allSettled([RunLock.acquire(dir, "start"), RunLock.acquire(dir, "start")]);
    const granted = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    held.push(...granted);
    expect(granted).toHaveLength(1);
    expect(outcomes.find((o) => o.status === "rejected")).toMatchObject({ reason: { code: "RUN_LOCKED" } });
    expect(holderOf(dir)).toEqual(granted[0]!.holder);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      code: STALE_LOCK_WARNING,
      message: `${join(dir, LOCK_FILE)}: took over the lock of pid ${pid} (a resume since 2026-01-01T00:00:00.000Z), which no longer runs; its run resumes from its last commit`,
    });
    expect(existsSync(join(dir, `${LOCK_FILE}.takeover`))).toBe(false);
  });

  it("never takes over another host's lock, even of a pid that runs nowhere here", async () => {
    const dir = join(root, "elsewhere");
    const text = writeLock(dir, { pid: deadPid(), host: "elsewhere.example", since: "2026-01-01T00:00:00.000Z", purpose: "start" });
    const refused = RunLock.acquire(dir, "resume");
    await expect(refused).rejects.toMatchObject({ code: "RUN_LOCKED" });
    await expect(refused).rejects.toThrow(
      `on host elsewhere.example (a start, since 2026-01-01T00:00:00.000Z); wait for it to end or stop it (Ctrl-C, or run.stop()) and try again; ` +
        `this host cannot check that process, so the lock is never taken over here: once that run is gone, remove ${join(dir, LOCK_FILE)}`,
    );
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(text);
    expect(warnings).toEqual([]);
  });

  it("refuses an unreadable lock file, naming it", async () => {
    const dir = join(root, "unreadable");
    mkdirSync(dir);
    writeFileSync(join(dir, LOCK_FILE), "");
    await expect(RunLock.acquire(dir, "start")).rejects.toMatchObject({
      code: "RUN_LOCKED",
      message: expect.stringMatching(
        new RegExp(`^${dir} is locked, but its lock file ${join(dir, LOCK_FILE)} cannot be read \\(not valid JSON: .*\\); if no run is using the directory, remove that file$`),
      ),
    });
  });

  it("leaves alone a lock that is no longer its own", async () => {
    const dir = join(root, "replaced");
    const lock = await acquire(dir);
    const text = writeLock(dir, { pid: process.pid, host: hostname(), since: new Date().toISOString(), purpose: "resume" });
    await lock.release();
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(text);
  });

  it("is removed when its process exits without releasing it (a second Ctrl-C: process.exit)", { timeout: 60_000 }, async () => {
    const dir = join(root, "exited");
    const script = join(root, "exit-holding.ts");
    const module = join(projectRoot(), "ts", "sdk", "run-lock.ts");
    writeFileSync(
      script,
      `import { RunLock } from ${JSON.stringify(module)};\n` +
        `await RunLock.acquire(${JSON.stringify(dir)}, "start");\n` +
        `console.log("locked");\nprocess.exit(130);\n`,
    );
    const viteNode = join(projectRoot(), "node_modules", "vite-node", "vite-node.mjs");
    const child = spawn(process.execPath, [viteNode, script], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => void (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => void (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect({ code, output }).toEqual({ code: 130, output: "locked\n" });
    expect(existsSync(dir)).toBe(true);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});
