/**
 * losses.json: the mean training loss of every epoch, per track, for the report's loss curves, and
 * the learning rate of each epoch's first and last step (the warm-up and schedule as they ran):
 *
 *   { "format": "mcl-losses/1",
 *     "tracks": { "stage-1": [5.12, 4.71], "baseline": [5.20, null, 4.10] },
 *     "lr": { "stage-1": [{ "first": 0.0001, "last": 0.001 }, { "first": 0.001, "last": 0.001 }], ... } }
 *
 * Entry e is 0-based epoch e. The SDK records an epoch before the run store commits it, so every
 * committed epoch has its entry; an epoch trained again after a resume (the process died between
 * this write and the commit) overwrites its entry and drops the later ones. null marks an epoch
 * whose loss (or rate) was not finite, or was not recorded. Run directories made before this file existed have none; the report says so. Files
 * written before the rates were recorded have no `lr`.
 */

import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../control/atomic-file.js";
import type { Track } from "../run/track.js";
import { readJsonFile } from "../run/summary.js";
import { trackName } from "../run/track.js";

export const LOSS_FILE = "losses.json";
export const LOSS_FORMAT = "mcl-losses/1";

const epochLrSchema = z.strictObject({ first: z.number().min(0), last: z.number().min(0) });
/** The learning rate of an epoch's first and last step. */
export type EpochLr = z.output<typeof epochLrSchema>;

export const lossHistorySchema = z.strictObject({
  format: z.literal(LOSS_FORMAT),
  /** Per track ("stage-<s>", "baseline"): mean loss of each epoch, null where unknown. */
  tracks: z.record(z.string(), z.array(z.number().nullable())),
  /** Per track: the learning rates of each epoch, null where unknown. */
  lr: z.record(z.string(), z.array(epochLrSchema.nullable())).optional(),
});
export type LossHistory = z.output<typeof lossHistorySchema>;

/** The run's losses.json, or null when it has none (an older run, or no epoch trained yet). */
export function readLossHistory(runDir: string): Promise<LossHistory | null> {
  return readJsonFile(join(runDir, LOSS_FILE), lossHistorySchema);
}

/**
 * `history` with epoch `epoch` of `track` set to `loss` and its learning rates `lr` (null: not
 * known); later epochs of that track are dropped.
 */
export function withEpochLoss(
  history: LossHistory | null,
  track: string,
  epoch: number,
  loss: number,
  lr: EpochLr | null = null,
): LossHistory {
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch: expected an integer >= 0, got ${epoch}`);
  const tracks = { ...history?.tracks, [track]: upTo(history?.tracks[track], epoch, Number.isFinite(loss) ? loss : null) };
  const known = lr !== null && Number.isFinite(lr.first) && Number.isFinite(lr.last);
  const rates = { ...history?.lr, [track]: upTo(history?.lr?.[track], epoch, known ? { first: lr.first, last: lr.last } : null) };
  return { format: LOSS_FORMAT, tracks, lr: rates };
}

/** The entries of `entries` before `epoch` (null-padded), then `value`. */
function upTo<T>(entries: readonly (T | null)[] | undefined, epoch: number, value: T | null): (T | null)[] {
  const kept = (entries ?? []).slice(0, epoch);
  while (kept.length < epoch) kept.push(null);
  kept.push(value);
  return kept;
}

/**
 * Records epoch losses into a run directory's losses.json, one atomic write at a time in the order
 * they were recorded. `record` does not wait; `flush` waits for every write so far and throws the
 * first write error.
 */
export class LossRecorder {
  readonly #runDir: string;
  #history: LossHistory | null | undefined;
  #writes: Promise<void> = Promise.resolve();
  #failure: { readonly error: unknown } | undefined;

  constructor(runDir: string) {
    this.#runDir = runDir;
  }

  record(track: Track, epoch: number, loss: number, lr: EpochLr | null = null): void {
    this.#writes = this.#writes.then(async () => {
      if (this.#failure !== undefined) return;
      try {
        this.#history = withEpochLoss(
          this.#history === undefined ? await readLossHistory(this.#runDir) : this.#history,
          trackName(track),
          epoch,
          loss,
          lr,
        );
        await writeFileAtomic(join(this.#runDir, LOSS_FILE), `${JSON.stringify(this.#history)}\n`);
      } catch (error) {
        this.#failure = { error };
      }
    });
  }

  async flush(): Promise<void> {
    await this.#writes;
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}
