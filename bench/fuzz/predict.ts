/**
 * What the worker owes a message, as the TypeScript decoder reads it: no reply (a valid cancel),
 * or one final reply to an id with an expected code. Also keeps the fuzzer from asking for real
 * work: a request that decodes to a job doing more than a few microseconds' worth (a large
 * `generate`, a long `sleep`) or to a compute job is not sent.
 */
import { decodeMessage } from "../../ts/wire/codec.js";
import { isDType, itemsize } from "../../ts/wire/dtype.js";
import { WireError } from "../../ts/wire/errors.js";
import { PROTOCOL_VERSION } from "../../ts/wire/header.js";
import type { ReplayGuard } from "../../ts/wire/replay.js";
import { validateBody } from "../../ts/wire/schemas.js";
import { INLINE_JOBS, SAFE_JOBS } from "./values.js";

/** The most a `generate` may answer with. */
const MAX_GENERATE_BYTES = 64 * 1024;
/** The longest `sleep`, and its most steps (each step answers a progress). */
const MAX_SLEEP_SECONDS = 0.002;
const MAX_SLEEP_STEPS = 4;

export interface DecodeContext {
  readonly key?: Uint8Array;
  /** Mirrors the worker's replay guard: it must see every signed message the worker sees, in order. */
  readonly replay?: ReplayGuard;
  readonly maxBytes: number;
  /** Every job type the worker has (proto/protocol.json). */
  readonly jobs: ReadonlySet<string>;
}

export type Prediction =
  /** A valid cancel, owed no reply. */
  | { readonly kind: "none"; readonly id: number }
  | { readonly kind: "skip"; readonly why: "expensive" | "compute job" | "reserved id 0" }
  | { readonly kind: "reply"; readonly id: number; readonly code: string }
  | { readonly kind: "decoder-threw"; readonly error: unknown };

export function predict(frames: readonly Uint8Array[], ctx: DecodeContext): Prediction {
  let msg: ReturnType<typeof decodeMessage>;
  try {
    msg = decodeMessage(frames, { maxBytes: ctx.maxBytes, ...(ctx.key && { key: ctx.key }), ...(ctx.replay && { replay: ctx.replay }) });
  } catch (err) {
    if (!(err instanceof WireError)) return { kind: "decoder-threw", error: err };
    return { kind: "reply", id: err.header?.id ?? 0, code: err.code };
  }
  const { header, body } = msg;
  const reply = (code: string): Prediction => ({ kind: "reply", id: header.id, code });
  switch (header.kind) {
    case "cancel":
      return { kind: "none", id: header.id };
    case "heartbeat":
      return reply("heartbeat");
    case "request":
      break;
    default:
      return reply("MALFORMED");
  }
  if (!(SAFE_JOBS as readonly string[]).includes(header.type)) {
    return ctx.jobs.has(header.type) ? { kind: "skip", why: "compute job" } : reply("UNKNOWN_JOB");
  }
  // Id 0 names the replies to messages whose id cannot be read: a pool job's reply to it could
  // not be told from those.
  if (header.id === 0 && !INLINE_JOBS.has(header.type)) return { kind: "skip", why: "reserved id 0" };
  // Checked before validation too: the worker's schema may accept what this side's refuses.
  if (header.type === "generate" && isExpensiveShape(body.dtype, body.shape, ctx.maxBytes)) return { kind: "skip", why: "expensive" };
  if (header.type === "sleep" && (Number(body.seconds) > MAX_SLEEP_SECONDS || Number(body.steps) > MAX_SLEEP_STEPS)) {
    return { kind: "skip", why: "expensive" };
  }
  try {
    validateBody("request", header.type, body);
  } catch (err) {
    return err instanceof WireError ? reply(err.code) : { kind: "decoder-threw", error: err };
  }
  if (header.type === "hello" && !(body.protocols as readonly unknown[]).includes(PROTOCOL_VERSION)) return reply("UNSUPPORTED_VERSION");
  return reply("result");
}

/**
 * Whether `generate` would answer with more than MAX_GENERATE_BYTES yet no more than the
 * worker's message limit (a larger reply it refuses at once).
 */
function isExpensiveShape(dtype: unknown, shape: unknown, maxBytes: number): boolean {
  if (!Array.isArray(shape)) return false;
  let bytes = isDType(dtype) ? itemsize(dtype) : 8;
  for (const d of shape) {
    if (typeof d !== "number" && typeof d !== "bigint") return false; // refused by any schema
    bytes *= Math.abs(Number(d));
  }
  return bytes > MAX_GENERATE_BYTES && bytes <= maxBytes;
}
