/**
 * The demo's config (`npm run demo`, `mcl demo`): 3-stage MCL on synthetic:trifeature with the
 * small CNN on the CPU, beside a single-stage baseline trained for the same total epochs.
 *
 * The dataset's discrete colours (8 foreground hues × 16 backgrounds: py/mcl_worker/data/trifeature.py)
 * make stage 1 learn colour and suppress shape and texture; crop and flip without colour jitter keep
 * colour the easy feature. Shapes are drawn upright (`rotation=0`): at any angle, shape is hard to
 * learn from 2048 images of 32 px (docs/method.md, "The demo's data"). Stage 1 needs only 2
 * epochs to learn colour, which is all its clustering needs, so the later stages get the epochs;
 * temperature 0.1 weighs the hard same-cluster negatives more; K = 8 with batch 128 makes each
 * stage-1 cluster (~256 samples) two batches. bench/README.md has the figures this config gives.
 */

import type { MclConfigInput } from "../config/mcl-config.js";

export const DEMO_CONFIG = {
  name: "demo",
  runDir: "runs",
  dataset: "synthetic:trifeature?n=2048&size=32&seed=0&rotation=0",
  encoder: "small-cnn",
  stages: 3,
  clusters: 8,
  epochsPerStage: [2, 6, 6],
  batchSize: 128,
  init: "previous",
  loss: { name: "nt-xent", temperature: 0.1 },
  optimizer: { name: "adamw", lr: 1e-3, weightDecay: 1e-4 },
  // Crop and flip keep each instance's colour: colour stays the easy, suppressing feature.
  augmentation: { cropScale: [0.2, 1], flip: true, jitter: 0, grayscale: 0 },
  integration: { normalize: "per-stage-l2" },
  baseline: true,
  probe: { attributes: "all", knn: 20 },
  seed: 0,
} as const satisfies MclConfigInput;
