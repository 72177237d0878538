/**
 * What `mcl run`, `mcl resume` and `mcl demo` share: show a run's events until it ends, stop it
 * cleanly on Ctrl-C, SIGTERM or the loss of standard output's reader (the run left at its last
 * commit, resumable), and turn the outcome into an exit code.
 *
 * A closed standard output (`mcl run … | head`) stops the run as Ctrl-C does rather than letting
 * it train on unseen: a pipeline ends when its reader does, as one whose writer is killed by
 * SIGPIPE; the reason and the resume command go to stderr. The exit codes are the shell's for a
 * process ended by that signal, 128 + its number: SIGINT 130, SIGPIPE 141, SIGTERM 143. A second
 * SIGINT or SIGTERM quits at once with its own code, leaving the run at its last commit.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { MANIFEST_FILE } from "../run/run-store.js";
import { REPORT_FILE } from "../report/report.js";
import type { MclRun } from "../sdk/mcl-run.js";
import { formatProbeTable, SUMMARY_FILE, type Summary } from "../run/summary.js";
import { onOutputClosed, outputClosed, stdoutWhileOpen } from "./closed-output.js";
import { CommandUsageError, type OptionSpec } from "./args.js";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, EXIT_TERMINATED, shellWord } from "./failure.js";
import { ProgressPrinter } from "./progress.js";

const SIGNAL_EXIT_CODES = { SIGINT: EXIT_INTERRUPTED, SIGTERM: EXIT_TERMINATED } as const;
type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

export interface SessionOutcome {
  readonly exitCode: number;
  readonly summary: Summary | null;
}

/** Follows `run` to its end; prints the probe table when it finishes. Releases the worker. */
export async function followRun(run: MclRun): Promise<SessionOutcome> {
  const printer = new ProgressPrinter(stdoutWhileOpen);
  let following = true;
  let stopCode: number | undefined; // why the run is being stopped, as an exit code: the first reason wins
  const stop = (code: number): void => {
    stopCode ??= code;
    void run.stop();
  };
  const onSignal = (signal: StopSignal): void => {
    if (stopCode !== undefined) process.exit(SIGNAL_EXIT_CODES[signal]); // a second signal does not wait
    const text = `${signal === "SIGINT" ? "" : "SIGTERM: "}stopping at the last committed step (Ctrl-C again to quit at once)…`;
    if (outputClosed()) console.error(`mcl: ${text}`);
    else printer.line(text);
    stop(SIGNAL_EXIT_CODES[signal]);
  };
  const signals = Object.keys(SIGNAL_EXIT_CODES) as StopSignal[];
  for (const signal of signals) process.on(signal, onSignal);
  const unwatch = onOutputClosed((error) => {
    if (!following) return; // the run has ended: only the lines after it are lost
    console.error(
      `mcl: standard output was closed (${error.code ?? error.message}); stopping at the last committed step.` +
        ` Resume with: mcl resume ${run.dir}`,
    );
    stop(EXIT_OUTPUT_CLOSED);
  });
  try {
    for await (const event of run.events()) printer.show(event);
    following = false;
    printer.finish();
    const summary = await run.result().catch(() => null);
    if (summary === null) return { exitCode: stopCode ?? EXIT_FAILURE, summary };
    console.log(`\nlinear-probe accuracy per attribute (held-out split), ${run.dir}/${SUMMARY_FILE}:\n`);
    console.log(formatProbeTable(summary));
    return { exitCode: 0, summary };
  } finally {
    following = false;
    await run.stop();
    unwatch();
    for (const signal of signals) process.off(signal, onSignal);
  }
}

/** The options that reach a worker on another machine (docs/remote-worker.md). */
export const WORKER_OPTIONS: readonly OptionSpec[] = [
  { name: "--endpoint", value: "URL", help: "connect to a worker already running there (tcp://host:port) instead of launching one here" },
  { name: "--key-file", value: "PATH", help: "the key file that worker was started with (--auth); needs --endpoint" },
];

export const ALLOW_PLUGINS_OPTION: OptionSpec = {
  name: "--allow-plugins",
  value: "MODULES",
  help: "comma-separated Python modules or packages the config's plugins (py:…) may come from (docs/plugins.md)",
};

/**
 * Where the run's report is: report.html, which a finished run has written; else the command that
 * writes it from what the run has measured so far (nothing, when its start wrote no directory).
 */
export function reportLocation(dir: string, finished: boolean): string | null {
  if (finished) return `report: ${join(dir, REPORT_FILE)}`;
  if (!existsSync(join(dir, MANIFEST_FILE))) return null;
  return `report of what it has measured so far: mcl report ${shellWord(dir)}`;
}

/** Worker options from --endpoint / --key-file (a local worker is launched without --endpoint). */
export function workerArgs(values: ReadonlyMap<string, string>): { endpoint?: string; connect?: { keyFile: string } } {
  const endpoint = values.get("--endpoint");
  const keyFile = values.get("--key-file");
  if (keyFile !== undefined && endpoint === undefined) throw new CommandUsageError("--key-file needs --endpoint URL");
  if (endpoint === undefined) return {};
  return keyFile === undefined ? { endpoint } : { endpoint, connect: { keyFile } };
}
