#!/usr/bin/env node
// The `mcl` command line: a table of subcommands, each a function from its arguments to an exit code.
import { guardOutput } from "./closed-output.js";
import { formatReport, runDoctor } from "./doctor.js";
import { demoCommand } from "./demo-command.js";
import { exportCommand } from "./export.js";
import { reportCommand } from "./report-command.js";
import { resumeCommand } from "./resume-command.js";
import { runCommand } from "./run-command.js";

interface Command {
  readonly usage: string;
  readonly summary: string;
  run(args: readonly string[]): Promise<number>;
}

const commands: { readonly [name: string]: Command } = {
  run: runCommand,
  resume: resumeCommand,
  report: reportCommand,
  export: exportCommand,
  demo: demoCommand,
  doctor: {
    usage: "mcl doctor [--json] [--python PATH]",
    summary: "check the Python worker's environment (interpreter, torch, CUDA, packages) and say how to fix what is missing",
    async run(args) {
      const { json, python } = parseDoctorArgs(args);
      const report = await runDoctor(python);
      console.log(json ? JSON.stringify(report) : formatReport(report));
      return report.ok ? 0 : 1;
    },
  },
};

class UsageError extends Error {
  override name = "UsageError";
  readonly code = "USAGE";
}

function parseDoctorArgs(args: readonly string[]): { json: boolean; python?: string } {
  let json = false;
  let python: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--json") json = true;
    else if (arg === "--python" && i + 1 < args.length) python = args[++i];
    else throw new UsageError(`doctor: unknown argument ${JSON.stringify(arg)}`);
  }
  return python === undefined ? { json } : { json, python };
}

function usage(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length));
  return ["usage: mcl <command> [options]", "", ...Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`)].join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return 0;
  }
  const command = name === undefined || !Object.hasOwn(commands, name) ? undefined : commands[name];
  if (command === undefined) {
    console.error(`${name === undefined ? "mcl: no command given" : `mcl: unknown command ${JSON.stringify(name)}`}\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`mcl ${err.message}\n\n${usage()}`);
      return 2;
    }
    throw err;
  }
}

guardOutput(); // `mcl … | head`: no EPIPE crash once the reader has gone
process.exitCode = await main(process.argv.slice(2));
