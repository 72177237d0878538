// `mcl resume <runDir>`: continues a stopped or failed run from its last commit.
import { allowPluginsArg } from "../plugins/plugin-consent.js";
import { Mcl } from "../sdk/mcl.js";
import { followRun, parseArgs, reportStartFailure, workerArgs, CommandUsageError } from "./run-session.js";

export const resumeCommand = {
  usage: "mcl resume <runDir> [--allow-plugins MODULES] [--endpoint URL [--key-file PATH]]",
  summary: "continue a stopped or failed run from its last committed epoch or clustering",
  async run(args: readonly string[]): Promise<number> {
    let run;
    try {
      const { positional, values } = parseArgs("resume", args, ["--allow-plugins", "--endpoint", "--key-file"]);
      if (positional.length !== 1) throw new CommandUsageError(`resume: expected one run directory, got ${positional.length}`);
      run = await Mcl.resume(positional[0]!, { worker: workerArgs(values), ...allowPluginsArg(values) });
    } catch (error) {
      return reportStartFailure("resume", error);
    }
    return (await followRun(run)).exitCode;
  },
};
