/**
 * The run driver trains an epoch while the previous epoch's checkpoint is still being written, and
 * commits that epoch only once its file is durable: never before, and never lost to a failure beside it.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { driveRun, type EpochCheckpoint, type StageExecutor } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { Rng } from "../../../ts/control/rng.js";
import { initialState, type Action, type SchedulerState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";

const N = 120;
const config = parseConfig({ name: "overlap", stages: 2, clusters: [3], epochsPerStage: [3, 2], batchSize: 20, seed: 1, baseline: false });

async function newStore(): Promise<RunStore> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-overlap-")), "run");
  return RunStore.create(dir, { config, versions: { package: "0.1.0", protocol: 4 }, state: initialState(scheduleFromConfig(config)) });
}

/** Where a stage stands in a committed state: "stage.epoch" of the next epoch to train. */
function position(state: SchedulerState): string {
  return `${state.stage}.${state.epoch}`;
}

/** An executor whose checkpoints become durable only when the test says so. */
class SlowWriter implements StageExecutor {
  readonly log: string[] = [];
  readonly signals: (AbortSignal | undefined)[] = [];
  /** Resolves or rejects the write of "stage.epoch". */
  readonly writes = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  /** Called when an epoch starts training, with the state committed at that moment. */
  onTrain: (epoch: string, committed: string) => void = () => {};
  /** Whether an epoch's training waits for its signal to abort (or the test to end it). */
  trainUntilAborted = new Set<string>();

  constructor(private readonly store: () => RunStore) {}

  async trainEpoch(action: Extract<Action, { kind: "train-epoch" }>, _plan: unknown, signal?: AbortSignal): Promise<EpochCheckpoint> {
    const epoch = `${action.stage}.${action.epoch}`;
    this.log.push(`train ${epoch}`);
    this.signals.push(signal);
    this.onTrain(epoch, position(this.store().manifest.state));
    if (this.trainUntilAborted.has(epoch)) {
      await new Promise<never>((_, reject) => signal?.addEventListener("abort", () => reject(new Error(`epoch ${epoch} stopped`))));
    }
    const durable = new Promise<void>((resolve, reject) => this.writes.set(epoch, { resolve, reject }));
    return { checkpoint: `checkpoints/stage-${action.stage}-epoch-${action.epoch + 1}.safetensors`, durable };
  }
  async embed(action: Extract<Action, { kind: "embed" }>) {
    this.log.push(`embed ${action.stage}`);
  }
  async cluster(action: Extract<Action, { kind: "cluster" }>) {
    const rng = new Rng(action.stage);
    return Int32Array.from({ length: N }, () => rng.below(action.k));
  }
  async trainBaselineEpoch(): Promise<EpochCheckpoint> {
    throw new Error("no baseline in this config");
  }
}

/** Lets every write finish a tick after it starts. */
function writeSoon(worker: SlowWriter): void {
  const onTrain = worker.onTrain;
  worker.onTrain = (epoch, committed) => {
    onTrain(epoch, committed);
    setImmediate(() => {
      for (const write of worker.writes.values()) write.resolve();
    });
  };
}

describe("epochs trained beside their predecessor's checkpoint write", () => {
  test("the next epoch starts before the previous one commits; every epoch commits once its file is durable", async () => {
    const store = await newStore();
    const worker = new SlowWriter(() => store);
    const seen: string[] = [];
    worker.onTrain = (epoch, committed) => seen.push(`${epoch} while committed ${committed}`);
    writeSoon(worker);
    const transitions: string[] = [];
    const final = await driveRun(store, worker, { numSamples: N, onTransition: (action) => transitions.push(action.kind) });
    expect(final.phase).toBe("done");
    // Epoch 1.1 trained while 1.0 was not committed yet (the state still said 1.0), and so on.
    expect(seen).toEqual(["1.0 while committed 1.0", "1.1 while committed 1.0", "1.2 while committed 1.1", "2.0 while committed 2.0", "2.1 while committed 2.0"]);
    expect(transitions.filter((kind) => kind === "train-epoch")).toHaveLength(5);
    expect(store.manifest.state.checkpoints).toEqual(["checkpoints/stage-1-epoch-3.safetensors", "checkpoints/stage-2-epoch-2.safetensors"]);
    // Only the epoch beside a commit gets a stop signal; the first of each stage trains alone.
    expect(worker.signals.map((signal) => signal !== undefined)).toEqual([false, true, true, false, true]);
  });

  test("a checkpoint that fails to become durable stops the epoch beside it and is not committed", async () => {
    const store = await newStore();
    const worker = new SlowWriter(() => store);
    worker.trainUntilAborted.add("1.1");
    worker.onTrain = (epoch) => {
      if (epoch === "1.1") setImmediate(() => worker.writes.get("1.0")!.reject(new Error("DISK_FULL: no room for stage-1-epoch-1")));
    };
    await expect(driveRun(store, worker, { numSamples: N })).rejects.toThrow("DISK_FULL");
    expect(worker.signals[1]?.aborted).toBe(true);
    expect(position(store.manifest.state)).toBe("1.0");
    expect(store.manifest.state.checkpoints).toEqual([null, null]);
  });

  test("an epoch that fails beside a durable checkpoint keeps that checkpoint's epoch committed", async () => {
    const store = await newStore();
    const worker = new SlowWriter(() => store);
    const train = worker.trainEpoch.bind(worker);
    worker.trainEpoch = async (action, plan, signal) => {
      if (action.stage === 1 && action.epoch === 1) {
        worker.writes.get("1.0")!.resolve();
        throw new Error("worker lost during epoch 1.1");
      }
      return train(action, plan, signal);
    };
    await expect(driveRun(store, worker, { numSamples: N })).rejects.toThrow("worker lost during epoch 1.1");
    expect(position(store.manifest.state)).toBe("1.1");
    expect(store.manifest.state.checkpoints[0]).toBe("checkpoints/stage-1-epoch-1.safetensors");
  });

  test("a run stopped while an epoch's checkpoint is written commits that epoch before it stops", async () => {
    const store = await newStore();
    const worker = new SlowWriter(() => store);
    const stop = new AbortController();
    worker.onTrain = (epoch) => {
      if (epoch !== "1.0") return;
      stop.abort(new Error("paused"));
      setImmediate(() => worker.writes.get("1.0")!.resolve());
    };
    await expect(driveRun(store, worker, { numSamples: N, signal: stop.signal })).rejects.toThrow("paused");
    expect(worker.log).toEqual(["train 1.0"]);
    expect(position(store.manifest.state)).toBe("1.1");
  });

  test("the last epoch of a stage commits before the stage's embedding", async () => {
    const store = await newStore();
    const worker = new SlowWriter(() => store);
    writeSoon(worker);
    let committedAtEmbed = "";
    const embed = worker.embed.bind(worker);
    worker.embed = async (action) => {
      committedAtEmbed ||= `${position(store.manifest.state)} ${store.manifest.state.phase}`;
      await embed(action);
    };
    await driveRun(store, worker, { numSamples: N });
    // The stage's three epochs are committed: the state has moved on to embedding stage 1.
    expect(committedAtEmbed).toBe("1.0 embed");
  });
});
