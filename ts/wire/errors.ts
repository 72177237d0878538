import { type ErrorDetails, MclError } from "../errors.js";
import { CLIENT_ERROR_CODES, ERROR_CODES } from "./generated/constants.js";
import type { Header } from "./header.js";

/** Every error code of proto/protocol.json, in its order; TIMEOUT and WORKER_LOST are raised by the client only. */
export { CLIENT_ERROR_CODES, ERROR_CODES } from "./generated/constants.js";

/** "MALFORMED" | "UNSUPPORTED_VERSION" | … | "WORKER_LOST". */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The codes an error reply may carry on the wire. */
export type WireErrorCode = Exclude<ErrorCode, (typeof CLIENT_ERROR_CODES)[number]>;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

export interface WireErrorOptions {
  readonly details?: ErrorDetails;
  /** The header of the message at fault, when it could be read: the reply goes to its id. */
  readonly header?: Header;
  readonly cause?: unknown;
}

/** An error of the wire protocol, with the code of proto/protocol.json. */
export class WireError extends MclError<ErrorCode> {
  readonly header?: Header;

  constructor(code: ErrorCode, message: string, options: WireErrorOptions = {}) {
    super(code, message, options);
    if (options.header !== undefined) this.header = options.header;
  }

  /** The same error, attributed to the message with this header. */
  withHeader(header: Header): WireError {
    return new WireError(this.code, this.message, { details: this.details, header, cause: this.cause });
  }
}
