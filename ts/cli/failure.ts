/**
 * How a command that could not do what it was asked ends: one message on stderr, prefixed with
 * the command once, and an exit code. A bad command line, and a run directory that is taken,
 * exit EXIT_USAGE: nothing was started, and the message says the command to give instead.
 */

import { CommandUsageError } from "./args.js";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Codes that refuse the command as given, not a fault of the run: the run directory is taken, the --set is malformed. */
const USAGE_CODES: ReadonlySet<string> = new Set(["RUN_EXISTS", "RUN_LOCKED", "INVALID_OVERRIDE"]);

/** Prints why `mcl <command>` failed and gives its exit code. */
export function reportFailure(command: string, error: unknown): number {
  if (error instanceof CommandUsageError) {
    console.error(`mcl ${command}: ${error.message} (mcl ${command} --help shows the usage)`);
    return EXIT_USAGE;
  }
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "ERROR";
  const message = error instanceof Error ? error.message : String(error);
  console.error(`mcl ${command}: ${message} (${code})`);
  return USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_FAILURE;
}

/** `text` as one shell word: quoted when it holds anything but letters, digits and `_./:@%+=,-`. */
export function shellWord(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
