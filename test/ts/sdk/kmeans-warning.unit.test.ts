// k-means clusters left empty (an embedding with fewer distinct rows than k) reach the person
// running: a KMEANS_EMPTY_CLUSTERS warning in the run's event stream, printed by the CLI.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProgressPrinter } from "../../../ts/cli/progress.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { EventLog, type MclEvent } from "../../../ts/sdk/events.js";
import { type Track } from "../../../ts/run/track.js";
import { EncoderExecutor } from "../../../ts/sdk/encoder-executor.js";
import { tensor } from "../../../ts/wire/index.js";
import type { KMeansResult, WorkerJobs } from "../../../ts/client/index.js";
import type { DatasetOpenResult, EmbeddingHandle } from "../../../ts/wire/index.js";

const K = 8;
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The executor over a stand-in worker whose kmeans job answers with `emptyClusters` empty clusters. */
async function executorAnswering(emptyClusters: number, log: EventLog): Promise<EncoderExecutor> {
  const config = parseConfig({ name: "w", stages: 2, baseline: false, clusters: K });
  const dir = await mkdtemp(join(tmpdir(), "mcl-kmeans-warning-"));
  dirs.push(dir);
  const store = await RunStore.create(dir, { config, versions: { package: "0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
  const result: KMeansResult = {
    assignments: new Int32Array(16),
    centroids: tensor("float32", [K, 2], new Float32Array(2 * K)),
    inertia: 0,
    iterations: 1,
    converged: true,
    empty_clusters: emptyClusters,
  };
  const jobs = { kmeans: async () => result } as unknown as WorkerJobs;
  const data = { dataset: "dataset:1", size: 16, image_shape: [3, 16, 16], attributes: [], has_captions: false } as unknown as DatasetOpenResult;
  // The stage's embedding is taken as already on the worker: cluster() only runs k-means on it.
  return new (class extends EncoderExecutor {
    override async embedding(_track: Track): Promise<EmbeddingHandle> {
      return "embedding:1" as EmbeddingHandle;
    }
  })(jobs, store, data, log, new AbortController().signal);
}

describe("empty k-means clusters", () => {
  it("are warned about in the event stream and kept in the stage's k-means outcome", async () => {
    const log = new EventLog();
    const executor = await executorAnswering(5, log);
    await executor.cluster({ kind: "cluster", stage: 1, k: K });
    const warnings = log.snapshot().filter((event) => event.type === "warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ type: "warning", stage: 1, code: "KMEANS_EMPTY_CLUSTERS" });
    expect(warnings[0]!.message).toContain("k-means left 5 of its 8 clusters empty");
    expect(warnings[0]!.message).toContain("`clusters`");
    expect(executor.kmeansOutcome(1)).toEqual({ inertia: 0, iterations: 1, converged: true, emptyClusters: 5 });
  });

  it("raise no warning when every cluster holds a sample", async () => {
    const log = new EventLog();
    const executor = await executorAnswering(0, log);
    await executor.cluster({ kind: "cluster", stage: 1, k: K });
    expect(log.snapshot().filter((event) => event.type === "warning")).toEqual([]);
    expect(executor.kmeansOutcome(1)?.emptyClusters).toBe(0);
  });

  it("are printed by the CLI as a line that stays", () => {
    let text = "";
    const printer = new ProgressPrinter({ write: (chunk) => ((text += chunk), true), isTTY: false });
    const warning: MclEvent = { type: "warning", stage: 2, code: "KMEANS_EMPTY_CLUSTERS", message: "stage 2: k-means left 1 of its 4 clusters empty" };
    printer.show(warning);
    expect(text).toBe("warning: stage 2: k-means left 1 of its 4 clusters empty\n");
  });
});
