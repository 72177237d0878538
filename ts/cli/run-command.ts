// `mcl run <config.json>`: starts a run of a config file and follows it to its end.
import { loadConfigFile } from "../config/load-config.js";
import { allowPluginsArg } from "../plugins/plugin-consent.js";
import { Mcl } from "../sdk/mcl.js";
import { followRun, parseArgs, reportStartFailure, workerArgs, CommandUsageError } from "./run-session.js";

export const runCommand = {
  usage: "mcl run <config.json> [--allow-plugins MODULES] [--endpoint URL [--key-file PATH]]",
  summary: "start a run (MCL stages, the baseline when asked, probes) in <runDir>/<name>; Ctrl-C stops it resumably",
  async run(args: readonly string[]): Promise<number> {
    let run;
    try {
      const { positional, values } = parseArgs("run", args, ["--allow-plugins", "--endpoint", "--key-file"]);
      if (positional.length !== 1) throw new CommandUsageError(`run: expected one config file, got ${positional.length}`);
      const config = await loadConfigFile(positional[0]!);
      run = await Mcl.start(config, { worker: workerArgs(values), ...allowPluginsArg(values) });
    } catch (error) {
      return reportStartFailure("run", error);
    }
    return (await followRun(run)).exitCode;
  },
};
