import type { Header } from "./header.js";

/** Every error code of proto/protocol.json, in its order; TIMEOUT and WORKER_LOST are raised by the client only. */
export const ERROR_CODES = [
  "MALFORMED",
  "UNSUPPORTED_VERSION",
  "UNKNOWN_JOB",
  "INVALID_BODY",
  "TENSOR_MISMATCH",
  "MESSAGE_TOO_LARGE",
  "AUTH_FAILED",
  "CANCELLED",
  "JOB_FAILED",
  "NOT_FOUND",
  "NON_FINITE_LOSS",
  "BUSY",
  "TIMEOUT",
  "WORKER_LOST",
] as const;

/** "MALFORMED" | "UNSUPPORTED_VERSION" | … | "WORKER_LOST". */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes that never travel on the wire: the client raises them itself. */
export const CLIENT_ERROR_CODES = ["TIMEOUT", "WORKER_LOST"] as const satisfies readonly ErrorCode[];

/** The codes an error reply may carry on the wire. */
export type WireErrorCode = Exclude<ErrorCode, (typeof CLIENT_ERROR_CODES)[number]>;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

export interface WireErrorOptions {
  readonly details?: Record<string, unknown>;
  /** The header of the message at fault, when it could be read: the reply goes to its id. */
  readonly header?: Header;
  readonly cause?: unknown;
}

/** An error of the wire protocol, with the code of proto/protocol.json. */
export class WireError extends Error {
  override readonly name = "WireError";
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  readonly header?: Header;

  constructor(code: ErrorCode, message: string, options: WireErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
    if (options.header !== undefined) this.header = options.header;
  }

  /** The same error, attributed to the message with this header. */
  withHeader(header: Header): WireError {
    return new WireError(this.code, this.message, { details: this.details, header, cause: this.cause });
  }
}
