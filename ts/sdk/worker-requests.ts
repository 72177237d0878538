/**
 * The run config in the worker's terms: augmentation, loss, optimizer and model requests.
 * Config values the worker cannot carry out yet are refused before any work starts
 * (`unsupportedFields`), never silently ignored.
 */

import type { MclConfig } from "../config/mcl-config.js";
import type { AugmentOptions, ModelCreateRequest, TrainRequest } from "../worker/index.js";
import { MclError } from "./errors.js";

/** `field: why` for every config value this version cannot run. */
export function unsupportedFields(config: MclConfig): string[] {
  const problems: string[] = [];
  if (config.loss.name === "supcon") {
    problems.push("loss.name: supcon needs labels, which the worker's train job does not take yet; use nt-xent or dcl");
  }
  if (config.optimizer.warmupSteps > 0) {
    problems.push("optimizer.warmupSteps: the worker's train job has no learning-rate warm-up yet; set it to 0");
  }
  return problems;
}

export function requireSupported(config: MclConfig): void {
  const problems = unsupportedFields(config);
  if (problems.length > 0) {
    throw new MclError("NOT_IMPLEMENTED", `the config asks for what this version cannot run:\n  ${problems.join("\n  ")}`);
  }
}

/**
 * The worker's augmentation from the config. Colour jitter of strength s follows SimCLR:
 * brightness, contrast and saturation 0.8 s, hue 0.2 s, applied with probability 0.8.
 */
export function augmentOf(config: MclConfig, imageSize: number): AugmentOptions {
  const { cropScale, flip, jitter, grayscale, blur } = config.augmentation;
  const strength = 0.8 * jitter;
  return {
    size: imageSize,
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
  if (config.loss.name === "supcon") throw new MclError("NOT_IMPLEMENTED", "loss.name: supcon is not implemented by the worker");
  const { name, temperature, args } = config.loss;
  return { name, temperature, ...(args === undefined ? {} : { args }) };
}

/** The model.create request of a fresh (or pretrained) encoder; the seed gives its initial weights. */
export function modelRequest(config: MclConfig, imageSize: number, seed: number, pretrained: string | null): ModelCreateRequest {
  return {
    arch: config.encoder,
    ...(config.encoderArgs === undefined ? {} : { args: config.encoderArgs }),
    image_size: imageSize,
    seed,
    ...(pretrained === null ? {} : { pretrained }),
  };
}
