import { mkdtemp, readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test, vi } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { BatchPlan } from "../../../ts/control/batch-planner.js";
import { driveRun, type StageExecutor } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { Rng } from "../../../ts/control/rng.js";
import { initialState, type Action } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";

const versions = { package: "0.1.0", protocol: 1 };
const N = 300;

async function freshDir(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), "mcl-run-")), "demo");
}

function demoConfig(overrides: Record<string, unknown> = {}) {
  return parseConfig({ name: "demo", stages: 3, clusters: [3, 4], epochsPerStage: [2, 1, 1], batchSize: 20, seed: 5, ...overrides });
}

async function newRun(dir: string, config = demoConfig()): Promise<RunStore> {
  return RunStore.create(dir, { config, versions, state: initialState(scheduleFromConfig(config)) });
}

/** A stand-in for the worker: deterministic clusterings, records what it was asked. */
class FakeWorker implements StageExecutor {
  readonly log: string[] = [];
  readonly plans = new Map<string, string>();
  constructor(private readonly failAt: number = Infinity) {}

  private step(what: string): void {
    if (this.log.length === this.failAt) throw new Error(`worker lost during ${what}`);
    this.log.push(what);
  }
  async trainEpoch(action: Extract<Action, { kind: "train-epoch" }>, plan: BatchPlan) {
    this.step(`train ${action.stage}.${action.epoch}`);
    this.plans.set(`${action.stage}.${action.epoch}`, Array.from(plan.indices).join(","));
    return { checkpoint: `checkpoints/stage-${action.stage}/epoch-${action.epoch}.pt` };
  }
  async embed(action: Extract<Action, { kind: "embed" }>) {
    this.step(`embed ${action.stage}`);
  }
  async cluster(action: Extract<Action, { kind: "cluster" }>) {
    this.step(`cluster ${action.stage}`);
    const rng = new Rng(action.stage);
    return Int32Array.from({ length: N }, () => rng.below(action.k));
  }
  async trainBaselineEpoch(action: Extract<Action, { kind: "train-baseline-epoch" }>, plan: BatchPlan) {
    this.step(`baseline ${action.epoch}`);
    this.plans.set(`b.${action.epoch}`, Array.from(plan.indices).join(","));
    return { checkpoint: `checkpoints/baseline/epoch-${action.epoch}.pt` };
  }
}

describe("run store", () => {
  test("arrays round-trip as raw int32 files named in the manifest", async () => {
    const dir = await freshDir();
    const store = await newRun(dir);
    const array = Int32Array.from([1, -2, 3, 2 ** 31 - 1]);
    const ref = await store.writeArray("stage-1/assignments.i32", array);
    expect(ref).toMatchObject({ file: "stage-1/assignments.i32", dtype: "int32", length: 4 });
    expect((await readFile(join(dir, "stage-1/assignments.i32"))).byteLength).toBe(16);
    expect(await store.readArray(ref)).toEqual(array);
    expect((await readdir(dir)).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  test("create refuses an existing run; open refuses a missing one", async () => {
    const dir = await freshDir();
    await newRun(dir);
    await expect(newRun(dir)).rejects.toMatchObject({ code: "RUN_EXISTS" });
    await expect(RunStore.open(join(dir, "..", "nothing"))).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  test("resuming with a changed config names the changed fields", async () => {
    const dir = await freshDir();
    await newRun(dir);
    const changed = demoConfig({ clusters: [3, 5], epochsPerStage: [2, 1, 2], sampling: { smallGroups: "drop" }, runDir: "elsewhere" });
    await expect(RunStore.open(dir, { config: changed })).rejects.toThrow(
      /differs from the run's in clusters\[1\], epochsPerStage\[2\], sampling\.smallGroups;/,
    );
    await expect(RunStore.open(dir, { config: changed })).rejects.toMatchObject({ code: "CONFIG_CHANGED" });
    // runDir may change (the run moved); nothing else.
    await expect(RunStore.open(dir, { config: demoConfig({ runDir: "moved" }) })).resolves.toBeInstanceOf(RunStore);
  });

  test("a truncated, altered or missing file is an error that names it", async () => {
    const dir = await freshDir();
    const config = demoConfig();
    await driveRun(await newRun(dir, config), new FakeWorker(), { numSamples: N });
    const file = "stage-2/assignments.i32";
    const original = await readFile(join(dir, file));

    await truncate(join(dir, file), 100);
    await expect(RunStore.open(dir)).rejects.toThrow(`${file}: expected ${4 * N} bytes (${N} int32), found 100 (truncated)`);

    const altered = Buffer.from(original);
    altered[0] = altered[0]! ^ 1;
    await writeFile(join(dir, file), altered);
    const store = await RunStore.open(dir);
    await expect(store.readArray(store.manifest.stages[1]!.assignments)).rejects.toThrow(`${file}: checksum mismatch`);

    await writeFile(join(dir, "manifest.json"), "{ not json");
    await expect(RunStore.open(dir)).rejects.toMatchObject({ code: "CORRUPT_FILE", message: expect.stringMatching(/manifest\.json: not valid JSON/) });
  });
});

describe("driveRun", () => {
  test("runs every stage, records clusterings and stats", async () => {
    const dir = await freshDir();
    const worker = new FakeWorker();
    const final = await driveRun(await newRun(dir), worker, { numSamples: N });
    expect(final.phase).toBe("done");
    expect(worker.log).toEqual([
      "train 1.0", "train 1.1", "embed 1", "cluster 1", "train 2.0", "embed 2", "cluster 2", "train 3.0",
      "baseline 0", "baseline 1", "baseline 2", "baseline 3",
    ]);
    const manifest = (await RunStore.open(dir)).manifest;
    expect(manifest.numSamples).toBe(N);
    expect(manifest.state.checkpoints).toEqual([
      "checkpoints/stage-1/epoch-1.pt", "checkpoints/stage-2/epoch-0.pt", "checkpoints/stage-3/epoch-0.pt",
    ]);
    expect(manifest.stages.map((s) => s.composite?.stats.numGroups)).toEqual([3, 12]);
    expect(manifest.stages[1]!.composite!.plan).toMatchObject({ samples: N });
  });

  test("a crash at any action resumes where it stopped, with identical plans", async () => {
    const reference = new FakeWorker();
    await driveRun(await newRun(await freshDir()), reference, { numSamples: N });
    for (const failAt of [1, 3, 4, 9]) {
      // mid-stage epoch, clustering, first MCL epoch, baseline epoch
      const dir = await freshDir();
      const crashing = new FakeWorker(failAt);
      await expect(driveRun(await newRun(dir), crashing, { numSamples: N })).rejects.toThrow(/worker lost/);
      const resumed = new FakeWorker();
      const store = await RunStore.open(dir, { config: demoConfig() });
      await driveRun(store, resumed, { numSamples: N });
      expect([...crashing.log, ...resumed.log]).toEqual(reference.log);
      for (const [key, plan] of [...crashing.plans, ...resumed.plans]) expect(plan).toBe(reference.plans.get(key));
    }
  });

  test("a crash between writing a stage's arrays and its manifest resumes from the manifest", async () => {
    const dir = await freshDir();
    const store = await newRun(dir);
    const original = store.commit.bind(store);
    let commits = 0;
    // The commit that would record stage 1's clustering dies after the array was written.
    vi.spyOn(store, "commit").mockImplementation(async (changes) => {
      if (changes.stages !== undefined && commits++ === 0) throw new Error("power cut");
      return original(changes);
    });
    await expect(driveRun(store, new FakeWorker(), { numSamples: N })).rejects.toThrow("power cut");
    expect((await readdir(join(dir, "stage-1")))).toEqual(["assignments.i32"]); // written, not committed

    const reopened = await RunStore.open(dir);
    expect(reopened.manifest.state).toMatchObject({ stage: 1, phase: "cluster" });
    expect(reopened.manifest.stages).toEqual([]);
    const worker = new FakeWorker();
    await driveRun(reopened, worker, { numSamples: N });
    expect(worker.log[0]).toBe("cluster 1"); // the clustering is redone, the orphan array replaced
    expect((await RunStore.open(dir)).manifest.state.phase).toBe("done");
  });

  test("a changed dataset size is refused", async () => {
    const dir = await freshDir();
    await driveRun(await newRun(dir), new FakeWorker(2), { numSamples: N }).catch(() => undefined);
    await expect(driveRun(await RunStore.open(dir), new FakeWorker(), { numSamples: N + 1 })).rejects.toThrow(
      `the run was made with ${N} samples, the dataset now has ${N + 1}`,
    );
  });

  test("an epoch whose plan holds no batch is refused with the settings that decide it", async () => {
    // 300 samples in 3 + 12 clusters: no composite group reaches a batch of 100 under 'drop'.
    const config = demoConfig({ batchSize: 100, sampling: { smallGroups: "drop" } });
    const worker = new FakeWorker();
    const failure = driveRun(await newRun(await freshDir(), config), worker, { numSamples: N });
    await expect(failure).rejects.toMatchObject({ code: "PLAN_INFEASIBLE" });
    await expect(failure).rejects.toThrow(/stage 3: no group fills a batch of batchSize 100 under sampling.smallGroups 'drop'/);
    expect(worker.log.at(-1)).toBe("cluster 2");
  });
});
