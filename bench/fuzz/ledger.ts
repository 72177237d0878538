/**
 * The fuzzer's books for one worker: which message each reply answers.
 *
 * The worker answers every message on its I/O thread, in arrival order, except the outcome of
 * a job run on its pool (a result of hello, generate, sleep, or the error such a job raised). So
 * each fuzzed message is followed by a marker, a valid ping of its own id: the I/O-thread
 * replies that arrive before the marker's answer that message, whatever id they carry (0 when
 * the worker could not read its header). A message with no such reply either started a job on
 * the pool, whose reply then comes to its id, or was a valid cancel, owed nothing. Every message
 * must end with exactly one final reply: none within the deadline is a hang (a late reply still
 * settles it), none at all is unanswered, a second is an extra reply.
 */

export interface Fuzzed {
  /** The id the TypeScript decoder reads in its header (0: none). */
  readonly id: number;
  /** The id of the marker ping sent after it. */
  readonly marker: number;
  readonly sentAt: number;
  /** What the TypeScript decoder expects: "result", "heartbeat", "none" (a valid cancel) or an error code. */
  readonly predicted: string;
  /** The row of the report it counts in (how it was signed). */
  readonly label: string;
  readonly frames: readonly Uint8Array[];
  /** Final replies so far. */
  replies: number;
}

export type Settlement =
  | { readonly how: "answer" | "extra" | "late"; readonly message: Fuzzed }
  | { readonly how: "stray"; readonly message: undefined };

export class Ledger {
  /** Sent, their marker not yet answered, in send order. */
  private readonly queue: Fuzzed[] = [];
  private head = 0;
  /** Past their marker with no reply: owed one from a job on the pool, by id. */
  private readonly pooled = new Map<number, Fuzzed[]>();
  /** Past the deadline: a reply may still come. */
  private readonly hung = new Map<number, Fuzzed[]>();

  /** Messages whose final reply may still come (the window). */
  get inFlight(): number {
    let n = this.queue.length - this.head;
    for (const list of this.pooled.values()) n += list.length;
    return n;
  }

  get hungCount(): number {
    let n = 0;
    for (const list of this.hung.values()) n += list.length;
    return n;
  }

  sent(message: Fuzzed): void {
    this.queue.push(message);
  }

  /** A reply from the I/O thread (`inOrder`) or from a job on the pool, to `id`. */
  reply(id: number | undefined, inOrder: boolean): Settlement {
    if (inOrder) {
      const current = this.queue[this.head];
      // A message past its marker has had every I/O-thread reply: a reply to its id and not to the
      // current message's is its job's, whatever the code (a job may refuse its body as the I/O
      // thread would). Id 0 is the I/O thread's, for a message whose id it could not read.
      const pooled = id === undefined || id === 0 || id === current?.id ? undefined : take(this.pooled, id);
      if (pooled !== undefined) return this.settle(pooled);
      if (current !== undefined) return this.settle(current);
    } else if (id !== undefined) {
      const waiting = take(this.pooled, id) ?? this.queue.slice(this.head).find((m) => m.id === id && m.replies === 0);
      if (waiting !== undefined) return this.settle(waiting);
      const late = take(this.hung, id);
      if (late !== undefined) return { how: "late", message: late };
    }
    return { how: "stray", message: undefined };
  }

  /**
   * The marker `marker` came back: the message before it has had every I/O-thread reply it will
   * get. Returns that message, or undefined when the marker is not the one expected.
   */
  marker(marker: number): Fuzzed | undefined {
    const current = this.queue[this.head];
    if (current === undefined || current.marker !== marker) return undefined;
    this.queue[this.head++] = undefined as unknown as Fuzzed; // let it be collected
    if (this.head > 1024) this.queue.splice(0, this.head), (this.head = 0);
    if (current.replies === 0 && current.predicted !== "none") push(this.pooled, current);
    return current;
  }

  /** Messages still owed a reply sent before `before`: now hangs. */
  expire(before: number): Fuzzed[] {
    const expired: Fuzzed[] = [];
    for (const [id, list] of this.pooled) {
      const keep = list.filter((m) => m.sentAt >= before);
      expired.push(...list.filter((m) => m.sentAt < before));
      if (keep.length === 0) this.pooled.delete(id);
      else this.pooled.set(id, keep);
    }
    while (this.head < this.queue.length && (this.queue[this.head] as Fuzzed).sentAt < before) {
      const stuck = this.queue[this.head++] as Fuzzed;
      if (stuck.replies === 0) expired.push(stuck);
    }
    for (const message of expired) push(this.hung, message);
    return expired;
  }

  /** Every message still owed a reply, forgotten (the worker that owed them is gone). */
  drop(): Fuzzed[] {
    const dropped = this.queue.slice(this.head).filter((m) => m.replies === 0 && m.predicted !== "none");
    for (const list of [...this.pooled.values(), ...this.hung.values()]) dropped.push(...list);
    this.queue.length = 0;
    this.head = 0;
    this.pooled.clear();
    this.hung.clear();
    return dropped;
  }

  private settle(message: Fuzzed): Settlement {
    message.replies++;
    return { how: message.replies === 1 ? "answer" : "extra", message };
  }
}

function push(map: Map<number, Fuzzed[]>, message: Fuzzed): void {
  const list = map.get(message.id);
  if (list === undefined) map.set(message.id, [message]);
  else list.push(message);
}

function take(map: Map<number, Fuzzed[]>, id: number): Fuzzed | undefined {
  const list = map.get(id);
  const message = list?.shift();
  if (list?.length === 0) map.delete(id);
  return message;
}
