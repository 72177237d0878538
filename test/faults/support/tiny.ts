// The tiny run every fault case starts from: 2 stages (1 and 2 epochs) on 128 images of 16×16,
// no baseline, no kNN probe: a few seconds on a CPU.
import type { MclConfigInput } from "../../../ts/index.js";
import { tinyConfig } from "../../ts/sdk/tiny-config.js";

export const TINY_EPOCHS = [1, 2] as const;

export function faultConfig(runDir: string, name: string, overrides: Partial<MclConfigInput> = {}): MclConfigInput {
  return tinyConfig(runDir, name, {
    dataset: "synthetic:trifeature?n=128&size=16&seed=1",
    epochsPerStage: [...TINY_EPOCHS],
    baseline: false,
    probe: { knn: 0 },
    ...overrides,
  });
}

/** Launch options that keep the worker's log out of the report and do not restart a killed worker. */
export const quietLaunch = { onOutput: (): void => {}, maxRestarts: 0 };
