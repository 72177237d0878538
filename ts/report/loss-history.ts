/**
 * losses.json: the mean training loss of every epoch, per track, for the report's loss curves:
 *
 *   { "format": "mcl-losses/1", "tracks": { "stage-1": [5.12, 4.71], "baseline": [5.20, null, 4.10] } }
 *
 * Entry e is 0-based epoch e. The SDK records an epoch after the run store commits it; an epoch
 * trained again after a resume overwrites its entry and drops the later ones. null marks an epoch
 * whose loss was not recorded (the process died between the commit and this write) or was not
 * finite. Run directories made before this file existed have none; the report says so.
 */

import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../control/atomic-file.js";
import type { Track } from "../sdk/events.js";
import { readJsonFile } from "../sdk/summary.js";
import { trackName } from "../sdk/worker-executor.js";

export const LOSS_FILE = "losses.json";
export const LOSS_FORMAT = "mcl-losses/1";

export const lossHistorySchema = z.strictObject({
  format: z.literal(LOSS_FORMAT),
  /** Per track ("stage-<s>", "baseline"): mean loss of each epoch, null where unknown. */
  tracks: z.record(z.string(), z.array(z.number().nullable())),
});
export type LossHistory = z.output<typeof lossHistorySchema>;

/** The run's losses.json, or null when it has none (an older run, or no epoch trained yet). */
export function readLossHistory(runDir: string): Promise<LossHistory | null> {
  return readJsonFile(join(runDir, LOSS_FILE), lossHistorySchema);
}

/** `history` with epoch `epoch` of `track` set to `loss`; later epochs of that track are dropped. */
export function withEpochLoss(history: LossHistory | null, track: string, epoch: number, loss: number): LossHistory {
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch: expected an integer >= 0, got ${epoch}`);
  const tracks = { ...history?.tracks };
  const losses = (tracks[track] ?? []).slice(0, epoch);
  while (losses.length < epoch) losses.push(null);
  losses.push(Number.isFinite(loss) ? loss : null);
  tracks[track] = losses;
  return { format: LOSS_FORMAT, tracks };
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

  record(track: Track, epoch: number, loss: number): void {
    this.#writes = this.#writes.then(async () => {
      if (this.#failure !== undefined) return;
      try {
        this.#history = withEpochLoss(
          this.#history === undefined ? await readLossHistory(this.#runDir) : this.#history,
          trackName(track),
          epoch,
          loss,
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
