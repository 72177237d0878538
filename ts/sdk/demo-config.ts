/**
 * The demo's config (`npm run demo`, `mcl demo`): 3-stage MCL on synthetic:trifeature with the
 * small CNN on the CPU, beside a single-stage baseline trained for the same total epochs.
 *
 * The dataset's default design (8 foreground hues × 16 backgrounds, discrete: see
 * py/mcl_worker/data/trifeature.py) makes stage 1 suppress shape and texture and lets MCL's
 * single-cluster batches recover them. Measured with this config on a quiet 2-core machine
 * (`node dist/ts/cli/main.js run cfg.json` with this config as JSON; linear probe, held-out split
 * of ~410 samples, so each figure is about ±2.5 points):
 *
 *   seed 0                shape   color  texture  background
 *   stage 1               33.7%  100.0%    38.8%      100.0%
 *   stage 2               40.0%  100.0%    59.8%       99.8%
 *   stage 3               44.4%  100.0%    77.6%       99.3%
 *   integrated            52.7%  100.0%    83.7%      100.0%
 *   baseline (14 epochs)  45.1%  100.0%    63.7%      100.0%      180 s in all
 *
 *   seed 1: stage 1 shape 32.9% / texture 33.9%, integrated 45.6% / 79.3%, baseline 39.0% / 66.3%; 172 s
 *
 * So the integrated representation beats the equal-compute baseline on both suppressed attributes
 * and gains +45 points on texture with either seed, but on shape +19.0 with seed 0 and only
 * +12.7 with seed 1, short of the +15 the demo promises: NOT robust across seeds. Epochs [2, 4, 4]
 * gave +17.0 and +10.5 on shape; shape is the slowest feature to learn. Re-measured with dataset
 * and run seed 1 (2 torch threads, a heavily loaded machine; the thread count alone moves a probe
 * by a point or two): shape 33.7 → 47.9 (+14.2, baseline 41.3), texture 41.8 → 82.6 (baseline 68.7).
 *
 * Under merge-to-parent a quarter of the samples sit out every stage-2/3 epoch (the remainders of
 * stage-1 clusters that cannot fill a batch), and stage 3 trains on stage-1 clusters again: 38 of
 * the 44 composite groups after stage 2 are smaller than a batch and merge into their parent.
 * Tried instead: `smallGroups: "shrink", minBatchSize: 16` (every sample but ~5 % trains, stage 3
 * on its own groups), seeds 0/1/2, 1 torch thread, no baseline in the run:
 *   shape   35.4 → 49.3 (+13.9)   35.0 → 42.5 (+7.5)   39.3 → 45.4 (+6.1)
 *   texture 35.6 → 84.9 (+49.3)   42.1 → 83.6 (+41.5)  34.9 → 85.1 (+50.2)
 * and a single stage of 14 epochs on seed 2 reached shape 47.6 / texture 71.5. Texture gains more,
 * shape less: the bottleneck is not which samples are negatives; shape is slow to learn under
 * any schedule at this budget (stage 3 reaches 41–45 %, a 14-epoch single stage 41–48 %).
 *
 * Measured since (one run a seed through `node dist/ts/cli/main.js run`, this config changed in one
 * place, dataset and run seeds alike; shape: stage 1 → integrated (gain), baseline):
 *   change                         seed 1                      seed 2                      seed 0
 *   cropScale [0.5, 1]             35.2 → 45.7 (+10.5), 45.2   38.0 → 53.9 (+15.9), 48.0   41.5 → 54.9 (+13.4), 47.3
 *   4 stages, epochs [2, 4, 4, 4]  33.7 → 46.7 (+13.0), 41.3
 *   clusters 4                     33.7 → 46.5 (+12.8), 41.3
 *   n=4096, epochs [1, 4, 4]       37.5 → 54.8 (+17.3), 44.4   41.4 → 52.9 (+11.5), 44.7
 *   epochs [2, 10, 10] (240 s)     33.7 → 47.7 (+14.0), 43.3   35.6 → 51.0 (+15.4), 43.2
 * Texture gained +40 to +50 points and beat the baseline in every one of them. None makes shape's
 * +15 hold on every seed: the integrated representation tops out near 47–55 % on shape whatever
 * the schedule, so the gain depends on how much shape stage 1 already reads (34–41 % by seed).
 * Untried: a larger encoder (the small CNN's widths are fixed), larger or fewer-rotation shapes.
 *
 * Why these values: stage 1 needs only 2 epochs to learn colour (what its clustering needs);
 * the later stages get the epochs, and temperature 0.1 weighs the hard same-cluster negatives
 * more (0.2 with 3 epochs everywhere: shape only +9 points). K = 8 with batch 128 keeps the
 * stage-1 clusters (~256 samples) at two batches each.
 */

import type { MclConfigInput } from "../config/mcl-config.js";

export const DEMO_CONFIG = {
  name: "demo",
  runDir: "runs",
  dataset: "synthetic:trifeature?n=2048&size=32&seed=0",
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
