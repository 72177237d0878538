#!/usr/bin/env node
// The `mcl` command line: a table of subcommands (commands.ts), each a function from its arguments
// to an exit code (dispatch.ts: --help, --version, unknown names).
import { guardOutput } from "./closed-output.js";
import { COMMANDS } from "./commands.js";
import { dispatch } from "./dispatch.js";

guardOutput(); // `mcl … | head`: no EPIPE crash once the reader has gone
process.exitCode = await dispatch(COMMANDS, process.argv.slice(2));
