import { endianness } from "node:os";
import { Unpackr } from "msgpackr";
import { DTYPES, type DType, type TensorData, isDType, itemsize, typedArrayConstructor } from "./dtype.js";
import { WireError } from "./errors.js";
import { describe } from "./describe.js";
import { type Header, SUPPORTED_VERSIONS, checkHeader, isWellFormedHeader, safeNumber } from "./header.js";
import { canonicalHeaderBytes, readCanonicalHeader, writeCanonicalHeader } from "./header-frame.js";
import { MsgpackWriter } from "./msgpack-writer.js";
import type { ReplayGuard } from "./replay.js";
import { AUTH_BYTES, type AuthTag, authFrame, verifyAuth } from "./signing.js";
import { type Tensor, isTensor, numel, tensor } from "./tensor.js";

/** A value in a message body. Tensors stand where their descriptor goes on the wire. */
export type BodyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Tensor
  | readonly BodyValue[]
  | { readonly [key: string]: BodyValue };

export type Body = { [key: string]: BodyValue };

export interface WireMessage {
  header: Header;
  body: Body;
  /** The nonce and timestamp of a signed message, as decoded (encoding ignores it). */
  auth?: AuthTag;
}

export interface EncodeOptions {
  /** HMAC key: a last frame is added, the auth frame of the others. */
  readonly key?: Uint8Array;
  /** The auth frame's nonce and timestamp (golden vectors); fresh ones otherwise. */
  readonly auth?: AuthTag;
}

export interface DecodeOptions {
  /** HMAC key: the last frame must be the auth frame of the others, else AUTH_FAILED. */
  readonly key?: Uint8Array;
  /** With a key: the receiver's guard, which refuses a message outside its window or seen before (AUTH_FAILED). */
  readonly replay?: ReplayGuard;
  /** Refuse a message whose frames add up to more than this many bytes (MESSAGE_TOO_LARGE). */
  readonly maxBytes?: number;
}

/** Maps and arrays nest at most this deep in a body. */
export const MAX_DEPTH = 64;
const TENSOR_KEY = "$tensor";
/** msgpack of {}. */
const EMPTY_MAP = 0x80;
/** msgpack fixarray of 2: the head is [header, body]. */
const HEAD_ARRAY = 0x92;
const NO_FRAMES: readonly Uint8Array[] = [];

/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

if (endianness() !== "LE") {
  throw new Error("the MCL wire carries tensors little-endian, as their memory on the host; big-endian hosts are not supported");
}

// Maps come back as Map (string keys checked, "__proto__" kept as data); 64-bit integers as bigint,
// turned into numbers below when safe (msgpackr's "auto" also turns ±2^53 into numbers, which then
// re-encode as float64).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "bigint" });

/**
 * Encodes a message as [head, ...tensor frames, auth frame if a key is given], the head being the
 * msgpack array [header, body]. Each tensor frame is a view over the tensor's own memory (no
 * copy): do not modify a tensor until its message is sent.
 */
export function encodeMessage(msg: WireMessage, opts: EncodeOptions = {}): Uint8Array[] {
  const { v, id, kind, type } = msg.header;
  const header =
    isWellFormedHeader(v, id, kind, type) && countKeys(msg.header) === 4
      ? msg.header
      : checkHeader(new Map(Object.entries(msg.header))); // throws, naming the field
  const tensors: Uint8Array[] = [];
  const headerBytes = canonicalHeaderBytes(header);
  let head: Uint8Array;
  if (headerBytes !== undefined && countKeys(msg.body) === 0) {
    // Most messages (ping, heartbeat, cancel): byte by byte, into a Uint8Array rather than a
    // Buffer, whose construction costs several times as much on a cold cache.
    head = new Uint8Array(1 + headerBytes + 1);
    head[0] = HEAD_ARRAY;
    head[writeCanonicalHeader(head, 1, header)] = EMPTY_MAP;
  } else {
    const w = new MsgpackWriter();
    w.array(2);
    writeHeader(w, header);
    try {
      writeMap(w, msg.body, "", tensors, 0);
    } catch (err) {
      throw err instanceof WireError ? err.withHeader(header) : err;
    }
    head = w.finish();
  }
  const frames = tensors.length === 0 ? [head] : [head, ...tensors];
  if (opts.key !== undefined) frames.push(authFrame(opts.key, frames, opts.auth));
  return frames;
}

/** The number of enumerable keys of `value`, counted without building the array of them. */
export function countKeys(value: object): number {
  let count = 0;
  for (const _ in value) count += 1;
  return count;
}

/** The header with the general writer; the same bytes as writeCanonicalHeader where that applies. */
function writeHeader(w: MsgpackWriter, header: Header): void {
  w.map(4);
  w.str("v");
  w.number(header.v);
  w.str("id");
  w.number(header.id);
  w.str("kind");
  w.str(header.kind);
  w.str("type");
  w.str(header.type);
}

function writeValue(w: MsgpackWriter, value: BodyValue, path: string, tensors: Uint8Array[], depth: number): void {
  if (value === null) return w.nil();
  switch (typeof value) {
    case "boolean":
      return w.bool(value);
    case "number":
      return w.number(value);
    case "bigint":
      try {
        return w.int(value);
      } catch (err) {
        throw new WireError("MALFORMED", `${pathOrBody(path)}: ${(err as Error).message}`, { details: { path } });
      }
    case "string":
      if (LONE_SURROGATE.test(value)) {
        throw new WireError("MALFORMED", `${pathOrBody(path)}: string has a lone UTF-16 surrogate, not valid UTF-8`, {
          details: { path },
        });
      }
      return w.str(value);
    case "object":
      break;
    default:
      throw unencodable(value, path);
  }
  if (depth >= MAX_DEPTH) {
    throw new WireError("MALFORMED", `${pathOrBody(path)}: body nests deeper than ${MAX_DEPTH} levels`, { details: { path } });
  }
  if (value instanceof Uint8Array) return w.bin(value);
  if (Array.isArray(value)) {
    const items = value as readonly BodyValue[];
    w.array(items.length);
    items.forEach((item, i) => writeValue(w, item, `${path}[${i}]`, tensors, depth + 1));
    return;
  }
  if (isTensor(value)) return writeDescriptor(w, value, path, tensors);
  if (ArrayBuffer.isView(value)) {
    throw new WireError(
      "MALFORMED",
      `${pathOrBody(path)}: a ${value.constructor.name} cannot be sent as is; wrap it with tensor(dtype, shape, data)`,
      { details: { path } },
    );
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw unencodable(value, path);
  writeMap(w, value as { readonly [key: string]: BodyValue }, path, tensors, depth + 1);
}

function writeMap(
  w: MsgpackWriter,
  map: { readonly [key: string]: BodyValue },
  path: string,
  tensors: Uint8Array[],
  depth: number,
): void {
  const keys = Object.keys(map);
  if (keys.includes(TENSOR_KEY)) {
    throw new WireError("MALFORMED", `${pathOrBody(path)}: the key "$tensor" is reserved for tensor descriptors`, {
      details: { path },
    });
  }
  w.map(keys.length);
  for (const key of keys) {
    w.str(key);
    writeValue(w, map[key] as BodyValue, path === "" ? key : `${path}.${key}`, tensors, depth);
  }
}

function writeDescriptor(w: MsgpackWriter, t: Tensor, path: string, tensors: Uint8Array[]): void {
  const n = numel(t.shape);
  if (t.data.length !== n) {
    throw new WireError(
      "TENSOR_MISMATCH",
      `${pathOrBody(path)}: shape [${t.shape.join(", ")}] needs ${n} elements, the ${t.dtype} data has ${t.data.length}`,
      { details: { path, shape: [...t.shape], elements: t.data.length } },
    );
  }
  w.map(3);
  w.str(TENSOR_KEY);
  w.number(tensors.length);
  w.str("dtype");
  w.str(t.dtype);
  w.str("shape");
  w.array(t.shape.length);
  for (const d of t.shape) w.number(d);
  tensors.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function unencodable(value: unknown, path: string): WireError {
  const what = typeof value === "object" && value !== null ? `a ${value.constructor?.name ?? "object"}` : `a value of type ${typeof value}`;
  return new WireError(
    "MALFORMED",
    `${pathOrBody(path)}: ${what} cannot be encoded; use null, booleans, numbers, bigints, strings, Uint8Array, tensors, arrays and plain objects`,
    { details: { path } },
  );
}

function pathOrBody(path: string): string {
  return path === "" ? "body" : path;
}

/**
 * Decodes [head, ...tensor frames, auth frame if a key is given]. Tensors are views over their
 * frames when the frame is aligned to the itemsize (copied otherwise): they share memory with the
 * frames. Throws WireError; `header` is set on it whenever the header could be read.
 */
export function decodeMessage(frames: readonly Uint8Array[], opts: DecodeOptions = {}): WireMessage {
  const head = frames[0];
  if (head === undefined) {
    throw new WireError("MALFORMED", "a message has at least one frame (its head), got none", { details: { frames: 0 } });
  }
  if (opts.maxBytes !== undefined) {
    let total = 0;
    for (const f of frames) total += f.byteLength;
    if (total > opts.maxBytes) {
      throw headError(head, "MESSAGE_TOO_LARGE", `message of ${total} bytes is over the limit of ${opts.maxBytes} bytes`, {
        bytes: total,
        max_bytes: opts.maxBytes,
      });
    }
  }
  let tensorFrames = frames.length === 1 ? NO_FRAMES : frames.slice(1);
  let auth: AuthTag | undefined;
  if (opts.key !== undefined) {
    auth = authenticate(opts.key, frames, head, opts.replay);
    tensorFrames = tensorFrames.slice(0, -1);
  }

  const canonical = head[0] === HEAD_ARRAY ? readCanonicalHeader(head, 1) : undefined;
  let header: Header;
  let body: unknown;
  if (canonical !== undefined) {
    header = canonical.header;
    if (canonical.end === head.length - 1 && head[canonical.end] === EMPTY_MAP && tensorFrames.length === 0) {
      return auth === undefined ? { header, body: {} } : { header, body: {}, auth }; // ping, heartbeat, cancel, …
    }
    body = unpack(head.subarray(canonical.end), "body", header);
  } else {
    const items = unpack(head, "frame 0", undefined);
    if (!Array.isArray(items) || items.length !== 2) {
      throw headError(head, "MALFORMED", `frame 0: expected the msgpack array [header, body], got ${describe(items)}`);
    }
    const [fields, rest] = items as [unknown, unknown];
    if (!(fields instanceof Map)) throw new WireError("MALFORMED", `header: expected a msgpack map, got ${describe(fields)}`);
    header = checkHeader(fields);
    body = rest;
  }
  try {
    if (!(body instanceof Map)) throw new WireError("MALFORMED", `body: expected a msgpack map, got ${describe(body)}`);
    const state: ReadState = { frames: tensorFrames, next: 0, seenAt: [] };
    const decoded = readMap(body, "", state, 0);
    if (state.next < tensorFrames.length) {
      const unreferenced = tensorFrames.slice(state.next);
      if (opts.key === undefined && unreferenced.length === 1 && unreferenced[0]?.byteLength === AUTH_BYTES) {
        throw new WireError(
          "AUTH_FAILED",
          "message is signed (its last frame is an auth frame no descriptor names), and this side has no key: give both ends the same key",
          { details: { reason: "no_key" } },
        );
      }
      throw new WireError(
        "TENSOR_MISMATCH",
        `tensor frames ${state.next}..${tensorFrames.length - 1} are not referenced by any descriptor in the body`,
        { details: { referenced: state.next, frames: tensorFrames.length } },
      );
    }
    return auth === undefined ? { header, body: decoded } : { header, body: decoded, auth };
  } catch (err) {
    throw err instanceof WireError ? err.withHeader(header) : err;
  }
}

/**
 * Checks the auth frame (the last frame) of a message and returns its tag; AUTH_FAILED naming
 * why: unsigned, a wrong signature, then (with a guard) outside the window or a repeat.
 */
function authenticate(key: Uint8Array, frames: readonly Uint8Array[], head: Uint8Array, replay: ReplayGuard | undefined): AuthTag {
  const fail = (message: string, reason: string): WireError => headError(head, "AUTH_FAILED", message, { reason });
  const last = frames[frames.length - 1] as Uint8Array;
  if (frames.length === 1) throw fail("message is not signed (it has no auth frame), and this side requires a key: give both ends the same key", "unsigned");
  if (last.byteLength !== AUTH_BYTES) {
    throw fail(
      `message is not signed: its last frame has ${last.byteLength} bytes, an auth frame ${AUTH_BYTES} (nonce, timestamp, HMAC-SHA256); give both ends the same key`,
      "unsigned",
    );
  }
  const tag = verifyAuth(key, last, frames.slice(0, -1));
  if (tag === undefined) throw fail("message signature does not match the key (signed with another key, or altered): give both ends the same key", "signature");
  if (replay !== undefined) {
    try {
      replay.accept(tag);
    } catch (err) {
      const header = err instanceof WireError ? tryReadHeader(head) : undefined;
      throw header === undefined ? err : (err as WireError).withHeader(header);
    }
  }
  return tag;
}

/** An error about the message as a whole, attributed to its header when that can be read. */
function headError(head: Uint8Array, code: "MALFORMED" | "MESSAGE_TOO_LARGE" | "AUTH_FAILED", message: string, details?: Record<string, unknown>): WireError {
  const header = tryReadHeader(head);
  return new WireError(code, message, { ...(details && { details }), ...(header && { header }) });
}

/**
 * The header of a head that cannot be decoded whole (or need not be): read in place when
 * canonical, else the first msgpack value after the array's prefix, whatever follows it.
 */
function tryReadHeader(head: Uint8Array): Header | undefined {
  const start = head[0] === HEAD_ARRAY ? 1 : head[0] === 0xdc && head[1] === 0 && head[2] === 2 ? 3 : undefined; // fixarray / array16 of 2
  if (start === undefined) return undefined;
  const canonical = readCanonicalHeader(head, start);
  if (canonical !== undefined) return canonical.header;
  let fields: unknown;
  try {
    unpackr.unpackMultiple(head.subarray(start), (value: unknown) => {
      fields = value;
      return false; // the header alone: the body is not read
    });
  } catch {
    return undefined; // the header itself is not msgpack
  }
  if (!(fields instanceof Map)) return undefined;
  try {
    return checkHeader(fields);
  } catch (err) {
    return err instanceof WireError ? err.header : undefined;
  }
}

/** One msgpack value filling `bytes`; MALFORMED naming `what` (with the header, when known) otherwise. */
function unpack(bytes: Uint8Array, what: "frame 0" | "body", header: Header | undefined): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (err) {
    const known = header ?? (what === "frame 0" ? tryReadHeader(bytes) : undefined);
    const message =
      what === "frame 0" && bytes.byteLength === 0
        ? `frame 0 is empty: this looks like protocol version 1, whose frames are [signature, header, body]; this side speaks version ${SUPPORTED_VERSIONS.join(", ")} (update the other end)`
        : `${what} is not msgpack: ${(err as Error).message}`;
    const error = new WireError("MALFORMED", message);
    throw known === undefined ? error : error.withHeader(known);
  }
}

interface ReadState {
  readonly frames: readonly Uint8Array[];
  /** Index of the next descriptor: descriptors number the frames 0, 1, … in body order. */
  next: number;
  /** Body path of the descriptor of each frame seen so far. */
  readonly seenAt: string[];
}

function readValue(value: unknown, path: string, state: ReadState, depth: number): BodyValue {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") return value;
  if (typeof value === "bigint") return safeNumber(value);
  if (value instanceof Uint8Array) return value;
  if (depth >= MAX_DEPTH) {
    throw new WireError("MALFORMED", `${pathOrBody(path)}: body nests deeper than ${MAX_DEPTH} levels`, { details: { path } });
  }
  if (Array.isArray(value)) return value.map((item, i) => readValue(item, `${path}[${i}]`, state, depth + 1));
  if (value instanceof Map) {
    return value.has(TENSOR_KEY) ? readDescriptor(value, path, state) : readMap(value, path, state, depth + 1);
  }
  throw new WireError("MALFORMED", `${pathOrBody(path)}: msgpack extension types are not allowed (got ${describe(value)})`, {
    details: { path },
  });
}

function readMap(map: Map<unknown, unknown>, path: string, state: ReadState, depth: number): Body {
  const body: Body = {};
  for (const [key, value] of map) {
    if (typeof key !== "string") {
      throw new WireError("MALFORMED", `${pathOrBody(path)}: map keys must be strings, got ${describe(key)}`, {
        details: { path },
      });
    }
    const item = readValue(value, path === "" ? key : `${path}.${key}`, state, depth);
    // Assigning "__proto__" would set the prototype: define it as a plain own property instead.
    if (key === "__proto__") Object.defineProperty(body, key, { value: item, enumerable: true, writable: true, configurable: true });
    else body[key] = item;
  }
  return body;
}

function readDescriptor(map: Map<unknown, unknown>, path: string, state: ReadState): Tensor {
  const at = pathOrBody(path);
  const bad = (why: string) =>
    new WireError("MALFORMED", `${at}: bad tensor descriptor: ${why}`, { details: { path } });
  const keys = [...map.keys()];
  if (keys.length !== 3 || !keys.includes("dtype") || !keys.includes("shape")) {
    throw bad(`expected exactly the keys $tensor, dtype, shape, got ${keys.map(String).join(", ")}`);
  }
  const index = safeNumber(map.get(TENSOR_KEY));
  const dtype = map.get("dtype");
  const rawShape = map.get("shape");
  // Dimensions beyond 2^53 - 1 stay bigints: well formed, though too large (checked below).
  const shape: unknown = Array.isArray(rawShape) ? rawShape.map(safeNumber) : rawShape;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) {
    throw bad(`$tensor: expected a frame index (an integer >= 0), got ${describe(index)}`);
  }
  if (!isDType(dtype)) throw bad(`dtype: expected one of ${DTYPES.join(", ")}, got ${describe(dtype)}`);
  if (!isDimensionList(shape)) throw bad(`shape: expected a list of integers >= 0, got ${describe(shape)}`);

  if (index !== state.next) {
    const earlier = state.seenAt[index];
    const why =
      earlier !== undefined
        ? `tensor frame ${index} is referenced twice, at ${pathOrBody(earlier)} and at ${at}`
        : `${at} refers to tensor frame ${index}; descriptors must number the frames 0, 1, … in body order, expected ${state.next}`;
    throw new WireError("TENSOR_MISMATCH", why, { details: { path, index, expected: state.next } });
  }
  const frame = state.frames[index];
  if (frame === undefined) {
    throw new WireError(
      "TENSOR_MISMATCH",
      `${at} refers to tensor frame ${index}, but the message has ${state.frames.length} tensor frames`,
      { details: { path, index, frames: state.frames.length } },
    );
  }
  state.seenAt.push(path);
  state.next += 1;
  const safeShape = checkSpan(dtype, shape, at, path);
  return tensor(dtype, safeShape, viewFrame(dtype, safeShape, frame, at, path));
}

/** The most bytes a tensor may span, counting each 0 dimension as 1: the same limit as the worker's. */
const MAX_TENSOR_BYTES = Number.MAX_SAFE_INTEGER;

function isDimensionList(value: unknown): value is (number | bigint)[] {
  return (
    Array.isArray(value) &&
    value.every((d) => (typeof d === "number" && Number.isSafeInteger(d) && d >= 0) || (typeof d === "bigint" && d >= 0n))
  );
}

/**
 * Refuses a shape too large to exist, even one with a 0 (so an empty frame), as the worker does:
 * torch overflows computing its strides, and numbers here cannot hold its dimensions exactly.
 */
function checkSpan(dtype: DType, shape: readonly (number | bigint)[], at: string, path: string): number[] {
  // Exact in doubles: while the product stays within 2^53 - 1 every partial product is an
  // integer below it, and once beyond, rounding cannot bring it back under.
  let span = itemsize(dtype);
  for (const d of shape) if (typeof d === "bigint" || d > 0) span *= Number(d);
  if (span > MAX_TENSOR_BYTES) {
    throw new WireError(
      "TENSOR_MISMATCH",
      `${at}: a ${dtype} tensor of shape [${shape.join(", ")}] is too large: its dimensions, counting each 0 as 1, ` +
        `span over ${MAX_TENSOR_BYTES} bytes (2^53 - 1)`,
      { details: { path, max_bytes: MAX_TENSOR_BYTES } },
    );
  }
  return shape.map(Number); // every bigint (beyond 2^53 - 1) was refused above
}

/** The frame's bytes as the typed array of `dtype`: a view when aligned, else an aligned copy. */
function viewFrame(dtype: DType, shape: readonly number[], frame: Uint8Array, at: string, path: string): TensorData {
  const size = itemsize(dtype);
  const n = numel(shape);
  if (frame.byteLength !== n * size) {
    throw new WireError(
      "TENSOR_MISMATCH",
      `${at}: a ${dtype} tensor of shape [${shape.join(", ")}] needs ${n * size} bytes, its frame has ${frame.byteLength}`,
      { details: { path, expected_bytes: n * size, frame_bytes: frame.byteLength } },
    );
  }
  const View = typedArrayConstructor(dtype);
  if (frame.byteOffset % size === 0) return new View(frame.buffer, frame.byteOffset, n);
  const copy = new View(n);
  new Uint8Array(copy.buffer).set(frame);
  return copy;
}
