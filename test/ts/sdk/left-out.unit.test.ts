// The samples the small-group policy leaves out reach the person running: in every epoch event, as
// a SAMPLES_LEFT_OUT warning naming the setting to change when a stage leaves out more than
// LEFT_OUT_WARNING_FRACTION, in summary.json's figures per track, and in the CLI's lines.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProgressPrinter } from "../../../ts/cli/progress.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { MclConfigInput } from "../../../ts/config/mcl-config.js";
import { planMcl, planUniform, type BatchPlan, type PlanAccounting } from "../../../ts/control/batch-planner.js";
import { ClusterBook } from "../../../ts/control/cluster-book.js";
import { driveRun, planOptionsOf, type StageExecutor, type TrainEpochAction } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { EventLog, type MclEvent } from "../../../ts/sdk/events.js";
import { leftOutWarning, trackSampling } from "../../../ts/sdk/left-out.js";
import { LEFT_OUT_WARNING_FRACTION } from "../../../ts/run/sampling.js";
import { formatProbeTable, type Summary, SUMMARY_FORMAT } from "../../../ts/run/summary.js";
import { EncoderExecutor } from "../../../ts/sdk/encoder-executor.js";
import { type WorkerJobs } from "../../../ts/client/index.js";
import {
  datasetHandleSchema,
  modelHandleSchema,
  optimizerHandleSchema,
  type DatasetOpenResult,
  type TrainResult,
} from "../../../ts/wire/index.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newStore(input: Omit<MclConfigInput, "name">): Promise<RunStore> {
  const config = parseConfig({ name: "left-out", ...input });
  const dir = await mkdtemp(join(tmpdir(), "mcl-left-out-"));
  dirs.push(dir);
  return RunStore.create(dir, { config, versions: { package: "0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
}

/** A stand-in for the worker that trains any plan in one step and writes a checkpoint file (in the foreground or not). */
function trainingJobs(): WorkerJobs {
  const trained: TrainResult = { steps: 1, samples: 4, mean_loss: 1, last_loss: 1, first_lr: 1e-3, last_lr: 1e-3, samples_per_s: 1, seconds: 1 };
  const save = async (body: { path: string }) => {
    await mkdir(dirname(body.path), { recursive: true });
    await writeFile(body.path, "a stand-in checkpoint");
    return { path: body.path, bytes: 21 };
  };
  const jobs = {
    createModel: async (body: { arch: string }) => ({ model: modelHandleSchema.parse("model:1"), arch: body.arch, feature_dim: 8, proj_dim: 8, parameters: 1, device: "cpu" }),
    createOptimizer: async () => ({ optimizer: optimizerHandleSchema.parse("optimizer:1") }),
    train: async () => trained,
    saveCheckpoint: save,
    saveCheckpointInBackground: (body: { path: string }) => {
      const written = save(body);
      return { copied: written.then(() => undefined), written };
    },
  };
  return jobs as unknown as WorkerJobs;
}

/** 40 samples: stage-1 clusters of 30 and 10; stage 2 splits the first into 25 + 5. */
function book(): ClusterBook {
  const b = new ClusterBook(40);
  b.addStage(Int32Array.from({ length: 40 }, (_, i) => (i < 30 ? 0 : 1)), 2);
  b.addStage(Int32Array.from({ length: 40 }, (_, i) => (i < 25 ? 0 : i < 30 ? 1 : 0)), 2);
  return b;
}

describe("the executor", () => {
  async function trainStage3(smallGroups: "merge-to-parent" | "balanced"): Promise<{ events: MclEvent[]; plan: BatchPlan }> {
    const store = await newStore({ stages: 3, clusters: 2, batchSize: 8, sampling: { smallGroups, minBatchSize: 4 }, baseline: false });
    const data: DatasetOpenResult = {
      dataset: datasetHandleSchema.parse("dataset:1"),
      uri: "synthetic:trifeature",
      size: 40,
      image_shape: [3, 16, 16],
      attributes: [],
      has_captions: false,
    };
    const log = new EventLog();
    const executor = new EncoderExecutor(trainingJobs(), store, data, log, new AbortController().signal);
    const plan = planMcl(book().hierarchy(), planOptionsOf(store.manifest.config, 1, 3, 0));
    const action = { kind: "train-epoch", stage: 3, epoch: 0, epochs: 2, start: { kind: "scratch" }, sampling: { policy: "mcl", labelsStage: 2 } };
    await executor.trainEpoch(action as TrainEpochAction, plan);
    await executor.trainEpoch({ ...action, epoch: 1, start: { kind: "checkpoint", path: "checkpoints/stage-3-epoch-1.safetensors" } } as TrainEpochAction, plan);
    return { events: log.snapshot(), plan };
  }

  it("puts the left-out samples in every epoch event and warns once, naming the setting, above the threshold", async () => {
    const { events, plan } = await trainStage3("merge-to-parent");
    // Groups of 25, 5 and 10 in batches of 8: 25 → 3 batches + 1; that 1 and the 5 pool in cluster 0 (6, no
    // batch); cluster 1's 10 → 1 batch + 2. 6 + 2 = 8 of 40 (20 %) sit out.
    expect(plan.accounting.leftOut).toBe(8);
    const epochs = events.filter((e) => e.type === "epoch");
    expect(epochs.map((e) => [e.leftOut, e.leftOutFraction])).toEqual([[8, 0.2], [8, 0.2]]);
    const warnings = events.filter((e) => e.type === "warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ stage: 3, code: "SAMPLES_LEFT_OUT" });
    expect(warnings[0]!.message).toContain("stage 3 leaves out 8 of its 40 samples (20.0%) every epoch");
    expect(warnings[0]!.message).toContain("sampling.smallGroups to 'balanced'");
    expect(events.findIndex((e) => e.type === "warning")).toBe(events.findIndex((e) => e.type === "stage-start") + 1);
  });

  it("does not warn when the policy keeps all but a few samples", async () => {
    const { events } = await trainStage3("balanced");
    expect(events.filter((e) => e.type === "epoch").map((e) => e.leftOut)).toEqual([0, 0]);
    expect(events.some((e) => e.type === "warning")).toBe(false);
  });
});

describe("leftOutWarning", () => {
  const config = parseConfig({ name: "w", sampling: { smallGroups: "shrink" } });
  const accounting = (leftOut: number): PlanAccounting => ({
    ...planUniform(1000, { batchSize: 10, smallGroups: "drop", seed: 0, epoch: 0 }).accounting,
    planned: 1000 - leftOut,
    leftOut,
    leftOutByReason: { smallGroup: 0, remainder: 0, rootResidual: 0, belowMinBatch: leftOut, shardRemainder: 0 },
  });

  it("fires only above the threshold, and names the reason and the setting of the policy in use", () => {
    const at = LEFT_OUT_WARNING_FRACTION * 1000;
    expect(leftOutWarning(2, accounting(at), config)).toBeNull();
    const warning = leftOutWarning("baseline", accounting(at + 1), config);
    expect(warning).toMatchObject({ type: "warning", stage: "baseline", code: "SAMPLES_LEFT_OUT" });
    const message = (warning as Extract<MclEvent, { type: "warning" }>).message;
    expect(message).toContain(`the baseline leaves out ${at + 1} of its 1000 samples`);
    expect(message).toContain(`${at + 1} in batches under sampling.minBatchSize`);
    expect(message).toContain("lower sampling.minBatchSize");
  });
});

describe("trackSampling", () => {
  it("gives every track's figures: MCL stages as recorded with the clustering, uniform tracks planned again", async () => {
    const store = await newStore({ stages: 3, clusters: 2, epochsPerStage: 1, batchSize: 8, seed: 5, sampling: { smallGroups: "merge-to-parent" } });
    const labels = book();
    const executor: StageExecutor = {
      trainEpoch: async (action) => ({ checkpoint: `checkpoints/stage-${action.stage}-epoch-${action.epoch + 1}.safetensors` }),
      embed: async () => {},
      cluster: async (action) => labels.stage(action.stage).assignments,
      trainBaselineEpoch: async (action) => ({ checkpoint: `checkpoints/baseline-epoch-${action.epoch + 1}.safetensors` }),
    };
    await driveRun(store, executor, { numSamples: 40 });
    const config = store.manifest.config;
    const expected = (plan: BatchPlan) => ({ planned: plan.accounting.planned, leftOut: plan.accounting.leftOut });
    expect(trackSampling(store.manifest, 1, 1)).toMatchObject(expected(planUniform(40, planOptionsOf(config, 1, 1, 0))));
    expect(trackSampling(store.manifest, 3, 1)).toMatchObject({ planned: 32, leftOut: 8, leftOutFraction: 0.2 });
    expect(trackSampling(store.manifest, 3, 1)!.leftOutByReason).toEqual(planMcl(labels.hierarchy(), planOptionsOf(config, 1, 3, 0)).accounting.leftOutByReason);
    expect(trackSampling(store.manifest, "baseline", 2)).toMatchObject({ planned: 40, leftOut: 0 });
  });
});

describe("the CLI", () => {
  it("prints the left-out samples in the epoch line when there are any", () => {
    let text = "";
    const printer = new ProgressPrinter({ write: (chunk) => ((text += chunk), true), isTTY: false });
    const epoch = { type: "epoch", stage: 2, epoch: 0, epochs: 3, loss: 2, samplesPerSec: 100, seconds: 2, samples: 1664 } as const;
    printer.show({ ...epoch, leftOut: 384, leftOutFraction: 0.1875 });
    printer.show({ ...epoch, leftOut: 0, leftOutFraction: 0 });
    expect(text).toBe(
      "stage 2 epoch 1/3: loss 2.000, 100 samples/s, 2.0 s, 384 samples left out (18.8%)\nstage 2 epoch 1/3: loss 2.000, 100 samples/s, 2.0 s\n",
    );
  });

  it("adds a left-out column to the probe table when the summary records it", () => {
    const reasons = { smallGroup: 0, remainder: 0, rootResidual: 384, belowMinBatch: 0, shardRemainder: 0 };
    const summary: Summary = {
      format: SUMMARY_FORMAT,
      name: "t",
      dataset: { uri: "synthetic:trifeature", samples: 2048 },
      encoder: "small-cnn",
      attributes: ["shape"],
      stages: [
        { stage: 1, epochs: 1, probe: { shape: 0.5 }, sampling: { planned: 2048, leftOut: 0, leftOutFraction: 0, leftOutByReason: { ...reasons, rootResidual: 0 } } },
        { stage: 2, epochs: 1, probe: { shape: 0.6 }, sampling: { planned: 1664, leftOut: 384, leftOutFraction: 0.1875, leftOutByReason: reasons } },
      ],
      integrated: { probe: { shape: 0.7 }, spec: { stages: [1, 2], weights: [1, 1], normalize: "concat-then-l2" } },
      seconds: 1,
      resumed: false,
      finishedAt: "2025-01-01T00:00:00.000Z",
    };
    expect(formatProbeTable(summary)).toBe(
      ["representation   shape  left out", "stage 1          50.0%      0.0%", "stage 2          60.0%     18.8%", "integrated       70.0%         -"].join("\n"),
    );
    const { sampling: _, ...without } = summary.stages[1]!;
    expect(formatProbeTable({ ...summary, stages: [without] })).not.toContain("left out");
  });
});
