// Run directories for the report's tests, made without a worker: the run driver with a stand-in
// executor that records losses as the SDK does, and a summary.json of known numbers.
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { SmallGroupPolicy } from "../../../ts/control/batch-planner.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { driveRun, type StageExecutor } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { type Summary, SUMMARY_FORMAT, writeSummary } from "../../../ts/run/summary.js";
import { trackSampling } from "../../../ts/sdk/left-out.js";
import { LossRecorder } from "../../../ts/report/loss-history.js";

export const N = 20;
export const ATTRIBUTES = ["shape", "color", "texture"];
// The first clustering: two clusters of 12 and 8. The second splits them into 1 + 3 + 8 and 5 + 3.
const CLUSTERINGS: readonly number[][] = [
  [...Array(12).fill(0), ...Array(8).fill(1)],
  [0, 1, 1, 1, ...Array(8).fill(2), ...Array(5).fill(0), 1, 1, 1],
];

/**
 * Linear-probe accuracies of a representation `shift` along: color learned at once, shape and
 * texture growing. Stage s of the MCL run has shift s/20, the baseline 0.1, the integrated one 0.2.
 */
export function probe(shift: number): Record<string, number> {
  return { shape: 0.3 + shift, color: 0.99, texture: 0.35 + 2 * shift };
}
const knn = (shift: number) => ({ shape: 0.2 + shift, color: 0.9, texture: 0.25 + shift });
const mmvp = (shift: number) => ({ shape: 0.1 + shift, color: 1 - shift, texture: 0.2 + shift });

export interface SyntheticRunOptions {
  readonly finished: boolean;
  readonly losses: boolean;
  readonly smallGroups?: SmallGroupPolicy;
  /** A CLIP run (clip-tiny): stage 0 and 2 MCL stages, with MMVP and zero-shot scores in its summary. */
  readonly clip?: boolean;
}

/** A 3-stage run (K = 2, 3; a CLIP run: stage 0, 1 and 2) with its baseline, driven to the end. */
export async function syntheticRun(options: SyntheticRunOptions): Promise<string> {
  const clip = options.clip === true;
  const name = clip ? "tiny-clip" : "tiny";
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-report-")), name);
  const sampling = { smallGroups: options.smallGroups ?? "merge-to-parent" };
  const config = clip
    ? parseConfig({ name, encoder: "clip-tiny", stages: 2, clusters: [2, 3], epochsPerStage: [2, 1], batchSize: 4, seed: 3, sampling, baseline: true })
    : parseConfig({ name, stages: 3, clusters: [2, 3], epochsPerStage: [1, 2, 1], batchSize: 4, seed: 3, sampling });
  const first = clip ? 0 : 1;
  const store = await RunStore.create(dir, { config, versions: { package: "0.1.0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
  const recorder = new LossRecorder(dir);
  const record = (track: number | "baseline", epoch: number) => {
    if (options.losses) recorder.record(track, epoch, 5 - epoch / 2 - (track === "baseline" ? 0 : (track + 1 - first) / 10));
  };
  const executor: StageExecutor = {
    async saveInitial() {
      return { checkpoint: "checkpoints/stage-0-initial.safetensors" };
    },
    async trainEpoch(action) {
      record(action.stage, action.epoch);
      return { checkpoint: `checkpoints/stage-${action.stage}-epoch-${action.epoch + 1}.safetensors` };
    },
    async embed() {},
    async cluster(action) {
      return Int32Array.from(CLUSTERINGS[action.stage - first]!);
    },
    async trainBaselineEpoch(action) {
      record("baseline", action.epoch);
      return { checkpoint: `checkpoints/baseline-epoch-${action.epoch + 1}.safetensors` };
    },
  };
  await driveRun(store, executor, { numSamples: N });
  await recorder.flush();
  if (options.finished) await writeSummary(dir, summary(store, clip));
  else {
    await mkdir(join(dir, "probes"));
    await writeFile(join(dir, "probes", `stage-${first}.json`), JSON.stringify({ linear: { shape: 0.3, color: 1 }, knn: { shape: 0.2, color: 0.9 } }));
  }
  return dir;
}

/** The summary of the run in `store`, with the samples each track left out as the SDK records them. */
function summary(store: RunStore, clip: boolean): Summary {
  const stages = clip ? [0, 1, 2] : [1, 2, 3];
  const epochs = clip ? [0, 2, 1] : [1, 2, 1];
  const scores = (shift: number) => ({ probe: probe(shift), knn: knn(shift), ...(clip ? { zeroShot: knn(shift), mmvp: mmvp(shift) } : {}) });
  // A CLIP run's stage 0 trains no epoch, so samples nothing.
  const sampling = (track: number | "baseline") => {
    const recorded = trackSampling(store.manifest, track, 1);
    return recorded === null ? {} : { sampling: recorded };
  };
  return {
    format: SUMMARY_FORMAT,
    name: store.manifest.name,
    dataset: { uri: "synthetic:trifeature", samples: N },
    encoder: store.manifest.config.encoder,
    attributes: ATTRIBUTES,
    stages: stages.map((stage, i) => ({ stage, epochs: epochs[i]!, ...scores((i + 1) / 20), ...sampling(stage) })),
    integrated: { ...scores(0.2), spec: { stages, weights: [1, 1, 1], normalize: "per-stage-l2" } },
    baseline: { ...scores(0.1), epochs: clip ? 3 : 4, ...sampling("baseline") },
    seconds: 12.5,
    resumed: false,
    finishedAt: new Date().toISOString(),
  };
}
