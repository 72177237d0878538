import type { ChildProcess } from "node:child_process";

/**
 * Kills the worker processes this Node process started when it exits or is told to stop
 * (SIGINT, SIGTERM, SIGHUP), so that no worker outlives its control plane. The worker guards the
 * other case itself: it exits when its stdin closes or (Linux) its parent dies, even by SIGKILL.
 */
const live = new Set<ChildProcess>();
const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let installed = false;

export function reapOnExit(child: ChildProcess): void {
  install();
  live.add(child);
  child.once("exit", () => live.delete(child));
}

function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  // Our listener replaced Node's default action (exit); restore it unless the program has its own.
  if (process.listenerCount(signal) === 1) {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.removeListener("exit", killAll);
    installed = false;
    process.kill(process.pid, signal);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}
