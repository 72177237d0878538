// `mcl setup`: builds the worker's Python environment in this user's cache (transport/setup.ts),
// the one-time step of the installed package; the SDK runs the same on first use.
import { type PythonChoice, type SetupPlan, choosePython, planUserSetup, setUpWorkerEnvironment } from "../transport/index.js";
import { CommandUsageError, type OptionSpec, parseArgs } from "./args.js";
import { reportFailure, shellWord } from "./failure.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "--force", help: "build it again even when a working one is there (e.g. after changing MCL_TORCH_SPEC)" },
  { name: "--python", value: "PATH", help: "the Python 3.10+ the environment is made from (default: $MCL_PYTHON, else python3)" },
  { name: "--dry-run", help: "print the commands it would run, and run nothing" },
  { name: "--verbose", help: "show pip's own output as it comes" },
];

export const setupCommand = {
  usage: "mcl setup [options]",
  summary:
    "build the worker's Python environment (torch and the bundled worker) in this user's cache, once; " +
    "MCL_WORKER_VENV moves it, MCL_TORCH_SPEC and MCL_TORCH_INDEX_URL pick the torch build",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, values, flags } = parseArgs(args, OPTIONS);
      if (positional.length > 0) throw new CommandUsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
      const basePython = values.get("--python");
      const base = basePython === undefined ? {} : { basePython };
      if (flags.has("--dry-run")) {
        console.log(formatPlan(await planUserSetup(base)));
        return 0;
      }
      const verbose = flags.has("--verbose") ? { onOutput: (text: string) => void process.stderr.write(text) } : {};
      const result = await setUpWorkerEnvironment({ ...base, ...verbose, force: flags.has("--force"), log: (line) => console.log(line) });
      if (!result.built) console.log(`the worker's environment at ${result.venv} works already (--force builds it again)`);
      const used = choosePython();
      if (used.path !== result.python) console.log(precedenceNote(used));
      return 0;
    } catch (error) {
      return reportFailure("setup", error);
    }
  },
};

/** The plan as the shell commands it runs, one a line. */
export function formatPlan(plan: SetupPlan): string {
  const command = (words: readonly string[]): string => words.map(shellWord).join(" ");
  return [
    `# into ${plan.venv}, built in ${plan.staging} and renamed when every step passed`,
    `# torch: ${plan.torch.spec} (${plan.torch.why})`,
    `# copy pyproject.toml, setup.py, MANIFEST.in, proto/protocol.json and py/mcl_worker from ${plan.root} to ${plan.workerSource}`,
    ...plan.steps.map((step) => `${command([step.command, ...step.args])}    # ${step.name}, at most ${step.timeoutMs / 60_000} min`),
  ].join("\n");
}

function precedenceNote(used: PythonChoice): string {
  const why = used.source === "project venv" ? "the project's .venv comes first" : `${used.source} comes first; unset it to use this one`;
  return `note: the worker runs ${used.path} (${why})`;
}
