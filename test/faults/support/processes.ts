// Child processes of the fault cases: the compiled `mcl` CLI in its own process group (as a shell
// runs a foreground job); its workers and waits are test/ts/support/processes.ts's.
import { type ChildProcess, spawn } from "node:child_process";
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
