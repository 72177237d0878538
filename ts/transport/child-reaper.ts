import type { ChildProcess } from "node:child_process";

/**
 * Kills the worker processes this Node process started when it exits, so that no worker outlives
 * its control plane. Workers run in their own process group (spawned detached), so a Ctrl-C in the
 * terminal reaches this process only: a program that handles SIGINT, SIGTERM or SIGHUP itself (as
 * `mcl run` stops its run on Ctrl-C) keeps its workers until it closes them or exits; for a program
 * that does not, the signal kills the workers and then ends the process as it would have.
 * The worker guards the other case itself: it exits when its stdin closes or (Linux) its parent
 * dies, even by SIGKILL.
 */
const live = new Set<ChildProcess>();
const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let installed = false;

export function reapOnExit(child: ChildProcess): void {
  install();
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/** SIGKILL to each worker's process group: the worker and whatever it started. */
function killAll(): void {
  for (const child of live) {
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {
      child.kill("SIGKILL"); // not a group leader after all, or already gone
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // the program handles it; "exit" still reaps
  // Our listener replaced Node's default action (exit): kill the workers, then restore it.
  killAll();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.removeListener("exit", killAll);
  installed = false;
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}
