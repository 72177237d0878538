// `mcl report <runDir>`: (re)writes the run's visual report (report.html, report-accuracy.svg) from
// what its directory holds, and prints the per-attribute probe table of a finished run.
import { writeReport } from "../report/report.js";
import { formatProbeTable, readSummary } from "../sdk/summary.js";
import { CommandUsageError, parseArgs, reportStartFailure } from "./run-session.js";

export const reportCommand = {
  usage: "mcl report <runDir> [--json]",
  summary: "write a run's report.html (charts, probe table) and print its per-attribute linear-probe table",
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, set } = parseArgs("report", args, [], ["--json"]);
      if (positional.length !== 1) throw new CommandUsageError(`report: expected one run directory, got ${positional.length}`);
      const dir = positional[0]!;
      const written = await writeReport(dir);
      const summary = await readSummary(dir);
      if (set.has("--json")) {
        if (summary === null) {
          console.error(`mcl report: ${dir} has no summary.json yet: the run has not finished (continue it with mcl resume)`);
          return 1;
        }
        console.log(JSON.stringify(summary, null, 2));
        return 0;
      }
      console.log(
        summary === null
          ? `${dir} has not finished (no summary.json yet; continue it with mcl resume): the report shows what it has measured so far.`
          : formatProbeTable(summary),
      );
      console.log(`\nreport: ${written.html} (main chart: ${written.accuracySvg})`);
      return 0;
    } catch (error) {
      return reportStartFailure("report", error);
    }
  },
};
