// `mcl report <runDir>`: the per-attribute probe table of a finished run, from its summary.json.
import { formatProbeTable, readSummary } from "../sdk/summary.js";
import { CommandUsageError, parseArgs, reportStartFailure } from "./run-session.js";

export const reportCommand = {
  usage: "mcl report <runDir> [--json]",
  summary: "print a finished run's per-attribute linear-probe table (stages, integrated, baseline)",
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, set } = parseArgs("report", args, [], ["--json"]);
      if (positional.length !== 1) throw new CommandUsageError(`report: expected one run directory, got ${positional.length}`);
      const summary = await readSummary(positional[0]!);
      if (summary === null) {
        console.error(`mcl report: ${positional[0]} has no summary.json yet: the run has not finished (continue it with mcl resume)`);
        return 1;
      }
      console.log(set.has("--json") ? JSON.stringify(summary, null, 2) : formatProbeTable(summary));
      return 0;
    } catch (error) {
      return reportStartFailure("report", error);
    }
  },
};
