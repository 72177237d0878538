/**
 * The command line of one `mcl` command: its options as --help lists them, and the parse of its
 * arguments against them. `--name value` and `--name=value` both work, `--` ends the options, and
 * an unknown option is refused with the nearest known one.
 */

import { didYouMean } from "../config/suggest.js";
import { MclError } from "../errors.js";

/** One option of a command. */
export interface OptionSpec {
  /** `--out`. */
  readonly name: `--${string}`;
  /** Its value as --help names it (`FILE`); absent for a flag. */
  readonly value?: string;
  /** Given several times, every value counts (otherwise the last does). */
  readonly repeatable?: boolean;
  readonly help: string;
}

/** A bad command line: the command prints it and exits with EXIT_USAGE. */
export class CommandUsageError extends MclError<"USAGE"> {
  constructor(message: string) {
    super("USAGE", message);
  }
}

export interface ParsedArgs {
  readonly positional: readonly string[];
  /** Each option given with a value: its last value. */
  readonly values: ReadonlyMap<string, string>;
  /** Each option given with a value: every value, in order (for repeatable ones). */
  readonly lists: ReadonlyMap<string, readonly string[]>;
  /** The flags given. */
  readonly flags: ReadonlySet<string>;
}

export const HELP_OPTION: OptionSpec = { name: "--help", help: "show this help and exit (also -h)" };

/** Splits `args` into positionals, option values and flags; refuses an unknown option, naming the nearest. */
export function parseArgs(args: readonly string[], options: readonly OptionSpec[]): ParsedArgs {
  const positional: string[] = [];
  const lists = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!isOption(arg)) {
      positional.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = equals < 0 ? arg : arg.slice(0, equals);
    const option = options.find((o) => o.name === name);
    if (option === undefined) throw unknownOption(name, options);
    if (option.value === undefined) {
      if (equals >= 0) throw new CommandUsageError(`${name} is a flag and takes no value`);
      flags.add(name);
      continue;
    }
    let value: string | undefined = equals < 0 ? args[i + 1] : arg.slice(equals + 1);
    if (equals < 0) {
      if (value === undefined || value.startsWith("--")) throw new CommandUsageError(`${name} needs a value: ${name} ${option.value}`);
      i++;
    }
    value ??= "";
    if (option.repeatable !== true && lists.has(name)) lists.set(name, []);
    lists.set(name, [...(lists.get(name) ?? []), value]);
  }
  const values = new Map([...lists].map(([name, list]) => [name, list.at(-1)!] as const));
  return { positional, values, lists, flags };
}

/** Whether `args` ask for help (-h, --help), not counting the value of an option that takes one. */
export function asksForHelp(args: readonly string[], options: readonly OptionSpec[] | undefined): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
    if (options?.find((o) => o.name === arg)?.value !== undefined) i++; // its value, whatever it says
  }
  return false;
}

/** A command's --help: its usage line, what it does, and every option. */
export function formatHelp(usage: string, summary: string, options: readonly OptionSpec[] | undefined): string {
  const lines = [`usage: ${usage}`, "", summary];
  const all = [...(options ?? []), HELP_OPTION];
  const labels = all.map((o) => (o.value === undefined ? o.name : `${o.name} ${o.value}`));
  const width = Math.max(...labels.map((l) => l.length));
  lines.push("", "options:");
  all.forEach((option, i) => lines.push(`  ${labels[i]!.padEnd(width)}  ${option.help}${option.repeatable === true ? " (repeatable)" : ""}`));
  return lines.join("\n");
}

/** `-x`, `--name`, `--name=value`; a lone `-` (standard input, by convention) is a positional. */
function isOption(arg: string): boolean {
  return arg.startsWith("-") && arg !== "-";
}

function unknownOption(name: string, options: readonly OptionSpec[]): CommandUsageError {
  return new CommandUsageError(`unknown option ${name}${didYouMean(name, [...options.map((o) => o.name), HELP_OPTION.name])}`);
}
