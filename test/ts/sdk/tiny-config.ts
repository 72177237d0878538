import type { MclConfigInput } from "../../../ts/index.js";

/** 2 stages of 1 epoch on 256 images of 16×16: seconds on a CPU. */
export function tinyConfig(runDir: string, name: string, overrides: Partial<MclConfigInput> = {}): MclConfigInput {
  return {
    name,
    runDir,
    dataset: "synthetic:trifeature?n=256&size=16&seed=1",
    encoder: "small-cnn",
    stages: 2,
    clusters: 4,
    epochsPerStage: 1,
    batchSize: 32,
    augmentation: { jitter: 0, grayscale: 0 },
    probe: { knn: 5 },
    ...overrides,
  };
}
