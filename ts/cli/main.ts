#!/usr/bin/env node
// The `mcl` command line: a table of subcommands, each a function from its arguments to an exit
// code (dispatch.ts: --help, --version, unknown names).
import { guardOutput } from "./closed-output.js";
import { demoCommand } from "./demo-command.js";
import { type Command, dispatch } from "./dispatch.js";
import { doctorCommand } from "./doctor-command.js";
import { exportCommand } from "./export.js";
import { reportCommand } from "./report-command.js";
import { resumeCommand } from "./resume-command.js";
import { runCommand } from "./run-command.js";
import { setupCommand } from "./setup-command.js";

const commands: { readonly [name: string]: Command } = {
  run: runCommand,
  resume: resumeCommand,
  report: reportCommand,
  export: exportCommand,
  demo: demoCommand,
  doctor: doctorCommand,
  setup: setupCommand,
};

guardOutput(); // `mcl … | head`: no EPIPE crash once the reader has gone
process.exitCode = await dispatch(commands, process.argv.slice(2));
