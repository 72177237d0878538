/**
 * What an export of a finished run writes, decided from its manifest alone (before any worker
 * starts): the stages and their committed checkpoints, the integration, the format and the file.
 *
 *   stage N        one stage's encoder, N as the run's summary.json numbers it (a CLIP run from 0);
 *                  safetensors by default: its weights in the names of the peer library that loads them
 *   integrated     every stage the config integrates, with its weights and normalisation (the
 *                  default); TorchScript by default: one module from images to run.embed's output
 *
 * The default file is <runDir>/export/stage-<N>.safetensors, or integrated.pt (.safetensors,
 * .pt by format). A run that has not finished training is refused, naming where it stands.
 */

import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { type Normalization, resolveIntegrationSpec } from "../control/integration.js";
import type { RunManifest } from "../run/run-store.js";
import { type StageSchedule } from "../control/stage-scheduler.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import { firstStage, lastStage, schedulerStage, stageNumber } from "../run/track.js";
import type { MclConfig } from "../config/mcl-config.js";
import { EXPORT_FORMATS, type ExportFormat } from "../wire/index.js";
import { RunError } from "../run/errors.js";

export type { ExportFormat };

export interface ExportOptions {
  /** The stage to export, as summary.json numbers it (a CLIP run's stage 0 is its initial model); leave out for the integrated encoder. */
  readonly stage?: number | undefined;
  /** The integrated encoder (the default when no stage is given). */
  readonly integrated?: boolean | undefined;
  /** Default: safetensors for a stage, torchscript for the integrated encoder. */
  readonly format?: ExportFormat | undefined;
  /** The file to write (a relative path resolves against the current directory); default under <runDir>/export/. */
  readonly out?: string | undefined;
}

/** One exported stage: its number (ts/run/track.ts), its index in the stage scheduler (1…S), and its checkpoint. */
export interface PlannedStage {
  readonly index: number;
  readonly stage: number;
  /** Run-relative, as the manifest commits it. */
  readonly checkpoint: string;
}

export interface ExportPlan {
  readonly kind: "stage" | "integrated";
  readonly stages: readonly PlannedStage[];
  readonly weights: readonly number[];
  readonly normalize: Normalization;
  readonly format: ExportFormat;
  /** Absolute. */
  readonly path: string;
}

/** What to export of the run in `dir`; RunError INVALID_INPUT naming the option, or INVALID_STATE for an unfinished run. */
export function planExport(dir: string, manifest: RunManifest, options: ExportOptions): ExportPlan {
  const schedule = scheduleFromConfig(manifest.config);
  const [first, last] = [firstStage(schedule), lastStage(schedule)];
  const { stage, format } = options;
  if (stage !== undefined && options.integrated === true) {
    throw new RunError("INVALID_INPUT", "stage: give a stage or integrated, not both");
  }
  if (stage !== undefined && (!Number.isInteger(stage) || stage < first || stage > last)) {
    throw new RunError("INVALID_INPUT", `stage: the run has stages ${first}…${last} (as its summary.json numbers them), got ${stage}`);
  }
  if (format !== undefined && !EXPORT_FORMATS.includes(format)) {
    throw new RunError("INVALID_INPUT", `format: expected ${EXPORT_FORMATS.join(" or ")}, got ${JSON.stringify(format)}`);
  }
  if (manifest.state.phase !== "done") throw new RunError("INVALID_STATE", unfinished(dir, manifest, schedule));
  const planned = (index: number): PlannedStage => ({ index, stage: stageNumber(schedule, index), checkpoint: manifest.state.checkpoints[index - 1]! });
  const kind = stage === undefined ? "integrated" : "stage";
  const chosen = format ?? (kind === "stage" ? "safetensors" : "torchscript");
  const file = `${kind === "stage" ? `stage-${stage}` : "integrated"}${chosen === "safetensors" ? ".safetensors" : ".pt"}`;
  const path = resolve(options.out ?? join(dir, "export", file));
  if (stage !== undefined) return { kind, stages: [planned(schedulerStage(schedule, stage))], weights: [1], normalize: "none", format: chosen, path };
  const spec = resolveIntegrationSpec(manifest.config.integration, schedule.stages, firstStage(schedule));
  return { kind, stages: spec.stages.map((number) => planned(schedulerStage(schedule, number))), weights: [...spec.weights], normalize: spec.normalize, format: chosen, path };
}

/** The SHA-256 of the run's config as canonical JSON (keys sorted), "sha256:<hex>": equal configs, equal hashes. */
export function configHash(config: MclConfig): string {
  return `sha256:${createHash("sha256").update(canonicalJson(config)).digest("hex")}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Where an unfinished run stands, what is left and how to finish it. */
function unfinished(dir: string, manifest: RunManifest, schedule: StageSchedule): string {
  const { stage, phase, epoch } = manifest.state;
  const at =
    phase === "baseline"
      ? `its stages are trained, the baseline has ${epoch} of ${schedule.baselineEpochs} epochs`
      : phase === "train"
        ? `stage ${stageNumber(schedule, stage)} of ${firstStage(schedule)}…${lastStage(schedule)} has ${epoch} of ${schedule.epochs[stage - 1]} epochs trained`
        : `stage ${stageNumber(schedule, stage)} is trained, its clustering (${phase}) is not done`;
  return (
    `${dir} has not finished training (manifest.json state.phase is "${phase}", not "done"): ${at}. ` +
    `An export takes the final weights of finished runs: finish it with \`mcl resume ${dir}\` (Mcl.resume), then export it`
  );
}
