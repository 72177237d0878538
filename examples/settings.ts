/**
 * The knobs every example shares, so that a test (or a quick look) runs them on tiny settings:
 *
 *   node dist/examples/quick-start.js --samples 256 --size 16 --epochs 1 --stages 2
 *   MCL_EXAMPLE_SAMPLES=256 MCL_EXAMPLE_SIZE=16 MCL_EXAMPLE_EPOCHS=1 MCL_EXAMPLE_STAGES=2 node dist/examples/notebook.js
 *
 * Arguments win over the environment, which wins over the defaults: settings worth a user's
 * minutes (2048 trifeature images of 32x32 pixels, 3 stages of 3 epochs).
 */

import { parseArgs } from "node:util";

export interface ExampleSettings {
  /** Images of synthetic:trifeature. */
  readonly samples: number;
  /** Their side in pixels. */
  readonly size: number;
  /** Epochs of every stage. */
  readonly epochs: number;
  /** MCL stages (the sweep takes its own list). */
  readonly stages: number;
  /** Where the runs go (each example names its own runs inside). */
  readonly runDir: string;
}

export const DEFAULT_SETTINGS: ExampleSettings = { samples: 2048, size: 32, epochs: 3, stages: 3, runDir: "runs" };

const ENV = {
  samples: "MCL_EXAMPLE_SAMPLES",
  size: "MCL_EXAMPLE_SIZE",
  epochs: "MCL_EXAMPLE_EPOCHS",
  stages: "MCL_EXAMPLE_STAGES",
  runDir: "MCL_EXAMPLE_RUN_DIR",
} as const;

/** The command-line options of the settings, for node:util parseArgs. */
export const SETTINGS_OPTIONS = {
  samples: { type: "string" },
  size: { type: "string" },
  epochs: { type: "string" },
  stages: { type: "string" },
  "run-dir": { type: "string" },
} as const;

type SettingsValues = { readonly [K in keyof typeof SETTINGS_OPTIONS]?: string | boolean | undefined };

/** Settings from `--samples N --size N --epochs N --stages N --run-dir DIR`, then the MCL_EXAMPLE_* variables. */
export function exampleSettings(args: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): ExampleSettings {
  return settingsFrom(parseArgs({ args: [...args], options: SETTINGS_OPTIONS, strict: true }).values, env);
}

/** Settings from parsed options (a script that adds options of its own), then the environment. */
export function settingsFrom(values: SettingsValues, env: NodeJS.ProcessEnv = process.env): ExampleSettings {
  return {
    samples: count("--samples", values.samples ?? env[ENV.samples], DEFAULT_SETTINGS.samples),
    size: count("--size", values.size ?? env[ENV.size], DEFAULT_SETTINGS.size),
    epochs: count("--epochs", values.epochs ?? env[ENV.epochs], DEFAULT_SETTINGS.epochs),
    stages: count("--stages", values.stages ?? env[ENV.stages], DEFAULT_SETTINGS.stages),
    runDir: String(values["run-dir"] ?? env[ENV.runDir] ?? DEFAULT_SETTINGS.runDir),
  };
}

/** The trifeature dataset URI of these settings. */
export function datasetUri(settings: Pick<ExampleSettings, "samples" | "size">, seed = 0): string {
  return `synthetic:trifeature?n=${settings.samples}&size=${settings.size}&seed=${seed}`;
}

/** A batch size that gives every epoch at least 8 steps (128 at the default settings). */
export function batchSize(settings: Pick<ExampleSettings, "samples">): number {
  return Math.max(8, Math.min(128, Math.floor(settings.samples / 8)));
}

function count(name: string, text: string | boolean | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`${name}: expected an integer >= 1, got ${JSON.stringify(text)}`);
  return value;
}
