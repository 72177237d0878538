/**
 * What a run directory holds for its report, read without a worker and without recomputing
 * anything: the probe accuracies (summary.json, or the per-stage probe caches of a run still
 * going), the composite group sizes of every clustering (stage-<s>/sizes.i32, one int32 per group,
 * so a 12 M-sample run costs one typed array per stage), the epoch losses (losses.json), the
 * samples each stage's epochs left out (summary.json, or the plan accounting the manifest records
 * with each clustering) and the run's facts from its manifest.
 */

import { join } from "node:path";
import type { GroupStats } from "../control/cluster-book.js";
import { RunStore } from "../run/run-store.js";
import { clipOptionsOf, isClipEncoder } from "../config/clip-config.js";
import type { MclConfig } from "../config/mcl-config.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import { recordedSampling } from "../run/sampling.js";
import { firstStage, lastStage, stageNumber, stageNumbers } from "../run/track.js";
import { type Accuracies, baselineLabel, readProbeFile, readSummary, type Sampling, type Summary } from "../run/summary.js";
import { type LossHistory, readLossHistory } from "./loss-history.js";

/** Groups whose size lies in [lower, upper]: a power-of-two bin. */
export interface SizeBin {
  readonly lower: number;
  readonly upper: number;
  /** Composite groups of a size in the bin. */
  readonly groups: number;
  /** Samples in those groups. */
  readonly samples: number;
}

/** The composite groups after one clustering. */
export interface StageGroups {
  /** The stage clustered after, numbered as the summary numbers it. */
  readonly stage: number;
  readonly k: number;
  readonly stats: GroupStats;
  /** Contiguous power-of-two bins from the smallest group's to the largest group's. */
  readonly bins: readonly SizeBin[];
}

/** What every epoch of a track (a stage, the baseline) trained on. */
export interface TrackSampling {
  /** The row label: "stage 2", "baseline (9 epochs)". */
  readonly track: string;
  readonly sampling: Sampling;
}

export interface RunFacts {
  readonly name: string;
  readonly dir: string;
  readonly dataset: string;
  readonly encoder: string;
  /** N (null before the dataset was first opened). */
  readonly numSamples: number | null;
  readonly stages: number;
  readonly epochs: readonly number[];
  readonly clusters: readonly number[];
  readonly batchSize: number;
  readonly sampling: string;
  /** sampling.policy: "mcl" draws a later stage's negatives from within its groups. */
  readonly policy: string;
  readonly loss: string;
  readonly seed: number;
  /** Scheduler phase and stage, e.g. "done" or "train, stage 2, 3 epochs done". */
  readonly progress: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly packageVersion: string;
  /** Seconds of the session that finished the run (null while it is not finished). */
  readonly seconds: number | null;
}

/** A representation's probe accuracies per attribute. */
export interface ProbeResult {
  readonly probe: Accuracies;
  /** null when the config turns the kNN probe off. */
  readonly knn: Accuracies | null;
}

export interface ReportData {
  readonly facts: RunFacts;
  readonly attributes: readonly string[];
  /** The number of the run's first stage: 0 in a CLIP run (its initial model), else 1. */
  readonly firstStage: 0 | 1;
  /** The number of the run's last stage. */
  readonly lastStage: number;
  /** k of the kNN probe (0: no kNN probe). */
  readonly knnK: number;
  /** Probe accuracies of each stage measured so far, numbered as the summary numbers them. */
  readonly stages: readonly ({ readonly stage: number } & ProbeResult)[];
  readonly integrated: ProbeResult | null;
  readonly baseline: ({ readonly epochs: number } & ProbeResult) | null;
  /** null while the run has not finished. */
  readonly summary: Summary | null;
  readonly groups: readonly StageGroups[];
  /** null for a run directory without losses.json. */
  readonly losses: LossHistory | null;
  /** Every track whose left-out samples are known so far, in table order. */
  readonly sampling: readonly TrackSampling[];
}

/**
 * Reads the report's data from `runDir`. Throws RunStoreError RUN_NOT_FOUND (naming the directory
 * and manifest.json) when it holds no run, CORRUPT_FILE when a file it references is damaged.
 */
export async function readReportData(runDir: string): Promise<ReportData> {
  const store = await RunStore.open(runDir);
  const { manifest } = store;
  const config = manifest.config;
  const summary = await readSummary(runDir);
  // The scheduler's stages, epochs and clusterings: a CLIP run's stage 0 is the first of them.
  const schedule = scheduleFromConfig(config);

  let stages: ({ stage: number } & ProbeResult)[];
  if (summary !== null) stages = summary.stages.map((s) => ({ stage: s.stage, probe: s.probe, knn: s.knn ?? null }));
  else {
    stages = [];
    for (const stage of stageNumbers(schedule)) {
      const probe = await readProbeFile(join(runDir, "probes", `stage-${stage}.json`));
      if (probe !== null) stages.push({ stage, probe: probe.linear, knn: probe.knn ?? null });
    }
  }
  const attributes = summary?.attributes ?? [...new Set(stages.flatMap((s) => Object.keys(s.probe)))];

  const groups: StageGroups[] = [];
  for (const record of manifest.stages) {
    if (record.composite === undefined) continue;
    const sizes = await store.readArray(record.composite.sizes);
    groups.push({ stage: record.stage, k: record.k, stats: record.composite.stats, bins: sizeHistogram(sizes) });
  }

  const sampling: TrackSampling[] = [];
  if (summary !== null) {
    for (const s of summary.stages) if (s.sampling !== undefined) sampling.push({ track: `stage ${s.stage}`, sampling: s.sampling });
    const baseline = summary.baseline;
    if (baseline?.sampling !== undefined) sampling.push({ track: baselineLabel(baseline.epochs), sampling: baseline.sampling });
  } else {
    // Before the summary, the MCL stages whose groups are planned.
    for (const stage of stageNumbers(schedule).slice(1)) {
      const recorded = recordedSampling(manifest, stage);
      if (recorded !== null) sampling.push({ track: `stage ${stage}`, sampling: recorded });
    }
  }

  const { state } = manifest;
  return {
    facts: {
      name: manifest.name,
      dir: runDir,
      dataset: config.dataset,
      encoder: config.encoder,
      numSamples: manifest.numSamples,
      stages: schedule.stages,
      epochs: schedule.epochs,
      clusters: schedule.clusters,
      batchSize: config.batchSize,
      sampling:
        config.sampling.policy === "mcl" ? `mcl (small groups: ${config.sampling.smallGroups})` : config.sampling.policy,
      policy: config.sampling.policy,
      loss: lossFact(config),
      seed: config.seed,
      progress:
        state.phase === "done" ? "done" : `${state.phase}, stage ${stageNumber(schedule, state.stage)}, ${state.epoch} epochs of the phase done`,
      createdAt: manifest.createdAt,
      updatedAt: manifest.updatedAt,
      packageVersion: manifest.versions.package,
      seconds: summary?.seconds ?? null,
    },
    attributes,
    firstStage: firstStage(schedule),
    lastStage: lastStage(schedule),
    knnK: config.probe.knn,
    stages,
    integrated: summary === null ? null : { probe: summary.integrated.probe, knn: summary.integrated.knn ?? null },
    baseline:
      summary?.baseline === undefined
        ? null
        : { epochs: summary.baseline.epochs, probe: summary.baseline.probe, knn: summary.baseline.knn ?? null },
    summary,
    groups,
    losses: await readLossHistory(runDir),
    sampling,
  };
}

/** The loss the run trains with: a CLIP run's is its clip.loss, with a fixed temperature or the model's learnable one. */
function lossFact(config: MclConfig): string {
  if (!isClipEncoder(config.encoder)) return `${config.loss.name} (temperature ${config.loss.temperature})`;
  const { loss } = clipOptionsOf(config);
  return `${loss.name} (${loss.temperature === undefined ? "learnable temperature" : `temperature ${loss.temperature}`})`;
}

/**
 * Power-of-two histogram of group sizes: bin b holds sizes in [2^b, 2^(b+1) - 1]. One pass over
 * the typed array; sizes below 1 are refused (a composite group is never empty).
 */
export function sizeHistogram(sizes: Int32Array): SizeBin[] {
  const groups = new Float64Array(32);
  const samples = new Float64Array(32);
  let low = 32;
  let high = -1;
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i]!;
    if (size < 1) throw new RangeError(`group ${i} has size ${size}; composite groups hold at least one sample`);
    const bin = 31 - Math.clz32(size);
    groups[bin] = groups[bin]! + 1;
    samples[bin] = samples[bin]! + size;
    if (bin < low) low = bin;
    if (bin > high) high = bin;
  }
  const bins: SizeBin[] = [];
  for (let bin = low; bin <= high; bin++) {
    bins.push({ lower: 2 ** bin, upper: 2 ** (bin + 1) - 1, groups: groups[bin]!, samples: samples[bin]! });
  }
  return bins;
}
