/**
 * CPU time (user + system, all threads) of this Node process plus another process by pid, over an
 * interval: the benchmarks' CPU-time ratios, which a shared machine's load skews far less than
 * wall time. The other process's is read from /proc/<pid>/stat (utime + stime, in clock ticks of
 * `getconf CLK_TCK`, 10 ms at the usual 100): Linux only; elsewhere `CPU_TIME_UNAVAILABLE` says
 * why and intervals measure null. Time of the other process's children is not counted.
 */

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

/** Clock ticks a second, or why other processes' CPU time cannot be read here. */
const TICKS: number | string = clockTicks();

function clockTicks(): number | string {
  if (!existsSync("/proc/self/stat")) return `no /proc/<pid>/stat on ${process.platform}: another process's CPU time is read on Linux only`;
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : "`getconf CLK_TCK` did not print a positive integer";
  } catch (err) {
    return `\`getconf CLK_TCK\` failed (${(err as Error).message})`;
  }
}

/** Why the CPU time of another process cannot be measured here; undefined where it can. */
export const CPU_TIME_UNAVAILABLE: string | undefined = typeof TICKS === "string" ? TICKS : undefined;

/** CPU seconds this Node process has used so far, all its threads. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** CPU seconds process `pid` has used so far, all its threads, ended ones included. */
function processCpuSeconds(pid: number, ticks: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces: [0] is field 3
  // (state), so utime and stime (fields 14 and 15) are [11] and [12].
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

/**
 * Starts measuring the CPU time of this process plus process `pid`; the function it returns gives
 * the seconds both used since, or null where CPU_TIME_UNAVAILABLE is set.
 */
export function measureCpu(pid: number | undefined): () => number | null {
  if (typeof TICKS === "string") return () => null;
  const ticks = TICKS;
  if (pid === undefined) throw new Error("measureCpu: the process has no pid (a worker between a crash and its restart)");
  // /proc is read outside the interval's own readings, so that reading it is not charged to it.
  const other = processCpuSeconds(pid, ticks);
  const own = ownCpuSeconds();
  return () => {
    const ownNow = ownCpuSeconds();
    return ownNow - own + processCpuSeconds(pid, ticks) - other;
  };
}
