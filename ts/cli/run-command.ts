// `mcl run <config>`: starts a run of a config file (YAML or JSON), changed by --set, --name and
// --run-dir, and follows it to its end.
import { join } from "node:path";
import { loadConfigFile } from "../config/load-config.js";
import { type ConfigOverride, parseOverride } from "../config/config-overrides.js";
import type { MclConfig } from "../config/mcl-config.js";
import { allowPluginsArg } from "../plugins/plugin-consent.js";
import { Mcl } from "../sdk/mcl.js";
import { MclError } from "../errors.js";
import { CommandUsageError, type OptionSpec, parseArgs, type ParsedArgs } from "./args.js";
import { reportFailure, shellWord } from "./failure.js";
import { ALLOW_PLUGINS_OPTION, followRun, reportLocation, WORKER_OPTIONS, workerArgs } from "./run-session.js";

const OPTIONS: readonly OptionSpec[] = [
  {
    name: "--set",
    value: "KEY=VALUE",
    repeatable: true,
    help: "change one config field: a dotted path (loss.temperature, integration.stages[0]) and a YAML or JSON value",
  },
  { name: "--name", value: "NAME", help: "the run's name, as --set name=NAME but always a string (the run is in <runDir>/<name>)" },
  { name: "--run-dir", value: "DIR", help: "the folder that holds run directories, as --set runDir=DIR" },
  ALLOW_PLUGINS_OPTION,
  ...WORKER_OPTIONS,
];

export const runCommand = {
  usage: "mcl run <config.yaml|config.json> [options]",
  summary: "start a run (MCL stages, the baseline when asked, probes) in <runDir>/<name>; Ctrl-C stops it resumably",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    let config: MclConfig | undefined;
    let run;
    try {
      const parsed = parseArgs(args, OPTIONS);
      if (parsed.positional.length !== 1) throw new CommandUsageError(`expected one config file, got ${parsed.positional.length}`);
      config = await loadConfigFile(parsed.positional[0]!, overridesOf(parsed));
      run = await Mcl.start(config, { worker: workerArgs(parsed.values), ...allowPluginsArg(parsed.values) });
    } catch (error) {
      const code = reportFailure("run", error);
      if (config !== undefined && error instanceof MclError && error.code === "RUN_EXISTS") console.error(takenAdvice(join(config.runDir, config.name), args));
      return code;
    }
    const outcome = await followRun(run);
    const location = reportLocation(run.dir, outcome.summary !== null);
    if (location !== null) console.log(`\n${location}`);
    return outcome.exitCode;
  },
};

/** The config changes the command line asks for: every --set in order, then --name and --run-dir. */
function overridesOf(parsed: ParsedArgs): ConfigOverride[] {
  const overrides = (parsed.lists.get("--set") ?? []).map((text) => ({ ...parseOverride(text), text: `--set ${shellWord(text)}` }));
  const name = parsed.values.get("--name");
  if (name !== undefined) overrides.push({ path: ["name"], value: name, text: `--name ${shellWord(name)}` });
  const runDir = parsed.values.get("--run-dir");
  if (runDir !== undefined) overrides.push({ path: ["runDir"], value: runDir, text: `--run-dir ${shellWord(runDir)}` });
  return overrides;
}

/** The commands that deal with a run directory the new run would take: continue it, remove it, or another name. */
function takenAdvice(dir: string, args: readonly string[]): string {
  const command = (words: readonly string[]) => ["mcl", "run", ...words].map(shellWord).join(" ");
  return [
    `  to continue it:           ${["mcl", "resume", dir, ...resumeOptions(args)].map(shellWord).join(" ")}`,
    `  to delete it, then start: rm -r ${shellWord(dir)} && ${command(args)}`,
    `  to keep it, another name: ${command(withoutName(args))} --name <new-name>`,
  ].join("\n");
}

/** The options of `args` that `mcl resume` needs too: which plugins may load, and which worker. */
function resumeOptions(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (RESUME_OPTIONS.includes(arg) && i + 1 < args.length) kept.push(arg, args[++i]!);
    else if (RESUME_OPTIONS.some((option) => arg.startsWith(`${option}=`))) kept.push(arg);
  }
  return kept;
}

const RESUME_OPTIONS = ["--allow-plugins", "--endpoint", "--key-file"];

/** `args` less any --name NAME (or --name=NAME). */
function withoutName(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--name") i++;
    else if (!args[i]!.startsWith("--name=")) kept.push(args[i]!);
  }
  return kept;
}
