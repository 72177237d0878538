// Generated from proto/protocol.json by `npm run gen:wire` (scripts/gen-wire.mjs): do not edit.
import { z } from "zod";
import { emptyBodySchema, integer, tensorSchema } from "../zod-parts.js";

/** a tensor element type (the keys of dtypes) */
export const dtypeValues = ["float32", "float16", "bfloat16", "int64", "int32", "uint8", "bool"] as const;
export const dtypeSchema = z.enum(dtypeValues);
export type Dtype = z.infer<typeof dtypeSchema>;

/** a tensor's dimensions */
export const shapeSchema = z.array(integer().min(0));
export type Shape = z.infer<typeof shapeSchema>;

/** the handle of a dataset that the worker holds (made by dataset.open) */
export const datasetHandleSchema = z.string().brand<"dataset-handle">();
export type DatasetHandle = z.infer<typeof datasetHandleSchema>;

/** the handle of a model that the worker holds (made by model.create or clip.create) */
export const modelHandleSchema = z.string().brand<"model-handle">();
export type ModelHandle = z.infer<typeof modelHandleSchema>;

/** the handle of an optimizer that the worker holds (made by optimizer.create) */
export const optimizerHandleSchema = z.string().brand<"optimizer-handle">();
export type OptimizerHandle = z.infer<typeof optimizerHandleSchema>;

/** the handle of an embedding that the worker holds (made by embed, integrate or clip.embed_text) */
export const embeddingHandleSchema = z.string().brand<"embedding-handle">();
export type EmbeddingHandle = z.infer<typeof embeddingHandleSchema>;

/** the handle of a tensor that the worker holds (made by handle.put) */
export const tensorHandleSchema = z.string().brand<"tensor-handle">();
export type TensorHandle = z.infer<typeof tensorHandleSchema>;

/** the keyword arguments of a py:<module>:<attr> plugin: JSON values, never code */
export const pluginArgsSchema = z.looseObject({});
export type PluginArgs = z.infer<typeof pluginArgsSchema>;

/** string keys and values */
export const stringMapSchema = z.object({}).catchall(z.string());
export type StringMap = z.infer<typeof stringMapSchema>;

/**
 * where a model lives: auto (the default: the first CUDA device when there is one, else the CPU), cpu, cuda or
 * cuda:N; one the worker does not have is refused, naming device
 */
export const deviceSchema = z.string();
export type Device = z.infer<typeof deviceSchema>;

/**
 * the autocast of the training steps' forward pass: auto (the default: bf16 on a CUDA device of compute
 * capability 8.0 or later, else fp32), fp32, bf16, or fp16 with a GradScaler (CUDA only); the loss is computed
 * in float32
 */
export const precisionValues = ["auto", "fp32", "bf16", "fp16"] as const;
export const precisionSchema = z.enum(precisionValues);
export type Precision = z.infer<typeof precisionSchema>;

/** the resampling filter of the augmentation's crop and of the eval resize */
export const interpolationValues = ["bilinear", "bicubic"] as const;
export const interpolationSchema = z.enum(interpolationValues);
export type Interpolation = z.infer<typeof interpolationSchema>;

/**
 * how stage embeddings are integrated: concat-then-l2 (weighted concatenation, then L2), per-stage-l2 (each
 * L2-normalised, weighted, concatenated) or none
 */
export const normalizationValues = ["concat-then-l2", "per-stage-l2", "none"] as const;
export const normalizationSchema = z.enum(normalizationValues);
export type Normalization = z.infer<typeof normalizationSchema>;

/** the optimizer */
export const optimizerNameValues = ["adamw", "adam", "sgd"] as const;
export const optimizerNameSchema = z.enum(optimizerNameValues);
export type OptimizerName = z.infer<typeof optimizerNameSchema>;

/** the shape of the learning-rate curve after the warm-up */
export const lrScheduleValues = ["constant", "cosine"] as const;
export const lrScheduleSchema = z.enum(lrScheduleValues);
export type LrSchedule = z.infer<typeof lrScheduleSchema>;

/** the element type of an embedding held on the worker */
export const embeddingDtypeValues = ["float32", "float16"] as const;
export const embeddingDtypeSchema = z.enum(embeddingDtypeValues);
export type EmbeddingDtype = z.infer<typeof embeddingDtypeSchema>;

/** an exported file's format */
export const exportFormatValues = ["safetensors", "torchscript"] as const;
export const exportFormatSchema = z.enum(exportFormatValues);
export type ExportFormat = z.infer<typeof exportFormatSchema>;

/**
 * who loads an exported encoder's weights as they are; mcl: no peer library, our own format
 * (mcl_worker.load_encoder)
 */
export const exportLibraryValues = ["torchvision", "timm", "open_clip", "mcl"] as const;
export const exportLibrarySchema = z.enum(exportLibraryValues);
export type ExportLibrary = z.infer<typeof exportLibrarySchema>;

/** a CLIP configuration */
export const clipConfigValues = ["clip-rn50", "clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14", "clip-tiny"] as const;
export const clipConfigSchema = z.enum(clipConfigValues);
export type ClipConfig = z.infer<typeof clipConfigSchema>;

/** the transformers' MLP activation: QuickGELU (OpenAI's weights) or exact GELU (open_clip's other models) */
export const clipActivationValues = ["quick_gelu", "gelu"] as const;
export const clipActivationSchema = z.enum(clipActivationValues);
export type ClipActivation = z.infer<typeof clipActivationSchema>;

/** bpe (OpenAI's byte-pair encoding) or words (a vocabulary of a dataset's caption words) */
export const tokenizerValues = ["bpe", "words"] as const;
export const tokenizerSchema = z.enum(tokenizerValues);
export type Tokenizer = z.infer<typeof tokenizerSchema>;

/**
 * the augmentation of training, whose size, mean, std, interpolation and crop_pct also define the eval
 * transform; every field optional (the worker's defaults: crop and flip)
 */
export const augmentOptionsSchema = z.strictObject({
  size: integer().min(1).optional(),
  crop_scale: z.array(z.number()).min(2).max(2).optional(),
  crop_ratio: z.array(z.number()).min(2).max(2).optional(),
  flip_p: z.number().min(0).max(1).optional(),
  jitter_p: z.number().min(0).max(1).optional(),
  brightness: z.number().min(0).optional(),
  contrast: z.number().min(0).optional(),
  saturation: z.number().min(0).optional(),
  hue: z.number().min(0).max(0.5).optional(),
  grayscale_p: z.number().min(0).max(1).optional(),
  blur_p: z.number().min(0).max(1).optional(),
  blur_sigma: z.array(z.number()).min(2).max(2).optional(),
  mean: z.array(z.number()).min(1).max(4).optional(),
  std: z.array(z.number()).min(1).max(4).optional(),
  interpolation: interpolationSchema.optional(),
  /**
   * eval only: the shorter side is resized to floor(size / crop_pct) and the centre size x size kept (0 is
   * refused); absent, the whole image is resized to size x size
   */
  crop_pct: z.number().min(0).max(1).optional(),
});
export type AugmentOptions = z.infer<typeof augmentOptionsSchema>;

/**
 * how the images are loaded: workers loader processes (0 = in the job's thread; absent = 0, or for a dataset
 * that decodes files, folder:, min(4, CPUs - 1) and at least 1) that load the next batches while a step
 * computes, each keeping up to prefetch batches (default 2) ready; the results do not depend on it
 */
export const loaderOptionsSchema = z.strictObject({
  workers: integer().min(0).max(64).optional(),
  prefetch: integer().min(1).max(64).optional(),
});
export type LoaderOptions = z.infer<typeof loaderOptionsSchema>;

export const trainResultSchema = z.strictObject({
  steps: integer().min(0),
  samples: integer().min(0),
  mean_loss: z.number(),
  last_loss: z.number(),
  /** the learning rate of the first step */
  first_lr: z.number().min(0),
  /** the learning rate of the last step */
  last_lr: z.number().min(0),
  samples_per_s: z.number().min(0),
  seconds: z.number().min(0),
});
export type TrainResult = z.infer<typeof trainResultSchema>;

export const trainProgressSchema = z.strictObject({
  step: integer().min(1),
  steps: integer().min(1),
  loss: z.number(),
  /** the learning rate of step `step` */
  lr: z.number().min(0),
  samples_per_s: z.number().min(0),
});
export type TrainProgress = z.infer<typeof trainProgressSchema>;

export const embeddingResultSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  /** [rows, width] */
  shape: z.array(integer().min(0)).min(2).max(2),
  dtype: embeddingDtypeSchema,
});
export type EmbeddingResult = z.infer<typeof embeddingResultSchema>;

export const pairBenchmarkResultSchema = z.strictObject({
  categories: z.array(z.strictObject({
    name: z.string(),
    score: z.number().min(0).max(1),
    pairs: integer().min(1),
  })),
  /** the mean of the category scores (NaN when none) */
  average: z.number(),
  /** categories with no valid pair */
  skipped: z.array(z.string()),
  truncated_captions: integer().min(0),
});
export type PairBenchmarkResult = z.infer<typeof pairBenchmarkResultSchema>;

export const headerSchema = z.strictObject({
  v: integer().min(1),
  id: integer().min(0).max(4294967295),
  kind: z.enum(["request", "cancel", "progress", "result", "error", "heartbeat"]),
  type: z.string(),
});

export const errorBodySchema = z.strictObject({
  code: z.enum([
    "MALFORMED",
    "UNSUPPORTED_VERSION",
    "UNKNOWN_JOB",
    "INVALID_BODY",
    "TENSOR_MISMATCH",
    "MESSAGE_TOO_LARGE",
    "AUTH_FAILED",
    "CANCELLED",
    "JOB_FAILED",
    "NOT_FOUND",
    "NON_FINITE_LOSS",
    "BUSY",
    "OUT_OF_MEMORY",
  ]),
  message: z.string(),
  details: z.looseObject({}).optional(),
});
export const cancelBodySchema = emptyBodySchema;
export const heartbeatBodySchema = emptyBodySchema;
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Bodies whose schema depends on the kind alone. */
export const kindBodySchemas = {
  error: errorBodySchema,
  cancel: cancelBodySchema,
  heartbeat: heartbeatBodySchema,
} as const;

// -- hello: version negotiation: the first request of a client

export const helloRequestSchema = z.strictObject({
  protocols: z.array(integer().min(1)).min(1),
  client: z.string(),
});
export type HelloRequest = z.infer<typeof helloRequestSchema>;
export const helloResultSchema = z.strictObject({
  protocol: integer().min(1),
  worker_version: z.string(),
  torch_version: z.string(),
  python_version: z.string(),
  zmq_version: z.string(),
  devices: z.array(z.strictObject({
    index: integer().min(0),
    type: z.enum(["cpu", "cuda"]),
    name: z.string(),
  })),
  world_size: integer().min(1),
  max_message_bytes: integer().min(1),
});
export type HelloResult = z.infer<typeof helloResultSchema>;

// -- ping: round trip with empty bodies

export const pingRequestSchema = emptyBodySchema;
export type PingRequest = z.infer<typeof pingRequestSchema>;
export const pingResultSchema = emptyBodySchema;
export type PingResult = z.infer<typeof pingResultSchema>;

// -- echo: answers with the request body unchanged, tensors sent back

export const echoRequestSchema = z.looseObject({});
export type EchoRequest = z.infer<typeof echoRequestSchema>;
export const echoResultSchema = z.looseObject({});
export type EchoResult = z.infer<typeof echoResultSchema>;

// -- generate: answers with a tensor made by the worker: torch.arange(n).to(dtype).reshape(shape), n the
// product of shape

export const generateRequestSchema = z.strictObject({
  dtype: dtypeSchema,
  shape: shapeSchema,
});
export type GenerateRequest = z.infer<typeof generateRequestSchema>;
export const generateResultSchema = z.strictObject({
  tensor: tensorSchema,
});
export type GenerateResult = z.infer<typeof generateResultSchema>;

// -- sleep: sleeps seconds in total, split into steps equal steps (those shorter than 1 ms slept together),
// with a progress after each step, paced as PROTOCOL.md says; cancellable between steps

export const sleepRequestSchema = z.strictObject({
  seconds: z.number().min(0),
  steps: integer().min(1),
});
export type SleepRequest = z.infer<typeof sleepRequestSchema>;
export const sleepResultSchema = z.strictObject({
  steps: integer().min(1),
});
export type SleepResult = z.infer<typeof sleepResultSchema>;
export const sleepProgressSchema = z.strictObject({
  step: integer().min(1),
});
export type SleepProgress = z.infer<typeof sleepProgressSchema>;

// -- handle.get: sends the tensor behind a handle (an embedding) to the client

export const handleGetRequestSchema = z.strictObject({
  handle: z.string(),
});
export type HandleGetRequest = z.infer<typeof handleGetRequestSchema>;
export const handleGetResultSchema = z.strictObject({
  tensor: tensorSchema,
});
export type HandleGetResult = z.infer<typeof handleGetResultSchema>;

// -- handle.put: stores a tensor sent by the client on the worker (as received, no copy) and answers with
// its handle

export const handlePutRequestSchema = z.strictObject({
  tensor: tensorSchema,
});
export type HandlePutRequest = z.infer<typeof handlePutRequestSchema>;
export const handlePutResultSchema = z.strictObject({
  handle: tensorHandleSchema,
  dtype: dtypeSchema,
  shape: shapeSchema,
});
export type HandlePutResult = z.infer<typeof handlePutResultSchema>;

// -- handle.free: drops a handle (dataset, model, optimizer, embedding) and what it holds

export const handleFreeRequestSchema = z.strictObject({
  handle: z.string(),
});
export type HandleFreeRequest = z.infer<typeof handleFreeRequestSchema>;
export const handleFreeResultSchema = emptyBodySchema;
export type HandleFreeResult = z.infer<typeof handleFreeResultSchema>;

// -- handle.list: the handles the worker holds

export const handleListRequestSchema = emptyBodySchema;
export type HandleListRequest = z.infer<typeof handleListRequestSchema>;
export const handleListResultSchema = z.strictObject({
  handles: z.array(z.string()),
});
export type HandleListResult = z.infer<typeof handleListResultSchema>;

// -- dataset.open: opens the dataset a URI names (mcl_worker.data) and keeps it on the worker; args: the
// keyword arguments of a py:<module>:<attr> plugin (JSON values)

export const datasetOpenRequestSchema = z.strictObject({
  uri: z.string(),
  args: pluginArgsSchema.optional(),
});
export type DatasetOpenRequest = z.infer<typeof datasetOpenRequestSchema>;
export const datasetOpenResultSchema = z.strictObject({
  dataset: datasetHandleSchema,
  uri: z.string(),
  size: integer().min(1),
  image_shape: z.array(integer().min(1)).min(3).max(3),
  attributes: z.array(z.strictObject({
    name: z.string(),
    num_classes: integer().min(1),
    class_names: z.array(z.string()),
  })),
  has_captions: z.boolean(),
});
export type DatasetOpenResult = z.infer<typeof datasetOpenResultSchema>;

// -- model.create: builds an encoder with a projection head (mcl_worker.models.create_model) on the
// worker's device; arch may be a plugin py:<module>:<attr>, built with the keyword arguments args (JSON
// values)

export const modelCreateRequestSchema = z.strictObject({
  arch: z.string(),
  image_size: integer().min(1),
  in_channels: integer().min(1).optional(),
  proj_dim: integer().min(1).optional(),
  proj_hidden: integer().min(1).optional(),
  head_batch_norm: z.boolean().optional(),
  /** architecture-specific: widths (small-cnn), stem (resnet*), patch_size (vit-*) */
  options: z.strictObject({
    widths: z.array(integer().min(1)).min(1).optional(),
    stem: z.enum(["cifar", "imagenet"]).optional(),
    patch_size: integer().min(1).optional(),
  }).optional(),
  /** a weight file on the worker's file system, for the backbone */
  pretrained: z.string().optional(),
  seed: integer().min(0),
  args: pluginArgsSchema.optional(),
  device: deviceSchema.optional(),
  /** torch.compile the backbone in place (compiled at its first call) */
  compile: z.boolean().optional(),
  /** recompute the ViT blocks' activations in backward; other encoders refuse it */
  grad_checkpointing: z.boolean().optional(),
  /** the CNN backbone's weights and input in channels-last memory format; a ViT refuses it */
  channels_last: z.boolean().optional(),
});
export type ModelCreateRequest = z.infer<typeof modelCreateRequestSchema>;
export const modelCreateResultSchema = z.strictObject({
  model: modelHandleSchema,
  arch: z.string(),
  feature_dim: integer().min(1),
  proj_dim: integer().min(1),
  parameters: integer().min(0),
  device: z.string(),
  pretrained_loaded: integer().min(0).optional(),
});
export type ModelCreateResult = z.infer<typeof modelCreateResultSchema>;

// -- optimizer.create: an optimizer over every parameter of a model; schedule sets the learning rate of
// each step of one stage from the step's index within it (first_step + t in train and clip.train): a linear
// warm-up over warmup_steps (default 0) to lr, then lr (constant) or a cosine decay to 0 at total_steps
// (open_clip's const_lr and cosine_lr); without a schedule the rate stays lr

export const optimizerCreateRequestSchema = z.strictObject({
  model: modelHandleSchema,
  name: optimizerNameSchema,
  lr: z.number().min(0),
  /** default 0 (also for adamw) */
  weight_decay: z.number().min(0).optional(),
  /** sgd only */
  momentum: z.number().min(0).max(1).optional(),
  /**
   * the learning rate of every step of the train jobs, from the step's index within the stage (their first_step
   * onwards); absent: lr throughout
   */
  schedule: z.strictObject({
    name: lrScheduleSchema,
    warmup_steps: integer().min(0).optional(),
    /** steps of the stage; a train job whose steps run past it is refused */
    total_steps: integer().min(1),
  }).optional(),
});
export type OptimizerCreateRequest = z.infer<typeof optimizerCreateRequestSchema>;
export const optimizerCreateResultSchema = z.strictObject({
  optimizer: optimizerHandleSchema,
});
export type OptimizerCreateResult = z.infer<typeof optimizerCreateResultSchema>;

// -- train: runs the steps of a batch plan (step t trains on indices[offsets[t]:offsets[t+1]]); cancellable
// between steps. The optimizer's schedule sets the rate of step t from first_step + t (a plan that runs
// past its total_steps is refused, details.path first_step); each progress reports the rate of its step as
// lr, the result the rates of the first and last steps run as first_lr and last_lr

export const trainRequestSchema = z.strictObject({
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema,
  dataset: datasetHandleSchema,
  /** int32 [M]: the sample indices of every step, concatenated */
  indices: tensorSchema,
  /** int32 [steps + 1]: step t is indices[offsets[t], offsets[t + 1]) */
  offsets: tensorSchema,
  augment: augmentOptionsSchema.optional(),
  data: loaderOptionsSchema.optional(),
  /**
   * name: nt-xent, supcon, dcl or a plugin py:<module>:<attr>; args: the plugin's keyword arguments; attribute:
   * the dataset attribute whose classes are the labels (required by supcon, refused by nt-xent and dcl, passed
   * to a plugin as labels)
   */
  loss: z.strictObject({
    name: z.string(),
    temperature: z.number().min(0),
    args: pluginArgsSchema.optional(),
    attribute: z.string().optional(),
  }),
  /** seeds the augmentation of this job: give every chunk of a run its own */
  seed: integer().min(0),
  /** steps already run before this job: step numbers in progress and errors continue from it */
  first_step: integer().min(0).optional(),
  precision: precisionSchema.optional(),
  /** a progress message every this many steps (default 1), and after the last; these are not paced */
  progress_every: integer().min(1).optional(),
});
export type TrainRequest = z.infer<typeof trainRequestSchema>;

// -- embed: embeds every sample of a dataset, or of uint8 [N, C, H, W] images uploaded with handle.put
// (exactly one of dataset, images), with the eval transform (no augmentation), and keeps the result on the
// worker

export const embedRequestSchema = z.strictObject({
  model: modelHandleSchema,
  dataset: datasetHandleSchema.optional(),
  /** uint8 [N, C, H, W] images uploaded with handle.put */
  images: tensorHandleSchema.optional(),
  batch_size: integer().min(1).optional(),
  /** the training augmentation: its size, mean, std, interpolation and crop_pct define the eval transform */
  augment: augmentOptionsSchema.optional(),
  /** projections instead of backbone features */
  use_head: z.boolean().optional(),
  /** L2-normalise every row */
  normalize: z.boolean().optional(),
  dtype: embeddingDtypeSchema.optional(),
  data: loaderOptionsSchema.optional(),
});
export type EmbedRequest = z.infer<typeof embedRequestSchema>;
export const embedResultSchema = embeddingResultSchema;
export type EmbedResult = z.infer<typeof embedResultSchema>;

// -- integrate: the cross-stage representation of embeddings held on the worker: weighted concatenation,
// L2-normalised as `normalize` says (ts/control/integration.ts)

export const integrateRequestSchema = z.strictObject({
  embeddings: z.array(embeddingHandleSchema).min(1),
  weights: z.array(z.number().min(0)).min(1),
  normalize: normalizationSchema,
});
export type IntegrateRequest = z.infer<typeof integrateRequestSchema>;
export const integrateResultSchema = embeddingResultSchema;
export type IntegrateResult = z.infer<typeof integrateResultSchema>;

// -- kmeans: k-means (k-means++ seeding, Lloyd iterations) of an embedding's rows on the worker's device;
// empty_clusters counts the clusters no row is assigned to after the final assignment (their centroids are
// still returned): k larger than the number of distinct rows always leaves some

export const kmeansRequestSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  k: integer().min(1),
  seed: integer().min(0),
  iters: integer().min(1).optional(),
  tol: z.number().min(0).optional(),
  n_init: integer().min(1).optional(),
  init: z.enum(["k-means++", "random"]).optional(),
});
export type KmeansRequest = z.infer<typeof kmeansRequestSchema>;
export const kmeansResultSchema = z.strictObject({
  /** int32 [N]: the cluster of every row */
  assignments: tensorSchema,
  /** float32 [K, D] */
  centroids: tensorSchema,
  inertia: z.number().min(0),
  iterations: integer().min(1),
  converged: z.boolean(),
  /**
   * clusters no row is assigned to after the final assignment; k larger than the number of distinct rows always
   * leaves some
   */
  empty_clusters: integer().min(0),
});
export type KmeansResult = z.infer<typeof kmeansResultSchema>;

// -- probe: per labelled attribute: a linear probe (multinomial logistic regression) and kNN accuracy on
// frozen embeddings, on a held-out split

export const probeRequestSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  dataset: datasetHandleSchema,
  /** default: every labelled attribute of the dataset */
  attributes: z.array(z.string()).min(1).optional(),
  seed: integer().min(0),
  test_fraction: z.number().min(0).max(1).optional(),
  knn_k: integer().min(1).optional(),
});
export type ProbeRequest = z.infer<typeof probeRequestSchema>;
export const probeResultSchema = z.strictObject({
  attributes: z.array(z.strictObject({
    name: z.string(),
    linear: z.number().min(0).max(1),
    knn: z.number().min(0).max(1),
    n_train: integer().min(1),
    n_test: integer().min(1),
    n_classes: integer().min(1),
  })),
});
export type ProbeResult = z.infer<typeof probeResultSchema>;

// -- checkpoint.save: writes a model (and its optimizer, with the optimizer's learning-rate schedule when
// it has one) to a safetensors file, atomically; refuses non-finite weights. A CLIP model also records its
// model spec (configuration, image size, context length, vocabulary size, activation) under the metadata
// key mcl.clip, which clip.create checks when it loads the file. The job holds the model only while it
// copies the tensors to host memory, then writes the file: with notify_copied true it sends one progress
// message {copied: true} at that moment, after which other jobs may use the model; the result comes once
// the file is durable

export const checkpointSaveRequestSchema = z.strictObject({
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema.optional(),
  /** on the worker's file system */
  path: z.string(),
  metadata: stringMapSchema.optional(),
  /** send one progress message once the tensors are copied and the model is free for other jobs */
  notify_copied: z.boolean().optional(),
});
export type CheckpointSaveRequest = z.infer<typeof checkpointSaveRequestSchema>;
export const checkpointSaveResultSchema = z.strictObject({
  path: z.string(),
  bytes: integer().min(0),
});
export type CheckpointSaveResult = z.infer<typeof checkpointSaveResultSchema>;
export const checkpointSaveProgressSchema = z.strictObject({
  /** the tensors are copied: the model may train on while the file is written */
  copied: z.boolean(),
});
export type CheckpointSaveProgress = z.infer<typeof checkpointSaveProgressSchema>;

// -- checkpoint.load: loads a checkpoint of checkpoint.save into a model (and its optimizer) of the same
// architecture. With an optimizer, the learning-rate schedule the checkpoint records must equal the
// optimizer's (name, lr, warmup_steps, total_steps), else INVALID_BODY with details.path optimizer naming
// the field. A side without a schedule counts as a constant rate without warm-up, compared by name and
// warmup_steps only: a checkpoint that records no schedule resumes only into an optimizer with no schedule
// or a constant one with warmup_steps 0

export const checkpointLoadRequestSchema = z.strictObject({
  path: z.string(),
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema.optional(),
});
export type CheckpointLoadRequest = z.infer<typeof checkpointLoadRequestSchema>;
export const checkpointLoadResultSchema = z.strictObject({
  metadata: stringMapSchema,
});
export type CheckpointLoadResult = z.infer<typeof checkpointLoadResultSchema>;

// -- export: writes the encoders of models (each built and loaded with a stage's checkpoint; one for kind
// stage, the integrated stages in order for kind integrated) to one file at path, atomically. format
// safetensors: their weights in the names of the peer library that loads them (torchvision ResNet, timm
// ViT, open_clip CLIP), or in our own format where none does, with the export document (JSON) as metadata
// mcl.export; format torchscript: one torch.jit module that maps uint8 [B, C, H, W] or float (0 to 1)
// images through preprocess (the eval transform) and every encoder (features L2-normalised, times weights,
// normalised as normalize says: the integrate job's formula) to the embedding, the document as its extra
// file mcl_export.json. stages label the parts in the document (as the run's summary numbers them);
// metadata is recorded under its run field. The result names what loads the file (load: Python with the
// peer alone where one loads it) and, per encoder, its peer library (mcl: none) and the peer model's keys
// the file lacks

export const exportRequestSchema = z.strictObject({
  /** each built and loaded with a stage's checkpoint: one for kind stage, the integrated stages in order */
  models: z.array(modelHandleSchema).min(1),
  /** the stage of each model, as the run's summary numbers it (recorded in the file) */
  stages: z.array(integer().min(0)).min(1),
  kind: z.enum(["stage", "integrated"]),
  format: exportFormatSchema,
  /** on the worker's file system */
  path: z.string(),
  /** the run's eval transform, which the TorchScript module applies and the file records */
  preprocess: z.strictObject({
    size: integer().min(1),
    in_channels: integer().min(1),
    mean: z.array(z.number()).min(1).max(4),
    std: z.array(z.number()).min(1).max(4),
    interpolation: interpolationSchema,
    crop_pct: z.number().min(0).max(1).optional(),
  }),
  /** the integration; a stage's own embedding is weights [1], normalize none */
  weights: z.array(z.number().min(0)).min(1),
  normalize: normalizationSchema,
  /** recorded in the file's document under run (the run's name, config hash, ...) */
  metadata: stringMapSchema.optional(),
});
export type ExportRequest = z.infer<typeof exportRequestSchema>;
export const exportResultSchema = z.strictObject({
  path: z.string(),
  bytes: integer().min(0),
  format: exportFormatSchema,
  /** the width of the embedding the exported module returns */
  dim: integer().min(1),
  /** Python that loads the file: the peer library's own calls where one loads it alone */
  load: z.string(),
  encoders: z.array(z.strictObject({
    stage: integer().min(0),
    architecture: z.string(),
    stem: z.enum(["cifar", "imagenet"]).optional(),
    library: exportLibrarySchema,
    /** the peer's model: resnet50, vit_base_patch16_224, ViT-B-16-quickgelu, CLIP */
    name: z.string().optional(),
    /** the peer model's keys the file lacks (its classifier) */
    absent_keys: z.array(z.string()),
    /** why no peer library loads these weights (library mcl) */
    no_peer: z.string().optional(),
  })).min(1),
});
export type ExportResult = z.infer<typeof exportResultSchema>;

// -- clip.create: builds a CLIP dual encoder (mcl_worker.models.clip) with its tokenizer and activation,
// optionally from a local checkpoint, with towers locked as open_clip's --lock-image /
// --lock-image-unlocked-groups / --lock-text; held like any model

export const clipCreateRequestSchema = z.strictObject({
  config: clipConfigSchema,
  seed: integer().min(0),
  /** bpe: vocab is the path of bpe_simple_vocab_16e6.txt(.gz); words: dataset, whose captions give the vocabulary */
  tokenizer: z.strictObject({
    kind: tokenizerSchema,
    vocab: z.string().optional(),
    dataset: datasetHandleSchema.optional(),
  }),
  /** a local OpenAI / open_clip / MCL weight file (state dict, safetensors or OpenAI TorchScript) */
  checkpoint: z.string().optional(),
  image_size: integer().min(1).optional(),
  context_length: integer().min(2).optional(),
  /** default: the configuration's (quick_gelu); a checkpoint that says otherwise is refused */
  activation: clipActivationSchema.optional(),
  /** open_clip's --lock-image: freeze the image tower but its last lock_image_unlocked_groups groups */
  lock_image: z.boolean().optional(),
  /** open_clip's --lock-image-unlocked-groups (only with lock_image; the ResNet takes only 0) */
  lock_image_unlocked_groups: integer().min(0).optional(),
  /** open_clip's --lock-text: freeze the whole text tower */
  lock_text: z.boolean().optional(),
  device: deviceSchema.optional(),
  /** torch.compile both towers in place (compiled at their first call) */
  compile: z.boolean().optional(),
  /** recompute the transformer blocks' activations in backward (text tower, and a ViT image tower) */
  grad_checkpointing: z.boolean().optional(),
});
export type ClipCreateRequest = z.infer<typeof clipCreateRequestSchema>;
export const clipCreateResultSchema = z.strictObject({
  model: modelHandleSchema,
  config: z.string(),
  embed_dim: integer().min(1),
  image_size: integer().min(1),
  context_length: integer().min(1),
  vocab_size: integer().min(1),
  activation: clipActivationSchema,
  tokenizer: tokenizerSchema,
  parameters: integer().min(0),
  trainable_parameters: integer().min(0),
  device: z.string(),
  checkpoint_loaded: integer().min(0).optional(),
});
export type ClipCreateResult = z.infer<typeof clipCreateResultSchema>;

// -- clip.train: runs the steps of a batch plan on image-caption pairs (step t trains on
// indices[offsets[t]:offsets[t+1]]) with the CLIP or X-Sample loss, clamping the learnable logit scale to
// [0, ln 100] after every optimizer step (open_clip's loop); logit_scale in the result is exp of the scale
// the last step's loss used; cancellable between steps. The learning rate follows the optimizer's schedule
// as in train: lr in each progress, first_lr and last_lr in the result

export const clipTrainRequestSchema = z.strictObject({
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema,
  dataset: datasetHandleSchema,
  /** int32 [M]: the sample indices of every step, concatenated */
  indices: tensorSchema,
  /** int32 [steps + 1]: step t is indices[offsets[t], offsets[t + 1]) */
  offsets: tensorSchema,
  augment: augmentOptionsSchema.optional(),
  data: loaderOptionsSchema.optional(),
  /**
   * name: clip or xsample; temperature: fixed instead of the learnable logit scale (used as it is; 0 is
   * refused); graph: what xsample's targets relate, the token overlap of the captions (tokens, the default) or
   * the labels of attribute
   */
  loss: z.strictObject({
    name: z.enum(["clip", "xsample"]),
    temperature: z.number().min(0).optional(),
    target_temperature: z.number().min(0).optional(),
    graph: z.enum(["tokens", "labels"]).optional(),
    attribute: z.string().optional(),
  }),
  /** seeds the augmentation of this job: give every chunk of a run its own */
  seed: integer().min(0),
  /** steps already run before this job: step numbers in progress and errors continue from it */
  first_step: integer().min(0).optional(),
  precision: precisionSchema.optional(),
  /** a progress message every this many steps (default 1), and after the last; these are not paced */
  progress_every: integer().min(1).optional(),
});
export type ClipTrainRequest = z.infer<typeof clipTrainRequestSchema>;
export const clipTrainResultSchema = z.strictObject({
  steps: integer().min(0),
  samples: integer().min(0),
  mean_loss: z.number(),
  last_loss: z.number(),
  first_lr: z.number().min(0),
  last_lr: z.number().min(0),
  samples_per_s: z.number().min(0),
  seconds: z.number().min(0),
  truncated_captions: integer().min(0),
  /**
   * exp of the logit scale the last step's loss used (the learnable one is clamped to [0, ln 100] after every
   * step)
   */
  logit_scale: z.number().min(0),
});
export type ClipTrainResult = z.infer<typeof clipTrainResultSchema>;
export const clipTrainProgressSchema = trainProgressSchema;
export type ClipTrainProgress = z.infer<typeof clipTrainProgressSchema>;

// -- clip.embed_text: embeds every caption of a dataset with a CLIP text tower and keeps the result on the
// worker (images: the embed job)

export const clipEmbedTextRequestSchema = z.strictObject({
  model: modelHandleSchema,
  dataset: datasetHandleSchema,
  batch_size: integer().min(1).optional(),
  normalize: z.boolean().optional(),
});
export type ClipEmbedTextRequest = z.infer<typeof clipEmbedTextRequestSchema>;
export const clipEmbedTextResultSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  shape: z.array(integer().min(0)).min(2).max(2),
  dtype: z.enum(["float32"]),
  truncated_captions: integer().min(0),
});
export type ClipEmbedTextResult = z.infer<typeof clipEmbedTextResultSchema>;

// -- clip.zero_shot: zero-shot accuracy per labelled attribute of one CLIP model or the integrated
// representation of several (classes as text prototypes)

export const clipZeroShotRequestSchema = z.strictObject({
  /** one model, or the stage models of an MCL run to integrate (both towers) */
  models: z.array(modelHandleSchema).min(1),
  weights: z.array(z.number().min(0)).min(1).optional(),
  /** default per-stage-l2 */
  normalize: normalizationSchema.optional(),
  dataset: datasetHandleSchema,
  attributes: z.array(z.string()).min(1).optional(),
  /** for attributes the captions do not name, e.g. "a photo of a {}." */
  template: z.string().optional(),
  batch_size: integer().min(1).optional(),
  augment: augmentOptionsSchema.optional(),
});
export type ClipZeroShotRequest = z.infer<typeof clipZeroShotRequestSchema>;
export const clipZeroShotResultSchema = z.strictObject({
  attributes: z.array(z.strictObject({
    name: z.string(),
    accuracy: z.number().min(0).max(1),
    n: integer().min(1),
    n_classes: integer().min(1),
    prompts: z.enum(["captions", "template"]),
  })),
  truncated_captions: integer().min(0),
});
export type ClipZeroShotResult = z.infer<typeof clipZeroShotResultSchema>;

// -- clip.mmvp: MMVP-style pairs from a captioned dataset (two images that differ in one attribute, each
// with its caption; a pair counts when both match their own), per category

export const clipMmvpRequestSchema = z.strictObject({
  /** one model, or the stage models of an MCL run to integrate (both towers) */
  models: z.array(modelHandleSchema).min(1),
  weights: z.array(z.number().min(0)).min(1).optional(),
  /** default per-stage-l2 */
  normalize: normalizationSchema.optional(),
  dataset: datasetHandleSchema,
  categories: z.array(z.string()).min(1).optional(),
  pairs_per_category: integer().min(1).optional(),
  seed: integer().min(0),
  batch_size: integer().min(1).optional(),
  augment: augmentOptionsSchema.optional(),
});
export type ClipMmvpRequest = z.infer<typeof clipMmvpRequestSchema>;
export const clipMmvpResultSchema = pairBenchmarkResultSchema;
export type ClipMmvpResult = z.infer<typeof clipMmvpResultSchema>;

// -- clip.mmvp_vlm: the MMVP-VLM benchmark from a local folder (Questions.csv and MLLM_VLM Images/), scored
// per category

export const clipMmvpVlmRequestSchema = z.strictObject({
  /** one model, or the stage models of an MCL run to integrate (both towers) */
  models: z.array(modelHandleSchema).min(1),
  weights: z.array(z.number().min(0)).min(1).optional(),
  /** default per-stage-l2 */
  normalize: normalizationSchema.optional(),
  /** the benchmark folder: Questions.csv and "MLLM_VLM Images/" */
  path: z.string(),
  /** before every statement; default "a photo of " */
  prefix: z.string().optional(),
  batch_size: integer().min(1).optional(),
  augment: augmentOptionsSchema.optional(),
});
export type ClipMmvpVlmRequest = z.infer<typeof clipMmvpVlmRequestSchema>;
export const clipMmvpVlmResultSchema = pairBenchmarkResultSchema;
export type ClipMmvpVlmResult = z.infer<typeof clipMmvpVlmResultSchema>;

/** Every job's body schemas, by type; progress null: the job sends none. */
export const jobSchemas = {
  hello: { request: helloRequestSchema, result: helloResultSchema, progress: null },
  ping: { request: pingRequestSchema, result: pingResultSchema, progress: null },
  echo: { request: echoRequestSchema, result: echoResultSchema, progress: null },
  generate: { request: generateRequestSchema, result: generateResultSchema, progress: null },
  sleep: { request: sleepRequestSchema, result: sleepResultSchema, progress: sleepProgressSchema },
  "handle.get": { request: handleGetRequestSchema, result: handleGetResultSchema, progress: null },
  "handle.put": { request: handlePutRequestSchema, result: handlePutResultSchema, progress: null },
  "handle.free": { request: handleFreeRequestSchema, result: handleFreeResultSchema, progress: null },
  "handle.list": { request: handleListRequestSchema, result: handleListResultSchema, progress: null },
  "dataset.open": { request: datasetOpenRequestSchema, result: datasetOpenResultSchema, progress: null },
  "model.create": { request: modelCreateRequestSchema, result: modelCreateResultSchema, progress: null },
  "optimizer.create": { request: optimizerCreateRequestSchema, result: optimizerCreateResultSchema, progress: null },
  train: { request: trainRequestSchema, result: trainResultSchema, progress: trainProgressSchema },
  embed: { request: embedRequestSchema, result: embedResultSchema, progress: null },
  integrate: { request: integrateRequestSchema, result: integrateResultSchema, progress: null },
  kmeans: { request: kmeansRequestSchema, result: kmeansResultSchema, progress: null },
  probe: { request: probeRequestSchema, result: probeResultSchema, progress: null },
  "checkpoint.save": { request: checkpointSaveRequestSchema, result: checkpointSaveResultSchema, progress: checkpointSaveProgressSchema },
  "checkpoint.load": { request: checkpointLoadRequestSchema, result: checkpointLoadResultSchema, progress: null },
  export: { request: exportRequestSchema, result: exportResultSchema, progress: null },
  "clip.create": { request: clipCreateRequestSchema, result: clipCreateResultSchema, progress: null },
  "clip.train": { request: clipTrainRequestSchema, result: clipTrainResultSchema, progress: clipTrainProgressSchema },
  "clip.embed_text": { request: clipEmbedTextRequestSchema, result: clipEmbedTextResultSchema, progress: null },
  "clip.zero_shot": { request: clipZeroShotRequestSchema, result: clipZeroShotResultSchema, progress: null },
  "clip.mmvp": { request: clipMmvpRequestSchema, result: clipMmvpResultSchema, progress: null },
  "clip.mmvp_vlm": { request: clipMmvpVlmRequestSchema, result: clipMmvpVlmResultSchema, progress: null },
} as const;

export type JobType = keyof typeof jobSchemas;

/** Every job's request, result and progress bodies, by type (never: the job sends no progress). */
export interface JobBodies {
  hello: { request: HelloRequest; result: HelloResult; progress: never };
  ping: { request: PingRequest; result: PingResult; progress: never };
  echo: { request: EchoRequest; result: EchoResult; progress: never };
  generate: { request: GenerateRequest; result: GenerateResult; progress: never };
  sleep: { request: SleepRequest; result: SleepResult; progress: SleepProgress };
  "handle.get": { request: HandleGetRequest; result: HandleGetResult; progress: never };
  "handle.put": { request: HandlePutRequest; result: HandlePutResult; progress: never };
  "handle.free": { request: HandleFreeRequest; result: HandleFreeResult; progress: never };
  "handle.list": { request: HandleListRequest; result: HandleListResult; progress: never };
  "dataset.open": { request: DatasetOpenRequest; result: DatasetOpenResult; progress: never };
  "model.create": { request: ModelCreateRequest; result: ModelCreateResult; progress: never };
  "optimizer.create": { request: OptimizerCreateRequest; result: OptimizerCreateResult; progress: never };
  train: { request: TrainRequest; result: TrainResult; progress: TrainProgress };
  embed: { request: EmbedRequest; result: EmbedResult; progress: never };
  integrate: { request: IntegrateRequest; result: IntegrateResult; progress: never };
  kmeans: { request: KmeansRequest; result: KmeansResult; progress: never };
  probe: { request: ProbeRequest; result: ProbeResult; progress: never };
  "checkpoint.save": { request: CheckpointSaveRequest; result: CheckpointSaveResult; progress: CheckpointSaveProgress };
  "checkpoint.load": { request: CheckpointLoadRequest; result: CheckpointLoadResult; progress: never };
  export: { request: ExportRequest; result: ExportResult; progress: never };
  "clip.create": { request: ClipCreateRequest; result: ClipCreateResult; progress: never };
  "clip.train": { request: ClipTrainRequest; result: ClipTrainResult; progress: ClipTrainProgress };
  "clip.embed_text": { request: ClipEmbedTextRequest; result: ClipEmbedTextResult; progress: never };
  "clip.zero_shot": { request: ClipZeroShotRequest; result: ClipZeroShotResult; progress: never };
  "clip.mmvp": { request: ClipMmvpRequest; result: ClipMmvpResult; progress: never };
  "clip.mmvp_vlm": { request: ClipMmvpVlmRequest; result: ClipMmvpVlmResult; progress: never };
}
