/**
 * The CLIP case of npm run bench:quality (`npm run bench:quality -- --clip`): the CLIP demo's
 * config (ts/sdk/clip-demo-config.ts) over seeds, once with its CLIP loss and once with X-Sample
 * (`clip.loss.name: "xsample"`, its default graph: the captions' token overlap).
 *
 * For every loss and seed it runs the whole method through the SDK (`Mcl.start`: stage 0, the MCL
 * stages, the equal-compute baseline, zero-shot and MMVP-style scoring) and reads the run's
 * summary.json. Per loss, category (an attribute the captions name) and representation (stage 0,
 * each MCL stage, integrated, baseline) it reports the MMVP-style pair score and the zero-shot
 * accuracy as mean ± sample standard deviation next to the per-seed values, the paired MMVP gains
 * "integrated − stage 0" and "integrated − baseline", and the run time of each seed. A seed varies
 * both the data (the dataset URI's `seed`) and the run (`seed`).
 *
 * Writes the results under the key "clip" of bench/results/quality.json (unless --out says
 * otherwise), keeping every other key of the file, prints a table on stderr and the results as
 * the last line of stdout. Options:
 *   --quick            tiny settings (128 images, stage 0 and 2 stages of 1 epoch): a smoke run
 *   --seeds 0,1,2      the seeds (default 0,1,2)
 *   --losses a,b       a subset of the losses (clip, xsample)
 *   --out path         the results file (default bench/results/quality.json)
 * Scores are fractions in [0, 1]; a pair counts when both of its images match their own caption.
 */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import type { MclConfigInput } from "../ts/config/mcl-config.js";
import { CLIP_DEMO_CONFIG } from "../ts/sdk/clip-demo-config.js";
import { Mcl } from "../ts/sdk/mcl.js";
import type { Accuracies, RepresentationResult, Summary } from "../ts/run/summary.js";
import { projectRoot } from "../ts/transport/index.js";
import { PAUSABLE_LAUNCH } from "./launch.js";
import { parseSeeds, round, stat, type Stat } from "./quality.js";

export const CLIP_QUALITY_LOSSES = ["clip", "xsample"] as const;
export type ClipQualityLoss = (typeof CLIP_QUALITY_LOSSES)[number];

/** The key of bench/results/quality.json this case owns. */
export const RESULTS_KEY = "clip";

/** What one run scored: representation ("stage 0", …, "integrated", "baseline") → category → score. */
export interface ClipSeedResult {
  readonly seed: number;
  readonly seconds: number;
  readonly mmvp: Readonly<Record<string, Accuracies>>;
  readonly zeroShot: Readonly<Record<string, Accuracies>>;
}

export interface ClipLossReport {
  readonly loss: ClipQualityLoss;
  /** The config of the first seed (the others differ only in the seeds). */
  readonly config: MclConfigInput;
  readonly seeds: readonly number[];
  /** The attributes the captions name: the MMVP categories. */
  readonly categories: readonly string[];
  readonly representations: readonly string[];
  /** category → representation → MMVP-style pair score over the seeds. */
  readonly mmvp: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** category → representation → zero-shot accuracy over the seeds. */
  readonly zeroShot: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** category → "integrated - stage 0" | "integrated - baseline" → paired MMVP difference over the seeds. */
  readonly gains: Readonly<Record<string, Readonly<Record<string, Stat>>>>;
  /** Wall-clock seconds of each run. */
  readonly seconds: Stat;
}

/** The CLIP demo's config with `loss`, on the data of `seed`. */
export function clipCaseConfig(loss: ClipQualityLoss, seed: number): MclConfigInput {
  return {
    ...CLIP_DEMO_CONFIG,
    name: `clip-${loss}-seed-${seed}`,
    dataset: CLIP_DEMO_CONFIG.dataset.replace(/seed=\d+/, `seed=${seed}`),
    clip: { ...CLIP_DEMO_CONFIG.clip, loss: { name: loss } },
    seed,
  };
}

/** Seconds-scale settings for a smoke run (and the test): 128 images, one epoch per stage. */
export function quickClipConfig(config: MclConfigInput): MclConfigInput {
  return {
    ...config,
    dataset: config.dataset!.replace(/n=\d+/, "n=128"),
    clip: { ...config.clip, stage0Epochs: 1, evaluation: { mmvpPairsPerCategory: 10 } },
    stages: 2,
    clusters: 2,
    epochsPerStage: 1,
    batchSize: 32,
    probe: { attributes: "all", knn: 0 },
  };
}

/** A finished run's rows (stage k, integrated, baseline), each with its representation. */
function rowsOf(summary: Summary): [string, RepresentationResult][] {
  const rows: [string, RepresentationResult][] = summary.stages.map((s) => [`stage ${s.stage}`, s]);
  rows.push(["integrated", summary.integrated]);
  if (summary.baseline !== undefined) rows.push(["baseline", summary.baseline]);
  return rows;
}

/** A finished CLIP run's MMVP-style and zero-shot scores by representation. */
export function clipScoresOf(summary: Summary): Pick<ClipSeedResult, "mmvp" | "zeroShot"> {
  const mmvp: Record<string, Accuracies> = {};
  const zeroShot: Record<string, Accuracies> = {};
  for (const [name, result] of rowsOf(summary)) {
    if (result.mmvp === undefined || result.zeroShot === undefined) {
      throw new RangeError(`${summary.name}: ${name} has no MMVP or zero-shot scores; is it a CLIP run?`);
    }
    mmvp[name] = result.mmvp;
    zeroShot[name] = result.zeroShot;
  }
  return { mmvp, zeroShot };
}

/** Aggregates the runs of one loss (same categories and representations in each) over the seeds. */
export function summarizeClipSeeds(loss: ClipQualityLoss, config: MclConfigInput, results: readonly ClipSeedResult[]): ClipLossReport {
  const first = results[0];
  if (first === undefined) throw new RangeError("summarizeClipSeeds: expected at least one run");
  const representations = Object.keys(first.mmvp);
  const categories = Object.keys(first.mmvp[representations[0]!] ?? {});
  const score = (scores: ClipSeedResult["mmvp"], r: ClipSeedResult, representation: string, category: string): number => {
    const v = scores[representation]?.[category];
    if (v === undefined) throw new RangeError(`seed ${r.seed}: no ${representation} score for ${category}`);
    return v;
  };
  const over = (pick: (r: ClipSeedResult) => ClipSeedResult["mmvp"]) => {
    const table: Record<string, Record<string, Stat>> = {};
    for (const category of categories) {
      table[category] = {};
      for (const representation of representations) {
        table[category][representation] = stat(results.map((r) => score(pick(r), r, representation, category)));
      }
    }
    return table;
  };
  const gains: Record<string, Record<string, Stat>> = {};
  for (const category of categories) {
    const gain = (from: string) =>
      stat(results.map((r) => score(r.mmvp, r, "integrated", category) - score(r.mmvp, r, from, category)));
    gains[category] = { "integrated - stage 0": gain("stage 0") };
    if (representations.includes("baseline")) gains[category]["integrated - baseline"] = gain("baseline");
  }
  return {
    loss,
    config,
    seeds: results.map((r) => r.seed),
    categories,
    representations,
    mmvp: over((r) => r.mmvp),
    zeroShot: over((r) => r.zeroShot),
    gains,
    seconds: stat(results.map((r) => r.seconds)),
  };
}

export interface ClipQualityOptions {
  readonly seeds: readonly number[];
  readonly losses: readonly ClipQualityLoss[];
  readonly quick?: boolean;
  /** Called after each run (progress). */
  readonly onRun?: (loss: ClipQualityLoss, result: ClipSeedResult) => void;
  /** Worker output (stderr lines); silent by default. */
  readonly onWorkerOutput?: (line: string) => void;
}

/** Runs every loss with every seed, one at a time, through the SDK in a temporary run folder; one report per loss. */
export async function runClipQuality(options: ClipQualityOptions): Promise<ClipLossReport[]> {
  const runDir = await mkdtemp(join(tmpdir(), "mcl-bench-quality-clip-"));
  const configOf = (loss: ClipQualityLoss, seed: number) => {
    const config = clipCaseConfig(loss, seed);
    return options.quick === true ? quickClipConfig(config) : config;
  };
  const launch = { ...PAUSABLE_LAUNCH, onOutput: options.onWorkerOutput ?? (() => {}) };
  try {
    const reports: ClipLossReport[] = [];
    for (const loss of options.losses) {
      const results: ClipSeedResult[] = [];
      for (const seed of options.seeds) {
        const run = await Mcl.start({ ...configOf(loss, seed), runDir }, { worker: { launch } });
        try {
          const summary = await run.result();
          results.push({ seed, seconds: round(summary.seconds, 1), ...clipScoresOf(summary) });
        } finally {
          await run.stop();
        }
        options.onRun?.(loss, results.at(-1)!);
      }
      reports.push(summarizeClipSeeds(loss, configOf(loss, options.seeds[0] ?? 0), results));
    }
    return reports;
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

/**
 * The reports as a Markdown table, one row per loss and representation: MMVP-style score and
 * zero-shot accuracy per category, mean ± std in %; then the seconds of each run per loss.
 */
export function formatClipQualityTable(reports: readonly ClipLossReport[]): string {
  const first = reports[0];
  if (first === undefined) return "";
  const pct = (s: Stat | undefined) => (s === undefined ? "-" : `${(100 * s.mean).toFixed(0)}${s.std === null ? "" : ` ± ${(100 * s.std).toFixed(0)}`}`);
  const head = ["loss", "model", ...first.categories.map((c) => `MMVP ${c}`), ...first.categories.map((c) => `zero-shot ${c}`)];
  const rows = reports.flatMap((report) =>
    report.representations.map((representation) => [
      `\`${report.loss}\``,
      representation,
      ...report.categories.map((c) => pct(report.mmvp[c]?.[representation])),
      ...report.categories.map((c) => pct(report.zeroShot[c]?.[representation])),
    ]),
  );
  const seconds = reports.map((r) => `${r.loss} ${r.seconds.values.map((s) => s.toFixed(0)).join(" / ")}`).join("; ");
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => " --- ").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    `seeds ${first.seeds.join(", ")}; seconds per run: ${seconds}`,
  ].join("\n");
}

/**
 * Writes `results` under RESULTS_KEY of the JSON file at `path` atomically, keeping the file's
 * other keys (the unimodal cases'); a file that is not a JSON object is an error naming it.
 */
export async function writeClipResults(path: string, results: unknown): Promise<void> {
  let current: Record<string, unknown> = {};
  let text: string | null = null;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (text !== null) {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error(`${path}: expected a JSON object to add the "${RESULTS_KEY}" key to; move the file away or fix it`);
    }
    current = parsed as Record<string, unknown>;
  }
  await writeFileAtomic(path, `${JSON.stringify({ ...current, [RESULTS_KEY]: results })}\n`);
}

/** `npm run bench:quality -- --clip [options]`: `argv` is the command line after the script. */
export async function clipQualityMain(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== "--clip"),
    options: {
      quick: { type: "boolean", default: false },
      seeds: { type: "string", default: "0,1,2" },
      losses: { type: "string", default: CLIP_QUALITY_LOSSES.join(",") },
      out: { type: "string", default: join(projectRoot(), "bench", "results", "quality.json") },
    },
  });
  const seeds = parseSeeds(values.seeds);
  const losses = values.losses.split(",").map((name) => {
    const loss = CLIP_QUALITY_LOSSES.find((l) => l === name);
    if (loss === undefined) throw new Error(`--losses: expected some of ${CLIP_QUALITY_LOSSES.join(", ")}, got ${JSON.stringify(name)}`);
    return loss;
  });
  const reports = await runClipQuality({
    seeds,
    losses,
    quick: values.quick,
    onRun: (loss, result) => {
      const cells = Object.entries(result.mmvp).map(
        ([rep, scores]) => `${rep}: ${Object.entries(scores).map(([c, v]) => `${c} ${(100 * v).toFixed(0)}`).join(" ")}`,
      );
      console.error(`clip ${loss} seed ${result.seed} (${result.seconds} s), MMVP:\n  ${cells.join("\n  ")}`);
    },
  });
  console.error(`\n${formatClipQualityTable(reports)}`);
  const results = {
    bench: "quality --clip",
    quick: values.quick,
    metric: "MMVP-style pair score and zero-shot accuracy per category, mean ± sample std over seeds",
    losses: reports,
    load_average: round(loadavg()[0]!, 2),
    cpus: cpus().length,
    node: process.version,
  };
  await writeClipResults(values.out, results);
  console.log(JSON.stringify(results));
}
