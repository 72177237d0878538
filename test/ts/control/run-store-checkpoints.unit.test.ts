// Checkpoints are committed with their size and SHA-256; a damaged one is refused before loading,
// and recoverCheckpoints rewinds the run to the newest intact checkpoint of its track.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { BatchPlan } from "../../../ts/control/batch-planner.js";
import { driveRun, type StageExecutor } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { Rng } from "../../../ts/control/rng.js";
import { initialState, type Action } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";

const versions = { package: "0.1.0", protocol: 1 };
const N = 120;
const config = parseConfig({ name: "ckpt", stages: 2, clusters: 3, epochsPerStage: [2, 3], batchSize: 20, seed: 3, baseline: true });

/** Writes each epoch's checkpoint as the SDK does (a file, recorded, the one two epochs back removed) and logs what it trained. */
class FileWorker implements StageExecutor {
  readonly trained: string[] = [];
  constructor(private readonly store: RunStore) {}

  async #save(track: number | "baseline", epoch: number): Promise<{ checkpoint: string }> {
    const name = track === "baseline" ? "baseline" : `stage-${track}`;
    const checkpoint = `checkpoints/${name}-epoch-${epoch + 1}.bin`;
    await writeFile(this.store.path(checkpoint), `weights of ${name} after epoch ${epoch + 1}`.repeat(50));
    await this.store.recordCheckpoint(checkpoint, track, epoch + 1);
    if (epoch >= 1) await rm(this.store.path(`checkpoints/${name}-epoch-${epoch - 1}.bin`), { force: true });
    this.trained.push(`${name}.${epoch}`);
    return { checkpoint };
  }
  async trainEpoch(action: Extract<Action, { kind: "train-epoch" }>, _plan: BatchPlan) {
    if (action.start.kind === "checkpoint") await this.store.verifyCheckpoint(action.start.path);
    return this.#save(action.stage, action.epoch);
  }
  async embed() {}
  async cluster(action: Extract<Action, { kind: "cluster" }>) {
    const rng = new Rng(action.stage);
    return Int32Array.from({ length: N }, () => rng.below(action.k));
  }
  async trainBaselineEpoch(action: Extract<Action, { kind: "train-baseline-epoch" }>, _plan: BatchPlan) {
    if (action.start.kind === "checkpoint") await this.store.verifyCheckpoint(action.start.path);
    return this.#save("baseline", action.epoch);
  }
}

async function finishedRun(): Promise<RunStore> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-ckpt-")), "run");
  const store = await RunStore.create(dir, { config, versions, state: initialState(scheduleFromConfig(config)) });
  await mkdir(store.path("checkpoints"), { recursive: true });
  await driveRun(store, new FileWorker(store), { numSamples: N });
  return store;
}

async function flipBit(path: string): Promise<void> {
  const bytes = await readFile(path);
  bytes[7] = bytes[7]! ^ 1;
  await writeFile(path, bytes);
}

describe("checkpoint checksums", () => {
  test("each referenced checkpoint and the one before it in its track are committed with size and SHA-256", async () => {
    const store = await finishedRun();
    const records = store.manifest.checkpointFiles;
    expect(Object.keys(records).sort()).toEqual(
      [
        "checkpoints/baseline-epoch-4.bin",
        "checkpoints/baseline-epoch-5.bin",
        "checkpoints/stage-1-epoch-1.bin",
        "checkpoints/stage-1-epoch-2.bin",
        "checkpoints/stage-2-epoch-2.bin",
        "checkpoints/stage-2-epoch-3.bin",
      ].sort(),
    );
    const file = "checkpoints/stage-2-epoch-3.bin";
    const bytes = await readFile(store.path(file));
    expect(records[file]).toEqual({ track: 2, epochs: 3, bytes: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") });
    // Reopened from disk, the records are the same.
    expect((await RunStore.open(store.dir)).manifest.checkpointFiles).toEqual(records);
    await expect(store.verifyCheckpoint(file)).resolves.toBeUndefined();
    expect(await store.recoverCheckpoints()).toBeNull();
  });

  test("a damaged checkpoint is refused before loading, naming the file", async () => {
    const store = await finishedRun();
    const file = "checkpoints/stage-2-epoch-3.bin";
    await flipBit(store.path(file));
    await expect(store.verifyCheckpoint(file)).rejects.toMatchObject({ code: "CORRUPT_FILE", message: expect.stringContaining(`${file}: checksum mismatch`) as unknown });
    await truncate(store.path(file), 10);
    await expect(store.verifyCheckpoint(file)).rejects.toThrow(/stage-2-epoch-3\.bin: expected \d+ bytes, found 10 \(truncated\)/);
    await rm(store.path(file));
    await expect(store.verifyCheckpoint(file)).rejects.toThrow(/stage-2-epoch-3\.bin: cannot be read/);
  });

  test("the baseline's damaged last checkpoint rewinds the baseline to the one before it", async () => {
    const store = await finishedRun();
    await flipBit(store.path("checkpoints/baseline-epoch-5.bin"));
    const recovery = await store.recoverCheckpoints();
    expect(recovery).toMatchObject({ file: "checkpoints/baseline-epoch-5.bin", track: "baseline", fallback: "checkpoints/baseline-epoch-4.bin", epochs: 4 });
    expect(store.manifest.state).toMatchObject({ phase: "baseline", epoch: 4, baselineCheckpoint: "checkpoints/baseline-epoch-4.bin" });
    expect(store.manifest.stages).toHaveLength(1);
    const worker = new FileWorker(store);
    await driveRun(store, worker, { numSamples: N });
    expect(worker.trained).toEqual(["baseline.4"]);
    expect(await store.recoverCheckpoints()).toBeNull();
  });

  test("a damaged stage rewinds every later stage and the baseline; without an intact earlier checkpoint it starts over", async () => {
    const store = await finishedRun();
    const stage1 = store.manifest.stages.slice(0, 1);
    await flipBit(store.path("checkpoints/stage-1-epoch-2.bin"));
    await flipBit(store.path("checkpoints/stage-1-epoch-1.bin"));
    expect(await store.recoverCheckpoints()).toMatchObject({ file: "checkpoints/stage-1-epoch-2.bin", track: 1, fallback: null, epochs: 0 });
    expect(store.manifest.state).toEqual({ stage: 1, phase: "train", epoch: 0, checkpoints: [null, null], baselineCheckpoint: null });
    expect(store.manifest.stages).toEqual([]);
    expect(store.manifest.checkpointFiles).toEqual({});
    const worker = new FileWorker(store);
    await driveRun(store, worker, { numSamples: N });
    expect(worker.trained).toEqual(["stage-1.0", "stage-1.1", "stage-2.0", "stage-2.1", "stage-2.2", ...[0, 1, 2, 3, 4].map((e) => `baseline.${e}`)]);
    // The clustering is recomputed as it was (same seed).
    expect(store.manifest.stages[0]!.assignments).toEqual(stage1[0]!.assignments);
  });

  test("a run made before checkpoints were checksummed resumes: there is nothing to check", async () => {
    const store = await finishedRun();
    const { checkpointFiles: _, ...old } = JSON.parse(await readFile(store.path("manifest.json"), "utf8")) as Record<string, unknown>;
    await writeFile(store.path("manifest.json"), JSON.stringify(old));
    await flipBit(store.path("checkpoints/stage-2-epoch-3.bin"));
    const reopened = await RunStore.open(store.dir);
    expect(reopened.manifest.checkpointFiles).toEqual({});
    await expect(reopened.verifyCheckpoint("checkpoints/stage-2-epoch-3.bin")).resolves.toBeUndefined();
    expect(await reopened.recoverCheckpoints()).toBeNull();
  });
});
