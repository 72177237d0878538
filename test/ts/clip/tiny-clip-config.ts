import type { MclConfigInput } from "../../../ts/index.js";

/**
 * clip-tiny on 64 captioned images of 32×32: stage 0 as initialised (0 epochs, as the recipe's
 * pretrained stage 0), then 2 MCL stages of 1 epoch, no baseline; seconds on an idle CPU.
 */
export function tinyClipConfig(runDir: string, name: string, overrides: Partial<MclConfigInput> = {}): MclConfigInput {
  return {
    name,
    runDir,
    dataset: "synthetic:trifeature?n=64&size=32&seed=1",
    encoder: "clip-tiny",
    clip: { evaluation: { mmvpPairsPerCategory: 8 } },
    stages: 2,
    clusters: 2,
    epochsPerStage: 1,
    batchSize: 16,
    augmentation: { jitter: 0, grayscale: 0 },
    baseline: false,
    // One attribute, no kNN: the probes (and zero-shot, which follows them) stay cheap.
    probe: { attributes: ["color"], knn: 0 },
    ...overrides,
  };
}
