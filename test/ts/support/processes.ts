// The processes under a test's child process, and waits that always end (Linux /proc).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Whether `pid` runs and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  return existsSync(stat) && readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
}

/** The pids of `pid`'s worker processes; a process that ends while they are read is left out. */
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
export async function until(what: string, check: () => boolean, output: readonly string[] = [], timeoutMs = 120_000): Promise<void> {
  for (const start = Date.now(); !check(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; the output so far:\n${output.join("\n")}`);
  }
}
