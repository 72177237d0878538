/**
 * npm run bench:quality — what MCL buys per attribute, against the equal-compute baseline, over
 * seeds (issue 5, item 5).
 *
 * For every dataset and every seed it runs the whole method through the SDK (`Mcl.start`: S stages,
 * clusterings, the single-stage baseline of the same total epochs, the linear probes) and reads
 * the run's summary.json. Per dataset, attribute and representation (stage k, integrated,
 * baseline) it reports the mean ± sample standard deviation over the seeds next to the per-seed
 * values, and the same for the paired gains "integrated − stage 1" and "integrated − baseline".
 * A seed varies both the data (the dataset URI's `seed`) and the run (`seed`: initialisation,
 * batch plans, k-means).
 *
 * Datasets: synthetic:trifeature with the demo's settings (ts/sdk/demo-config.ts), and
 * digits:colored with a continuous colour per instance, the regime in which the prototype saw
 * the digit suppressed (docs/method.md, "The demo's data").
 *
 * Writes bench/results/quality.json atomically and prints it as the last line. Options:
 *   --quick               tiny settings (256 images of 16×16, 2 stages of 1 epoch): a smoke run
 *   --seeds 0,1,2         the seeds (default 0,1,2)
 *   --datasets a,b        a subset of the datasets (trifeature, digits)
 *   --jobs 3              runs at once, each with its own worker (default 1); on a machine shared
 *                         with other work this takes a larger share of it; the seconds then grow
 * Accuracies are fractions in [0, 1] on the probe's held-out split (20 % of the data).
 */

import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import type { MclConfigInput } from "../ts/config/mcl-config.js";
import { DEMO_CONFIG } from "../ts/sdk/demo-config.js";
import { Mcl } from "../ts/sdk/mcl.js";
import type { Accuracies, Summary } from "../ts/sdk/summary.js";
import { projectRoot } from "../ts/transport/index.js";

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

/** One run's linear-probe accuracies: representation ("stage 1", …, "integrated", "baseline") → attribute → accuracy. */
export interface SeedResult {
  readonly seed: number;
  readonly seconds: number;
  readonly probe: Readonly<Record<string, Accuracies>>;
}

export interface DatasetReport {
  readonly name: string;
  /** The config of the first seed (the others differ only in the seeds). */
  readonly config: MclConfigInput;
  readonly seeds: readonly number[];
  readonly attributes: readonly string[];
  readonly representations: readonly string[];
  /** attribute → representation → accuracy over the seeds. */
  readonly probe: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** attribute → "integrated - stage 1" | "integrated - baseline" → paired difference over the seeds. */
  readonly gains: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** Wall-clock seconds of each run. */
  readonly seconds: Stat;
}

const DECIMALS = 4;
/**
 * On a machine loaded with other work torch imports slowly and the worker's heartbeats can stall
 * for seconds: wait longer than the transport's defaults (a minute to start, 4 s of silence).
 */
const PATIENT_LAUNCH = { startupTimeoutMs: 300_000, heartbeatTimeoutMs: 60_000 } as const;

function round(value: number, decimals = DECIMALS): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

/** Mean ± sample standard deviation of `values` (at least one). */
export function stat(values: readonly number[]): Stat {
  if (values.length === 0) throw new RangeError("stat: expected at least one value");
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std =
    values.length < 2 ? null : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean: round(mean), std: std === null ? null : round(std), values: values.map((v) => round(v)) };
}

/** The linear-probe accuracies of a finished run, by representation. */
export function probesOf(summary: Summary): Record<string, Accuracies> {
  const probe: Record<string, Accuracies> = {};
  for (const stage of summary.stages) probe[`stage ${stage.stage}`] = stage.probe;
  probe["integrated"] = summary.integrated.probe;
  if (summary.baseline !== undefined) probe["baseline"] = summary.baseline.probe;
  return probe;
}

/** Aggregates the runs of one dataset (same attributes and representations in each) over the seeds. */
export function summarizeSeeds(name: string, config: MclConfigInput, results: readonly SeedResult[]): DatasetReport {
  const first = results[0];
  if (first === undefined) throw new RangeError("summarizeSeeds: expected at least one run");
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
  return {
    name,
    config,
    seeds: results.map((r) => r.seed),
    attributes,
    representations,
    probe,
    gains,
    seconds: stat(results.map((r) => r.seconds)),
  };
}

export interface QualityOptions {
  readonly seeds: readonly number[];
  /** Runs at once (default 1: one at a time, as timings should be taken). */
  readonly jobs?: number;
  /** Called after each run (progress). */
  readonly onRun?: (name: string, result: SeedResult) => void;
  /** Worker output (stderr lines); silent by default. */
  readonly onWorkerOutput?: (line: string) => void;
}

/**
 * Runs every case with every seed through the SDK in a temporary run folder, `jobs` runs at once
 * (each with its own worker), and aggregates each case over its seeds.
 */
export async function runQuality(cases: readonly QualityCase[], options: QualityOptions): Promise<DatasetReport[]> {
  const runDir = await mkdtemp(join(tmpdir(), "mcl-bench-quality-"));
  const runs = cases.flatMap((c) => options.seeds.map((seed) => ({ c, seed })));
  const results: SeedResult[] = new Array(runs.length);
  let next = 0;
  const runOne = async (c: QualityCase, seed: number): Promise<SeedResult> => {
    const config = { ...c.config(seed), name: `${c.name}-seed-${seed}`, runDir };
    const launch = { ...PATIENT_LAUNCH, onOutput: options.onWorkerOutput ?? (() => {}) };
    const run = await Mcl.start(config, { worker: { launch } });
    try {
      const summary = await run.result();
      return { seed, seconds: round(summary.seconds, 1), probe: probesOf(summary) };
    } finally {
      await run.stop();
    }
  };
  const lane = async (): Promise<void> => {
    for (let i = next++; i < runs.length; i = next++) {
      const { c, seed } = runs[i]!;
      results[i] = await runOne(c, seed);
      options.onRun?.(c.name, results[i]!);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.jobs ?? 1) }, lane));
    return cases.map((c, k) => {
      const mine = results.slice(k * options.seeds.length, (k + 1) * options.seeds.length);
      return summarizeSeeds(c.name, c.config(options.seeds[0] ?? 0), mine);
    });
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

/** The demo's settings on the trifeature data of `seed`. */
function trifeature(seed: number): MclConfigInput {
  return { ...DEMO_CONFIG, dataset: DEMO_CONFIG.dataset.replace(/seed=\d+/, `seed=${seed}`), seed };
}

/**
 * Coloured digits, a continuous colour per instance (colors=0): the prototype's "many colours"
 * row (3 stages of 3 epochs, previous-stage init, τ = 0.2, batch 256, no colour jitter).
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

/** Seconds-scale settings for a smoke run (and the test): 2 stages of 1 epoch on tiny images. */
export function quick(config: (seed: number) => MclConfigInput): (seed: number) => MclConfigInput {
  return (seed) => {
    const full = config(seed);
    return {
      ...full,
      dataset: full.dataset!.startsWith("digits:")
        ? `digits:colored?repeat=1&size=16&seed=${seed}`
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
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      seeds: { type: "string", default: "0,1,2" },
      datasets: { type: "string", default: QUALITY_CASES.map((c) => c.name).join(",") },
      jobs: { type: "string", default: "1" },
    },
  });
  const seeds = values.seeds.split(",").map((s) => {
    const seed = Number(s);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seeds: expected integers >= 0 separated by commas, got ${values.seeds}`);
    return seed;
  });
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected an integer >= 1, got ${values.jobs}`);
  const names = values.datasets.split(",");
  const unknown = names.filter((n) => !QUALITY_CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`--datasets: unknown ${unknown.join(", ")}; expected some of ${QUALITY_CASES.map((c) => c.name).join(", ")}`);
  }
  const cases = QUALITY_CASES.filter((c) => names.includes(c.name)).map((c) =>
    values.quick ? { name: c.name, config: quick(c.config) } : c,
  );
  const datasets = await runQuality(cases, {
    seeds,
    jobs,
    onRun: (name, result) => {
      const cells = Object.entries(result.probe).map(
        ([rep, acc]) => `${rep}: ${Object.entries(acc).map(([a, v]) => `${a} ${(100 * v).toFixed(1)}`).join(" ")}`,
      );
      console.error(`${name} seed ${result.seed} (${result.seconds} s)\n  ${cells.join("\n  ")}`);
    },
  });
  const line = JSON.stringify({
    bench: "quality",
    quick: values.quick,
    jobs,
    metric: "linear-probe accuracy on the held-out split, mean ± sample std over seeds",
    datasets,
    load_average: round(loadavg()[0]!, 2),
    cpus: cpus().length,
    node: process.version,
  });
  await writeFileAtomic(join(projectRoot(), "bench", "results", "quality.json"), `${line}\n`);
  console.log(line);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
