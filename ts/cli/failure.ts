/**
 * How a command that could not do what it was asked ends: one message on stderr, prefixed with
 * the command once, and an exit code. Every exit code of `mcl` is here, and which errors give
 * which: a bad command line, a run directory that is taken and a malformed --set exit EXIT_USAGE
 * (nothing was started, and the message says the command to give instead); any other error
 * EXIT_FAILURE; a run stopped by a signal the shell's code for it, 128 + its number.
 */

import type { ConfigErrorCode } from "../config/config-error.js";
import type { ControlErrorCode } from "../control/errors.js";
import { MclError, errorCodeOf } from "../errors.js";
import type { RunErrorCode } from "../run/errors.js";
import { CommandUsageError } from "./args.js";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** A run stopped by SIGINT (Ctrl-C). */
export const EXIT_INTERRUPTED = 130;
/** A run stopped because standard output's reader went away (as SIGPIPE would). */
export const EXIT_OUTPUT_CLOSED = 141;
/** A run stopped by SIGTERM. */
export const EXIT_TERMINATED = 143;

/** The error codes that refuse the command as given rather than fail it; every other error exits EXIT_FAILURE. */
const EXIT_CODES = {
  USAGE: EXIT_USAGE,
  RUN_EXISTS: EXIT_USAGE,
  RUN_LOCKED: EXIT_USAGE,
  INVALID_OVERRIDE: EXIT_USAGE,
} as const satisfies Partial<Record<CommandUsageError["code"] | ConfigErrorCode | ControlErrorCode | RunErrorCode, number>>;

/** The exit code `error` ends a command with. */
export function exitCodeOf(error: unknown): number {
  if (!(error instanceof MclError) || !Object.hasOwn(EXIT_CODES, error.code)) return EXIT_FAILURE;
  return EXIT_CODES[error.code as keyof typeof EXIT_CODES];
}

/** Prints why `mcl <command>` failed and gives its exit code. */
export function reportFailure(command: string, error: unknown): number {
  if (error instanceof CommandUsageError) {
    console.error(`mcl ${command}: ${error.message} (mcl ${command} --help shows the usage)`);
  } else {
    const code = errorCodeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    console.error(`mcl ${command}: ${message} (${code})`);
  }
  return exitCodeOf(error);
}

/** `text` as one shell word: quoted when it holds anything but letters, digits and `_./:@%+=,-`. */
export function shellWord(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
