import { WireError } from "./errors.js";
import type { AuthTag } from "./signing.js";

/** A receiver accepts a signed message whose timestamp is within this many ms of its own clock. */
export const REPLAY_WINDOW_MS = 60_000;

export interface ReplayGuardOptions {
  /** The window, ± this many ms (default REPLAY_WINDOW_MS). */
  readonly windowMs?: number;
  /** This side's clock, ms since the Unix epoch (default Date.now; tests give their own). */
  readonly now?: () => number;
}

/**
 * A receiver's memory of the signed messages it accepted: refuses a message whose timestamp is
 * outside the window and one whose nonce it accepted before. A nonce is kept only while its
 * timestamp is inside the window (past that, the window refuses the message anyway), so memory
 * is bounded by the messages of about two windows. One guard per receiver, across connections.
 */
export class ReplayGuard {
  readonly windowMs: number;
  private readonly now: () => number;
  /** Accepted nonces (as latin1 strings) → their timestamps. */
  private readonly seen = new Map<string, number>();
  private lastPruneMs = -Infinity;

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? REPLAY_WINDOW_MS;
    if (!(Number.isFinite(this.windowMs) && this.windowMs > 0)) throw new RangeError(`windowMs must be a positive number, got ${this.windowMs}`);
    this.now = options.now ?? Date.now;
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.seen.size;
  }

  /** Records `tag`'s nonce, or throws AUTH_FAILED (details.reason "window" or "replay"). */
  accept(tag: AuthTag): void {
    const now = this.now();
    const skewMs = tag.timestampMs - now;
    if (!(Math.abs(skewMs) <= this.windowMs)) {
      const seconds = (Math.abs(skewMs) / 1000).toFixed(1);
      throw new WireError(
        "AUTH_FAILED",
        `message timestamp is ${seconds} s ${skewMs > 0 ? "ahead of" : "behind"} this side's clock, outside the window of ` +
          `±${this.windowMs / 1000} s: synchronise the two ends' clocks (e.g. NTP), or this is an old message replayed`,
        { details: { reason: "window", skew_ms: skewMs, window_ms: this.windowMs } },
      );
    }
    this.prune(now);
    const nonce = Buffer.from(tag.nonce.buffer, tag.nonce.byteOffset, tag.nonce.byteLength).toString("latin1");
    if (this.seen.has(nonce)) {
      throw new WireError("AUTH_FAILED", "message repeats the nonce of a message already accepted: a replay, refused", {
        details: { reason: "replay" },
      });
    }
    this.seen.set(nonce, tag.timestampMs);
  }

  /** Forgets the nonces whose timestamps have left the window; a full pass at most every quarter window. */
  private prune(now: number): void {
    if (now - this.lastPruneMs < this.windowMs / 4 && now >= this.lastPruneMs) return;
    this.lastPruneMs = now;
    for (const [nonce, timestampMs] of this.seen) if (now - timestampMs > this.windowMs) this.seen.delete(nonce);
  }
}
