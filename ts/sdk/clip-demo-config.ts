/**
 * The CLIP demo's config (`npm run demo:clip`, `mcl demo clip`): the CLIP recipe (docs/clip.md) in
 * miniature on the CPU. A tiny CLIP (clip-tiny: 2-layer ViT and text transformer, width 64)
 * learns synthetic:trifeature's captions ("a red striped circle") for a few epochs; that model is
 * stage 0. Its image embeddings are clustered, and 3 MCL stages, each fine-tuned from stage 0's
 * weights on single-cluster batches, follow; the integrated model concatenates both towers of
 * stages 0…3. A single-stage fine-tune from stage 0 for the same total epochs is the baseline.
 * Every representation is scored by zero-shot classification per attribute and by MMVP-style
 * pairs (two images that differ in one attribute, each with its caption) per category.
 *
 * Nothing here is tuned to make MCL look good: whether it helps at this scale is what the run
 * measures (docs/clip.md, "The CLIP demo", gives its results).
 */

import type { MclConfigInput } from "../config/mcl-config.js";

export const CLIP_DEMO_CONFIG = {
  name: "demo-clip",
  runDir: "runs",
  dataset: "synthetic:trifeature?n=1024&size=32&seed=0",
  encoder: "clip-tiny",
  clip: {
    tokenizer: { kind: "words" },
    stage0Epochs: 3,
    stageInit: "initial",
    loss: { name: "clip" },
    evaluation: { mmvpPairsPerCategory: 100 },
  },
  stages: 3,
  clusters: 4,
  epochsPerStage: 2,
  batchSize: 64,
  sampling: { policy: "mcl", smallGroups: "merge-to-parent" },
  optimizer: { name: "adamw", lr: 1e-3, weightDecay: 1e-4 },
  // Crop and flip keep every attribute the captions name (colour, shape, texture).
  augmentation: { cropScale: [0.5, 1], flip: true, jitter: 0, grayscale: 0 },
  integration: { normalize: "per-stage-l2" },
  baseline: true,
  probe: { attributes: "all", knn: 20 },
  seed: 0,
} as const satisfies MclConfigInput;
