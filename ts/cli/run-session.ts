/**
 * What `mcl run`, `mcl resume` and `mcl demo` share: show a run's events until it ends, stop it
 * cleanly on Ctrl-C (exit 130, the run left resumable), and turn the outcome into an exit code.
 */

import type { MclRun } from "../sdk/mcl-run.js";
import { formatProbeTable, SUMMARY_FILE, type Summary } from "../sdk/summary.js";
import { ProgressPrinter } from "./progress.js";

export const EXIT_INTERRUPTED = 130;

/** A bad command line: the command prints it with its usage and exits 2. */
export class CommandUsageError extends Error {
  override name = "CommandUsageError";
  readonly code = "USAGE";
}

export interface SessionOutcome {
  readonly exitCode: number;
  readonly summary: Summary | null;
}

/** Follows `run` to its end; prints the probe table when it finishes. Releases the worker. */
export async function followRun(run: MclRun): Promise<SessionOutcome> {
  const printer = new ProgressPrinter(process.stdout);
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(EXIT_INTERRUPTED); // a second Ctrl-C does not wait
    interrupted = true;
    printer.line("stopping at the last committed step (Ctrl-C again to quit at once)…");
    void run.stop();
  };
  process.on("SIGINT", onSigint);
  try {
    for await (const event of run.events()) printer.show(event);
    printer.finish();
    const summary = await run.result().catch(() => null);
    if (summary === null) return { exitCode: interrupted ? EXIT_INTERRUPTED : 1, summary };
    console.log(`\nlinear-probe accuracy per attribute (held-out split), ${run.dir}/${SUMMARY_FILE}:\n`);
    console.log(formatProbeTable(summary));
    return { exitCode: 0, summary };
  } finally {
    await run.stop();
    process.off("SIGINT", onSigint);
  }
}

/** Prints an error from starting a run (bad config, existing run, …) and gives the exit code. */
export function reportStartFailure(command: string, error: unknown): number {
  if (error instanceof CommandUsageError) {
    console.error(`mcl ${command}: ${error.message}`);
    return 2;
  }
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "ERROR";
  console.error(`mcl ${command}: ${(error as Error).message ?? String(error)} (${code})`);
  return 1;
}

/** Splits `args` into positionals and `--name value` options, refusing unknown names. */
export function parseArgs(
  command: string,
  args: readonly string[],
  options: readonly string[],
  flags: readonly string[] = [],
): { positional: string[]; values: Map<string, string>; set: Set<string> } {
  const positional: string[] = [];
  const values = new Map<string, string>();
  const set = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) positional.push(arg);
    else if (flags.includes(arg)) set.add(arg);
    else if (options.includes(arg)) {
      const value = args[++i];
      if (value === undefined) throw new CommandUsageError(`${command}: ${arg} needs a value`);
      values.set(arg, value);
    } else throw new CommandUsageError(`${command}: unknown option ${arg}`);
  }
  return { positional, values, set };
}

/** Worker options from --endpoint / --key-file (a local worker is launched without --endpoint). */
export function workerArgs(values: Map<string, string>): { endpoint?: string; connect?: { keyFile: string } } {
  const endpoint = values.get("--endpoint");
  const keyFile = values.get("--key-file");
  if (keyFile !== undefined && endpoint === undefined) throw new CommandUsageError("--key-file needs --endpoint");
  if (endpoint === undefined) return {};
  return keyFile === undefined ? { endpoint } : { endpoint, connect: { keyFile } };
}
