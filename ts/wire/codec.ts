import { endianness } from "node:os";
import { Unpackr } from "msgpackr";
import { DTYPES, type DType, type TensorData, isDType, itemsize, typedArrayConstructor } from "./dtype.js";
import { WireError } from "./errors.js";
import { describe } from "./describe.js";
import { type Header, checkHeader, isWellFormedHeader, safeNumber } from "./header.js";
import { MsgpackWriter } from "./msgpack-writer.js";
import { sign, verify } from "./signing.js";
import { type Tensor, isShape, isTensor, numel, tensor } from "./tensor.js";

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
}

export interface EncodeOptions {
  /** HMAC key: frame 0 becomes the signature of the other frames. */
  readonly key?: Uint8Array;
}

export interface DecodeOptions {
  /** HMAC key: the signature in frame 0 must match, else AUTH_FAILED. Without a key frame 0 is not read. */
  readonly key?: Uint8Array;
  /** Refuse a message whose frames add up to more than this many bytes (MESSAGE_TOO_LARGE). */
  readonly maxBytes?: number;
}

/** Frames before the tensor frames: signature, header, body. */
export const FIXED_FRAMES = 3;
/** Maps and arrays nest at most this deep in a body. */
export const MAX_DEPTH = 64;
const TENSOR_KEY = "$tensor";
/** msgpack of {}. */
const EMPTY_MAP = 0x80;

/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** A header frame longer than this is not parsed just to find the id for an error reply. */
const MAX_HEADER_BYTES = 4096;

if (endianness() !== "LE") {
  throw new Error("the MCL wire carries tensors little-endian, as their memory on the host; big-endian hosts are not supported");
}

// Maps come back as Map (string keys checked, "__proto__" kept as data); 64-bit integers as bigint,
// turned into numbers below when safe (msgpackr's "auto" also turns ±2^53 into numbers, which then
// re-encode as float64).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "bigint" });

/**
 * Encodes a message as [signature, header, body, ...tensor frames]. Each tensor frame is a Buffer
 * over the tensor's own memory (no copy): do not modify a tensor until its message is sent.
 */
export function encodeMessage(msg: WireMessage, opts: EncodeOptions = {}): Buffer[] {
  const { v, id, kind, type } = msg.header;
  const header =
    isWellFormedHeader(v, id, kind, type) && Object.keys(msg.header).length === 4
      ? msg.header
      : checkHeader(new Map(Object.entries(msg.header))); // throws, naming the field
  const headerWriter = new MsgpackWriter(64);
  headerWriter.map(4);
  headerWriter.str("v");
  headerWriter.number(header.v);
  headerWriter.str("id");
  headerWriter.number(header.id);
  headerWriter.str("kind");
  headerWriter.str(header.kind);
  headerWriter.str("type");
  headerWriter.str(header.type);

  const tensors: Buffer[] = [];
  const bodyWriter = new MsgpackWriter();
  try {
    writeMap(bodyWriter, msg.body, "", tensors, 0);
  } catch (err) {
    throw err instanceof WireError ? err.withHeader(header) : err;
  }
  const frames = [headerWriter.finish(), bodyWriter.finish(), ...tensors];
  const signature = opts.key === undefined ? Buffer.alloc(0) : sign(opts.key, frames);
  return [signature, ...frames];
}

function writeValue(w: MsgpackWriter, value: BodyValue, path: string, tensors: Buffer[], depth: number): void {
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
  tensors: Buffer[],
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

function writeDescriptor(w: MsgpackWriter, t: Tensor, path: string, tensors: Buffer[]): void {
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
  tensors.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
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
 * Decodes [signature, header, body, ...tensor frames]. Tensors are views over their frames when
 * the frame is aligned to the itemsize (copied otherwise): they share memory with the frames.
 * Throws WireError; `header` is set on it whenever the header could be read.
 */
export function decodeMessage(frames: readonly Uint8Array[], opts: DecodeOptions = {}): WireMessage {
  const readable = () => (frames.length >= 2 ? tryReadHeader(frames[1] as Uint8Array) : undefined);
  const withHeader = (code: "MALFORMED" | "MESSAGE_TOO_LARGE" | "AUTH_FAILED", message: string, details?: Record<string, unknown>) => {
    const header = readable();
    return new WireError(code, message, { ...(details && { details }), ...(header && { header }) });
  };

  if (frames.length < FIXED_FRAMES) {
    throw withHeader(
      "MALFORMED",
      `a message has at least ${FIXED_FRAMES} frames (signature, header, body), got ${frames.length}`,
      { frames: frames.length },
    );
  }
  if (opts.maxBytes !== undefined) {
    let total = 0;
    for (const f of frames) total += f.byteLength;
    if (total > opts.maxBytes) {
      throw withHeader("MESSAGE_TOO_LARGE", `message of ${total} bytes is over the limit of ${opts.maxBytes} bytes`, {
        bytes: total,
        max_bytes: opts.maxBytes,
      });
    }
  }
  const [signature, headerFrame, bodyFrame] = frames as [Uint8Array, Uint8Array, Uint8Array];
  if (opts.key !== undefined && !verify(opts.key, signature, frames.slice(1))) {
    throw withHeader(
      "AUTH_FAILED",
      signature.byteLength === 0 ? "message is not signed, and a key is required" : "message signature does not match the key",
    );
  }

  const header = checkHeader(unpackMap(headerFrame, "header"));
  if (frames.length === FIXED_FRAMES && bodyFrame.byteLength === 1 && bodyFrame[0] === EMPTY_MAP) {
    return { header, body: {} }; // ping, heartbeat, cancel, …
  }
  const tensorFrames = frames.slice(FIXED_FRAMES);
  try {
    const state: ReadState = { frames: tensorFrames, next: 0, seenAt: [] };
    const body = readMap(unpackMap(bodyFrame, "body"), "", state, 0);
    if (state.next < tensorFrames.length) {
      throw new WireError(
        "TENSOR_MISMATCH",
        `tensor frames ${state.next}..${tensorFrames.length - 1} are not referenced by any descriptor in the body`,
        { details: { referenced: state.next, frames: tensorFrames.length } },
      );
    }
    return { header, body };
  } catch (err) {
    throw err instanceof WireError ? err.withHeader(header) : err;
  }
}

function tryReadHeader(frame: Uint8Array): Header | undefined {
  if (frame.byteLength > MAX_HEADER_BYTES) return undefined;
  try {
    return checkHeader(unpackMap(frame, "header"));
  } catch (err) {
    return err instanceof WireError ? err.header : undefined;
  }
}

function unpackMap(frame: Uint8Array, what: "header" | "body"): Map<unknown, unknown> {
  let value: unknown;
  try {
    value = unpackr.unpack(frame);
  } catch (err) {
    throw new WireError("MALFORMED", `${what} frame is not msgpack: ${(err as Error).message}`);
  }
  if (!(value instanceof Map)) throw new WireError("MALFORMED", `${what}: expected a msgpack map, got ${describe(value)}`);
  return value;
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
  const shape = Array.isArray(rawShape) ? rawShape.map(safeNumber) : rawShape;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) {
    throw bad(`$tensor: expected a frame index (an integer >= 0), got ${describe(index)}`);
  }
  if (!isDType(dtype)) throw bad(`dtype: expected one of ${DTYPES.join(", ")}, got ${describe(dtype)}`);
  if (!isShape(shape)) throw bad(`shape: expected a list of integers >= 0, got ${describe(shape)}`);

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
  return tensor(dtype, shape, viewFrame(dtype, shape, frame, at, path));
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
