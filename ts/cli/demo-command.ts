/**
 * `mcl demo`: 3-stage MCL on synthetic:trifeature with the small CNN, beside a single-stage
 * baseline of the same total epochs, in runs/demo, on the device --device names (default auto). An unfinished demo run is
 * resumed; a finished one is reported (--fresh starts over). Either way runs/demo/report.html
 * holds the charts at the end.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { MANIFEST_FILE, RunStore } from "../run/run-store.js";
import { REPORT_FILE, writeReport } from "../report/report.js";
import { DEMO_CONFIG } from "../sdk/demo-config.js";
import { CLIP_DEMO_CONFIG } from "../sdk/clip-demo-config.js";
import { formatClipTables } from "../sdk/clip-summary.js";
import { computeSchema } from "../config/compute-config.js";
import type { MclConfigInput } from "../config/mcl-config.js";
import { didYouMean } from "../config/suggest.js";
import { Mcl } from "../sdk/mcl.js";
import { formatProbeTable, readSummary, type Summary } from "../run/summary.js";
import { CommandUsageError, type OptionSpec, parseArgs } from "./args.js";
import { reportFailure } from "./failure.js";
import { followRun, WORKER_OPTIONS, workerArgs } from "./run-session.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "--fresh", help: "delete the demo's run directory and start over" },
  {
    name: "--device",
    value: "DEVICE",
    help: "where the encoder trains, as the config's compute.device: auto (the default: the first CUDA device when the worker has one, else the CPU), cpu, cuda or cuda:N",
  },
  ...WORKER_OPTIONS,
];

export const demoCommand = {
  usage: "mcl demo [clip] [options]",
  summary:
    "3-stage MCL vs an equal-compute baseline on synthetic:trifeature in runs/demo (mcl demo clip: MCL on a tiny CLIP," +
    " in runs/demo-clip); an unfinished demo is resumed, a finished one reported",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    let run;
    let clip = false;
    try {
      const { positional, values, flags } = parseArgs(args, OPTIONS);
      // `mcl demo clip`: MCL on a tiny CLIP (ts/sdk/clip-demo-config.ts), in runs/demo-clip.
      clip = positional[0] === "clip";
      const extra = positional[clip ? 1 : 0];
      if (extra !== undefined) throw new CommandUsageError(`unexpected argument ${JSON.stringify(extra)}${clip ? "" : didYouMean(extra, ["clip"])}`);
      const device = deviceOption(values.get("--device"));
      const demo: MclConfigInput = clip ? CLIP_DEMO_CONFIG : DEMO_CONFIG;
      const config: MclConfigInput = device === undefined ? demo : { ...demo, compute: { ...demo.compute, device } };
      const dir = join(config.runDir!, config.name);
      if (flags.has("--fresh")) await rm(dir, { recursive: true, force: true });
      const options = { worker: workerArgs(values) };
      if (existsSync(join(dir, MANIFEST_FILE))) {
        if (device !== undefined) await checkStoredDevice(dir, device, clip);
        const finished = await readSummary(dir);
        if (finished !== null) {
          console.log(`${dir} holds a finished demo run (mcl demo --fresh runs it again):\n`);
          console.log(formatProbeTable(finished));
          console.log(`\n${clip ? formatClipTables(finished) : describeEffect(finished)}`);
          // A demo finished before reports existed has none; rendering again is cheap.
          console.log(`\nreport: ${(await writeReport(dir)).html}`);
          return 0;
        }
        run = await Mcl.resume(dir, options);
      } else {
        run = await Mcl.start(config, options);
      }
    } catch (error) {
      return reportFailure("demo", error);
    }
    const outcome = await followRun(run);
    if (outcome.summary !== null) console.log(`\n${clip ? formatClipTables(outcome.summary) : describeEffect(outcome.summary)}\n\nreport: ${join(run.dir, REPORT_FILE)}`);
    return outcome.exitCode;
  },
};

/** The --device value checked as the config's compute.device is; undefined when not given. */
function deviceOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const parsed = computeSchema.shape.device.safeParse(value);
  if (!parsed.success) throw new CommandUsageError(`--device: ${parsed.error.issues[0]!.message}, got ${JSON.stringify(value)}`);
  return parsed.data;
}

/** A demo run already in `dir` keeps the device it started on: another --device is refused, naming --fresh. */
async function checkStoredDevice(dir: string, device: string, clip: boolean): Promise<void> {
  const stored = (await RunStore.open(dir)).manifest.config.compute.device;
  if (stored !== device) {
    throw new CommandUsageError(
      `--device: the demo run in ${dir} was started on ${stored}; mcl demo${clip ? " clip" : ""} --fresh --device ${device} starts it over on ${device}`,
    );
  }
}

/**
 * What the table shows about feature suppression, read off the numbers: the attributes stage 1
 * learned worst, and how the integrated representation and the baseline compare on them.
 */
export function describeEffect(summary: Summary): string {
  const first = summary.stages[0]?.probe ?? {};
  const integrated = summary.integrated.probe;
  const points = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "?" : `${b >= a ? "+" : ""}${(100 * (b - a)).toFixed(1)}`;
  const lines = summary.attributes.map((name) => {
    const vsBaseline =
      summary.baseline === undefined ? "" : `, ${points(summary.baseline.probe[name], integrated[name])} points vs the baseline`;
    return `  ${name}: integrated ${points(first[name], integrated[name])} points vs stage 1${vsBaseline}`;
  });
  return ["integrated representation:", ...lines].join("\n");
}
