import type { ExampleSettings } from "../../../examples/settings.js";

/** Tiny example settings: 128 images of 16x16, 2 stages of one epoch (seconds on a quiet CPU). */
export function tinySettings(runDir: string): ExampleSettings {
  return { samples: 128, size: 16, epochs: 1, stages: 2, runDir };
}
