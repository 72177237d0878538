// Events of a run's sessions for the experiment-log tests, and a session logged from them.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type MclConfig, mclConfigSchema } from "../../../ts/config/mcl-config.js";
import { EventLog, type MclEvent } from "../../../ts/sdk/events.js";
import { ExperimentLogs } from "../../../ts/sdk/experiment-logs.js";

let dirs = 0;
/** A new, empty run directory under `root`. */
export function runDir(root: string): string {
  const dir = join(root, `run-${++dirs}`);
  mkdirSync(dir);
  return dir;
}

export function config(tensorboard = true): MclConfig {
  return mclConfigSchema.parse({ name: "logs", stages: 2, epochsPerStage: 2, logging: { tensorboard } });
}

export const progress = (stage: number | "baseline", epoch: number, step: number, loss: number): MclEvent => ({
  type: "train-progress",
  stage,
  epoch,
  step,
  steps: 4,
  loss,
  lr: 0.001 * step,
  samplesPerSec: 100 + step,
});
export const epochEnd = (stage: number | "baseline", epoch: number, loss: number): MclEvent => ({
  type: "epoch",
  stage,
  epoch,
  epochs: 2,
  loss,
  samplesPerSec: 120,
  seconds: 1.5,
  samples: 240,
  leftOut: 16,
  leftOutFraction: 16 / 256,
});
export const probe = (stage: number | "integrated" | "baseline", shape: number): MclEvent => ({
  type: "probe",
  stage,
  probe: { linear: { shape, color: 0.5 }, knn: { shape: shape / 2, color: 0.25 } },
});

/** The events of a session, logged into `dir` through an EventLog as a run feeds them. */
export async function logSession(dir: string, events: readonly MclEvent[], options: { resumed?: boolean; tensorboard?: boolean } = {}): Promise<void> {
  const log = new EventLog();
  const logs = ExperimentLogs.attach(log, dir, config(options.tensorboard), options.resumed ?? false);
  for (const event of events) log.push(event);
  await logs.close();
}

/** Stage 1's first epoch and part of its second (a NaN loss among them). */
export const FIRST_SESSION: MclEvent[] = [
  { type: "run-start", runDir: "x", resumed: false, numSamples: 256, device: "cpu" },
  { type: "stage-start", stage: 1, epochs: 2, fromEpoch: 0 },
  progress(1, 0, 2, 5.5),
  progress(1, 0, 4, Number.NaN),
  epochEnd(1, 0, 5.25),
  progress(1, 1, 2, 4.5),
  { type: "stage-end", stage: 1 },
];
