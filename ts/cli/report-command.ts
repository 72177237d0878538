// `mcl report <runDir>`: (re)writes the run's visual report (report.html, report-accuracy.svg) from
// what its directory holds, and prints the per-attribute probe table of a finished run.
import { writeReport } from "../report/report.js";
import { formatProbeTable, readSummary } from "../run/summary.js";
import { CommandUsageError, type OptionSpec, parseArgs } from "./args.js";
import { EXIT_FAILURE, reportFailure } from "./failure.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "--json", help: "print the finished run's summary.json instead of the table (an unfinished run exits 1)" },
];

export const reportCommand = {
  usage: "mcl report <runDir> [options]",
  summary: "write a run's report.html (charts, probe table) and print its per-attribute linear-probe table",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, flags } = parseArgs(args, OPTIONS);
      if (positional.length !== 1) throw new CommandUsageError(`expected one run directory, got ${positional.length}`);
      const dir = positional[0]!;
      const written = await writeReport(dir);
      const summary = await readSummary(dir);
      if (flags.has("--json")) {
        if (summary === null) {
          console.error(`mcl report: ${dir} has no summary.json yet: the run has not finished (continue it with mcl resume)`);
          return EXIT_FAILURE;
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
      return reportFailure("report", error);
    }
  },
};
