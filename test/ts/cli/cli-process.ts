// `mcl` as a child process for the tests that signal it, its output line by line (its workers and
// waits: test/ts/support/processes.ts). From the sources (vite-node) or, for SIGTERM, which
// vite-node's own listener turns into an exit, the built binary (dist/; assertBuildCurrent first).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { projectRoot } from "../../../ts/transport/index.js";
import { binary } from "../support/cli-binary.js";

const viteNode = join(projectRoot(), "node_modules", "vite-node", "vite-node.mjs");
const main = join(projectRoot(), "ts", "cli", "main.ts");

export interface MclProcess {
  readonly child: ChildProcess;
  /** stdout and stderr, line by line, as they come. */
  readonly output: string[];
  /** The exit code; null when a signal killed it. */
  readonly exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** `mcl ...` from the sources, in its own process group, as a shell runs a foreground job. */
export function mcl(...args: string[]): MclProcess {
  return start([viteNode, main, ...args]);
}

/** `mcl ...` as built in dist/, in its own process group. */
export function builtMcl(...args: string[]): MclProcess {
  return start([binary, ...args]);
}

function start(argv: string[]): MclProcess {
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const output: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => output.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output, exited };
}

/** Kills the process group of every `mcl` still running (a failed test's), for afterAll. */
export function killLeftovers(): void {
  for (const child of running) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Whether /proc shows process children (Linux): the signal tests need it. */
export const hasProc = existsSync("/proc/self/task");
