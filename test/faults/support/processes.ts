// Child processes of the process-fault cases: the compiled `mcl` CLI in its own process group (as
// a shell runs a foreground job), the worker processes under it, and waits that always end.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { binary } from "../../ts/support/cli-binary.js";

export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout and stderr, line by line, as they come. */
  readonly output: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];

/** `mcl ...args` (dist/ts/cli/main.js), detached: a signal to -pid reaches it as a terminal's would. */
export function mcl(...args: string[]): CliProcess {
  const child = spawn(process.execPath, [binary, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  started.push(child);
  const output: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => output.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, output, exited };
}

/** Kills every CLI process this module started that still runs (afterAll). */
export function killStarted(): void {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** Whether `pid` runs and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  return existsSync(stat) && readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
}

/** The pids of `pid`'s worker processes (Linux /proc). */
export function workerPids(pid: number): number[] {
  const tasks = join("/proc", String(pid), "task");
  if (!existsSync(tasks)) return [];
  return readdirSync(tasks)
    .flatMap((tid) => {
      try {
        return readFileSync(join(tasks, tid, "children"), "utf8").split(" ").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    })
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, "utf8").includes("mcl_worker");
      } catch {
        return false;
      }
    });
}

/** Waits until `check()` holds, polling; throws naming `what` (and the output so far) after `timeoutMs`. */
export async function until(what: string, check: () => boolean, output: readonly string[] = [], timeoutMs = 60_000): Promise<void> {
  for (const start = Date.now(); !check(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; the output so far:\n${output.join("\n")}`);
  }
}

/** A seeded generator in [0, 1) (mulberry32): the same "random" kill moments each run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
