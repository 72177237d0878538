// Every `mcl` subcommand by name: the table main.ts dispatches and the tests drive in-process.
import { demoCommand } from "./demo-command.js";
import type { CommandTable } from "./dispatch.js";
import { doctorCommand } from "./doctor-command.js";
import { exportCommand } from "./export.js";
import { reportCommand } from "./report-command.js";
import { resumeCommand } from "./resume-command.js";
import { runCommand } from "./run-command.js";
import { setupCommand } from "./setup-command.js";

export const COMMANDS: CommandTable = {
  run: runCommand,
  resume: resumeCommand,
  report: reportCommand,
  export: exportCommand,
  demo: demoCommand,
  doctor: doctorCommand,
  setup: setupCommand,
};
