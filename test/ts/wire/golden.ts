/** Reads the committed golden vectors (proto/golden) and turns their JSON forms into wire values. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type Body,
  type BodyValue,
  type DType,
  type Tensor,
  type TensorData,
  isTensor,
  tensor,
} from "../../../ts/wire/index.js";

export interface TensorSpec {
  dtype: DType;
  shape: number[];
  values: (number | boolean | string)[];
}

export interface ValidCase {
  name: string;
  description: string;
  key: string | null;
  /** The nonce (hex) and timestamp (ms) of a signed message's auth frame. */
  auth: { nonce: string; timestamp: number } | null;
  frames: string[];
  header: { v: number; id: number; kind: string; type: string };
  body: Record<string, unknown>;
  tensors: TensorSpec[];
}

export interface InvalidCase {
  name: string;
  description: string;
  frames: string[];
  key: string | null;
  max_bytes: number | null;
  /** The receiver's clock: decode with a replay guard reading it. */
  now: number | null;
  /** Decoded (and accepted) once before, by the same guard. */
  replayed: boolean;
  code: string;
  header_id: number | null;
  /** details.reason of an AUTH_FAILED error. */
  reason: string | null;
}

const GOLDEN = fileURLToPath(new URL("../../../proto/golden/", import.meta.url));

export function loadCases<C>(file: "vectors.json" | "invalid.json"): C[] {
  return loadGolden<{ cases: C[] }>(file).cases;
}

export function loadGolden<T>(file: "vectors.json" | "invalid.json"): T {
  return JSON.parse(readFileSync(GOLDEN + file, "utf8")) as T;
}

export const fromHex = (hex: string): Buffer => Buffer.from(hex, "hex");

/** {"$int": "..."} → bigint, {"$bytes": "hex"} → Buffer; everything else as is. */
export function fromJson(value: unknown): BodyValue {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    const record = value as Record<string, unknown>;
    if (keys.length === 1 && keys[0] === "$int") return BigInt(record.$int as string);
    if (keys.length === 1 && keys[0] === "$bytes") return fromHex(record.$bytes as string);
    const out: Body = {};
    for (const key of keys) out[key] = fromJson(record[key]);
    return out;
  }
  return value as BodyValue;
}

export function tensorFromSpec(spec: TensorSpec): Tensor {
  const { dtype, shape, values } = spec;
  const data = ((): TensorData => {
    switch (dtype) {
      case "float32":
        return Float32Array.from(values as number[]);
      case "float16":
      case "bfloat16":
        return Uint16Array.from(values as number[]);
      case "int64":
        return BigInt64Array.from((values as string[]).map((v) => BigInt(v)));
      case "int32":
        return Int32Array.from(values as number[]);
      case "uint8":
        return Uint8Array.from(values as number[]);
      case "bool":
        return Uint8Array.from((values as boolean[]).map((v) => (v ? 1 : 0)));
    }
  })();
  return tensor(dtype, shape, data as never);
}

export function valuesOf(t: Tensor): (number | boolean | string)[] {
  if (t.dtype === "int64") return Array.from(t.data as BigInt64Array, (v) => v.toString());
  if (t.dtype === "bool") return Array.from(t.data as Uint8Array, (v) => v === 1);
  return Array.from(t.data as Float32Array);
}

/** The golden body with each descriptor replaced by its tensor. */
export function buildBody(wire: BodyValue, tensors: readonly Tensor[]): BodyValue {
  if (Array.isArray(wire)) return wire.map((item: BodyValue) => buildBody(item, tensors));
  if (wire !== null && typeof wire === "object" && !(wire instanceof Uint8Array) && !isTensor(wire)) {
    const record = wire as { readonly [key: string]: BodyValue };
    if ("$tensor" in record) return tensors[Number(record.$tensor)] as Tensor;
    const out: Body = {};
    for (const key of Object.keys(record)) out[key] = buildBody(record[key] as BodyValue, tensors);
    return out;
  }
  return wire;
}

/** A decoded body with each tensor replaced by its descriptor, numbered in body order. */
export function descriptorsOf(body: BodyValue, found: Tensor[]): BodyValue {
  if (isTensor(body)) {
    found.push(body);
    return { $tensor: found.length - 1, dtype: body.dtype, shape: [...body.shape] };
  }
  if (Array.isArray(body)) return body.map((item: BodyValue) => descriptorsOf(item, found));
  if (body !== null && typeof body === "object" && !(body instanceof Uint8Array)) {
    const out: Body = {};
    for (const [key, value] of Object.entries(body)) out[key] = descriptorsOf(value, found);
    return out;
  }
  return body;
}

/** Frames as hex strings, for comparing bytes (encodeMessage returns Uint8Arrays). */
export function hexFrames(frames: readonly Uint8Array[]): string[] {
  return frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString("hex"));
}
