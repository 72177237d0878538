/**
 * What a run reports while it goes: a typed discriminated union, and the log that holds it.
 *
 * The log keeps every event of the session (unbounded: a run emits a handful per epoch, the
 * train progress of an epoch is capped at PROGRESS_PER_EPOCH messages), so that every
 * `events()` iterator, however late it starts, sees the whole session from the first event.
 *
 * Every `stage` is a stage number as summary.json, the run files and the CLI give it
 * (ts/run/track.ts): a CLIP run's initial model is stage 0, its MCL stages 1…S.
 */

import type { GroupStats } from "../control/cluster-book.js";
import type { Summary, ProbeScores } from "../run/summary.js";
import type { Track } from "../run/track.js";

/** Where a probe's embedding came from: a stage (its number), the integrated representation or the baseline. */
export type ProbeSubject = number | "integrated" | "baseline";

/** Train progress messages asked of the worker per epoch (about). */
export const PROGRESS_PER_EPOCH = 20;

export type MclEvent =
  /** The run is open: a new run, or a resumed one at `phase`. */
  | { readonly type: "run-start"; readonly runDir: string; readonly resumed: boolean; readonly numSamples: number; readonly device: string }
  /** Training of a stage (or the baseline) begins; `fromEpoch` > 0 when resumed mid-stage. */
  | { readonly type: "stage-start"; readonly stage: Track; readonly epochs: number; readonly fromEpoch: number }
  /** Steps done within the current epoch. */
  | {
      readonly type: "train-progress";
      readonly stage: Track;
      /** 0-based epoch. */
      readonly epoch: number;
      readonly step: number;
      readonly steps: number;
      readonly loss: number;
      /** Learning rate of that step (the stage's warm-up and schedule). */
      readonly lr: number;
      readonly samplesPerSec: number;
    }
  /** An epoch finished and its checkpoint is written. */
  | {
      readonly type: "epoch";
      readonly stage: Track;
      /** 0-based epoch. */
      readonly epoch: number;
      readonly epochs: number;
      /** Mean loss over the epoch's steps. */
      readonly loss: number;
      readonly samplesPerSec: number;
      readonly seconds: number;
      /** Samples in the epoch's plan (what the sampling policy left in). */
      readonly samples: number;
      /** Samples of the dataset the epoch's plan left out (the same every epoch of a stage: ts/sdk/left-out.ts). */
      readonly leftOut: number;
      /** leftOut over the dataset's samples. */
      readonly leftOutFraction: number;
    }
  /** A stage's (or the baseline's) training is complete. */
  | { readonly type: "stage-end"; readonly stage: Track }
  /** Every sample was embedded with a stage's encoder (or the baseline's). */
  | { readonly type: "embed"; readonly stage: Track; readonly rows: number; readonly dim: number; readonly seconds: number }
  /** k-means after a stage, and the composite groups the next stage samples from. */
  | {
      readonly type: "cluster";
      readonly stage: number;
      readonly k: number;
      readonly stats: ClusterStats;
    }
  /** Per-attribute probe accuracies of a representation. */
  | { readonly type: "probe"; readonly stage: ProbeSubject; readonly probe: ProbeScores }
  /** The run finished; summary.json is written. */
  | { readonly type: "done"; readonly summary: Summary }
  /**
   * stop() was called: the run stopped at a consistent, resumable point; `resumable` is false when
   * it stopped before it was written to its directory (nothing to resume: start it again).
   */
  | { readonly type: "stopped"; readonly runDir: string; readonly resumable: boolean }
  /** The run paused after `stage`'s clustering, as RunOptions.pauseAfterStage asked; Mcl.resume continues it. */
  | { readonly type: "paused"; readonly runDir: string; readonly stage: number }
  /** The run failed; it can be resumed from its last committed state. */
  | { readonly type: "error"; readonly error: { readonly code: string; readonly message: string } }
  /**
   * A resumed run removed the temporary files that writes interrupted by a killed process had left
   * in its directory (`files`, run-relative); nothing committed was touched.
   */
  | { readonly type: "temp-files-removed"; readonly runDir: string; readonly files: readonly string[] }
  /** Something the run goes on through but a person should know of; `message` says what to do. */
  | { readonly type: "warning"; readonly stage: Track; readonly code: WarningCode; readonly message: string };

/**
 * KMEANS_EMPTY_CLUSTERS: k-means left clusters without a sample, because the stage's embedding
 * has fewer distinct rows than k (e.g. a collapsed encoder); the next stage has fewer groups.
 * CHECKPOINT_DAMAGED: a resumed run found a checkpoint that differs from its recorded checksum;
 * the run went back to the newest intact checkpoint of that track (or its start) and retrains from there.
 * SAMPLES_LEFT_OUT: every epoch of the stage (or the baseline) leaves out more than
 * LEFT_OUT_WARNING_FRACTION of the samples under the small-group policy (ts/sdk/left-out.ts).
 * WANDB_LOST: the W&B sidecar of logging.wandb exited during the run, or did not finish in time at
 * its end; the run goes on and its own files are complete, only W&B misses what followed.
 */
export type WarningCode = "KMEANS_EMPTY_CLUSTERS" | "CHECKPOINT_DAMAGED" | "SAMPLES_LEFT_OUT" | "WANDB_LOST";

export interface ClusterStats {
  /** k-means objective and convergence, and its clusters left without a sample (null when the clustering was done in an earlier session). */
  readonly kmeans: { readonly inertia: number; readonly iterations: number; readonly converged: boolean; readonly emptyClusters: number } | null;
  /** Composite groups after this stage (the intersection of every clustering so far). */
  readonly groups: GroupStats;
  /** Samples the next stage's first epoch leaves out under the small-group policy. */
  readonly leftOut: number | null;
}

export type MclEventType = MclEvent["type"];

/** An append-only event log with any number of async iterators over it. */
export class EventLog {
  readonly #events: MclEvent[] = [];
  readonly #listeners: ((event: MclEvent) => void)[] = [];
  #closed = false;
  #waiters: (() => void)[] = [];

  push(event: MclEvent): void {
    if (this.#closed) return;
    this.#events.push(event);
    for (const listener of this.#listeners) listener(event);
    this.#wake();
  }

  /** Calls `listener` with every later event, synchronously as it is pushed. */
  listen(listener: (event: MclEvent) => void): void {
    this.#listeners.push(listener);
  }

  /** No more events: iterators end after the last one. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Every event so far (a copy). */
  snapshot(): MclEvent[] {
    return [...this.#events];
  }

  /** Iterates from the first event of the session, then waits for new ones until close(). */
  async *iterate(): AsyncGenerator<MclEvent, void, undefined> {
    let next = 0;
    for (;;) {
      while (next < this.#events.length) yield this.#events[next++]!;
      if (this.#closed) return;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
