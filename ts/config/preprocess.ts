/**
 * How images are prepared for the encoder: normalisation (mean, std), the resampling filter,
 * and the eval crop. Pretrained weights only see what they were trained to see, so each encoder
 * family with loaded weights has its weights' own preprocessing, resolved here by the control
 * plane and sent in every job that transforms images (mcl_worker.data.AugmentConfig):
 *
 *   CLIP (clip.checkpoint)               OpenAI's mean / std, bicubic, shorter side resized to
 *                                        the input size then centre-cropped (open_clip's preprocess)
 *   resnet18 / resnet50 (pretrained)     ImageNet's mean / std, bilinear, resize 256 crop 224
 *                                        (torchvision's IMAGENET1K_V1 weights' transforms)
 *   vit-* (pretrained)                   timm's ViT default: mean = std = 0.5, bicubic, crop 0.9
 *   anything else, or no weights         the worker's default: (x - 0.5) / 0.5, bilinear, the
 *                                        whole image resized to the input size
 *
 * The config's `preprocess` section overrides any field (e.g. ResNet-50's IMAGENET1K_V2 weights
 * were evaluated with cropPct 224 / 232; an encoder plugin's weights need theirs given).
 */

import { z } from "zod";
import { INTERPOLATIONS } from "../wire/index.js";
import { isClipEncoder } from "./clip-config.js";

export { INTERPOLATIONS };
export type Interpolation = (typeof INTERPOLATIONS)[number];

/** The resolved preprocessing of a run, as the run manifest and every checkpoint record it. */
export interface Preprocess {
  /** Per channel, or one value for every channel. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** The filter of every resample: the training crop and the eval resize. */
  readonly interpolation: Interpolation;
  /**
   * Eval: the shorter side is resized to floor(size / cropPct) and the centre size × size kept;
   * null resizes the whole image to size × size (the aspect ratio is not kept).
   */
  readonly cropPct: number | null;
}

/** The worker's default, kept for encoders trained from scratch. */
export const DEFAULT_PREPROCESS: Preprocess = { mean: [0.5], std: [0.5], interpolation: "bilinear", cropPct: null };
/** OpenAI CLIP's (open_clip's OPENAI_DATASET_MEAN / _STD and its eval image_transform). */
export const OPENAI_CLIP_PREPROCESS: Preprocess = {
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
  interpolation: "bicubic",
  cropPct: 1,
};
/** torchvision's ResNet IMAGENET1K_V1 weights' transforms: resize 256, centre crop 224. */
export const TORCHVISION_IMAGENET_PREPROCESS: Preprocess = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  interpolation: "bilinear",
  cropPct: 224 / 256,
};
/** timm's ViT default config (vision_transformer._cfg): Inception's mean and std, crop_pct 0.9. */
export const TIMM_VIT_PREPROCESS: Preprocess = {
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  interpolation: "bicubic",
  cropPct: 0.9,
};

const perChannel = (what: string, value: z.ZodNumber) =>
  z
    .array(value)
    .refine((values) => values.length === 1 || values.length === 3, {
      error: (issue) => {
        const count = Array.isArray(issue.input) ? issue.input.length : 0;
        return `expected 1 value (every channel) or 3 (R, G, B) ${what}, got ${count}`;
      },
    });

export const preprocessSchema = z.strictObject({
  mean: perChannel("means", z.number())
    .optional()
    .describe("Normalisation mean per channel, on the [0, 1] scale (default: the encoder's weights', see ts/config/preprocess.ts)"),
  std: perChannel("standard deviations", z.number().positive())
    .optional()
    .describe("Normalisation standard deviation per channel, on the [0, 1] scale (default: the encoder's weights')"),
  interpolation: z
    .enum(INTERPOLATIONS)
    .optional()
    .describe("Filter of the training crop's resample and the eval resize (default: the encoder's weights')"),
  cropPct: z
    .number()
    .gt(0)
    .max(1)
    .nullable()
    .optional()
    .describe(
      "Eval crop: the shorter side is resized to size / cropPct and the centre size x size kept (1: the whole shorter side); null resizes the whole image to size x size (default: the encoder's weights')",
    ),
});
export type PreprocessOptions = z.output<typeof preprocessSchema>;

/** The fields of a run config that decide its preprocessing. */
interface PreprocessedConfig {
  readonly encoder: string;
  readonly init: string;
  readonly pretrained?: string | undefined;
  readonly clip?: { readonly checkpoint?: string | undefined } | undefined;
  readonly preprocess?: PreprocessOptions | undefined;
}

/** The preprocessing the weights the run loads were trained with (DEFAULT_PREPROCESS without weights). */
export function encoderPreprocess(config: PreprocessedConfig): Preprocess {
  if (isClipEncoder(config.encoder)) return config.clip?.checkpoint === undefined ? DEFAULT_PREPROCESS : OPENAI_CLIP_PREPROCESS;
  // As the scheduler: init 'scratch' never loads `pretrained`.
  if (config.init === "scratch" || config.pretrained === undefined) return DEFAULT_PREPROCESS;
  if (config.encoder === "resnet18" || config.encoder === "resnet50") return TORCHVISION_IMAGENET_PREPROCESS;
  if (config.encoder.startsWith("vit-")) return TIMM_VIT_PREPROCESS;
  return DEFAULT_PREPROCESS;
}

/** The run's preprocessing: the encoder's weights' own, with every field the config sets in its place. */
export function preprocessOf(config: PreprocessedConfig): Preprocess {
  const base = encoderPreprocess(config);
  const set = config.preprocess ?? {};
  return {
    mean: set.mean ?? base.mean,
    std: set.std ?? base.std,
    interpolation: set.interpolation ?? base.interpolation,
    cropPct: set.cropPct === undefined ? base.cropPct : set.cropPct,
  };
}

/**
 * `preprocess.<field>: why` for a mean or std that cannot apply to images of `channels` channels
 * (3 values for 1-channel images); `preprocess` is what preprocessOf resolved from `config`.
 */
export function preprocessProblems(preprocess: Preprocess, channels: number, config: PreprocessedConfig): string[] {
  const problems: string[] = [];
  for (const field of ["mean", "std"] as const) {
    const count = preprocess[field].length;
    if (count === 1 || count === channels) continue;
    const source = config.preprocess?.[field] === undefined ? ` (the default of encoder ${config.encoder} with its weights)` : "";
    const fix = channels === 1 ? "1 value" : `1 value or ${channels}`;
    problems.push(`preprocess.${field}: ${count} values${source} for a dataset of ${channels} channel${channels === 1 ? "" : "s"}; set it to ${fix}`);
  }
  return problems;
}

/** The manifest's record of a Preprocess. */
export const preprocessRecordSchema = z.strictObject({
  mean: z.array(z.number()).min(1),
  std: z.array(z.number().positive()).min(1),
  interpolation: z.enum(INTERPOLATIONS),
  cropPct: z.number().gt(0).max(1).nullable(),
});
