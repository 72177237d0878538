/**
 * npm run bench:quality — what MCL buys per attribute, against the equal-compute baseline, over
 * seeds, under each small-group policy (sampling.smallGroups).
 *
 * For every dataset, policy and seed it runs the whole method through the SDK (`Mcl.start`: S
 * stages, clusterings, the single-stage baseline of the same total epochs, the linear probes) and
 * reads the run's summary.json. Per dataset and policy, per attribute and representation (stage k,
 * integrated, baseline) it reports the mean ± sample standard deviation over the seeds next to the
 * per-seed values, the same for the paired gains "integrated − stage 1" and "integrated −
 * baseline", the share of the samples every epoch of each stage left out, and the run time. A
 * seed varies both the data (the dataset URI's `seed`) and the run (`seed`: initialisation, batch
 * plans, k-means).
 *
 * Datasets: synthetic:trifeature with the demo's settings (ts/sdk/demo-config.ts);
 * digits:colored with a continuous colour per instance, in which colour nearly identifies an
 * instance within a batch and so suppresses the digit (docs/method.md, "The demo's data"), with
 * colour jitter off; and
 * digits-stripes, the same digits over a grating of each instance's own orientation and frequency,
 * with every augmentation at its default (colour jitter and grayscale on), K = 16 and each stage
 * starting from the previous one: the grating still nearly identifies an instance within a batch
 * after the augmentations, so suppression survives them.
 *
 * Writes the results atomically (bench/results/quality.json unless --out says otherwise), prints
 * a table per dataset on stderr and the JSON as the last line of stdout. Options:
 *   --quick               tiny settings (256 images of 16×16, 2 stages of 1 epoch): a smoke run
 *   --seeds 0,1,2         the seeds (default 0,1,2)
 *   --datasets a,b        a subset of the datasets (trifeature, digits, digits-stripes)
 *   --policies a,b        the small-group policies compared, each a sampling.smallGroups value,
 *                         with ":m" for its sampling.minBatchSize (default: all of
 *                         drop, merge-to-parent, shrink:8, shrink:32, balanced:32)
 *   --set key=value       a config change applied to every case before its policy, as `mcl run
 *                         --set` reads it (repeatable): one setting against the cases' own
 *   --out path            where to write the JSON (default bench/results/quality.json)
 *   --jobs 3              runs at once, each with its own worker (default 1); on a machine shared
 *                         with other work this takes a larger share of it; the seconds then grow
 *   --clip                the CLIP demo's case instead (bench/quality-clip.ts: the CLIP loss and
 *                         X-Sample, MMVP-style and zero-shot scores), with options of its own
 * Accuracies are fractions in [0, 1] on the probe's held-out split (20 % of the data).
 */

import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { applyOverrides, parseOverride } from "../ts/config/config-overrides.js";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { SMALL_GROUP_POLICIES, type MclConfigInput } from "../ts/config/mcl-config.js";
import type { SmallGroupPolicy } from "../ts/control/batch-planner.js";
import { DEMO_CONFIG } from "../ts/sdk/demo-config.js";
import { Mcl } from "../ts/sdk/mcl.js";
import { errorCodeOf } from "../ts/errors.js";
import type { Accuracies, Summary } from "../ts/run/summary.js";
import { projectRoot } from "../ts/transport/index.js";
import { PAUSABLE_LAUNCH } from "./launch.js";

/** A dataset and the run settings it is benchmarked with; `config(seed)` is one run's config. */
export interface QualityCase {
  readonly name: string;
  readonly config: (seed: number) => MclConfigInput;
}

/** Mean and sample standard deviation (n − 1; null for a single value) of `values`. */
export interface Stat {
  readonly mean: number;
  readonly std: number | null;
  readonly values: readonly number[];
}

/** A small-group policy as compared: sampling.smallGroups, and sampling.minBatchSize when set. */
export interface PolicySetting {
  readonly smallGroups: SmallGroupPolicy;
  readonly minBatchSize?: number;
}

/** The default comparison of --policies. */
export const DEFAULT_POLICIES: readonly PolicySetting[] = [
  { smallGroups: "drop" },
  { smallGroups: "merge-to-parent" },
  { smallGroups: "shrink", minBatchSize: 8 },
  { smallGroups: "shrink", minBatchSize: 32 },
  { smallGroups: "balanced", minBatchSize: 32 },
];

/** "shrink:32", as --policies takes it. */
export function policyLabel(policy: PolicySetting): string {
  return policy.minBatchSize === undefined ? policy.smallGroups : `${policy.smallGroups}:${policy.minBatchSize}`;
}

/** --policies' value: labels separated by commas. */
export function parsePolicies(text: string): PolicySetting[] {
  return text.split(",").map((label) => {
    const [name, min, extra] = label.split(":");
    const smallGroups = SMALL_GROUP_POLICIES.find((p) => p === name);
    const minBatchSize = min === undefined ? undefined : Number(min);
    if (smallGroups === undefined || extra !== undefined || (minBatchSize !== undefined && !(Number.isInteger(minBatchSize) && minBatchSize >= 2))) {
      throw new Error(
        `--policies: expected sampling.smallGroups values (${SMALL_GROUP_POLICIES.join(", ")}), each optionally with ":<minBatchSize>" (an integer >= 2), separated by commas; got ${JSON.stringify(label)}`,
      );
    }
    return minBatchSize === undefined ? { smallGroups } : { smallGroups, minBatchSize };
  });
}

/** A case's run config under `policy`. */
function withPolicy(config: MclConfigInput, policy: PolicySetting | undefined): MclConfigInput {
  if (policy === undefined) return config;
  const minBatchSize = policy.minBatchSize === undefined ? {} : { minBatchSize: policy.minBatchSize };
  return { ...config, sampling: { ...config.sampling, smallGroups: policy.smallGroups, ...minBatchSize } };
}

/**
 * One run's linear-probe accuracies: representation ("stage 1", …, "integrated", "baseline") →
 * attribute → accuracy; and the share of the samples each of its tracks ("stage 1", …, "baseline")
 * left out every epoch.
 */
export interface SeedResult {
  readonly seed: number;
  readonly seconds: number;
  readonly probe: Readonly<Record<string, Accuracies>>;
  readonly leftOut: Readonly<Record<string, number>>;
}

/**
 * A run the batch planner refused (PLAN_INFEASIBLE): under its policy some stage has no batch at
 * all, e.g. `drop` when no group fills a batch. Its seconds run until the refusal.
 */
export interface InfeasibleRun {
  readonly seed: number;
  readonly seconds: number;
  readonly reason: string;
}

export interface DatasetReport {
  readonly name: string;
  /** The small-group policy of the runs ("shrink:32"), as the config has it. */
  readonly policy: string;
  /** The config of the first seed (the others differ only in the seeds). */
  readonly config: MclConfigInput;
  /** The seeds whose runs finished; `infeasible` has the others. */
  readonly seeds: readonly number[];
  readonly infeasible: readonly InfeasibleRun[];
  readonly attributes: readonly string[];
  readonly representations: readonly string[];
  /** attribute → representation → accuracy over the seeds. */
  readonly probe: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** attribute → "integrated - stage 1" | "integrated - baseline" → paired difference over the seeds. */
  readonly gains: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** track ("stage 1", …, "baseline") → the share of the samples every epoch left out, over the seeds. */
  readonly leftOut: Readonly<Record<string, Stat>>;
  /** Wall-clock seconds of each run (of the refused ones when none finished). */
  readonly seconds: Stat;
}

const DECIMALS = 4;

/** `value` rounded to `decimals` places, as the results files keep figures. */
export function round(value: number, decimals = DECIMALS): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

/** --seeds' value: integers >= 0 separated by commas. */
export function parseSeeds(text: string): number[] {
  return text.split(",").map((s) => {
    const seed = Number(s);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seeds: expected integers >= 0 separated by commas, got ${text}`);
    return seed;
  });
}

/** Mean ± sample standard deviation of `values` (at least one). */
export function stat(values: readonly number[]): Stat {
  if (values.length === 0) throw new RangeError("stat: expected at least one value");
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std =
    values.length < 2 ? null : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean: round(mean), std: std === null ? null : round(std), values: values.map((v) => round(v)) };
}

/** The share of the samples every epoch of each track of a finished run left out (tracks whose summary records it). */
export function leftOutOf(summary: Summary): Record<string, number> {
  const leftOut: Record<string, number> = {};
  for (const stage of summary.stages) if (stage.sampling !== undefined) leftOut[`stage ${stage.stage}`] = stage.sampling.leftOutFraction;
  if (summary.baseline?.sampling !== undefined) leftOut["baseline"] = summary.baseline.sampling.leftOutFraction;
  return leftOut;
}

/** The linear-probe accuracies of a finished run, by representation. */
export function probesOf(summary: Summary): Record<string, Accuracies> {
  const probe: Record<string, Accuracies> = {};
  for (const stage of summary.stages) probe[`stage ${stage.stage}`] = stage.probe;
  probe["integrated"] = summary.integrated.probe;
  if (summary.baseline !== undefined) probe["baseline"] = summary.baseline.probe;
  return probe;
}

/**
 * Aggregates the runs of one dataset and policy (same attributes and representations in each) over
 * the seeds that finished; `infeasible` lists the others.
 */
export function summarizeSeeds(
  name: string,
  config: MclConfigInput,
  results: readonly SeedResult[],
  infeasible: readonly InfeasibleRun[] = [],
): DatasetReport {
  const sampling = config.sampling ?? {};
  const policy = policyLabel({
    smallGroups: sampling.smallGroups ?? "merge-to-parent",
    ...(sampling.minBatchSize === undefined ? {} : { minBatchSize: sampling.minBatchSize }),
  });
  const first = results[0];
  if (first === undefined) {
    if (infeasible.length === 0) throw new RangeError("summarizeSeeds: expected at least one run");
    const seconds = stat(infeasible.map((r) => r.seconds));
    return { name, policy, config, seeds: [], infeasible, attributes: [], representations: [], probe: {}, gains: {}, leftOut: {}, seconds };
  }
  const representations = Object.keys(first.probe);
  const attributes = Object.keys(first.probe[representations[0]!] ?? {});
  const value = (r: SeedResult, representation: string, attribute: string): number => {
    const v = r.probe[representation]?.[attribute];
    if (v === undefined) throw new RangeError(`seed ${r.seed}: no ${representation} accuracy for ${attribute}`);
    return v;
  };
  const probe: Record<string, Record<string, Stat>> = {};
  const gains: Record<string, Record<string, Stat>> = {};
  for (const attribute of attributes) {
    probe[attribute] = {};
    for (const representation of representations) {
      probe[attribute][representation] = stat(results.map((r) => value(r, representation, attribute)));
    }
    const gain = (from: string) => stat(results.map((r) => value(r, "integrated", attribute) - value(r, from, attribute)));
    gains[attribute] = { "integrated - stage 1": gain("stage 1") };
    if (representations.includes("baseline")) gains[attribute]["integrated - baseline"] = gain("baseline");
  }
  const leftOut: Record<string, Stat> = {};
  for (const track of Object.keys(first.leftOut)) {
    leftOut[track] = stat(results.map((r) => r.leftOut[track] ?? Number.NaN));
  }
  return {
    name,
    policy,
    config,
    seeds: results.map((r) => r.seed),
    infeasible,
    attributes,
    representations,
    probe,
    gains,
    leftOut,
    seconds: stat(results.map((r) => r.seconds)),
  };
}

export interface QualityOptions {
  readonly seeds: readonly number[];
  /** The small-group policies to compare (default: each case's own). */
  readonly policies?: readonly PolicySetting[];
  /** Runs at once (default 1: one at a time, as timings should be taken). */
  readonly jobs?: number;
  /** Called after each run (progress). */
  readonly onRun?: (name: string, policy: string, result: SeedResult | InfeasibleRun) => void;
  /** Worker output (stderr lines); silent by default. */
  readonly onWorkerOutput?: (line: string) => void;
}

/**
 * Runs every case under every policy with every seed through the SDK in a temporary run folder,
 * `jobs` runs at once (each with its own worker), and aggregates each (case, policy) over its
 * seeds: one report per case and policy, the policies of a case together.
 */
export async function runQuality(cases: readonly QualityCase[], options: QualityOptions): Promise<DatasetReport[]> {
  const runDir = await mkdtemp(join(tmpdir(), "mcl-bench-quality-"));
  const policies: readonly (PolicySetting | undefined)[] = options.policies ?? [undefined];
  const groups = cases.flatMap((c) => policies.map((policy) => ({ c, policy })));
  const runs = groups.flatMap(({ c, policy }) => options.seeds.map((seed) => ({ c, policy, seed })));
  const results: (SeedResult | InfeasibleRun)[] = new Array(runs.length);
  let next = 0;
  const runOne = async (config: MclConfigInput, seed: number): Promise<SeedResult | InfeasibleRun> => {
    const launch = { ...PAUSABLE_LAUNCH, onOutput: options.onWorkerOutput ?? (() => {}) };
    const started = performance.now();
    const run = await Mcl.start(config, { worker: { launch } });
    try {
      const summary = await run.result();
      return { seed, seconds: round(summary.seconds, 1), probe: probesOf(summary), leftOut: leftOutOf(summary) };
    } catch (error) {
      // A policy that leaves some stage without a batch is a result of the comparison, not a failure of it.
      if (errorCodeOf(error) !== "PLAN_INFEASIBLE") throw error;
      return { seed, seconds: round((performance.now() - started) / 1000, 1), reason: (error as Error).message };
    } finally {
      await run.stop();
    }
  };
  const lane = async (): Promise<void> => {
    for (let i = next++; i < runs.length; i = next++) {
      const { c, policy, seed } = runs[i]!;
      const label = policy === undefined ? "" : `-${policyLabel(policy).replace(":", "-")}`;
      const config = { ...withPolicy(c.config(seed), policy), name: `${c.name}${label}-seed-${seed}`, runDir };
      results[i] = await runOne(config, seed);
      options.onRun?.(c.name, policy === undefined ? "" : policyLabel(policy), results[i]!);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.jobs ?? 1) }, lane));
    return groups.map(({ c, policy }, k) => {
      const mine = results.slice(k * options.seeds.length, (k + 1) * options.seeds.length);
      const finished = mine.filter((r): r is SeedResult => !("reason" in r));
      const refused = mine.filter((r): r is InfeasibleRun => "reason" in r);
      return summarizeSeeds(c.name, withPolicy(c.config(options.seeds[0] ?? 0), policy), finished, refused);
    });
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

/**
 * The reports of one dataset as a Markdown table, one row per policy: per attribute the mean
 * accuracy of stage 1, the last stage, the integrated representation and the baseline, and the
 * integrated − baseline gain per seed; the share of the samples each stage left out; the seconds
 * per run. Percentages. A policy's seeds without a batch plan are named beside it.
 */
export function formatQualityTable(reports: readonly DatasetReport[]): string {
  const first = reports.find((report) => report.seeds.length > 0) ?? reports[0];
  if (first === undefined) return "";
  const last = first.representations.filter((r) => r.startsWith("stage ")).at(-1) ?? "stage 1";
  const shown = ["stage 1", ...(last === "stage 1" ? [] : [last]), "integrated", "baseline"].filter((r) => first.representations.includes(r));
  const tracks = Object.keys(first.leftOut).filter((t) => t !== "baseline");
  const pct = (s: Stat | undefined) => (s === undefined ? "-" : `${(100 * s.mean).toFixed(1)}${s.std === null ? "" : ` ± ${(100 * s.std).toFixed(1)}`}`);
  const head = [
    "policy",
    ...first.attributes.flatMap((a) => [...shown.map((r) => `${a}: ${r}`), `${a}: integrated − baseline per seed`]),
    ...tracks.map((t) => `left out, ${t}`),
    "seconds per run",
  ];
  const rows = reports.map((report) => [
    `\`${report.policy}\`${report.infeasible.length === 0 ? "" : ` (no batch plan: seed ${report.infeasible.map((r) => r.seed).join(", ")})`}`,
    ...first.attributes.flatMap((a) => [
      ...shown.map((r) => pct(report.probe[a]?.[r])),
      (report.gains[a]?.["integrated - baseline"]?.values ?? []).map((v) => `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}`).join(" / "),
    ]),
    ...tracks.map((t) => (report.leftOut[t] === undefined ? "-" : `${(100 * report.leftOut[t].mean).toFixed(1)} %`)),
    `${report.seconds.mean.toFixed(0)}`,
  ]);
  return [`${first.name} (seeds ${first.seeds.join(", ")})`, "", `| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join(
    "\n",
  );
}

/** The demo's settings on the trifeature data of `seed`. */
function trifeature(seed: number): MclConfigInput {
  return { ...DEMO_CONFIG, dataset: DEMO_CONFIG.dataset.replace(/seed=\d+/, `seed=${seed}`), seed };
}

/**
 * Coloured digits, a continuous colour per instance (colors=0): 3 stages of 3 epochs,
 * previous-stage init, τ = 0.2, batch 256, no colour jitter.
 */
function digits(seed: number): MclConfigInput {
  return {
    name: "digits",
    dataset: `digits:colored?repeat=3&size=32&colors=0&seed=${seed}`,
    encoder: "small-cnn",
    stages: 3,
    clusters: 10,
    epochsPerStage: 3,
    batchSize: 256,
    init: "previous",
    sampling: { policy: "mcl", smallGroups: "merge-to-parent" },
    loss: { name: "nt-xent", temperature: 0.2 },
    optimizer: { name: "adamw", lr: 1e-3, weightDecay: 1e-4 },
    augmentation: { cropScale: [0.2, 1], flip: false, jitter: 0, grayscale: 0 },
    integration: { normalize: "per-stage-l2" },
    baseline: true,
    probe: { attributes: "all", knn: 20 },
    seed,
  };
}

/**
 * The coloured digits with a grating per instance behind the digit (stripes=0.5), every
 * augmentation at its default (colour jitter 0.4, grayscale 0.2, flip), K = 16, and each stage
 * starting from the previous one's weights as in the other cases (every other setting at its
 * default): jitter and grayscale weaken colour, but crops, flips and colour changes keep a
 * grating's orientation and roughly its frequency, so the grating still nearly identifies an
 * instance within a batch and suppression survives the augmentations; 16 × 16 composite groups
 * are mostly smaller than a batch of 256, so the small-group policy decides much of what stage 3
 * trains on.
 */
function digitsStripes(seed: number): MclConfigInput {
  return {
    name: "digits-stripes",
    dataset: `digits:colored?repeat=3&size=32&colors=0&stripes=0.5&seed=${seed}`,
    encoder: "small-cnn",
    stages: 3,
    clusters: 16,
    epochsPerStage: 3,
    batchSize: 256,
    init: "previous",
    sampling: { policy: "mcl", smallGroups: "merge-to-parent" },
    baseline: true,
    probe: { attributes: "all", knn: 20 },
    seed,
  };
}

/** Seconds-scale settings for a smoke run (and the test): 2 stages of 1 epoch on tiny images. */
export function quick(config: (seed: number) => MclConfigInput): (seed: number) => MclConfigInput {
  return (seed) => {
    const full = config(seed);
    return {
      ...full,
      dataset: full.dataset!.startsWith("digits:")
        ? full.dataset!.replace(/repeat=\d+/, "repeat=1").replace(/size=\d+/, "size=16")
        : `synthetic:trifeature?n=256&size=16&seed=${seed}&rotation=0`,
      stages: 2,
      clusters: 4,
      epochsPerStage: 1,
      batchSize: 32,
      probe: { attributes: "all", knn: 5 },
    };
  };
}

export const QUALITY_CASES: readonly QualityCase[] = [
  { name: "trifeature", config: trifeature },
  { name: "digits", config: digits },
  { name: "digits-stripes", config: digitsStripes },
];

async function main(): Promise<void> {
  // --clip: the CLIP demo's case instead (bench/quality-clip.ts), with options of its own. Not
  // awaited here: that module imports this one, whose loading waits for main() to return.
  if (process.argv.includes("--clip")) {
    void import("./quality-clip.js").then((clip) => clip.clipQualityMain(process.argv.slice(2)));
    return;
  }
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      seeds: { type: "string", default: "0,1,2" },
      datasets: { type: "string", default: QUALITY_CASES.map((c) => c.name).join(",") },
      policies: { type: "string", default: DEFAULT_POLICIES.map(policyLabel).join(",") },
      out: { type: "string", default: join(projectRoot(), "bench", "results", "quality.json") },
      jobs: { type: "string", default: "1" },
      set: { type: "string", multiple: true, default: [] },
    },
  });
  const seeds = parseSeeds(values.seeds);
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected an integer >= 1, got ${values.jobs}`);
  const names = values.datasets.split(",");
  const unknown = names.filter((n) => !QUALITY_CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`--datasets: unknown ${unknown.join(", ")}; expected some of ${QUALITY_CASES.map((c) => c.name).join(", ")}`);
  }
  const overrides = values.set.map(parseOverride);
  const cases = QUALITY_CASES.filter((c) => names.includes(c.name)).map((c) => {
    const config = values.quick ? quick(c.config) : c.config;
    return { name: c.name, config: (seed: number) => applyOverrides(config(seed), overrides) as MclConfigInput };
  });
  const policies = parsePolicies(values.policies);
  const datasets = await runQuality(cases, {
    seeds,
    jobs,
    policies,
    onRun: (name, policy, result) => {
      if ("reason" in result) {
        console.error(`${name} ${policy} seed ${result.seed} (${result.seconds} s): no batch plan: ${result.reason}`);
        return;
      }
      const cells = Object.entries(result.probe).map(
        ([rep, acc]) => `${rep}: ${Object.entries(acc).map(([a, v]) => `${a} ${(100 * v).toFixed(1)}`).join(" ")}`,
      );
      const leftOut = Object.entries(result.leftOut).map(([track, f]) => `${track} ${(100 * f).toFixed(1)}%`).join(", ");
      console.error(`${name} ${policy} seed ${result.seed} (${result.seconds} s; left out: ${leftOut})\n  ${cells.join("\n  ")}`);
    },
  });
  for (const c of cases) console.error(`\n${formatQualityTable(datasets.filter((d) => d.name === c.name))}`);
  const line = JSON.stringify({
    bench: "quality",
    quick: values.quick,
    jobs,
    metric: "linear-probe accuracy on the held-out split, mean ± sample std over seeds",
    policies: policies.map(policyLabel),
    overrides: values.set,
    datasets,
    load_average: round(loadavg()[0]!, 2),
    cpus: cpus().length,
    node: process.version,
  });
  await writeFileAtomic(values.out, `${line}\n`);
  console.log(line);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
