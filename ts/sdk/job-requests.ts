/** The run config in the worker's terms: augmentation, loss, optimizer and model requests. */

import type { MclConfig } from "../config/mcl-config.js";
import type { Preprocess } from "../config/preprocess.js";
import type {
  AugmentOptions,
  LoaderOptions,
  ModelCreateRequest,
  ModelHandle,
  OptimizerCreateRequest,
  TrainRequest,
} from "../wire/index.js";

/**
 * The worker's augmentation from the config and the run's preprocessing (the run manifest's):
 * every job that transforms images sends it, so embedding sees what training saw. Colour
 * jitter of strength s follows SimCLR: brightness, contrast and saturation 0.8 s, hue 0.2 s,
 * applied with probability 0.8.
 */
export function augmentOf(config: MclConfig, imageSize: number, preprocess: Preprocess): AugmentOptions {
  const { cropScale, flip, jitter, grayscale, blur } = config.augmentation;
  const strength = 0.8 * jitter;
  return {
    size: imageSize,
    mean: [...preprocess.mean],
    std: [...preprocess.std],
    interpolation: preprocess.interpolation,
    ...(preprocess.cropPct === null ? {} : { crop_pct: preprocess.cropPct }),
    crop_scale: [cropScale[0], cropScale[1]],
    flip_p: flip ? 0.5 : 0,
    jitter_p: jitter > 0 ? 0.8 : 0,
    brightness: strength,
    contrast: strength,
    saturation: strength,
    hue: Math.min(0.5, 0.2 * jitter),
    grayscale_p: grayscale,
    blur_p: blur,
  };
}

export function lossOf(config: MclConfig): TrainRequest["loss"] {
  const { name, temperature, args, attribute } = config.loss;
  return { name, temperature, ...(args === undefined ? {} : { args }), ...(attribute === undefined ? {} : { attribute }) };
}

/**
 * The optimizer.create request of a stage (or the baseline) of `totalSteps` steps: the warm-up and
 * schedule run over that stage alone, from its step 0, whatever the stages before it did.
 */
export function optimizerRequest(config: MclConfig, model: ModelHandle, totalSteps: number): OptimizerCreateRequest {
  const { name, lr, weightDecay, momentum, warmupSteps, schedule } = config.optimizer;
  return {
    model,
    name,
    lr,
    weight_decay: weightDecay,
    ...(name === "sgd" ? { momentum } : {}),
    schedule: { name: schedule, warmup_steps: warmupSteps, total_steps: totalSteps },
  };
}

/** The model.create request of a fresh (or pretrained) encoder; the seed gives its initial weights. */
export function modelRequest(config: MclConfig, imageSize: number, seed: number, pretrained: string | null): ModelCreateRequest {
  return {
    arch: config.encoder,
    ...(config.encoderArgs === undefined ? {} : { args: config.encoderArgs }),
    image_size: imageSize,
    seed,
    ...(pretrained === null ? {} : { pretrained }),
    ...createOptionsOf(config),
    ...(config.compute.channelsLast ? { channels_last: true } : {}),
  };
}

/** The `data` of the jobs that load images; workers "auto" is left to the worker, which knows its CPUs and the dataset. */
export function loaderOptionsOf(config: MclConfig): LoaderOptions {
  const { workers, prefetch } = config.data;
  return workers === "auto" ? { prefetch } : { workers, prefetch };
}

/** The compute options of model.create and clip.create, those the worker's defaults leave out. */
export function createOptionsOf(config: MclConfig): Pick<ModelCreateRequest, "device" | "compile" | "grad_checkpointing"> {
  const { device, compile, gradCheckpointing } = config.compute;
  return {
    ...(device === "auto" ? {} : { device }),
    ...(compile ? { compile: true } : {}),
    ...(gradCheckpointing ? { grad_checkpointing: true } : {}),
  };
}
