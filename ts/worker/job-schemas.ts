/**
 * zod schemas of the compute jobs of proto/protocol.json (handle.*, dataset.open, model.create,
 * optimizer.create, train, embed, integrate, kmeans, probe, checkpoint.*, export), checked against its
 * JSON Schema by test/ts/worker/job-schemas.test.ts. Field names are the wire's (snake_case);
 * handles are branded strings so that a model handle cannot be passed where a dataset goes.
 */
import { z } from "zod";
import { DTYPES, type JobSchemas, tensorSchema } from "../wire/index.js";

const handle = <K extends string>(kind: K) => z.string().brand<`${K}-handle`>();
export const datasetHandleSchema = handle("dataset");
export const modelHandleSchema = handle("model");
export const optimizerHandleSchema = handle("optimizer");
export const embeddingHandleSchema = handle("embedding");
export const tensorHandleSchema = handle("tensor");
export type DatasetHandle = z.infer<typeof datasetHandleSchema>;
export type ModelHandle = z.infer<typeof modelHandleSchema>;
export type OptimizerHandle = z.infer<typeof optimizerHandleSchema>;
export type EmbeddingHandle = z.infer<typeof embeddingHandleSchema>;
/** A tensor uploaded with handle.put. */
export type TensorHandle = z.infer<typeof tensorHandleSchema>;
/** Any handle the worker holds. */
export type Handle = DatasetHandle | ModelHandle | OptimizerHandle | EmbeddingHandle | TensorHandle;

const emptySchema = z.strictObject({});
const pair = z.array(z.number()).min(2).max(2);
const perChannel = z.array(z.number()).min(1).max(4);
const rowsByWidth = z.array(z.int().min(0)).min(2).max(2);
const stringMap = z.object({}).catchall(z.string());

// -- handles -------------------------------------------------------------------------------------

export const handleGetRequestSchema = z.strictObject({ handle: z.string() });
export const handleGetResultSchema = z.strictObject({ tensor: tensorSchema });
export const handlePutRequestSchema = z.strictObject({ tensor: tensorSchema });
export const handlePutResultSchema = z.strictObject({ handle: tensorHandleSchema, dtype: z.enum(DTYPES), shape: z.array(z.int().min(0)) });
export const handleFreeRequestSchema = z.strictObject({ handle: z.string() });
export const handleFreeResultSchema = emptySchema;
export const handleListRequestSchema = emptySchema;
export const handleListResultSchema = z.strictObject({ handles: z.array(z.string()) });

// -- datasets and models -------------------------------------------------------------------------

/** The keyword arguments of a py:<module>:<attr> plugin: JSON values, never code. */
export const pluginArgsSchema = z.looseObject({});
export const datasetOpenRequestSchema = z.strictObject({ uri: z.string(), args: pluginArgsSchema.optional() });
export const attributeInfoSchema = z.strictObject({
  name: z.string(),
  num_classes: z.int().min(1),
  class_names: z.array(z.string()),
});
export const datasetOpenResultSchema = z.strictObject({
  dataset: datasetHandleSchema,
  uri: z.string(),
  size: z.int().min(1),
  image_shape: z.array(z.int().min(1)).min(3).max(3),
  attributes: z.array(attributeInfoSchema),
  has_captions: z.boolean(),
});

/** Where a model lives: auto (default: the first CUDA device when there is one, else the CPU), cpu, cuda or cuda:N. */
const deviceSchema = z.string();
/** The training steps' autocast: auto (default: bf16 on a CUDA device of compute capability 8.0 or more, else fp32), fp32, bf16, fp16 (CUDA, with a GradScaler). */
export const PRECISIONS = ["auto", "fp32", "bf16", "fp16"] as const;
const precisionSchema = z.enum(PRECISIONS);
export const modelCreateRequestSchema = z.strictObject({
  arch: z.string(),
  image_size: z.int().min(1),
  in_channels: z.int().min(1).optional(),
  proj_dim: z.int().min(1).optional(),
  proj_hidden: z.int().min(1).optional(),
  head_batch_norm: z.boolean().optional(),
  /** Architecture-specific: widths (small-cnn), stem (resnet*), patch_size (vit-*). */
  options: z
    .strictObject({
      widths: z.array(z.int().min(1)).min(1).optional(),
      stem: z.enum(["cifar", "imagenet"]).optional(),
      patch_size: z.int().min(1).optional(),
    })
    .optional(),
  /** A weight file on the worker's file system, for the backbone. */
  pretrained: z.string().optional(),
  seed: z.int().min(0),
  /** A plugin arch's (py:<module>:<attr>) keyword arguments. */
  args: pluginArgsSchema.optional(),
  device: deviceSchema.optional(),
  /** torch.compile the backbone in place (compiled at its first call). */
  compile: z.boolean().optional(),
  /** Recompute the ViT blocks' activations in backward; other encoders refuse it. */
  grad_checkpointing: z.boolean().optional(),
  /** The CNN backbone's weights and input in channels-last memory format; a ViT refuses it. */
  channels_last: z.boolean().optional(),
});
export const modelCreateResultSchema = z.strictObject({
  model: modelHandleSchema,
  arch: z.string(),
  feature_dim: z.int().min(1),
  proj_dim: z.int().min(1),
  parameters: z.int().min(0),
  device: z.string(),
  pretrained_loaded: z.int().min(0).optional(),
});

export const OPTIMIZERS = ["adamw", "adam", "sgd"] as const;
export const LR_SCHEDULES = ["constant", "cosine"] as const;
export const optimizerCreateRequestSchema = z.strictObject({
  model: modelHandleSchema,
  name: z.enum(OPTIMIZERS),
  lr: z.number().min(0),
  /** Default 0 (also for adamw). */
  weight_decay: z.number().min(0).optional(),
  /** sgd only. */
  momentum: z.number().min(0).max(1).optional(),
  /**
   * The learning rate of every step of the train jobs, from the step's index within the stage (their
   * first_step onwards): linear warm-up to `lr` over warmup_steps (default 0), then constant or a
   * cosine decay to 0 at total_steps (open_clip's const_lr / cosine_lr). Absent: `lr` throughout.
   */
  schedule: z
    .strictObject({
      name: z.enum(LR_SCHEDULES),
      warmup_steps: z.int().min(0).optional(),
      /** Steps of the stage; a train job whose steps run past it is refused. */
      total_steps: z.int().min(1),
    })
    .optional(),
});
export const optimizerCreateResultSchema = z.strictObject({ optimizer: optimizerHandleSchema });

// -- training ------------------------------------------------------------------------------------

/** The resampling filters of the augmentation and the eval transform. */
export const INTERPOLATIONS = ["bilinear", "bicubic"] as const;
/** mcl_worker.data.AugmentConfig: every field optional, the worker's defaults are crop and flip. */
export const augmentSchema = z.strictObject({
  size: z.int().min(1).optional(),
  crop_scale: pair.optional(),
  crop_ratio: pair.optional(),
  flip_p: z.number().min(0).max(1).optional(),
  jitter_p: z.number().min(0).max(1).optional(),
  brightness: z.number().min(0).optional(),
  contrast: z.number().min(0).optional(),
  saturation: z.number().min(0).optional(),
  hue: z.number().min(0).max(0.5).optional(),
  grayscale_p: z.number().min(0).max(1).optional(),
  blur_p: z.number().min(0).max(1).optional(),
  blur_sigma: pair.optional(),
  mean: perChannel.optional(),
  std: perChannel.optional(),
  /** Of the crop's resample and the eval resize (default bilinear). */
  interpolation: z.enum(INTERPOLATIONS).optional(),
  /**
   * Eval only: the shorter side is resized to floor(size / crop_pct) and the centre size × size
   * kept (the worker refuses 0); absent, the whole image is resized to size × size.
   */
  crop_pct: z.number().min(0).max(1).optional(),
});

/** The built-in losses of the train job. */
export const LOSSES = ["nt-xent", "supcon", "dcl"] as const;
/**
 * How a job loads images: `workers` loader processes load the next batches while a step computes
 * (0 = in the job's thread; absent = the worker's default: 0, or for a dataset that decodes files
 * min(4, CPUs - 1) and at least 1), each keeping `prefetch` batches ready (default 2).
 */
const loaderOptionsSchema = z.strictObject({
  workers: z.int().min(0).max(64).optional(),
  prefetch: z.int().min(1).max(64).optional(),
});
export type LoaderOptions = z.infer<typeof loaderOptionsSchema>;
/** What the train and clip.train jobs step through: a model, its optimizer and a batch plan over a dataset. */
const batchPlanFields = {
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema,
  dataset: datasetHandleSchema,
  /** int32 [M]: the sample indices of every step, concatenated (BatchPlan.indices). */
  indices: tensorSchema,
  /** int32 [steps + 1]: step t is indices[offsets[t], offsets[t + 1]) (BatchPlan.offsets). */
  offsets: tensorSchema,
  augment: augmentSchema.optional(),
  data: loaderOptionsSchema.optional(),
};
export const trainRequestSchema = z.strictObject({
  ...batchPlanFields,
  /**
   * name: one of LOSSES or a plugin py:<module>:<attr> (the worker checks it), args: the plugin's keyword
   * arguments, attribute: the dataset attribute whose classes are the labels (required by supcon, refused
   * by nt-xent and dcl, passed to a plugin as `labels`).
   */
  loss: z.strictObject({
    name: z.string(),
    temperature: z.number().min(0),
    args: pluginArgsSchema.optional(),
    attribute: z.string().optional(),
  }),
  /** Seeds the augmentation of this job: give every chunk of a run its own. */
  seed: z.int().min(0),
  /** Steps already run before this job: step numbers in progress and errors continue from it. */
  first_step: z.int().min(0).optional(),
  precision: precisionSchema.optional(),
  /** A progress message every this many steps (default 1), and after the last. */
  progress_every: z.int().min(1).optional(),
});
export const trainResultSchema = z.strictObject({
  steps: z.int().min(0),
  samples: z.int().min(0),
  mean_loss: z.number(),
  last_loss: z.number(),
  /** Learning rate of the first and of the last step. */
  first_lr: z.number().min(0),
  last_lr: z.number().min(0),
  samples_per_s: z.number().min(0),
  seconds: z.number().min(0),
});
export const trainProgressSchema = z.strictObject({
  step: z.int().min(1),
  steps: z.int().min(1),
  loss: z.number(),
  /** Learning rate of step `step`. */
  lr: z.number().min(0),
  samples_per_s: z.number().min(0),
});

// -- representations -----------------------------------------------------------------------------

export const EMBEDDING_DTYPES = ["float32", "float16"] as const;
/** Exactly one of `dataset`, `images` (the worker refuses both or neither, naming `dataset`). */
export const embedRequestSchema = z.strictObject({
  model: modelHandleSchema,
  dataset: datasetHandleSchema.optional(),
  /** uint8 [N, C, H, W] images uploaded with handle.put. */
  images: tensorHandleSchema.optional(),
  batch_size: z.int().min(1).optional(),
  /** The training augmentation: its size, mean and std define the eval transform. */
  augment: augmentSchema.optional(),
  /** Projections instead of backbone features. */
  use_head: z.boolean().optional(),
  /** L2-normalise every row. */
  normalize: z.boolean().optional(),
  dtype: z.enum(EMBEDDING_DTYPES).optional(),
  data: loaderOptionsSchema.optional(),
});
export const embeddingResultSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  shape: rowsByWidth,
  dtype: z.enum(EMBEDDING_DTYPES),
});
export const embedResultSchema = embeddingResultSchema;

export const integrateRequestSchema = z.strictObject({
  embeddings: z.array(embeddingHandleSchema).min(1),
  weights: z.array(z.number().min(0)).min(1),
  normalize: z.enum(["concat-then-l2", "per-stage-l2", "none"]),
});
export const integrateResultSchema = embeddingResultSchema;

export const kmeansRequestSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  k: z.int().min(1),
  seed: z.int().min(0),
  iters: z.int().min(1).optional(),
  tol: z.number().min(0).optional(),
  n_init: z.int().min(1).optional(),
  init: z.enum(["k-means++", "random"]).optional(),
});
export const kmeansResultSchema = z.strictObject({
  /** int32 [N]. */
  assignments: tensorSchema,
  /** float32 [K, D]. */
  centroids: tensorSchema,
  inertia: z.number().min(0),
  iterations: z.int().min(1),
  converged: z.boolean(),
  /** Clusters no row is assigned to after the final assignment; k larger than the number of distinct rows always leaves some. */
  empty_clusters: z.int().min(0),
});

export const probeRequestSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  dataset: datasetHandleSchema,
  /** Default: every labelled attribute of the dataset. */
  attributes: z.array(z.string()).min(1).optional(),
  seed: z.int().min(0),
  test_fraction: z.number().min(0).max(1).optional(),
  knn_k: z.int().min(1).optional(),
});
export const probeScoreSchema = z.strictObject({
  name: z.string(),
  linear: z.number().min(0).max(1),
  knn: z.number().min(0).max(1),
  n_train: z.int().min(1),
  n_test: z.int().min(1),
  n_classes: z.int().min(1),
});
export const probeResultSchema = z.strictObject({ attributes: z.array(probeScoreSchema) });

// -- checkpoints ---------------------------------------------------------------------------------

export const checkpointSaveRequestSchema = z.strictObject({
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema.optional(),
  /** On the worker's file system. */
  path: z.string(),
  metadata: stringMap.optional(),
  /** Send one progress message once the tensors are copied and the model is free for other jobs. */
  notify_copied: z.boolean().optional(),
});
export const checkpointSaveResultSchema = z.strictObject({ path: z.string(), bytes: z.int().min(0) });
/** The tensors are copied: the model may train on while the file is written. */
export const checkpointSaveProgressSchema = z.strictObject({ copied: z.boolean() });
export const checkpointLoadRequestSchema = z.strictObject({
  path: z.string(),
  model: modelHandleSchema,
  optimizer: optimizerHandleSchema.optional(),
});
export const checkpointLoadResultSchema = z.strictObject({ metadata: stringMap });

// -- export (mcl_worker/jobs/exporting.py) -------------------------------------------------------

export const EXPORT_FORMATS = ["safetensors", "torchscript"] as const;
/** Who loads an exported encoder's weights as they are; mcl: no peer library, our own format (mcl_worker.load_encoder). */
export const EXPORT_LIBRARIES = ["torchvision", "timm", "open_clip", "mcl"] as const;
export const exportRequestSchema = z.strictObject({
  /** Each built and loaded with a stage's checkpoint: one for kind stage, the integrated stages in order. */
  models: z.array(modelHandleSchema).min(1),
  /** The stage of each model, as the run's summary numbers it (recorded in the file). */
  stages: z.array(z.int().min(0)).min(1),
  kind: z.enum(["stage", "integrated"]),
  format: z.enum(EXPORT_FORMATS),
  /** On the worker's file system. */
  path: z.string(),
  /** The run's eval transform, which the TorchScript module applies and the file records. */
  preprocess: z.strictObject({
    size: z.int().min(1),
    in_channels: z.int().min(1),
    mean: perChannel,
    std: perChannel,
    interpolation: z.enum(INTERPOLATIONS),
    crop_pct: z.number().min(0).max(1).optional(),
  }),
  /** The integration (ts/control/integration.ts); a stage's own embedding is weights [1], normalize none. */
  weights: z.array(z.number().min(0)).min(1),
  normalize: z.enum(["concat-then-l2", "per-stage-l2", "none"]),
  /** Recorded in the file's document under `run` (the run's name, config hash, ...). */
  metadata: stringMap.optional(),
});
export const exportedEncoderSchema = z.strictObject({
  stage: z.int().min(0),
  architecture: z.string(),
  stem: z.enum(["cifar", "imagenet"]).optional(),
  library: z.enum(EXPORT_LIBRARIES),
  /** The peer's model: resnet50, vit_base_patch16_224, ViT-B-16-quickgelu, CLIP. */
  name: z.string().optional(),
  /** The peer model's keys the file lacks (its classifier). */
  absent_keys: z.array(z.string()),
  /** Why no peer library loads these weights (library mcl). */
  no_peer: z.string().optional(),
});
export const exportResultSchema = z.strictObject({
  path: z.string(),
  bytes: z.int().min(0),
  format: z.enum(EXPORT_FORMATS),
  /** The width of the embedding the exported module returns. */
  dim: z.int().min(1),
  /** Python that loads the file: the peer library's own calls where one loads it alone. */
  load: z.string(),
  encoders: z.array(exportedEncoderSchema).min(1),
});

// -- CLIP (mcl_worker/jobs/clip.py) --------------------------------------------------------------

export const CLIP_CONFIGS = ["clip-rn50", "clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14", "clip-tiny"] as const;
export const TOKENIZERS = ["bpe", "words"] as const;
/** The transformers' MLP activation: QuickGELU (OpenAI's weights) or exact GELU (open_clip's other models). */
export const CLIP_ACTIVATIONS = ["quick_gelu", "gelu"] as const;
export const clipCreateRequestSchema = z.strictObject({
  config: z.enum(CLIP_CONFIGS),
  seed: z.int().min(0),
  /** bpe: `vocab` is the path of bpe_simple_vocab_16e6.txt(.gz); words: `dataset` whose captions give the vocabulary. */
  tokenizer: z.strictObject({ kind: z.enum(TOKENIZERS), vocab: z.string().optional(), dataset: datasetHandleSchema.optional() }),
  /** A local OpenAI / open_clip / MCL weight file (state dict, safetensors or OpenAI TorchScript). */
  checkpoint: z.string().optional(),
  image_size: z.int().min(1).optional(),
  context_length: z.int().min(2).optional(),
  /** Default: the configuration's (quick_gelu); a checkpoint that says otherwise is refused. */
  activation: z.enum(CLIP_ACTIVATIONS).optional(),
  /** open_clip's --lock-image: freeze the image tower but its last `lock_image_unlocked_groups` groups. */
  lock_image: z.boolean().optional(),
  /** open_clip's --lock-image-unlocked-groups (only with lock_image; the ResNet takes only 0). */
  lock_image_unlocked_groups: z.int().min(0).optional(),
  /** open_clip's --lock-text: freeze the whole text tower. */
  lock_text: z.boolean().optional(),
  device: deviceSchema.optional(),
  /** torch.compile both towers in place (compiled at their first call). */
  compile: z.boolean().optional(),
  /** Recompute the transformer blocks' activations in backward (text tower, and a ViT image tower). */
  grad_checkpointing: z.boolean().optional(),
});
export const clipCreateResultSchema = z.strictObject({
  model: modelHandleSchema,
  config: z.string(),
  embed_dim: z.int().min(1),
  image_size: z.int().min(1),
  context_length: z.int().min(1),
  vocab_size: z.int().min(1),
  activation: z.enum(CLIP_ACTIVATIONS),
  tokenizer: z.enum(TOKENIZERS),
  parameters: z.int().min(0),
  trainable_parameters: z.int().min(0),
  device: z.string(),
  checkpoint_loaded: z.int().min(0).optional(),
});
export const clipTrainRequestSchema = z.strictObject({
  ...batchPlanFields,
  /** temperature: fixed instead of the learnable logit scale; xsample: graph "captions" (default) or "labels" of `attribute`. */
  loss: z.strictObject({
    name: z.enum(["clip", "xsample"]),
    /** Used as it is; the worker refuses 0 (no logarithm). */
    temperature: z.number().min(0).optional(),
    target_temperature: z.number().min(0).optional(),
    graph: z.enum(["captions", "labels"]).optional(),
    attribute: z.string().optional(),
  }),
  seed: z.int().min(0),
  first_step: z.int().min(0).optional(),
  precision: precisionSchema.optional(),
  progress_every: z.int().min(1).optional(),
});
export const clipTrainResultSchema = trainResultSchema.extend({
  truncated_captions: z.int().min(0),
  /** exp of the logit scale the last step's loss used (the learnable one is clamped to [0, ln 100] after every step). */
  logit_scale: z.number().min(0),
});
export const clipEmbedTextRequestSchema = z.strictObject({
  model: modelHandleSchema,
  dataset: datasetHandleSchema,
  batch_size: z.int().min(1).optional(),
  normalize: z.boolean().optional(),
});
export const clipEmbedTextResultSchema = z.strictObject({
  embedding: embeddingHandleSchema,
  shape: rowsByWidth,
  dtype: z.enum(["float32"]),
  truncated_captions: z.int().min(0),
});
/** One model, or the stage models of an MCL run integrated (both towers concatenated). */
const integratedModels = {
  models: z.array(modelHandleSchema).min(1),
  weights: z.array(z.number().min(0)).min(1).optional(),
  normalize: z.enum(["per-stage-l2", "concat-then-l2", "none"]).optional(),
};
export const clipZeroShotRequestSchema = z.strictObject({
  ...integratedModels,
  dataset: datasetHandleSchema,
  attributes: z.array(z.string()).min(1).optional(),
  /** For attributes the captions do not name, e.g. "a photo of a {}.". */
  template: z.string().optional(),
  batch_size: z.int().min(1).optional(),
  augment: augmentSchema.optional(),
});
export const clipZeroShotScoreSchema = z.strictObject({
  name: z.string(),
  accuracy: z.number().min(0).max(1),
  n: z.int().min(1),
  n_classes: z.int().min(1),
  prompts: z.enum(["captions", "template"]),
});
export const clipZeroShotResultSchema = z.strictObject({ attributes: z.array(clipZeroShotScoreSchema), truncated_captions: z.int().min(0) });
export const clipMmvpRequestSchema = z.strictObject({
  ...integratedModels,
  dataset: datasetHandleSchema,
  categories: z.array(z.string()).min(1).optional(),
  pairs_per_category: z.int().min(1).optional(),
  seed: z.int().min(0),
  batch_size: z.int().min(1).optional(),
  augment: augmentSchema.optional(),
});
export const pairScoreSchema = z.strictObject({ name: z.string(), score: z.number().min(0).max(1), pairs: z.int().min(1) });
export const pairBenchmarkResultSchema = z.strictObject({
  categories: z.array(pairScoreSchema),
  /** Mean of the category scores (NaN when none). */
  average: z.number(),
  /** Categories with no valid pair. */
  skipped: z.array(z.string()),
  truncated_captions: z.int().min(0),
});
export const clipMmvpVlmRequestSchema = z.strictObject({
  ...integratedModels,
  /** The benchmark folder: Questions.csv and "MLLM_VLM Images/". */
  path: z.string(),
  /** Before every statement; default "a photo of ". */
  prefix: z.string().optional(),
  batch_size: z.int().min(1).optional(),
  augment: augmentSchema.optional(),
});

export type HandleGetRequest = z.infer<typeof handleGetRequestSchema>;
export type HandleGetResult = z.infer<typeof handleGetResultSchema>;
export type HandlePutRequest = z.infer<typeof handlePutRequestSchema>;
export type HandlePutResult = z.infer<typeof handlePutResultSchema>;
export type HandleFreeRequest = z.infer<typeof handleFreeRequestSchema>;
export type HandleFreeResult = z.infer<typeof handleFreeResultSchema>;
export type HandleListRequest = z.infer<typeof handleListRequestSchema>;
export type HandleListResult = z.infer<typeof handleListResultSchema>;
export type DatasetOpenRequest = z.infer<typeof datasetOpenRequestSchema>;
export type DatasetOpenResult = z.infer<typeof datasetOpenResultSchema>;
export type AttributeInfo = z.infer<typeof attributeInfoSchema>;
export type ModelCreateRequest = z.infer<typeof modelCreateRequestSchema>;
export type ModelCreateResult = z.infer<typeof modelCreateResultSchema>;
export type OptimizerCreateRequest = z.infer<typeof optimizerCreateRequestSchema>;
export type OptimizerCreateResult = z.infer<typeof optimizerCreateResultSchema>;
export type AugmentOptions = z.infer<typeof augmentSchema>;
export type TrainRequest = z.infer<typeof trainRequestSchema>;
export type TrainResult = z.infer<typeof trainResultSchema>;
export type TrainProgress = z.infer<typeof trainProgressSchema>;
export type EmbedRequest = z.infer<typeof embedRequestSchema>;
export type EmbeddingResult = z.infer<typeof embeddingResultSchema>;
export type IntegrateRequest = z.infer<typeof integrateRequestSchema>;
export type KMeansRequest = z.infer<typeof kmeansRequestSchema>;
export type KMeansWireResult = z.infer<typeof kmeansResultSchema>;
export type ProbeRequest = z.infer<typeof probeRequestSchema>;
export type ProbeScore = z.infer<typeof probeScoreSchema>;
export type ProbeResult = z.infer<typeof probeResultSchema>;
export type CheckpointSaveRequest = z.infer<typeof checkpointSaveRequestSchema>;
export type CheckpointSaveResult = z.infer<typeof checkpointSaveResultSchema>;
export type CheckpointSaveProgress = z.infer<typeof checkpointSaveProgressSchema>;
export type CheckpointLoadRequest = z.infer<typeof checkpointLoadRequestSchema>;
export type CheckpointLoadResult = z.infer<typeof checkpointLoadResultSchema>;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export type ExportRequest = z.infer<typeof exportRequestSchema>;
export type ExportedEncoderInfo = z.infer<typeof exportedEncoderSchema>;
export type ExportJobResult = z.infer<typeof exportResultSchema>;
export type ClipCreateRequest = z.infer<typeof clipCreateRequestSchema>;
export type ClipCreateResult = z.infer<typeof clipCreateResultSchema>;
export type ClipTrainRequest = z.infer<typeof clipTrainRequestSchema>;
export type ClipTrainResult = z.infer<typeof clipTrainResultSchema>;
export type ClipEmbedTextRequest = z.infer<typeof clipEmbedTextRequestSchema>;
export type ClipEmbedTextResult = z.infer<typeof clipEmbedTextResultSchema>;
export type ClipZeroShotRequest = z.infer<typeof clipZeroShotRequestSchema>;
export type ClipZeroShotResult = z.infer<typeof clipZeroShotResultSchema>;
export type ClipMmvpRequest = z.infer<typeof clipMmvpRequestSchema>;
export type ClipMmvpVlmRequest = z.infer<typeof clipMmvpVlmRequestSchema>;
export type PairBenchmarkResult = z.infer<typeof pairBenchmarkResultSchema>;

/** The compute jobs of protocol.json "jobs", by type, in its order. */
export const computeJobSchemas = {
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
  "clip.train": { request: clipTrainRequestSchema, result: clipTrainResultSchema, progress: trainProgressSchema },
  "clip.embed_text": { request: clipEmbedTextRequestSchema, result: clipEmbedTextResultSchema, progress: null },
  "clip.zero_shot": { request: clipZeroShotRequestSchema, result: clipZeroShotResultSchema, progress: null },
  "clip.mmvp": { request: clipMmvpRequestSchema, result: pairBenchmarkResultSchema, progress: null },
  "clip.mmvp_vlm": { request: clipMmvpVlmRequestSchema, result: pairBenchmarkResultSchema, progress: null },
} as const satisfies { readonly [type: string]: JobSchemas };

export type ComputeJobType = keyof typeof computeJobSchemas;

declare module "../transport/job-types.js" {
  interface JobTypes {
    "handle.get": { request: HandleGetRequest; result: HandleGetResult; progress: never };
    "handle.put": { request: HandlePutRequest; result: HandlePutResult; progress: never };
    "handle.free": { request: HandleFreeRequest; result: HandleFreeResult; progress: never };
    "handle.list": { request: HandleListRequest; result: HandleListResult; progress: never };
    "dataset.open": { request: DatasetOpenRequest; result: DatasetOpenResult; progress: never };
    "model.create": { request: ModelCreateRequest; result: ModelCreateResult; progress: never };
    "optimizer.create": { request: OptimizerCreateRequest; result: OptimizerCreateResult; progress: never };
    train: { request: TrainRequest; result: TrainResult; progress: TrainProgress };
    embed: { request: EmbedRequest; result: EmbeddingResult; progress: never };
    integrate: { request: IntegrateRequest; result: EmbeddingResult; progress: never };
    kmeans: { request: KMeansRequest; result: KMeansWireResult; progress: never };
    probe: { request: ProbeRequest; result: ProbeResult; progress: never };
    "checkpoint.save": { request: CheckpointSaveRequest; result: CheckpointSaveResult; progress: CheckpointSaveProgress };
    "checkpoint.load": { request: CheckpointLoadRequest; result: CheckpointLoadResult; progress: never };
    export: { request: ExportRequest; result: ExportJobResult; progress: never };
    "clip.create": { request: ClipCreateRequest; result: ClipCreateResult; progress: never };
    "clip.train": { request: ClipTrainRequest; result: ClipTrainResult; progress: TrainProgress };
    "clip.embed_text": { request: ClipEmbedTextRequest; result: ClipEmbedTextResult; progress: never };
    "clip.zero_shot": { request: ClipZeroShotRequest; result: ClipZeroShotResult; progress: never };
    "clip.mmvp": { request: ClipMmvpRequest; result: PairBenchmarkResult; progress: never };
    "clip.mmvp_vlm": { request: ClipMmvpVlmRequest; result: PairBenchmarkResult; progress: never };
  }
}
