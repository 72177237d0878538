// The compute jobs from TypeScript: a real worker (launchWorker) driven through WorkerJobs, with a
// batch plan from the control plane's planner and an integration spec applied on the worker.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planUniform } from "../../../ts/control/batch-planner.js";
import { type WorkerHandle, WorkerError, launchWorker } from "../../../ts/transport/index.js";
import { WorkerJobs } from "../../../ts/client/index.js";
import {
  type DatasetHandle,
  type ModelHandle,
  type OptimizerHandle,
  type Tensor,
  type TrainProgress,
  tensor,
} from "../../../ts/wire/index.js";

const DATA = "synthetic:trifeature?n=48&size=16&seed=3";
const LOSS = { name: "nt-xent", temperature: 0.2 } as const;

let worker: WorkerHandle;
let jobs: WorkerJobs;
let dir: string;
let dataset: DatasetHandle;
let model: ModelHandle;
let optimizer: OptimizerHandle;

beforeAll(async () => {
  worker = await launchWorker({ onOutput: () => {} });
  jobs = new WorkerJobs(worker.client);
  dir = mkdtempSync(join(tmpdir(), "mcl-worker-jobs-"));
  const data = await jobs.openDataset(DATA);
  dataset = data.dataset;
  ({ model } = await jobs.createModel({ arch: "small-cnn", image_size: 16, proj_dim: 8, seed: 0, options: { widths: [8, 16] } }));
  ({ optimizer } = await jobs.createOptimizer({ model, name: "adamw", lr: 1e-3 }));
});

afterAll(async () => {
  await worker?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<WorkerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkerError);
  return error as WorkerError;
}

/** The row scaled to unit L2 norm. */
function unit(row: Float32Array): number[] {
  const norm = Math.hypot(...row);
  return Array.from(row, (v) => v / norm);
}

describe("WorkerJobs", () => {
  it("opens a dataset and describes it", async () => {
    const data = await jobs.openDataset(DATA);
    expect(data.size).toBe(48);
    expect(data.image_shape).toEqual([3, 16, 16]);
    expect(data.attributes.map((a) => a.name)).toEqual(["shape", "color", "texture", "background"]);
    await jobs.free(data.dataset);
  });

  it("trains one epoch of a planner's plan, streaming progress", async () => {
    const plan = planUniform(48, { batchSize: 16, smallGroups: "drop", seed: 1, epoch: 0 });
    const progress: TrainProgress[] = [];
    const result = await jobs.train({ model, optimizer, dataset, plan, loss: LOSS, seed: 1 }, { onProgress: (p) => progress.push(p) });
    expect(result.steps).toBe(3);
    expect(result.samples).toBe(48);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(result.last_loss).toBe(progress.at(-1)?.loss);

    const events = [];
    for await (const event of jobs.trainEvents({ model, optimizer, dataset, plan, loss: LOSS, seed: 2, first_step: 3 })) events.push(event);
    expect(events.map((e) => e.kind)).toEqual(["progress", "progress", "progress", "result"]);
    expect(events[0]?.kind === "progress" && events[0].body.step).toBe(4);
  });

  it("cancels a train job through its AbortSignal", async () => {
    const offsets = Int32Array.from({ length: 5001 }, (_, i) => i * 16);
    const indices = Int32Array.from({ length: 5000 * 16 }, (_, i) => i % 48);
    const abort = new AbortController();
    const error = await rejection(
      jobs.train({ model, optimizer, dataset, plan: { indices, offsets }, loss: LOSS, seed: 3 }, { signal: abort.signal, onProgress: () => abort.abort() }),
    );
    expect(error.code).toBe("CANCELLED");
    // The worker stops at its next step boundary, then the model is free for the next job (BUSY until then).
    const oneStep = { model, optimizer, dataset, plan: { indices: indices.subarray(0, 16), offsets: Int32Array.of(0, 16) }, loss: LOSS, seed: 4 };
    const next = async (): Promise<number | string> => jobs.train(oneStep).then((r) => r.steps, (e: WorkerError) => e.code);
    await expect.poll(next, { timeout: 20_000, interval: 200 }).toBe(1);
  });

  it("embeds, integrates as the spec says, clusters and probes", async () => {
    const features = await jobs.embed({ model, dataset, batch_size: 20 });
    const head = await jobs.embed({ model, dataset, use_head: true });
    expect(features.shape).toEqual([48, 16]);
    expect(head.shape).toEqual([48, 8]);
    const [a, b] = await Promise.all([jobs.fetchTensor(features.embedding), jobs.fetchTensor(head.embedding)]);
    expect(a.dtype).toBe("float32");

    const spec = { stages: [1, 2], weights: [1, 0.5], normalize: "per-stage-l2" } as const;
    const integrated = await jobs.integrate({ embeddings: [features.embedding, head.embedding], weights: [...spec.weights], normalize: spec.normalize });
    expect(integrated.shape).toEqual([48, 24]);
    const onWorker = (await jobs.fetchTensor(integrated.embedding)).data as Float32Array;
    // per-stage-l2: row i is [a_i / |a_i|, 0.5 b_i / |b_i|]
    const expected = Array.from({ length: 48 }, (_, i) => [
      ...unit((a.data as Float32Array).subarray(i * 16, (i + 1) * 16)),
      ...unit((b.data as Float32Array).subarray(i * 8, (i + 1) * 8)).map((v) => 0.5 * v),
    ]).flat();
    expect(onWorker.length).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) expect(onWorker[i]).toBeCloseTo(expected[i]!, 5);

    const clusters = await jobs.kmeans({ embedding: integrated.embedding, k: 4, seed: 0 });
    expect(clusters.assignments).toBeInstanceOf(Int32Array);
    expect(clusters.assignments.length).toBe(48);
    expect(Math.max(...clusters.assignments)).toBeLessThan(4);
    expect(clusters.centroids.shape).toEqual([4, 24]);
    expect(clusters.inertia).toBeGreaterThan(0);
    expect(clusters.empty_clusters).toBe(0);

    const probe = await jobs.probe({ embedding: features.embedding, dataset, seed: 0, knn_k: 5 });
    expect(probe.attributes.map((s) => s.name)).toEqual(["shape", "color", "texture", "background"]);
    for (const s of probe.attributes) expect(s.n_train + s.n_test).toBe(48);

    for (const h of [features.embedding, head.embedding, integrated.embedding]) await jobs.free(h);
    const held = await jobs.handles();
    expect(held).not.toContain(features.embedding);
    expect((await rejection(jobs.fetchTensor(features.embedding))).code).toBe("NOT_FOUND");
  });

  it("saves and loads a checkpoint with its metadata", async () => {
    const path = join(dir, "stage1.safetensors");
    const saved = await jobs.saveCheckpoint({ model, optimizer, path, metadata: { stage: "1" } });
    expect(saved.bytes).toBeGreaterThan(0);
    const other = await jobs.createModel({ arch: "small-cnn", image_size: 16, proj_dim: 8, seed: 9, options: { widths: [8, 16] } });
    expect(await jobs.loadCheckpoint({ path, model: other.model })).toEqual({ metadata: { stage: "1" } });
    const [mine, theirs] = await Promise.all([jobs.embed({ model, dataset }), jobs.embed({ model: other.model, dataset })]);
    const [x, y] = await Promise.all([jobs.fetchTensor(mine.embedding), jobs.fetchTensor(theirs.embedding)]);
    expect(Array.from(y.data as Float32Array)).toEqual(Array.from(x.data as Float32Array));
  });

  it("puts a tensor on the worker, fetches it back and frees it", async () => {
    const sent = tensor("float32", [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6.5));
    const handle = await jobs.putTensor(sent);
    expect(handle).toMatch(/^tensor:\d+$/);
    expect(await jobs.handles()).toContain(handle);
    const back = await jobs.fetchTensor(handle);
    expect([back.dtype, back.shape, [...back.data]]).toEqual(["float32", [2, 3], [...sent.data]]);
    await jobs.free(handle);
    expect((await rejection(jobs.fetchTensor(handle))).code).toBe("NOT_FOUND");
    // A plain typed array is not a tensor: refused before sending.
    const local = await rejection(jobs.putTensor(Float32Array.of(1) as unknown as Tensor));
    expect([local.code, local.details?.path]).toEqual(["INVALID_BODY", "tensor"]);
  });

  it("answers bad input with the code and the field", async () => {
    const arch = await rejection(jobs.createModel({ arch: "resnet7", image_size: 32, seed: 0 }));
    expect([arch.code, arch.details?.path, arch.details?.reason]).toEqual(["INVALID_BODY", "arch", "UNKNOWN_ARCH"]);
    const size = await rejection(jobs.createModel({ arch: "small-cnn", image_size: 8, seed: 0 }));
    expect([size.code, size.details?.path]).toEqual(["INVALID_BODY", "image_size"]);
    const uri = await rejection(jobs.openDataset(`npz:${join(dir, "missing.npz")}`));
    expect([uri.code, uri.details?.path]).toEqual(["INVALID_BODY", "uri"]);
    const { embedding } = await jobs.embed({ model, dataset });
    const k = await rejection(jobs.kmeans({ embedding, k: 49, seed: 0 }));
    expect([k.code, k.details?.path]).toEqual(["INVALID_BODY", "k"]);
    const nan = await rejection(
      jobs.train({ model, optimizer, dataset, plan: { indices: Int32Array.from({ length: 16 }, (_, i) => i), offsets: Int32Array.of(0, 16) }, loss: { name: "nt-xent", temperature: 1e-45 }, seed: 0, first_step: 7 }),
    );
    expect([nan.code, nan.details?.step]).toEqual(["NON_FINITE_LOSS", 7]);
    // Checked before sending: the request never reaches the worker.
    const local = await rejection(jobs.kmeans({ embedding, k: 0, seed: 0 }));
    expect([local.code, local.details?.path]).toEqual(["INVALID_BODY", "k"]);
    await jobs.free(embedding);
  });
});
