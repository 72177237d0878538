// The run driver on a CLIP schedule: stage 0's initial weights are saved by the executor's
// saveInitial (an executor without it is refused at that action), stage 0 is clustered, every
// action reaches the executor numbered from stage 0 as do the clustering files and records, and a
// run that crashed anywhere resumes from its run store with the remaining actions.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { BatchPlan } from "../../../ts/control/batch-planner.js";
import { Rng } from "../../../ts/control/rng.js";
import { driveRun, type StageExecutor } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { initialState, type Action } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";

const N = 120;
const config = parseConfig({ name: "c", encoder: "clip-tiny", stages: 2, clusters: [3, 2], epochsPerStage: 1, batchSize: 10, seed: 3 });

async function newRun(): Promise<RunStore> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-clip-driver-")), "c");
  return RunStore.create(dir, { config, versions: { package: "0.1.0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
}

class FakeClipWorker implements StageExecutor {
  readonly log: string[] = [];
  constructor(private readonly failAt = Infinity) {}
  private step(what: string): void {
    if (this.log.length === this.failAt) throw new Error(`worker lost during ${what}`);
    this.log.push(what);
  }
  async saveInitial(action: Extract<Action, { kind: "save-initial" }>) {
    this.step(`save-initial ${action.stage} from ${action.start.kind}`);
    return { checkpoint: `checkpoints/stage-${action.stage}-initial.safetensors` };
  }
  async trainEpoch(action: Extract<Action, { kind: "train-epoch" }>, plan: BatchPlan) {
    this.step(`train ${action.stage}.${action.epoch} from ${action.start.kind === "checkpoint" ? action.start.path : action.start.kind} (${plan.offsets.length - 1} steps)`);
    return { checkpoint: `checkpoints/stage-${action.stage}-epoch-${action.epoch + 1}.safetensors` };
  }
  async embed(action: Extract<Action, { kind: "embed" }>) {
    this.step(`embed ${action.stage}`);
  }
  async cluster(action: Extract<Action, { kind: "cluster" }>) {
    this.step(`cluster ${action.stage}`);
    const rng = new Rng(action.stage + 1);
    return Int32Array.from({ length: N }, () => rng.below(action.k));
  }
  async trainBaselineEpoch(action: Extract<Action, { kind: "train-baseline-epoch" }>) {
    this.step(`baseline ${action.epoch} from ${action.start.kind === "checkpoint" ? action.start.path : action.start.kind}`);
    return { checkpoint: `checkpoints/baseline-epoch-${action.epoch + 1}.safetensors` };
  }
}

describe("driveRun on a CLIP run", () => {
  test("saves stage 0, clusters it, and fine-tunes every stage and the baseline from it", async () => {
    const worker = new FakeClipWorker();
    const store = await newRun();
    expect((await driveRun(store, worker, { numSamples: N })).phase).toBe("done");
    const initial = "checkpoints/stage-0-initial.safetensors";
    expect(worker.log.map((line) => line.replace(/ \(\d+ steps\)/, ""))).toEqual([
      "save-initial 0 from scratch",
      "embed 0",
      "cluster 0",
      `train 1.0 from ${initial}`,
      "embed 1",
      "cluster 1",
      `train 2.0 from ${initial}`,
      `baseline 0 from ${initial}`,
      "baseline 1 from checkpoints/baseline-epoch-1.safetensors",
    ]);
    expect(store.manifest.stages.map((s) => [s.stage, s.k, s.assignments.file])).toEqual([
      [0, 3, "stage-0/assignments.i32"],
      [1, 2, "stage-1/assignments.i32"],
    ]);
    expect(store.manifest.stages.map((s) => s.composite?.labels.file)).toEqual(["stage-0/labels.i32", "stage-1/labels.i32"]);
  });

  test("a crash at any action resumes with the remaining ones", async () => {
    const reference = new FakeClipWorker();
    await driveRun(await newRun(), reference, { numSamples: N });
    for (const failAt of [0, 1, 3, 7]) {
      const crashing = new FakeClipWorker(failAt);
      const store = await newRun();
      await expect(driveRun(store, crashing, { numSamples: N })).rejects.toThrow(/worker lost/);
      const resumed = new FakeClipWorker();
      await driveRun(await RunStore.open(store.dir), resumed, { numSamples: N });
      expect([...crashing.log, ...resumed.log]).toEqual(reference.log);
    }
  });

  test("an executor that cannot save initial weights is refused at stage 0", async () => {
    const worker = new FakeClipWorker();
    const plain: StageExecutor = {
      trainEpoch: (a, p) => worker.trainEpoch(a, p),
      embed: (a) => worker.embed(a),
      cluster: (a) => worker.cluster(a),
      trainBaselineEpoch: (a) => worker.trainBaselineEpoch(a),
    };
    await expect(driveRun(await newRun(), plain, { numSamples: N })).rejects.toThrow(/trains 0 epochs, and this executor cannot save initial weights/);
  });
});
