/**
 * The demo's config (`npm run demo`, `mcl demo`): 3-stage MCL on synthetic:trifeature with the
 * small CNN on the CPU, beside a single-stage baseline trained for the same total epochs.
 *
 * The dataset's colour design (8 foreground hues × 16 backgrounds, discrete: see
 * py/mcl_worker/data/trifeature.py) makes stage 1 learn colour and suppress shape and texture, and
 * lets MCL's single-cluster batches recover them. The demo draws its shapes upright
 * (`rotation=0`). Measured through the SDK (`npm run bench:quality`, which runs this config with
 * data and run seeds 0, 1, 2; linear probe, held-out split of ~410 samples, so each figure is
 * about ±2.5 points), shape / texture:
 *
 *                         seed 0           seed 1           seed 2
 *   stage 1               50.7 / 30.2      51.1 / 38.6      46.1 / 35.9
 *   integrated            74.9 / 79.3      70.7 / 86.1      73.4 / 84.1
 *   gain                 +24.2 / +49.0    +19.6 / +47.4    +27.3 / +48.3
 *   baseline (14 epochs)  68.0 / 52.2      60.6 / 74.1      61.0 / 62.9
 *
 * (gains from the unrounded accuracies). Colour 100 % everywhere; background: the integrated
 * representation at most 0.2 points below stage 1. 177–196 s a run on the quiet 2-core machine.
 * Seeds 3 and 4 (one `mcl run` each of this config with both seeds changed): shape 48.0 → 72.0
 * and 44.3 → 75.6 (baselines 53.2, 60.1), texture 36.2 → 83.9 and 36.7 → 84.1 (baselines 66.0,
 * 61.1), background at most 0.5 points below stage 1.
 *
 * Why upright: with the dataset's default (any rotation) shape is hard to learn at all from 2048
 * images of 32 px. The small CNN trained supervised on shape alone (seed-1 data, 80/20 split,
 * 8 epochs of AdamW, no augmentation) peaked at 65 % held out with any rotation, 98 % upright;
 * MCL's integrated representation topped out at 47–55 %, so its gain over stage 1 (34–41 %) was
 * +11 to +19 by seed and missed the +15 on two seeds of three. Nothing else we tried made it
 * hold (each a single change, seeds 1/2 unless noted): crop scale [0.5, 1] (+10.5, +15.9, +13.4
 * with seed 0), a fourth stage (+13.0), K = 4 (+12.8), n = 4096 (+17.3, +11.5), epochs
 * [2, 10, 10] (+14.0, +15.4), the `shrink` small-group policy (+13.9/+7.5/+6.1, seeds 0–2),
 * fainter texture marks (shape +14.2 but texture only +18.3), marks that lighten instead of
 * darken (+13.2); the last two were experimental renderer options, not kept. Texture gained +40
 * to +50 with every other one.
 *
 * Why these values: stage 1 needs only 2 epochs to learn colour (what its clustering needs);
 * the later stages get the epochs, and temperature 0.1 weighs the hard same-cluster negatives
 * more (0.2 with 3 epochs everywhere: shape only +9 points, with any rotation). K = 8 with
 * batch 128 keeps the stage-1 clusters (~256 samples) at two batches each. Under merge-to-parent
 * a quarter of the samples sit out every stage-2/3 epoch (remainders of stage-1 clusters that
 * cannot fill a batch).
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
  sampling: { policy: "mcl", smallGroups: "merge-to-parent" },
  loss: { name: "nt-xent", temperature: 0.1 },
  optimizer: { name: "adamw", lr: 1e-3, weightDecay: 1e-4 },
  // Crop and flip keep each instance's colour: colour stays the easy, suppressing feature.
  augmentation: { cropScale: [0.2, 1], flip: true, jitter: 0, grayscale: 0 },
  integration: { normalize: "per-stage-l2" },
  baseline: true,
  probe: { attributes: "all", knn: 20 },
  seed: 0,
} as const satisfies MclConfigInput;
