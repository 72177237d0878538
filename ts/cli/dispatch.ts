/**
 * The `mcl` command line over a table of commands: `mcl --help` lists them, `mcl --version` says
 * the package's version, `mcl <command> --help` (or -h, or `mcl help <command>`) shows one
 * command's usage and every option, and an unknown command or option is refused naming the nearest
 * known one. Whatever a command throws ends as one line on stderr and an exit code, never as a
 * stack trace.
 */

import { didYouMean } from "../config/suggest.js";
import { asksForHelp, formatHelp, type OptionSpec } from "./args.js";
import { EXIT_USAGE, reportFailure } from "./failure.js";
import { packageVersion } from "./version.js";

export interface Command {
  /** `mcl <name> <positionals> [options]`. */
  readonly usage: string;
  readonly summary: string;
  /** Its options, for --help and to tell an option's value from a -h. */
  readonly options?: readonly OptionSpec[];
  /** Runs it on the arguments after its name; resolves with the exit code. */
  run(args: readonly string[]): Promise<number>;
}

export type CommandTable = { readonly [name: string]: Command };

const HELP = ["--help", "-h"];
const VERSION = ["--version", "-v"];

/** Runs `mcl ...argv` against `commands`; resolves with the exit code. */
export async function dispatch(commands: CommandTable, argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) return refuse("no command given", commands);
  if (HELP.includes(name)) return show(overview(commands));
  if (VERSION.includes(name)) return show(packageVersion());
  if (name === "help") {
    const topic = args[0];
    if (topic === undefined) return show(overview(commands));
    const command = lookup(commands, topic);
    return command === undefined ? refuse(unknown(topic, commands), commands) : show(commandHelp(command));
  }
  const command = lookup(commands, name);
  if (command === undefined) return refuse(unknown(name, commands), commands);
  if (asksForHelp(args, command.options)) return show(commandHelp(command));
  try {
    return await command.run(args);
  } catch (error) {
    return reportFailure(name, error);
  }
}

/** `mcl --help`: every command with what it does. */
export function overview(commands: CommandTable): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((n) => n.length));
  return [
    "usage: mcl <command> [options]",
    "",
    "commands:",
    ...names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`),
    "",
    "mcl <command> --help shows a command's options; mcl --version prints the version.",
  ].join("\n");
}

function commandHelp(command: Command): string {
  return formatHelp(command.usage, command.summary, command.options);
}

function lookup(commands: CommandTable, name: string): Command | undefined {
  return Object.hasOwn(commands, name) ? commands[name] : undefined;
}

function unknown(name: string, commands: CommandTable): string {
  if (name.startsWith("-")) return `unknown option ${name}${didYouMean(name, [...HELP, ...VERSION])}`;
  return `unknown command ${JSON.stringify(name)}${didYouMean(name, Object.keys(commands))}`;
}

function show(text: string): number {
  console.log(text);
  return 0;
}

function refuse(message: string, commands: CommandTable): number {
  console.error(`mcl: ${message}\n\n${overview(commands)}`);
  return EXIT_USAGE;
}
