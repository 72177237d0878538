/**
 * What a run is checked against before anything trains, so that a config that cannot work is
 * refused before a new run's directory is written (Mcl.start), naming the config field:
 * - before any worker starts, weightFilesProblem: the weights the run starts from (`pretrained`,
 *   `clip.checkpoint`) are a readable, non-empty file;
 * - once the worker said hello, checkDevice: it can run `compute.device` and `compute.precision`;
 * - the dataset opens (a refusal names the config's `dataset` or `datasetArgs`: datasetOpenError);
 * - once the worker has opened the dataset, checkDatasetFit: the config fits it (the attributes
 *   it names, preprocess channels, captions of a CLIP run, each clustering's K against N, and a
 *   batch that stage 1 can fill).
 */

import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { planUniform } from "../control/batch-planner.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import { isClipEncoder } from "../config/clip-config.js";
import { deviceProblem, precisionProblem } from "../config/compute-config.js";
import type { MclConfig } from "../config/mcl-config.js";
import { type Preprocess, preprocessProblems } from "../config/preprocess.js";
import { RemoteJobError } from "../transport/index.js";
import type { DatasetOpenResult, HelloResult } from "../wire/index.js";
import { requireCaptions } from "./clip-executor.js";
import { RunError } from "../run/errors.js";
import type { WorkerOptions } from "../transport/open.js";

/**
 * Refuses (FILE_UNREADABLE) weights the run starts from that a launched worker could not load: a
 * path that does not exist, is not a file, cannot be read or is empty. A worker reached by
 * endpoint reads them on its own host, where this process cannot look.
 */
export async function checkWeightFiles(config: MclConfig, worker: WorkerOptions | undefined): Promise<void> {
  if (worker?.endpoint !== undefined) return;
  const schedule = scheduleFromConfig(config);
  // Under init 'scratch' an image run's `pretrained` is not loaded.
  if (schedule.pretrained === null || (schedule.init === "scratch" && schedule.stageZero !== true)) return;
  const field = isClipEncoder(config.encoder) ? "clip.checkpoint" : "pretrained";
  const given = schedule.pretrained;
  // The launched worker starts in this process's working directory, and reads relative paths from there.
  const path = isAbsolute(given) ? given : `${given} (${resolve(given)})`;
  let problem: string | null = null;
  try {
    const info = await stat(given);
    if (!info.isFile()) problem = "is not a file";
    else if (info.size === 0) problem = "is empty";
    else await access(given, constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problem = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? (error as Error).message})`;
  }
  if (problem !== null) throw new RunError("FILE_UNREADABLE", `${field}: ${path} ${problem}; give the path of a weight file`);
}

/**
 * Refuses (INVALID_INPUT, naming the field) a compute.device that the worker's hello does not list
 * or that names one GPU for several ranks, and a compute.precision of fp16 on a worker without CUDA.
 */
export function checkDevice(config: MclConfig, hello: Pick<HelloResult, "devices" | "torch_version" | "world_size">): void {
  const { device, precision } = config.compute;
  const problem = deviceProblem(device, hello);
  if (problem !== null) throw new RunError("INVALID_INPUT", `compute.device: ${problem}`);
  const precisionIssue = precisionProblem(precision, device, hello);
  if (precisionIssue !== null) throw new RunError("INVALID_INPUT", `compute.precision: ${precisionIssue}`);
}

/**
 * The worker's refusal of the dataset (INVALID_BODY of dataset.open, naming the job's `uri` or
 * `args`) as the config's fields say it: `dataset: …`, `datasetArgs…: …`; other errors as they are.
 */
export function datasetOpenError(error: unknown): unknown {
  if (!(error instanceof RemoteJobError) || error.code !== "INVALID_BODY") return error;
  const message = error.message.replace(/^uri\b/, "dataset").replace(/^args\b/, "datasetArgs");
  if (message === error.message) return error;
  return new RemoteJobError(error.code, message, { details: error.details, job: error.job, cause: error });
}

/**
 * Refuses a config that does not fit the dataset the worker opened: UNKNOWN_ATTRIBUTE for an
 * attribute it does not have, DATASET_MISMATCH (one line per problem) for preprocess values of
 * another channel count, a CLIP run without captions, a clustering with more clusters than
 * samples, or a batch size that leaves stage 1 nothing to train on. PlanError when no plan
 * splits a batch among the worker's `worldSize` ranks.
 */
export function checkDatasetFit(config: MclConfig, preprocess: Preprocess, data: DatasetOpenResult, worldSize: number): void {
  checkAttributes(config, data);
  if (isClipEncoder(config.encoder)) requireCaptions(config, data);
  const problems = [
    ...preprocessProblems(preprocess, data.image_shape[0]!, config),
    ...clusterProblems(config, data.size),
    ...batchProblems(config, data.size, worldSize),
  ];
  if (problems.length > 0) throw new RunError("DATASET_MISMATCH", problems.join("\n"));
}

/** The attributes the config names (probes, supcon's labels) are the dataset's. */
function checkAttributes(config: MclConfig, data: DatasetOpenResult): void {
  const known = data.attributes.map((a) => a.name);
  const labels = config.loss.attribute;
  if (labels !== undefined && !known.includes(labels)) {
    throw new RunError(
      "UNKNOWN_ATTRIBUTE",
      `loss.attribute: ${config.dataset} has no attribute ${JSON.stringify(labels)} to take ${config.loss.name}'s labels from; it has ${known.join(", ") || "none"}`,
    );
  }
  const wanted = config.probe.attributes;
  if (wanted === "all") return;
  const missing = wanted.filter((name) => !known.includes(name));
  if (missing.length > 0) {
    throw new RunError(
      "UNKNOWN_ATTRIBUTE",
      `probe.attributes: ${config.dataset} has no attribute ${missing.map((m) => JSON.stringify(m)).join(", ")}; it has ${known.join(", ") || "none"}`,
    );
  }
}

/** k-means cannot make more clusters than there are samples. */
function clusterProblems(config: MclConfig, samples: number): string[] {
  const clusters = scheduleFromConfig(config).clusters;
  return clusters.flatMap((k, i) => {
    if (k <= samples) return [];
    const field = Array.isArray(config.clusters) ? `clusters[${i}]` : "clusters";
    return [`${field}: ${k} clusters need at least ${k} samples; ${config.dataset} has ${samples}`];
  });
}

/**
 * Stage 1 samples uniformly from the whole dataset: when even that plan has no batch (batchSize
 * above N under smallGroups 'drop' or 'merge-to-parent'), no stage's plan has one.
 */
function batchProblems(config: MclConfig, samples: number, worldSize: number): string[] {
  const { batchSize, sampling } = config;
  const plan = planUniform(samples, {
    batchSize,
    smallGroups: sampling.smallGroups,
    minBatchSize: sampling.minBatchSize,
    worldSize,
    seed: config.seed,
    stage: 1,
    epoch: 0,
  });
  if (plan.offsets.length > 1) return [];
  const fix = sampling.smallGroups === "shrink" || sampling.smallGroups === "balanced" ? `at most ${samples}, or lower sampling.minBatchSize` : `at most ${samples}`;
  return [
    `batchSize: a batch of ${batchSize} does not fit in the ${samples} samples of ${config.dataset} ` +
      `(sampling.smallGroups '${sampling.smallGroups}'), so no epoch would train on anything; set it to ${fix}`,
  ];
}
