/**
 * Renders a run's events for a person: on a TTY, a live progress bar for the epoch in flight
 * (and for embedding and clustering) under the lines that stay; elsewhere (CI, a pipe), plain
 * lines only, one per epoch, clustering, probe and stage.
 */

import type { MclEvent } from "../sdk/events.js";
import type { Track } from "../run/track.js";

export interface ProgressOutput {
  write(text: string): boolean;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const BAR_WIDTH = 24;

export class ProgressPrinter {
  readonly #out: ProgressOutput;
  readonly #live: boolean;
  #status = "";

  constructor(out: ProgressOutput) {
    this.#out = out;
    this.#live = out.isTTY === true;
  }

  /** Shows one event. */
  show(event: MclEvent): void {
    switch (event.type) {
      case "run-start":
        return this.line(`${event.resumed ? "resuming" : "starting"} ${event.runDir} (${event.numSamples} samples, ${event.device})`);
      case "stage-start":
        this.status(`${label(event.stage)}: starting`);
        return this.line(
          `${label(event.stage)}: ${event.epochs} epoch${event.epochs === 1 ? "" : "s"}${event.fromEpoch > 0 ? `, from epoch ${event.fromEpoch + 1}` : ""}`,
        );
      case "train-progress":
        return this.status(
          `${label(event.stage)} epoch ${event.epoch + 1} ${bar(event.step / event.steps)} ${event.step}/${event.steps} loss ${event.loss.toFixed(3)} lr ${event.lr.toExponential(2)} ${Math.round(event.samplesPerSec)} samples/s`,
        );
      case "epoch":
        this.line(
          `${label(event.stage)} epoch ${event.epoch + 1}/${event.epochs}: loss ${event.loss.toFixed(3)}, ${Math.round(event.samplesPerSec)} samples/s, ${event.seconds.toFixed(1)} s` +
            (event.leftOut > 0 ? `, ${event.leftOut} samples left out (${(100 * event.leftOutFraction).toFixed(1)}%)` : ""),
        );
        return this.status(`${label(event.stage)}: saving, then the next step`);
      case "stage-end":
        return this.status(event.stage === "baseline" ? "baseline trained; probing" : `${label(event.stage)} trained; embedding and clustering`);
      case "embed":
        this.line(`${label(event.stage)}: embedded ${event.rows} samples (${event.dim} features) in ${event.seconds.toFixed(1)} s`);
        return this.status(`${label(event.stage)}: probing and clustering`);
      case "cluster": {
        const { groups, leftOut } = event.stats;
        return this.line(
          `stage ${event.stage}: k-means k=${event.k} -> ${groups.numGroups} groups (sizes ${groups.smallest}…${groups.largest})` +
            (leftOut === null ? "" : `, stage ${event.stage + 1} leaves out ${leftOut} samples per epoch`),
        );
      }
      case "probe": {
        const scores = Object.entries(event.probe.linear)
          .map(([name, accuracy]) => `${name} ${(100 * accuracy).toFixed(1)}%`)
          .join(", ");
        return this.line(`linear probe, ${typeof event.stage === "number" ? `stage ${event.stage}` : event.stage}: ${scores}`);
      }
      case "done":
        return this.line(`done in ${event.summary.seconds.toFixed(0)} s`);
      case "stopped":
        return this.line(event.resumable ? `stopped; resume with: mcl resume ${event.runDir}` : "stopped before the run began; nothing was written");
      case "temp-files-removed":
        return this.line(`removed ${event.files.length} temporary file${event.files.length === 1 ? "" : "s"} of interrupted writes in ${event.runDir}`);
      case "error":
        return this.line(`failed (${event.error.code}): ${event.error.message}`);
      case "warning":
        return this.line(`warning: ${event.message}`);
    }
  }

  /** A line that stays. */
  line(text: string): void {
    const status = this.#status;
    this.#clearStatus();
    this.#out.write(`${text}\n`);
    if (status !== "") this.status(status);
  }

  /** The live status line (TTY only); replaced by the next one. */
  status(text: string): void {
    if (!this.#live) return;
    const width = Math.max(20, (this.#out.columns ?? 80) - 1);
    const shown = text.length > width ? `${text.slice(0, width - 1)}…` : text;
    this.#out.write(`\r\x1b[2K${shown}`);
    this.#status = text;
  }

  /** Removes the status line (before the process exits). */
  finish(): void {
    this.#clearStatus();
  }

  #clearStatus(): void {
    if (this.#live && this.#status !== "") this.#out.write("\r\x1b[2K");
    this.#status = "";
  }
}

function label(track: Track): string {
  return track === "baseline" ? "baseline" : `stage ${track}`;
}

function bar(fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
}
