/**
 * summary.json: what a finished run measured, per attribute, for every stage, the integrated
 * representation and the equal-compute baseline:
 *
 *   { "stages": [{ "stage": 1, "probe": { "shape": 0.41, ... }, "knn": {...} }, ...],
 *     "integrated": { "probe": {...}, "knn": {...}, "spec": {...} },
 *     "baseline": { "probe": {...}, "knn": {...}, "epochs": 9 },      (when the config asks)
 *     "seconds": 212.4, ... }
 *
 * `probe` holds linear-probe accuracies in [0, 1] (held-out split of the training set), `knn`
 * the kNN accuracies on the same split. `sampling` says how many samples every epoch of a stage
 * (or of the baseline) trained on and how many the small-group policy left out, and why
 * (ts/sdk/left-out.ts). A CLIP run numbers its stages from 0 (the initial model)
 * and adds to each representation `zeroShot` (accuracy per attribute), `mmvp` (pair score per
 * category, from the training set's captions) and, when configured, `mmvpVlm` (the published
 * benchmark, per category); its probes are of the image embeddings.
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../control/atomic-file.js";
import { formatPath } from "../errors.js";
import { RunError } from "./errors.js";

export const SUMMARY_FILE = "summary.json";
export const SUMMARY_FORMAT = "mcl-summary/1";

const accuracies = z.record(z.string(), z.number().min(0).max(1));

/** Accuracy per attribute name. */
export type Accuracies = z.output<typeof accuracies>;

const probeScoresSchema = z.strictObject({
  /** Linear-probe accuracy per attribute. */
  linear: accuracies,
  /** kNN accuracy per attribute (absent when the config turns kNN off). */
  knn: accuracies.optional(),
});
/** One representation's probe results. */
export type ProbeScores = z.output<typeof probeScoresSchema>;

/** Samples left out, by reason (ts/control/batch-planner.ts, LeftOutByReason). */
export const leftOutByReasonSchema = z.strictObject({
  smallGroup: z.int().min(0),
  remainder: z.int().min(0),
  rootResidual: z.int().min(0),
  belowMinBatch: z.int().min(0),
  shardRemainder: z.int().min(0),
});

const samplingSchema = z.strictObject({
  /** Samples in every epoch's batches. */
  planned: z.int().min(0),
  /** Samples of the dataset in none of them. */
  leftOut: z.int().min(0),
  /** leftOut / the dataset's samples. */
  leftOutFraction: z.number().min(0).max(1),
  /** leftOut by reason. */
  leftOutByReason: leftOutByReasonSchema,
});
/** What every epoch of a track trained on. */
export type Sampling = z.output<typeof samplingSchema>;

const resultSchema = z.strictObject({
  probe: accuracies,
  knn: accuracies.optional(),
  zeroShot: accuracies.optional(),
  mmvp: accuracies.optional(),
  mmvpVlm: accuracies.optional(),
});

export const summarySchema = z.strictObject({
  format: z.literal(SUMMARY_FORMAT),
  name: z.string(),
  dataset: z.strictObject({ uri: z.string(), samples: z.int().min(1) }),
  encoder: z.string(),
  attributes: z.array(z.string()),
  /** Stage 0 (with 0 epochs when it is the initial model as it is) only in a CLIP run. */
  stages: z.array(resultSchema.extend({ stage: z.int().min(0), epochs: z.int().min(0), sampling: samplingSchema.optional() })),
  integrated: resultSchema.extend({
    spec: z.strictObject({
      stages: z.array(z.int().min(0)),
      weights: z.array(z.number()),
      normalize: z.string(),
    }),
  }),
  baseline: resultSchema.extend({ epochs: z.int().min(1), sampling: samplingSchema.optional() }).optional(),
  /** Wall-clock seconds of the session that completed the run (a resumed run counts only that session). */
  seconds: z.number().min(0),
  resumed: z.boolean(),
  finishedAt: z.string(),
});
export type Summary = z.output<typeof summarySchema>;

/** What a summary holds for one representation (a stage, the integrated one, the baseline). */
export type RepresentationResult = z.output<typeof resultSchema>;

/** What a kind of run measures of a representation besides the probes (a CLIP run: zero-shot and MMVP scores). */
export type ExtraScores = Pick<RepresentationResult, "zeroShot" | "mmvp" | "mmvpVlm">;

/** The label of the equal-compute baseline's row in every table. */
export function baselineLabel(epochs: number): string {
  return `baseline (${epochs} epochs)`;
}

/** A summary's representations in table order, each with its row label: every stage, the integrated one, the baseline. */
export function summaryRows(summary: Summary): [string, RepresentationResult][] {
  const rows: [string, RepresentationResult][] = [
    ...summary.stages.map((s): [string, RepresentationResult] => [`stage ${s.stage}`, s]),
    ["integrated", summary.integrated],
  ];
  if (summary.baseline !== undefined) rows.push([baselineLabel(summary.baseline.epochs), summary.baseline]);
  return rows;
}

/** An accuracy in [0, 1] as a percentage with one decimal ("41.2%"), or `missing`. */
export function formatPercent(value: number | undefined, missing = "-"): string {
  return value === undefined ? missing : `${(100 * value).toFixed(1)}%`;
}

/**
 * The JSON file at `path` checked against `schema`, or null when there is no such file. Every
 * run-directory JSON file besides the manifest is read through here, so that any failure (cannot
 * be read, not JSON, not of the schema) is a CORRUPT_FILE naming the file.
 */
export async function readJsonFile<T extends z.ZodType>(path: string, schema: T): Promise<z.output<T> | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new RunError("CORRUPT_FILE", `${path}: cannot be read (${(error as Error).message})`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RunError("CORRUPT_FILE", `${path}: not valid JSON (${(error as Error).message}); delete the file to have it written again`, {
      cause: error,
    });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${formatPath(issue.path) || "(top level)"}: ${issue.message}`);
    throw new RunError("CORRUPT_FILE", `${path}: ${issues.join("; ")}; delete the file to have it written again`);
  }
  return parsed.data;
}

/** A cached probe result (probes/stage-<s>.json), or null when there is none. */
export function readProbeFile(path: string): Promise<ProbeScores | null> {
  return readJsonFile(path, probeScoresSchema);
}

export async function writeSummary(runDir: string, summary: Summary): Promise<string> {
  const path = join(runDir, SUMMARY_FILE);
  await writeFileAtomic(path, `${JSON.stringify(summary, null, 2)}\n`);
  return path;
}

/** The run's summary.json, or null when the run has not finished. */
export function readSummary(runDir: string): Promise<Summary | null> {
  return readJsonFile(join(runDir, SUMMARY_FILE), summarySchema);
}

/**
 * The per-attribute linear-probe table, one row per representation, and the share of the samples
 * every epoch of a track left out when the summary records it:
 *
 *   representation      shape   color  texture  left out
 *   stage 1             41.2%   97.8%    38.0%      0.0%
 *   ...
 */
export function formatProbeTable(summary: Summary): string {
  const rows = summaryRows(summary);
  const attributes = summary.attributes;
  const leftOut = new Map<RepresentationResult, number>();
  for (const track of [...summary.stages, summary.baseline]) {
    if (track?.sampling !== undefined) leftOut.set(track, track.sampling.leftOutFraction);
  }
  const columns = leftOut.size > 0 ? [...attributes, "left out"] : attributes;
  const first = Math.max("representation".length, ...rows.map(([name]) => name.length));
  const widths = columns.map((a) => Math.max(a.length, 6));
  const line = (name: string, cells: string[]) =>
    [name.padEnd(first), ...cells.map((c, i) => c.padStart(widths[i]!))].join("  ");
  const cells = (result: RepresentationResult) => {
    const accuracies = attributes.map((a) => formatPercent(result.probe[a]));
    return leftOut.size > 0 ? [...accuracies, formatPercent(leftOut.get(result))] : accuracies;
  };
  return [line("representation", columns), ...rows.map(([name, result]) => line(name, cells(result)))].join("\n");
}
