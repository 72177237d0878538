/**
 * A run's events as metrics: the records of metrics.jsonl (one per train-progress, epoch and probe
 * event) and the TensorBoard scalars of each record.
 *
 * `step` is the track's global step: the steps its training has done since the track began
 * (epoch × steps per epoch + steps of the epoch). Stages are numbered as in the events and
 * summary.json (ts/run/track.ts: a CLIP run's from 0).
 */

import type { Accuracies } from "../run/summary.js";
import { type Track, trackName } from "../run/track.js";
import type { MclEvent, ProbeSubject } from "./events.js";

interface RecordBase {
  /** Wall-clock seconds since the Unix epoch when the event arrived. */
  readonly time: number;
}

export type MetricRecord =
  /** Progress within an epoch: the loss and learning rate of its last step, and the throughput since the previous record. */
  | (RecordBase & {
      readonly kind: "train";
      readonly stage: Track;
      readonly epoch: number;
      readonly step: number;
      readonly loss: number;
      readonly lr: number;
      readonly samplesPerSec: number;
    })
  /** A finished epoch: its mean loss and throughput, and the samples its plan left in and out. */
  | (RecordBase & {
      readonly kind: "epoch";
      readonly stage: Track;
      readonly epoch: number;
      /** null when no progress of the track arrived in this session (its steps per epoch are not known). */
      readonly step: number | null;
      readonly loss: number;
      readonly samplesPerSec: number;
      readonly seconds: number;
      readonly samples: number;
      readonly leftOut: number;
      readonly leftOutFraction: number;
    })
  /** Probe accuracies of a representation, per attribute. */
  | (RecordBase & {
      readonly kind: "probe";
      readonly stage: ProbeSubject;
      readonly epoch: null;
      readonly step: null;
      readonly linear: Accuracies;
      readonly knn?: Accuracies;
    });

export type MetricKind = MetricRecord["kind"];

/** Turns events into records, remembering each track's steps per epoch from its progress. */
export class MetricRecords {
  readonly #stepsPerEpoch = new Map<Track, number>();

  /** The record of `event` (null for an event that carries no metric). */
  of(event: MclEvent, time: number): MetricRecord | null {
    switch (event.type) {
      case "train-progress": {
        this.#stepsPerEpoch.set(event.stage, event.steps);
        const step = event.epoch * event.steps + event.step;
        const { stage, epoch, loss, lr, samplesPerSec } = event;
        return { time, kind: "train", stage, epoch, step, loss, lr, samplesPerSec };
      }
      case "epoch": {
        const steps = this.#stepsPerEpoch.get(event.stage);
        const { stage, epoch, loss, samplesPerSec, seconds, samples, leftOut, leftOutFraction } = event;
        const step = steps === undefined ? null : (epoch + 1) * steps;
        return { time, kind: "epoch", stage, epoch, step, loss, samplesPerSec, seconds, samples, leftOut, leftOutFraction };
      }
      case "probe": {
        const { linear, knn } = event.probe;
        return { time, kind: "probe", stage: event.stage, epoch: null, step: null, linear, ...(knn === undefined ? {} : { knn }) };
      }
      default:
        return null;
    }
  }
}

/** What makes a record unique in a run's log: a track's step, a track's epoch, a representation's probe. */
export function recordKey(record: {
  readonly kind: MetricKind;
  readonly stage: number | string;
  readonly epoch: number | null;
  readonly step: number | null;
}): string {
  const at = record.kind === "train" ? record.step : record.kind === "epoch" ? record.epoch : "";
  return `${record.kind}:${record.stage}:${at}`;
}

/** A record's TensorBoard scalars and their step, or null when it has none to plot. */
export interface ScalarPoint {
  readonly step: number;
  readonly scalars: readonly (readonly [tag: string, value: number])[];
}

/**
 * The scalars of `record`. Training scalars are under `stage-<s>/` or `baseline/` at the track's
 * global step. A stage's probe accuracies are `probe/<linear|knn>/<attribute>` at step = the stage,
 * a curve across stages; the integrated representation's and the baseline's are under
 * `integrated/probe/…` and `baseline/probe/…` at step = `lastStage`.
 */
export function scalarsOf(record: MetricRecord, lastStage: number): ScalarPoint | null {
  switch (record.kind) {
    case "train": {
      const track = trackName(record.stage);
      return {
        step: record.step,
        scalars: [
          [`${track}/train/loss`, record.loss],
          [`${track}/train/lr`, record.lr],
          [`${track}/train/samples_per_sec`, record.samplesPerSec],
        ],
      };
    }
    case "epoch": {
      if (record.step === null) return null;
      const track = trackName(record.stage);
      return {
        step: record.step,
        scalars: [
          [`${track}/epoch/loss`, record.loss],
          [`${track}/epoch/samples_per_sec`, record.samplesPerSec],
          [`${track}/epoch/left_out_fraction`, record.leftOutFraction],
        ],
      };
    }
    case "probe": {
      const prefix = typeof record.stage === "number" ? "probe" : `${record.stage}/probe`;
      const scalars: [string, number][] = [];
      for (const [method, accuracies] of [["linear", record.linear], ["knn", record.knn]] as const) {
        for (const [attribute, accuracy] of Object.entries(accuracies ?? {})) scalars.push([`${prefix}/${method}/${attribute}`, accuracy]);
      }
      return { step: typeof record.stage === "number" ? record.stage : lastStage, scalars };
    }
  }
}
