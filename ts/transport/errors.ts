import { type ErrorDetails, MclError } from "../errors.js";
import type { ErrorCode } from "../wire/index.js";

/** Where a failed job came from, for error messages and handlers. */
export interface JobRef {
  readonly id: number;
  readonly type: string;
}

/** Base of the errors a job's promise rejects with; `code` is a code of proto/protocol.json. */
export class WorkerError extends MclError<ErrorCode> {
  readonly job?: JobRef;

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetails; job?: JobRef; cause?: unknown } = {}) {
    super(code, message, options);
    if (options.job !== undefined) this.job = options.job;
  }
}

/** The worker answered the job with an `error` reply (any wire code: JOB_FAILED, INVALID_BODY, …). */
export class RemoteJobError extends WorkerError {}

/**
 * The job went `timeoutMs` without a progress message or its reply; the client cancelled it on
 * the worker. `note` says what else the client saw meanwhile (a reply it could not decode, say).
 */
export class JobTimeoutError extends WorkerError {
  constructor(job: JobRef, timeoutMs: number, note?: string) {
    super(
      "TIMEOUT",
      `job ${job.id} (${job.type}) timed out: no progress or reply within ${timeoutMs} ms; it was cancelled on the worker` +
        (note === undefined ? "" : ` (${note})`),
      { job, details: { timeoutMs } },
    );
  }
}

/** The job was aborted through its AbortSignal, or the client was closed while it ran. */
export class CancelledError extends WorkerError {
  constructor(job: JobRef, why: string, cause?: unknown) {
    super("CANCELLED", `job ${job.id} (${job.type}) was cancelled: ${why}`, { job, cause });
  }
}

/** The worker died, or stopped answering heartbeats: every job in flight rejects with this. */
export class WorkerLostError extends WorkerError {
  /** What happened to the worker, without the job. */
  readonly reason: string;

  constructor(reason: string, job?: JobRef) {
    const message = job === undefined ? `worker lost: ${reason}` : `job ${job.id} (${job.type}) lost its worker: ${reason}`;
    super("WORKER_LOST", message, job === undefined ? {} : { job });
    this.reason = reason;
  }

  /** The same loss, attributed to one job. */
  forJob(job: JobRef): WorkerLostError {
    return new WorkerLostError(this.reason, job);
  }
}
