/**
 * The compute jobs of a worker as typed methods. Each method checks its request against the job's
 * zod schema before sending (a bad argument rejects at once, naming the field), and the client
 * checks every reply; every failure is a WorkerError with a protocol `code`.
 *
 *   const jobs = new WorkerJobs(worker.client);
 *   const data = await jobs.openDataset("synthetic:trifeature?n=6000");
 *   const { model } = await jobs.createModel({ arch: "small-cnn", image_size: 32, seed: 0 });
 *   const { optimizer } = await jobs.createOptimizer({ model, name: "adamw", lr: 1e-3 });
 *   await jobs.train({ model, optimizer, dataset: data.dataset, plan, loss, seed: 1 }, { onProgress });
 *   const { embedding } = await jobs.embed({ model, dataset: data.dataset, normalize: true });
 *   const { assignments } = await jobs.kmeans({ embedding, k: 10, seed: 0 });
 *
 * Datasets, models, optimizers and embeddings stay on the worker as handles; `fetchTensor`
 * brings an embedding over, `putTensor` sends a tensor there, `free` drops a handle.
 */
import type { z } from "zod";
import { formatPath } from "../errors.js";
import { type JobEvent, type RequestOptions, type WorkerClient, WorkerError } from "../transport/index.js";
import type { ProgressOf, RequestOf, ResultOf } from "../transport/job-types.js";
import {
  type CheckpointLoadRequest,
  type CheckpointLoadResult,
  type CheckpointSaveRequest,
  type CheckpointSaveResult,
  type ClipCreateRequest,
  type ClipCreateResult,
  type ClipEmbedTextRequest,
  type ClipEmbedTextResult,
  type ClipMmvpRequest,
  type ClipMmvpVlmRequest,
  type ClipTrainRequest,
  type ClipTrainResult,
  type ClipZeroShotRequest,
  type ClipZeroShotResult,
  type PairBenchmarkResult,
  type DatasetOpenRequest,
  type DatasetOpenResult,
  type EmbedRequest,
  type EmbeddingHandle,
  type EmbeddingResult,
  type ExportRequest,
  type ExportResult,
  type Handle,
  type IntegrateRequest,
  type JobType,
  type KmeansRequest,
  type ModelCreateRequest,
  type ModelCreateResult,
  type OptimizerCreateRequest,
  type OptimizerCreateResult,
  type ProbeRequest,
  type ProbeResult,
  type Tensor,
  type TensorHandle,
  type TrainProgress,
  type TrainRequest,
  type TrainResult,
  jobSchemas,
  tensor,
} from "../wire/index.js";

/** One chunk of a batch plan (ts/control/batch-planner.ts): step t is indices[offsets[t], offsets[t + 1]). */
export interface TrainPlan {
  readonly indices: Int32Array;
  readonly offsets: Int32Array;
}

/** The train job's arguments, with the plan as typed arrays instead of tensors. */
export type TrainArgs = Omit<TrainRequest, "indices" | "offsets"> & { readonly plan: TrainPlan };

/** The clip.train job's arguments, with the plan as typed arrays instead of tensors. */
export type ClipTrainArgs = Omit<ClipTrainRequest, "indices" | "offsets"> & { readonly plan: TrainPlan };

/** How long a job may take and how to stop it (see WorkerClient's RequestOptions). */
export interface JobOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A checkpoint.save in two moments: the tensors copied, then the file durable. */
export interface BackgroundSave {
  readonly copied: Promise<void>;
  readonly written: Promise<CheckpointSaveResult>;
}

export interface TrainOptions extends JobOptions {
  /** Called with each progress message (every `progress_every` steps and after the last). */
  readonly onProgress?: (progress: TrainProgress) => void;
}

export interface KMeansResult {
  /** Cluster of every row, in [0, k). */
  readonly assignments: Int32Array;
  /** float32 [k, D]. */
  readonly centroids: Tensor<"float32">;
  readonly inertia: number;
  readonly iterations: number;
  readonly converged: boolean;
  /** Clusters no row is assigned to: k exceeds the embedding's distinct rows. */
  readonly empty_clusters: number;
}

export class WorkerJobs {
  constructor(readonly client: WorkerClient) {}

  /**
   * Opens a dataset URI on the worker (`synthetic:trifeature?n=6000`, `npz:/data/x.npz`, …); a
   * plugin's keyword arguments come as { uri: "py:<module>:<attr>", args }.
   */
  openDataset(dataset: string | DatasetOpenRequest, options: JobOptions = {}): Promise<DatasetOpenResult> {
    return this.run("dataset.open", typeof dataset === "string" ? { uri: dataset } : dataset, options);
  }

  createModel(request: ModelCreateRequest, options: JobOptions = {}): Promise<ModelCreateResult> {
    return this.run("model.create", request, options);
  }

  createOptimizer(request: OptimizerCreateRequest, options: JobOptions = {}): Promise<OptimizerCreateResult> {
    return this.run("optimizer.create", request, options);
  }

  /** Runs the steps of `plan`; rejects with code NON_FINITE_LOSS (details.step) if the loss diverges. */
  train(args: TrainArgs, options: TrainOptions = {}): Promise<TrainResult> {
    const { onProgress, ...rest } = options;
    return this.run("train", trainBody(args), {
      ...rest,
      ...(onProgress === undefined ? {} : { onProgress }),
    });
  }

  /** The train job as an async iterable of its progress, then its result; leaving the loop early cancels it. */
  async *trainEvents(args: TrainArgs, options: JobOptions = {}): AsyncGenerator<JobEvent<TrainProgress, TrainResult>, void, undefined> {
    yield* this.client.stream("train", checkRequest("train", trainBody(args)), options);
  }

  /** Embeds every sample of a dataset; the embedding stays on the worker. */
  embed(request: EmbedRequest, options: JobOptions = {}): Promise<EmbeddingResult> {
    return this.run("embed", request, options);
  }

  /** The cross-stage representation of embeddings held on the worker (ts/control/integration.ts). */
  integrate(request: IntegrateRequest, options: JobOptions = {}): Promise<EmbeddingResult> {
    return this.run("integrate", request, options);
  }

  async kmeans(request: KmeansRequest, options: JobOptions = {}): Promise<KMeansResult> {
    const result = await this.run("kmeans", request, options);
    const { assignments, centroids } = result;
    if (assignments.dtype !== "int32" || assignments.shape.length !== 1) {
      throw replyError("kmeans", "assignments", `expected an int32 [N] tensor, got ${assignments.dtype} [${assignments.shape.join(", ")}]`);
    }
    if (centroids.dtype !== "float32" || centroids.shape.length !== 2 || centroids.shape[0] !== request.k) {
      throw replyError("kmeans", "centroids", `expected a float32 [${request.k}, D] tensor, got ${centroids.dtype} [${centroids.shape.join(", ")}]`);
    }
    return { ...result, assignments: assignments.data as Int32Array, centroids: centroids as Tensor<"float32"> };
  }

  /** Linear-probe and kNN accuracy per labelled attribute of the dataset, on a held-out split. */
  probe(request: ProbeRequest, options: JobOptions = {}): Promise<ProbeResult> {
    return this.run("probe", request, options);
  }

  /** Sends a tensor the worker holds (an embedding, an uploaded tensor) to this process. */
  async fetchTensor(handle: EmbeddingHandle | TensorHandle, options: JobOptions = {}): Promise<Tensor> {
    return (await this.run("handle.get", { handle }, options)).tensor;
  }

  /**
   * Sends a tensor to the worker, which keeps it (as received, without a copy) under the handle it
   * answers with, until `free`. Do not modify `data` until the promise settles.
   */
  async putTensor(data: Tensor, options: JobOptions = {}): Promise<TensorHandle> {
    return (await this.run("handle.put", { tensor: data }, options)).handle;
  }

  /** Drops a handle and what it holds on the worker. */
  async free(handle: Handle, options: JobOptions = {}): Promise<void> {
    await this.run("handle.free", { handle }, options);
  }

  /** The handles the worker holds. */
  async handles(options: JobOptions = {}): Promise<string[]> {
    return (await this.run("handle.list", {}, options)).handles;
  }

  saveCheckpoint(request: CheckpointSaveRequest, options: JobOptions = {}): Promise<CheckpointSaveResult> {
    return this.run("checkpoint.save", request, options);
  }

  /**
   * A save whose file is written while the model goes on: `copied` resolves once the worker holds
   * a copy of the tensors and the model is free for the next job (it rejects if the save fails
   * before that), `written` once the file is durable.
   */
  saveCheckpointInBackground(request: CheckpointSaveRequest, options: JobOptions = {}): BackgroundSave {
    let markCopied: () => void = () => {};
    const copiedMessage = new Promise<void>((resolve) => {
      markCopied = resolve;
    });
    const written = this.run("checkpoint.save", { ...request, notify_copied: true }, { ...options, onProgress: () => markCopied() });
    return { copied: Promise.race([copiedMessage, written.then(() => undefined)]), written };
  }

  loadCheckpoint(request: CheckpointLoadRequest, options: JobOptions = {}): Promise<CheckpointLoadResult> {
    return this.run("checkpoint.load", request, options);
  }

  /** Writes models loaded with stages' checkpoints to one file: weights peer libraries load, or a TorchScript module. */
  exportEncoders(request: ExportRequest, options: JobOptions = {}): Promise<ExportResult> {
    return this.run("export", request, options);
  }

  /** A CLIP dual encoder with its tokenizer (held like any model: embed, optimizer and checkpoints work on it). */
  createClip(request: ClipCreateRequest, options: JobOptions = {}): Promise<ClipCreateResult> {
    return this.run("clip.create", request, options);
  }

  /** Runs the steps of `plan` on image-caption pairs with the CLIP or X-Sample loss. */
  trainClip(args: ClipTrainArgs, options: TrainOptions = {}): Promise<ClipTrainResult> {
    const { onProgress, ...rest } = options;
    const { plan, ...body } = args;
    return this.run("clip.train", { ...body, ...planTensors(plan) }, {
      ...rest,
      ...(onProgress === undefined ? {} : { onProgress }),
    });
  }

  /** Every caption of a dataset embedded with a CLIP text tower; the embedding stays on the worker. */
  embedText(request: ClipEmbedTextRequest, options: JobOptions = {}): Promise<ClipEmbedTextResult> {
    return this.run("clip.embed_text", request, options);
  }

  /** Zero-shot accuracy per attribute of one CLIP model, or of several integrated (both towers concatenated). */
  zeroShot(request: ClipZeroShotRequest, options: JobOptions = {}): Promise<ClipZeroShotResult> {
    return this.run("clip.zero_shot", request, options);
  }

  /** MMVP-style pairs drawn from a captioned dataset, scored per category. */
  mmvp(request: ClipMmvpRequest, options: JobOptions = {}): Promise<PairBenchmarkResult> {
    return this.run("clip.mmvp", request, options);
  }

  /** The published MMVP-VLM benchmark from a local folder, scored per category. */
  mmvpVlm(request: ClipMmvpVlmRequest, options: JobOptions = {}): Promise<PairBenchmarkResult> {
    return this.run("clip.mmvp_vlm", request, options);
  }

  /** The client checks every reply against the job's schema (a bad one rejects the job, naming the field). */
  private run<K extends JobType>(type: K, body: RequestOf<K>, options: RequestOptions<ProgressOf<K>>): Promise<ResultOf<K>> {
    return this.client.request(type, checkRequest(type, body), options);
  }
}

function trainBody(args: TrainArgs): TrainRequest {
  const { plan, ...rest } = args;
  return { ...rest, ...planTensors(plan) };
}

function planTensors(plan: TrainPlan): Pick<TrainRequest, "indices" | "offsets"> {
  return {
    indices: tensor("int32", [plan.indices.length], plan.indices),
    offsets: tensor("int32", [plan.offsets.length], plan.offsets),
  };
}

function checkRequest<K extends JobType>(type: K, body: RequestOf<K>): RequestOf<K> {
  const parsed = jobSchemas[type].request.safeParse(body);
  if (!parsed.success) throw invalid(`${type} request`, parsed.error);
  return body;
}

function invalid(where: string, error: z.ZodError): WorkerError {
  const issue = error.issues[0];
  const path = issue === undefined ? "" : formatPath(issue.path);
  const message = `${where}: ${path === "" ? "body" : path}: ${issue?.message ?? "invalid"}`;
  return new WorkerError("INVALID_BODY", message, { details: { path } });
}

function replyError(type: string, path: string, text: string): WorkerError {
  return new WorkerError("INVALID_BODY", `${type} result: ${path}: ${text}`, { details: { path } });
}
