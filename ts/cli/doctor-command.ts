// `mcl doctor`: checks the Python worker's environment (doctor.ts) and says how to fix what is missing.
import { type OptionSpec, parseArgs, CommandUsageError } from "./args.js";
import { formatReport, runDoctor } from "./doctor.js";
import { EXIT_FAILURE, reportFailure } from "./failure.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "--json", help: "print the checks as one JSON object" },
  { name: "--python", value: "PATH", help: "check this interpreter instead of the worker's ($MCL_WORKER_PYTHON, else the project's .venv, else the environment of mcl setup)" },
];

export const doctorCommand = {
  usage: "mcl doctor [options]",
  summary: "check the Python worker's environment (interpreter, torch, CUDA, packages) and say how to fix what is missing",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, values, flags } = parseArgs(args, OPTIONS);
      if (positional.length > 0) throw new CommandUsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
      const report = await runDoctor(values.get("--python"));
      console.log(flags.has("--json") ? JSON.stringify(report) : formatReport(report));
      return report.ok ? 0 : EXIT_FAILURE;
    } catch (error) {
      return reportFailure("doctor", error);
    }
  },
};
