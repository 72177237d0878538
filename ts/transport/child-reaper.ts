import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

/**
 * Kills the worker processes this Node process started when it exits, and removes the files it
 * made for them (their key files), so that no worker outlives its control plane and no key is
 * left behind. Workers run in their own process group (spawned detached), so a Ctrl-C in the
 * terminal reaches this process only: a program that handles SIGINT, SIGTERM or SIGHUP itself (as
 * `mcl run` stops its run on Ctrl-C) keeps its workers until it closes them or exits; for a program
 * that does not, the signal kills the workers and then ends the process as it would have.
 * The worker guards the other case itself: it exits when its stdin closes or (Linux) its parent
 * dies, even by SIGKILL (which leaves its key file behind: nothing runs on SIGKILL).
 */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let installed = false;

export function reapOnExit(child: ChildProcess): void {
  install();
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/** Removes `dir` (recursively) when this process exits; the function returned forgets it. */
export function removeOnExit(dir: string): () => void {
  install();
  dirs.add(dir);
  return () => dirs.delete(dir);
}

/** SIGKILL to each worker's process group (the worker and whatever it started), then the directories. */
function cleanUp(): void {
  for (const child of live) {
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {
      child.kill("SIGKILL"); // not a group leader after all, or already gone
    }
  }
  live.clear();
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // exiting: nothing is left to report to
    }
  }
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // the program handles it; "exit" still cleans up
  // Our listener replaced Node's default action (exit): clean up, then restore it.
  cleanUp();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.removeListener("exit", cleanUp);
  installed = false;
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", cleanUp);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}
