// `mcl resume <runDir>`: continues a stopped or failed run from its last commit.
import { allowPluginsArg } from "../plugins/plugin-consent.js";
import { Mcl } from "../sdk/mcl.js";
import { CommandUsageError, type OptionSpec, parseArgs } from "./args.js";
import { reportFailure } from "./failure.js";
import { ALLOW_PLUGINS_OPTION, followRun, reportLocation, WORKER_OPTIONS, workerArgs } from "./run-session.js";

const OPTIONS: readonly OptionSpec[] = [ALLOW_PLUGINS_OPTION, ...WORKER_OPTIONS];

export const resumeCommand = {
  usage: "mcl resume <runDir> [options]",
  summary: "continue a stopped or failed run from its last committed epoch or clustering, with the config stored in it",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    let run;
    try {
      const { positional, values } = parseArgs(args, OPTIONS);
      if (positional.length !== 1) throw new CommandUsageError(`expected one run directory, got ${positional.length}`);
      run = await Mcl.resume(positional[0]!, { worker: workerArgs(values), ...allowPluginsArg(values) });
    } catch (error) {
      return reportFailure("resume", error);
    }
    const outcome = await followRun(run);
    const location = reportLocation(run.dir, outcome.summary !== null);
    if (location !== null) console.log(`\n${location}`);
    return outcome.exitCode;
  },
};
