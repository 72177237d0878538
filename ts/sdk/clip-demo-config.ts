/**
 * The CLIP demo's config (`npm run demo:clip`, `mcl demo clip`): the CLIP recipe (docs/clip.md) in
 * miniature on the CPU. A tiny CLIP (clip-tiny: 2-layer ViT and text transformer, width 64)
 * learns synthetic:trifeature's captions ("a red striped circle on a dark blue background") for
 * 6 epochs; that model is stage 0. Its image embeddings are clustered, and 3 MCL stages on
 * single-cluster batches follow, each fine-tuned from the previous stage's weights; the
 * integrated model concatenates both towers of stages 0…3. A single-stage fine-tune from stage 0
 * for the same total epochs is the baseline. Every representation is scored by zero-shot
 * classification per attribute and by MMVP-style pairs (two images that differ in one attribute,
 * each with its caption) per category.
 *
 * The data are drawn so that each feature can be learned and the easy ones hide the others:
 * shapes upright at the image's centre (a 2-block ViT does not learn shape wherever it lies), and
 * crops of 90–100 % of the image (open_clip's) that keep it there; captions name the background
 * as well as the object, so colour and background nearly identify a caption within a batch of 32
 * and ordinary training learns little shape or texture. docs/clip.md, "The CLIP demo", gives the
 * results and every variant measured on the way, those where MCL did not help included.
 */

import type { MclConfigInput } from "../config/mcl-config.js";

export const CLIP_DEMO_CONFIG = {
  name: "demo-clip",
  runDir: "runs",
  dataset: "synthetic:trifeature?n=1024&size=32&seed=0&rotation=0&position=0&scene=1",
  encoder: "clip-tiny",
  clip: {
    tokenizer: { kind: "words" },
    stage0Epochs: 6,
    stageInit: "previous",
    loss: { name: "clip" },
    evaluation: { mmvpPairsPerCategory: 100 },
  },
  stages: 3,
  clusters: 4,
  epochsPerStage: 8,
  batchSize: 32,
  sampling: { policy: "mcl", smallGroups: "merge-to-parent" },
  optimizer: { name: "adamw", lr: 1e-3, weightDecay: 1e-4 },
  // Crop and flip keep every attribute the captions name (colour, shape, texture, background).
  augmentation: { cropScale: [0.9, 1], flip: true, jitter: 0, grayscale: 0 },
  integration: { normalize: "per-stage-l2" },
  baseline: true,
  probe: { attributes: "all", knn: 20 },
  seed: 0,
} as const satisfies MclConfigInput;
