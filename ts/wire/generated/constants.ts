// Generated from proto/protocol.json by `npm run gen:wire` (scripts/gen-wire.mjs): do not edit.

/** The protocol version this side speaks (the header's `v`). */
export const PROTOCOL_VERSION = 4;
export const SUPPORTED_VERSIONS: readonly number[] = [4];
export const MESSAGE_KINDS = ["request", "cancel", "progress", "result", "error", "heartbeat"] as const;
/** 0 is reserved for errors about a message whose id could not be read. */
export const MAX_REQUEST_ID = 4294967295;
/** The tensor element types, in protocol.json's order. */
export const DTYPES = ["float32", "float16", "bfloat16", "int64", "int32", "uint8", "bool"] as const;
/** Every error code, in protocol.json's order. */
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
  "OUT_OF_MEMORY",
  "TIMEOUT",
  "WORKER_LOST",
] as const;
/** Codes that never travel on the wire: the client raises them itself. */
export const CLIENT_ERROR_CODES = ["TIMEOUT", "WORKER_LOST"] as const;
/** Every job type, in protocol.json's order. */
export const JOB_TYPES = [
  "hello",
  "ping",
  "echo",
  "generate",
  "sleep",
  "handle.get",
  "handle.put",
  "handle.free",
  "handle.list",
  "dataset.open",
  "model.create",
  "optimizer.create",
  "train",
  "embed",
  "integrate",
  "kmeans",
  "probe",
  "checkpoint.save",
  "checkpoint.load",
  "export",
  "clip.create",
  "clip.train",
  "clip.embed_text",
  "clip.zero_shot",
  "clip.mmvp",
  "clip.mmvp_vlm",
] as const;
