// One stage numbering: the scheduler's stages 1…S are stages 1…S of a unimodal run and stages
// 0…S-1 of a CLIP run (stage 0: the initial model). The run driver hands actions on numbered,
// the run store records numbers and rewinds a damaged checkpoint's stage by its number, and a run
// directory of the format before the numbering is read as it is (unimodal: the same numbers) or
// refused naming its manifest (CLIP: its files counted from 1), as is a manifest whose records or
// checkpoints are labelled with numbers the run's stages do not have.
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { Rng } from "../../../ts/control/rng.js";
import { initialState, type Action, type StageSchedule } from "../../../ts/control/stage-scheduler.js";
import { driveRun, numberedAction, type StageExecutor } from "../../../ts/run/run-driver.js";
import { MANIFEST_FILE, MANIFEST_FORMAT, RunStore } from "../../../ts/run/run-store.js";
import { firstStage, lastStage, schedulerStage, stageNumber, stageNumbers, stagePosition } from "../../../ts/run/track.js";
import { EventLog } from "../../../ts/sdk/events.js";
import { recoverCheckpoints } from "../../../ts/sdk/encoder-executor.js";
import { Mcl } from "../../../ts/sdk/mcl.js";

const N = 60;
const versions = { package: "0.9.0", protocol: 1 };
const unimodal = parseConfig({ name: "u", stages: 3, clusters: 2, epochsPerStage: 1, batchSize: 10, seed: 1 });
const clip = parseConfig({ name: "c", encoder: "clip-tiny", stages: 2, clusters: 2, epochsPerStage: 2, batchSize: 10, seed: 1 });

/** Writes every checkpoint as the SDK does (a file, recorded under its stage's number) and logs the actions it got. */
class FileWorker implements StageExecutor {
  readonly log: string[] = [];
  constructor(private readonly store: RunStore) {}

  async #save(name: string, track: number | "baseline", epochs: number): Promise<{ checkpoint: string }> {
    const checkpoint = `checkpoints/${name}.bin`;
    await mkdir(this.store.path("checkpoints"), { recursive: true });
    await writeFile(this.store.path(checkpoint), `weights of ${name}`.repeat(20));
    await this.store.recordCheckpoint(checkpoint, track, epochs);
    return { checkpoint };
  }
  async saveInitial(action: Extract<Action, { kind: "save-initial" }>) {
    this.log.push(`save-initial ${action.stage}`);
    return this.#save(`stage-${action.stage}-initial`, action.stage, 0);
  }
  async trainEpoch(action: Extract<Action, { kind: "train-epoch" }>) {
    const labels = action.sampling.policy === "mcl" ? ` on the groups after ${action.sampling.labelsStage}` : "";
    this.log.push(`train ${action.stage}.${action.epoch}${labels}`);
    return this.#save(`stage-${action.stage}-epoch-${action.epoch + 1}`, action.stage, action.epoch + 1);
  }
  async embed(action: Extract<Action, { kind: "embed" }>) {
    this.log.push(`embed ${action.stage}`);
  }
  async cluster(action: Extract<Action, { kind: "cluster" }>) {
    this.log.push(`cluster ${action.stage}`);
    const rng = new Rng(7);
    return Int32Array.from({ length: N }, () => rng.below(action.k));
  }
  async trainBaselineEpoch(action: Extract<Action, { kind: "train-baseline-epoch" }>) {
    return this.#save(`baseline-epoch-${action.epoch + 1}`, "baseline", action.epoch + 1);
  }
}

async function newRun(config = clip): Promise<RunStore> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-numbers-")), config.name);
  return RunStore.create(dir, { config, versions, state: initialState(scheduleFromConfig(config)) });
}

async function readManifest(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as Record<string, unknown>;
}

describe("stage numbers", () => {
  const u: StageSchedule = scheduleFromConfig(unimodal);
  const c: StageSchedule = scheduleFromConfig(clip);

  test("a unimodal run numbers the scheduler's stages as they are; a CLIP run from 0", () => {
    expect([firstStage(u), lastStage(u), stageNumbers(u)]).toEqual([1, 3, [1, 2, 3]]);
    expect([1, 2, 3].map((index) => stageNumber(u, index))).toEqual([1, 2, 3]);
    expect([firstStage(c), lastStage(c), stageNumbers(c)]).toEqual([0, 2, [0, 1, 2]]);
    expect([1, 2, 3].map((index) => stageNumber(c, index))).toEqual([0, 1, 2]);
    for (const schedule of [u, c]) {
      for (const stage of stageNumbers(schedule)) expect(stageNumber(schedule, schedulerStage(schedule, stage))).toBe(stage);
      expect(stageNumbers(schedule).map((stage) => stagePosition(firstStage(schedule), stage))).toEqual([0, 1, 2]);
    }
  });

  test("an action is numbered whole: its stage and the stage whose groups it draws from", () => {
    const start = { kind: "scratch" } as const;
    const train: Action = { kind: "train-epoch", stage: 3, epoch: 1, epochs: 2, start, sampling: { policy: "mcl", labelsStage: 2 } };
    expect(numberedAction(c, train)).toEqual({ ...train, stage: 2, sampling: { policy: "mcl", labelsStage: 1 } });
    expect(numberedAction(u, train)).toEqual(train);
    expect(numberedAction(c, { kind: "cluster", stage: 1, k: 4 })).toEqual({ kind: "cluster", stage: 0, k: 4 });
    const baseline: Action = { kind: "train-baseline-epoch", epoch: 0, epochs: 2, start };
    expect(numberedAction(c, baseline)).toEqual(baseline);
  });

  test("a CLIP run's executor, callbacks, files and records all count from stage 0", async () => {
    const store = await newRun();
    const worker = new FileWorker(store);
    const committed: string[] = [];
    await driveRun(store, worker, {
      numSamples: N,
      onTransition: (action) => committed.push(`${action.kind}${"stage" in action ? ` ${action.stage}` : ""}`),
    });
    expect(worker.log).toEqual([
      "save-initial 0", "embed 0", "cluster 0",
      "train 1.0 on the groups after 0", "train 1.1 on the groups after 0", "embed 1", "cluster 1",
      "train 2.0 on the groups after 1", "train 2.1 on the groups after 1",
    ]);
    expect(committed.filter((line) => line.startsWith("plan"))).toEqual(["plan 0", "plan 1"]);
    const manifest = await readManifest(store.dir);
    expect(manifest["format"]).toBe(MANIFEST_FORMAT);
    expect(store.manifest.stages.map((s) => [s.stage, s.assignments.file, s.composite?.sizes.file])).toEqual([
      [0, "stage-0/assignments.i32", "stage-0/sizes.i32"],
      [1, "stage-1/assignments.i32", "stage-1/sizes.i32"],
    ]);
    const tracks = Object.entries(store.manifest.checkpointFiles).map(([file, ref]) => [file, ref.track]);
    expect(tracks).toContainEqual(["checkpoints/stage-0-initial.bin", 0]);
    expect(tracks).toContainEqual(["checkpoints/stage-2-epoch-2.bin", 2]);
  });

  test("pauseAfterStage names a stage by its number: a CLIP run's clusterings follow stages 0…S-1", async () => {
    const input = { name: "c", encoder: "clip-tiny", stages: 2, clusters: 2, epochsPerStage: 2, batchSize: 10, seed: 1 };
    await expect(Mcl.start(input, { pauseAfterStage: 2 })).rejects.toThrow(
      /^pauseAfterStage: expected an integer from 0 to 1 \(stages with a clustering after them\), got 2$/,
    );
    await expect(Mcl.start(input, { pauseAfterStage: -1 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    const store = await newRun();
    const stop = new AbortController();
    const pause = { numSamples: N, signal: stop.signal, onTransition: (action: Action) => action.kind === "plan" && stop.abort() };
    await expect(driveRun(store, new FileWorker(store), pause)).rejects.toThrow();
    await expect(Mcl.resume(store.dir, { pauseAfterStage: 0 })).rejects.toThrow(
      /^pauseAfterStage: the run is already past stage 0's clustering; leave it out or name a later stage$/,
    );
  });

  test("a damaged CLIP checkpoint rewinds its stage by number, and what was measured of it and after it", async () => {
    const store = await newRun();
    await driveRun(store, new FileWorker(store), { numSamples: N });
    await mkdir(store.path("probes"));
    const probes = ["stage-0", "stage-1", "stage-2", "clip-stage-0", "clip-stage-1", "clip-stage-2"];
    for (const name of probes) await writeFile(store.path(`probes/${name}.json`), "{}");
    await writeFile(store.path("checkpoints/stage-1-epoch-2.bin"), "damaged");
    const log = new EventLog();
    await recoverCheckpoints(await RunStore.open(store.dir), log);

    const rewound = await RunStore.open(store.dir);
    expect(rewound.manifest.state).toMatchObject({ stage: 2, phase: "train", epoch: 1 });
    expect(rewound.manifest.state.checkpoints).toEqual(["checkpoints/stage-0-initial.bin", "checkpoints/stage-1-epoch-1.bin", null]);
    expect(rewound.manifest.stages.map((s) => s.stage)).toEqual([0]);
    const [warning] = log.snapshot();
    expect(warning).toMatchObject({ type: "warning", stage: 1, code: "CHECKPOINT_DAMAGED" });
    expect(warning).toMatchObject({ message: expect.stringContaining("stage-1 continues from checkpoints/stage-1-epoch-1.bin (epoch 1), training the epochs after it again (then stage 2 and the baseline train again") });
    const left = await Promise.all(probes.map((name) => readFile(store.path(`probes/${name}.json`)).then(() => name, () => null)));
    expect(left.filter((name) => name !== null)).toEqual(["stage-0", "clip-stage-0"]);
  });
});

describe("run directories of the format before stage numbers (mcl-run/1)", () => {
  test("a unimodal one (numbered alike) resumes to the end and is written in the current format", async () => {
    const store = await newRun(unimodal);
    const stop = new AbortController();
    await expect(
      driveRun(store, new FileWorker(store), { numSamples: N, signal: stop.signal, onTransition: (action) => action.kind === "plan" && stop.abort() }),
    ).rejects.toThrow();
    // What the earlier version wrote: the same manifest, but for its format.
    const old = { ...(await readManifest(store.dir)), format: "mcl-run/1" };
    await writeFile(join(store.dir, MANIFEST_FILE), JSON.stringify(old));

    const reopened = await RunStore.open(store.dir);
    expect(reopened.manifest.stages.map((s) => s.stage)).toEqual([1]);
    const resumed = new FileWorker(reopened);
    await driveRun(reopened, resumed, { numSamples: N });
    expect(resumed.log).toEqual(["train 2.0 on the groups after 1", "embed 2", "cluster 2", "train 3.0 on the groups after 2"]);
    expect((await readManifest(store.dir))["format"]).toBe(MANIFEST_FORMAT);
  });

  test("a CLIP one (its stage 0 written as stage 1) is refused, naming its manifest, the version that made it and what to do", async () => {
    const store = await newRun();
    const stop = new AbortController();
    await expect(
      driveRun(store, new FileWorker(store), { numSamples: N, signal: stop.signal, onTransition: (action) => action.kind === "plan" && stop.abort() }),
    ).rejects.toThrow();
    // What the earlier version wrote after stage 0's clustering: stage 0 as the scheduler's stage 1 in every file and record.
    await rename(store.path("stage-0"), store.path("stage-1"));
    await rename(store.path("checkpoints/stage-0-initial.bin"), store.path("checkpoints/stage-1-initial.bin"));
    const text = (await readFile(store.path(MANIFEST_FILE), "utf8"))
      .replaceAll("stage-0", "stage-1")
      .replace('"format": "mcl-run/2"', '"format": "mcl-run/1"')
      .replace('"stage": 0', '"stage": 1')
      .replace('"track": 0', '"track": 1');
    await writeFile(store.path(MANIFEST_FILE), text);
    const path = join(store.dir, MANIFEST_FILE);
    const refusal = RunStore.open(store.dir);
    await expect(refusal).rejects.toMatchObject({ code: "RUN_INCOMPATIBLE" });
    await expect(refusal).rejects.toThrow(
      `${path}: this CLIP run was made by version 0.9.0, whose run files number the initial model stage 1 and the MCL stages from 2;`,
    );
    await expect(refusal).rejects.toThrow(
      /summary\.json and report\.html stay valid; resume, report or export it with version 0\.9\.0, or start it again under a new name$/,
    );
    await rm(store.dir, { recursive: true });
  });
});

describe("a manifest whose stage numbers disagree with its run's", () => {
  /** A CLIP run trained to the end, its manifest as `edit` leaves it. */
  async function edited(edit: (manifest: Record<string, unknown>) => void): Promise<RunStore> {
    const store = await newRun();
    await driveRun(store, new FileWorker(store), { numSamples: N });
    const manifest = await readManifest(store.dir);
    edit(manifest);
    await writeFile(store.path(MANIFEST_FILE), JSON.stringify(manifest));
    return store;
  }
  type Records = { stage: number }[];
  const fix = "the manifest was changed by hand or damaged: restore it from a copy of the run, or start the run again";

  test("a record labelled with another stage's number is refused, naming manifest.json and the record", async () => {
    // A unimodal run's numbering on a CLIP run: its records 1 and 2 where it has 0 and 1.
    const store = await edited((manifest) => (manifest["stages"] as Records).forEach((record) => (record.stage += 1)));
    const opened = RunStore.open(store.dir);
    await expect(opened).rejects.toMatchObject({ code: "CORRUPT_FILE" });
    await expect(opened).rejects.toThrow(
      `${join(store.dir, MANIFEST_FILE)}: stages[0].stage is 1, expected 0 (the run's stages are numbered 0…2, and the records follow them in order); ${fix}`,
    );
    await rm(store.dir, { recursive: true });
  });

  test("records out of order are refused, naming the first out of place", async () => {
    const store = await edited((manifest) => (manifest["stages"] as Records).reverse());
    await expect(RunStore.open(store.dir)).rejects.toThrow(/manifest\.json: stages\[0\]\.stage is 1, expected 0 /);
    await rm(store.dir, { recursive: true });
  });

  test("a record after the last stage is refused", async () => {
    const store = await edited((manifest) => {
      const records = manifest["stages"] as Records;
      records.push({ ...records[1]!, stage: 2 });
    });
    await expect(RunStore.open(store.dir)).rejects.toThrow(
      /manifest\.json: stages has 3 records, but the run clusters after each stage but the last \(the run's stages are numbered 0…2\): 2 at most; /,
    );
    await rm(store.dir, { recursive: true });
  });

  test("a checkpoint of a stage the run does not have is refused, naming the checkpoint", async () => {
    const store = await edited((manifest) => {
      const files = manifest["checkpointFiles"] as Record<string, { track: number | "baseline" }>;
      files["checkpoints/stage-2-epoch-2.bin"]!.track = 3;
    });
    await expect(RunStore.open(store.dir)).rejects.toThrow(
      `manifest.json: checkpointFiles["checkpoints/stage-2-epoch-2.bin"].track is 3, but the run's stages are numbered 0…2; ${fix}`,
    );
    await rm(store.dir, { recursive: true });
  });

  test("a unimodal run has no stage 0: a checkpoint recorded under it is refused", async () => {
    const store = await newRun(unimodal);
    await driveRun(store, new FileWorker(store), { numSamples: N });
    const manifest = await readManifest(store.dir);
    const files = manifest["checkpointFiles"] as Record<string, { track: number | "baseline" }>;
    const [first] = Object.entries(files).find(([, ref]) => ref.track === 1)!;
    files[first]!.track = 0;
    await writeFile(store.path(MANIFEST_FILE), JSON.stringify(manifest));
    await expect(RunStore.open(store.dir)).rejects.toThrow(`checkpointFiles["${first}"].track is 0, but the run's stages are numbered 1…3`);
    await rm(store.dir, { recursive: true });
  });
});
