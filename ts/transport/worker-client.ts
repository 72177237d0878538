import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import {
  type Body,
  type DecodeOptions,
  type EncodeOptions,
  MAX_REQUEST_ID,
  PROTOCOL_VERSION,
  ReplayGuard,
  type WireMessage,
  WireError,
  decodeMessage,
  encodeMessage,
  jobSchemas,
  validateBody,
} from "../wire/index.js";
import { Channel } from "./channel.js";
import { JobTable } from "./job-table.js";
import { CancelledError, JobTimeoutError, type JobRef, RemoteJobError, WorkerError, WorkerLostError } from "./errors.js";
import type { ProgressOf, RequestOf, ResultOf } from "./job-types.js";

export interface WorkerClientOptions {
  /** HMAC key shared with the worker (its `--auth` key file): every message is signed with it, and replies must be. */
  readonly key?: Uint8Array;
  /** How often the client sends a heartbeat (default 1000 ms). */
  readonly heartbeatIntervalMs?: number;
  /** Silence after which the worker counts as lost and every job in flight rejects (default 4000 ms). */
  readonly heartbeatTimeoutMs?: number;
  /** Refuse replies larger than this many bytes (default: no limit; the worker is trusted to answer sanely). */
  readonly maxMessageBytes?: number;
  /**
   * How long a job may go without a progress message or its reply before it rejects with
   * JobTimeoutError and is cancelled on the worker, in ms, by job type ("train"), type prefix
   * ("handle.*") or "*" for any other type; merged over DEFAULT_JOB_TIMEOUTS_MS. Infinity: no
   * deadline. A request's own `timeoutMs` wins.
   */
  readonly jobTimeoutsMs?: Readonly<Record<string, number>>;
}

export interface RequestOptions<P = Body> {
  /**
   * Reject with JobTimeoutError (and cancel the job on the worker) after this long without a
   * progress message or the reply; each progress message restarts it. Infinity: no deadline.
   * Default: the client's `jobTimeoutsMs` for the job's type.
   */
  readonly timeoutMs?: number;
  /** Aborting rejects with CancelledError at once and cancels the job on the worker. */
  readonly signal?: AbortSignal;
  /** Called with each progress body, in order, before the promise settles. */
  readonly onProgress?: (body: P) => void;
}

/** What `stream()` yields: progress bodies, then the result. */
export type JobEvent<P, R> = { readonly kind: "progress"; readonly body: P } | { readonly kind: "result"; readonly body: R };

export type WorkerClientEvents = {
  /** No message from the worker for heartbeatTimeoutMs, or failInFlight() was called. */
  lost: [WorkerLostError];
  /** The worker is heard from again after `lost`. */
  alive: [];
  /**
   * A message from the worker that could not be decoded and belongs to no job in flight (without
   * a listener, it is reported as a process warning instead).
   */
  wireError: [WireError];
};

interface PendingJob {
  readonly ref: JobRef;
  readonly resolve: (body: Body) => void;
  readonly reject: (error: WorkerError) => void;
  readonly onProgress: ((body: Body) => void) | undefined;
  /** Restarts the job's deadline (a progress message arrived). */
  readonly extend: () => void;
  readonly dispose: () => void;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 4000;

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * Generous deadlines, as time without progress: bookkeeping jobs answer in well under a second,
 * so minutes only catch a wedged worker; compute jobs over a large dataset on a CPU may run for
 * hours between progress messages (embed and kmeans send none), so they get a day.
 */
export const DEFAULT_JOB_TIMEOUTS_MS: Readonly<Record<string, number>> = Object.freeze({
  "*": HOUR_MS,
  hello: 2 * MINUTE_MS,
  ping: 2 * MINUTE_MS,
  "handle.*": 2 * MINUTE_MS,
  train: 24 * HOUR_MS,
  embed: 24 * HOUR_MS,
  integrate: 24 * HOUR_MS,
  kmeans: 24 * HOUR_MS,
  probe: 24 * HOUR_MS,
  "clip.train": 24 * HOUR_MS,
  "clip.embed_text": 24 * HOUR_MS,
  "clip.zero_shot": 24 * HOUR_MS,
  "clip.mmvp": 24 * HOUR_MS,
  "clip.mmvp_vlm": 24 * HOUR_MS,
});

/** The longest delay setTimeout honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The control plane's end of the wire. Many jobs may be in flight on one DEALER; replies are
 * matched by request id. Heartbeats go over a second DEALER to the same worker, so that they are
 * not queued behind a tensor of hundreds of MiB (as Jupyter keeps its own heartbeat channel):
 * a worker silent on both for heartbeatTimeoutMs is lost, and every job in flight rejects with
 * WorkerLostError. Nothing keeps the Node event loop alive after close().
 */
export class WorkerClient extends EventEmitter<WorkerClientEvents> {
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  private readonly jobTimeoutsMs: Readonly<Record<string, number>>;
  private readonly encodeOptions: EncodeOptions;
  private readonly decodeOptions: DecodeOptions;
  private readonly pending = new JobTable<PendingJob>();
  private readonly heartbeatTimer: NodeJS.Timeout;
  private jobs!: Channel;
  private beats!: Channel;
  private currentEndpoint = "";
  private nextId = 1;
  private heartbeatId = 0;
  private lastHeard = 0;
  private lost = false;
  private closed = false;
  /** Replies that could not be decoded nor matched to a job, and the last of them. */
  private unattributed = 0;
  private lastUnattributed: WireError | undefined;

  constructor(endpoint: string, options: WorkerClientOptions = {}) {
    super();
    // Made once: the receive loop and request() run per message.
    this.encodeOptions = options.key === undefined ? {} : { key: options.key };
    this.decodeOptions = {
      // One guard for both connections, and for the worker a restart brings: a replayed reply is refused.
      ...(options.key === undefined ? {} : { key: options.key, replay: new ReplayGuard() }),
      ...(options.maxMessageBytes === undefined ? {} : { maxBytes: options.maxMessageBytes }),
    };
    this.heartbeatIntervalMs = positive("heartbeatIntervalMs", options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    this.heartbeatTimeoutMs = positive("heartbeatTimeoutMs", options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS);
    const jobTimeoutsMs = { ...DEFAULT_JOB_TIMEOUTS_MS, ...options.jobTimeoutsMs };
    for (const [type, ms] of Object.entries(jobTimeoutsMs)) deadline(`jobTimeoutsMs[${JSON.stringify(type)}]`, ms);
    this.jobTimeoutsMs = jobTimeoutsMs;
    this.attach(endpoint);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatIntervalMs).unref();
  }

  get endpoint(): string {
    return this.currentEndpoint;
  }

  /** Jobs sent and not yet settled. */
  get inFlight(): number {
    return this.pending.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The deadline a job of `type` gets without its own `timeoutMs`: exact type, longest "prefix.*", else "*". */
  timeoutFor(type: string): number {
    // Own keys only: a type such as "constructor" must not find Object.prototype's.
    if (Object.hasOwn(this.jobTimeoutsMs, type)) return this.jobTimeoutsMs[type] as number;
    let best = "*";
    for (const pattern of Object.keys(this.jobTimeoutsMs)) {
      if (pattern.endsWith(".*") && type.startsWith(pattern.slice(0, -1)) && (best === "*" || pattern.length > best.length)) best = pattern;
    }
    return this.jobTimeoutsMs[best] ?? Infinity;
  }

  /** Runs job `type` on the worker and resolves with its result body. */
  request<K extends string>(type: K, body: RequestOf<K>, options: RequestOptions<ProgressOf<K>> = {}): Promise<ResultOf<K>> {
    return new Promise<Body>((resolve, reject) => {
      const id = this.allocateId();
      const ref: JobRef = { id, type };
      if (this.closed) return reject(new CancelledError(ref, "the client is closed"));
      const { signal } = options;
      let timeoutMs: number;
      try {
        timeoutMs = options.timeoutMs === undefined ? this.timeoutFor(type) : deadline("timeoutMs", options.timeoutMs);
      } catch (err) {
        return reject(err);
      }
      if (signal?.aborted) return reject(new CancelledError(ref, "its signal was aborted before it started", signal.reason));

      // The worker validates the request (INVALID_BODY naming the field); this side validates replies.
      let frames: Uint8Array[];
      try {
        frames = encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind: "request", type }, body: body as Body }, this.encodeOptions);
      } catch (err) {
        return reject(asWorkerError(err, ref, "the request could not be encoded"));
      }

      const unattributedBefore = this.unattributed;
      const timedOut = (): void => {
        const note =
          this.unattributed === unattributedBefore
            ? undefined
            : `meanwhile the worker sent ${this.unattributed - unattributedBefore} message(s) that could not be decoded nor matched ` +
              `to a job, the last: ${this.lastUnattributed?.message}`;
        this.abandon(id, new JobTimeoutError(ref, timeoutMs, note));
      };
      const timer = timeoutMs === Infinity ? undefined : setTimeout(timedOut, timeoutMs);
      const onAbort = (): void => this.abandon(id, new CancelledError(ref, "its signal was aborted", signal?.reason));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.add(id, {
        ref,
        resolve,
        reject,
        onProgress: options.onProgress as ((body: Body) => void) | undefined,
        extend: () => timer?.refresh(),
        dispose: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      });
      this.jobs.send(frames, (err) => this.settle(id, new WorkerLostError(`the request could not be sent: ${err.message}`, ref)));
    }) as Promise<ResultOf<K>>;
  }

  /**
   * The same job as `request`, as an async iterable of its progress events and, last, its result.
   * Leaving the loop early cancels the job on the worker.
   */
  async *stream<K extends string>(
    type: K,
    body: RequestOf<K>,
    options: Omit<RequestOptions, "onProgress"> = {},
  ): AsyncGenerator<JobEvent<ProgressOf<K>, ResultOf<K>>, void, undefined> {
    const progress: ProgressOf<K>[] = [];
    let outcome: { ok: true; body: ResultOf<K> } | { ok: false; error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
    this.request(type, body, {
      ...options,
      signal,
      onProgress: (p) => {
        progress.push(p);
        wake?.();
      },
    }).then(
      (result) => {
        outcome = { ok: true, body: result };
        wake?.();
      },
      (error: unknown) => {
        outcome = { ok: false, error };
        wake?.();
      },
    );
    try {
      for (;;) {
        while (progress.length > 0) yield { kind: "progress", body: progress.shift() as ProgressOf<K> };
        if (outcome !== undefined) {
          if (!outcome.ok) throw outcome.error;
          yield { kind: "result", body: outcome.body };
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      if (outcome === undefined) stop.abort(new Error("the consumer stopped iterating"));
    }
  }

  /**
   * Rejects every job in flight with `error` (attributed to each job) and reports `lost`.
   * Used by a supervisor that knows the worker process died, before the heartbeat would notice.
   */
  failInFlight(error: WorkerLostError): void {
    this.markLost(error);
  }

  /**
   * Drops the connection to the current worker (its jobs in flight reject with WorkerLostError)
   * and talks to `endpoint` from now on, e.g. a restarted worker.
   */
  retarget(endpoint: string): void {
    if (this.closed) throw new Error("retarget: the client is closed");
    this.rejectInFlight(new WorkerLostError(`the client moved from ${this.currentEndpoint} to ${endpoint}`));
    this.detach();
    this.attach(endpoint);
  }

  /** Rejects whatever is in flight with CancelledError and closes the socket. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    for (const job of this.pending.values()) this.settle(job.ref.id, new CancelledError(job.ref, "the client was closed"));
    this.detach();
  }

  // -- connection -------------------------------------------------------------------------------

  private attach(endpoint: string): void {
    const failed = (err: Error): void => this.markLost(new WorkerLostError(`receiving failed: ${err.message}`));
    this.jobs = new Channel(endpoint, (frames) => this.dispatch(frames), failed);
    this.beats = new Channel(endpoint, (frames) => this.heartbeatAnswered(frames), failed);
    this.currentEndpoint = endpoint;
    this.lastHeard = performance.now();
    this.lost = false;
  }

  private detach(): void {
    this.jobs.close();
    this.beats.close();
  }

  // -- receiving --------------------------------------------------------------------------------

  private dispatch(frames: Buffer[]): void {
    this.heard();
    let msg: WireMessage;
    try {
      msg = decodeMessage(frames, this.decodeOptions);
    } catch (err) {
      const error = err instanceof WireError ? err : new WireError("MALFORMED", String(err));
      const job = error.header === undefined ? undefined : this.pending.get(error.header.id);
      if (job !== undefined) this.abandon(job.ref.id, asWorkerError(error, job.ref, "the worker's reply could not be decoded"));
      else this.unattributedReply(error);
      return;
    }
    const { header, body } = msg;
    if (header.kind === "heartbeat") return;
    const job = this.pending.get(header.id);
    if (job === undefined) return; // a late reply to a job already timed out, cancelled or lost
    try {
      switch (header.kind) {
        case "progress":
          if (Object.hasOwn(jobSchemas, job.ref.type)) validateBody("progress", job.ref.type, body);
          job.extend();
          job.onProgress?.(body);
          return;
        case "result":
          if (Object.hasOwn(jobSchemas, job.ref.type)) validateBody("result", job.ref.type, body);
          return this.settle(header.id, body);
        case "error": {
          validateBody("error", "", body);
          const { code, message, details } = body as { code: WorkerError["code"]; message: string; details?: Record<string, unknown> };
          return this.settle(header.id, new RemoteJobError(code, message, { job: job.ref, ...(details === undefined ? {} : { details }) }));
        }
        default:
          throw new WireError("MALFORMED", `header.kind: a worker does not send ${header.kind}`);
      }
    } catch (err) {
      this.abandon(header.id, asWorkerError(err, job.ref, `the worker's ${header.kind} reply is not valid`));
    }
  }

  /** A reply no job can be named for: counted (a job that times out says so) and reported. */
  private unattributedReply(error: WireError): void {
    this.unattributed += 1;
    this.lastUnattributed = error;
    if (!this.emit("wireError", error)) {
      process.emitWarning(`a message from the worker at ${this.currentEndpoint} could not be decoded: ${error.message}`, {
        type: "WorkerWireWarning",
        code: error.code,
      });
    }
  }

  private heartbeatAnswered(frames: Buffer[]): void {
    try {
      if (decodeMessage(frames, this.decodeOptions).header.kind === "heartbeat") this.heard();
    } catch (err) {
      if (err instanceof WireError) this.unattributedReply(err); // e.g. signed with another key: stays silent
    }
  }

  private heard(): void {
    this.lastHeard = performance.now();
    if (this.lost) {
      this.lost = false;
      this.emit("alive");
    }
  }

  // -- liveness ---------------------------------------------------------------------------------

  private heartbeat(): void {
    const silentMs = performance.now() - this.lastHeard;
    if (silentMs > this.heartbeatTimeoutMs) {
      this.markLost(new WorkerLostError(`no message from ${this.currentEndpoint} for ${Math.round(silentMs)} ms`));
    }
    this.heartbeatId = this.heartbeatId >= MAX_REQUEST_ID ? 1 : this.heartbeatId + 1;
    const frames = encodeMessage({ header: { v: PROTOCOL_VERSION, id: this.heartbeatId, kind: "heartbeat", type: "" }, body: {} }, this.encodeOptions);
    this.beats.send(frames, ignore); // a worker that cannot be reached is noticed by its silence
  }

  private markLost(error: WorkerLostError): void {
    this.rejectInFlight(error);
    if (!this.lost) {
      this.lost = true;
      this.emit("lost", error);
    }
  }

  // -- settling ---------------------------------------------------------------------------------

  private rejectInFlight(error: WorkerLostError): void {
    for (const job of this.pending.values()) this.settle(job.ref.id, error.forJob(job.ref));
  }

  private settle(id: number, outcome: Body | WorkerError): void {
    const job = this.pending.remove(id);
    if (job === undefined) return;
    job.dispose();
    if (outcome instanceof WorkerError) job.reject(outcome);
    else job.resolve(outcome);
  }

  /** Settles a job the client gives up on, and tells the worker to stop it. */
  private abandon(id: number, error: WorkerError): void {
    if (!this.pending.has(id)) return;
    this.settle(id, error);
    if (this.closed) return;
    const frames = encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind: "cancel", type: "" }, body: {} }, this.encodeOptions);
    this.jobs.send(frames, ignore);
  }

  private allocateId(): number {
    do {
      const id = this.nextId;
      this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    } while (this.pending.size < MAX_REQUEST_ID);
    throw new Error("every request id is in use");
  }
}

function ignore(): void {}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

/** `err` as the error of `job`, its message naming the job and, when given, what went wrong. */
function asWorkerError(err: unknown, job: JobRef, what?: string): WorkerError {
  if (err instanceof WorkerError) return err;
  const prefix = `job ${job.id} (${job.type}): ${what === undefined ? "" : `${what}: `}`;
  if (err instanceof WireError) {
    return new WorkerError(err.code, prefix + err.message, {
      job,
      cause: err,
      details: err.details,
    });
  }
  return new WorkerError("JOB_FAILED", prefix + ((err as Error)?.message ?? String(err)), { job, cause: err });
}

/** A deadline in ms: positive, and either within what setTimeout honours or Infinity (none). */
function deadline(name: string, value: number): number {
  if (value === Infinity || (Number.isFinite(value) && value > 0 && value <= MAX_TIMER_MS)) return value;
  throw new RangeError(`${name} must be a number of milliseconds in (0, ${MAX_TIMER_MS}] or Infinity (no deadline), got ${value}`);
}
