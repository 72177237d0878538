/** Errors of the SDK itself (config, control-plane, transport and worker errors keep their own classes). */

export type MclErrorCode =
  /** A config value the worker cannot carry out yet; the message names the field. */
  | "NOT_IMPLEMENTED"
  /** The run was stopped by stop() (or Ctrl-C) before it finished; it can be resumed. */
  | "STOPPED"
  /** The run paused where `pauseAfterStage` asked; Mcl.resume continues it. */
  | "PAUSED"
  /** An argument of an SDK call is invalid (e.g. images of the wrong dtype); the message names it. */
  | "INVALID_INPUT"
  /** A run file the SDK writes (summary.json, probe caches) is unreadable or invalid. */
  | "CORRUPT_FILE"
  /** The run object cannot do that in its current state (e.g. embed() before the run finished). */
  | "INVALID_STATE"
  /** The dataset's labelled attributes do not include one the config asks to probe. */
  | "UNKNOWN_ATTRIBUTE";

export class MclError extends Error {
  readonly code: MclErrorCode;

  constructor(code: MclErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "MclError";
  }
}

/** The `code` of any error from the package (every error class has one), else "UNKNOWN". */
export function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") return error.code;
  return "UNKNOWN";
}
