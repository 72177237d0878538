/**
 * A msgpack writer for the fuzzer: it writes what the project's codecs never would (maps with
 * non-string or repeated keys, extension types, integers and containers in wider forms than the
 * smallest, raw bytes spliced in), so that mutated heads exercise every path of a decoder.
 */
import { Unpackr } from "msgpackr";
import type { Rng } from "../../ts/control/rng.js";

/** A msgpack value as the fuzzer builds it. */
export type Packable =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly Packable[]
  | PackMap
  | PackExt
  | PackFloat
  | PackRaw;

/** A map as a list of entries: keys of any type, repeated keys allowed. */
export interface PackMap {
  readonly map: readonly (readonly [Packable, Packable])[];
}
/** An extension value (type -128..127). */
export interface PackExt {
  readonly ext: number;
  readonly data: Uint8Array;
}
/** A number written as a float (float32 or float64) even when it is integral. */
export interface PackFloat {
  readonly float: number;
  readonly single?: boolean;
}
/** Bytes written as they are: anything, valid msgpack or not. */
export interface PackRaw {
  readonly raw: Uint8Array;
}

export function packMap(entries: readonly (readonly [Packable, Packable])[]): PackMap {
  return { map: entries };
}

function isObjectOf<K extends string>(value: Packable, key: K): value is Packable & Record<K, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && key in value;
}

export const isPackMap = (value: Packable): value is PackMap => isObjectOf(value, "map");

const encoder = new TextEncoder();
/** msgpack's prefixes of the unsigned and signed integer forms, by byte count. */
const UINT_PREFIX: Readonly<Record<number, number>> = { 1: 0xcc, 2: 0xcd, 4: 0xce, 8: 0xcf };
const INT_PREFIX: Readonly<Record<number, number>> = { 1: 0xd0, 2: 0xd1, 4: 0xd2, 8: 0xd3 };

/**
 * Writes msgpack. With `widen` (a probability) each integer, string, binary, array and map is
 * written, that often, in a wider form than its smallest one: still valid msgpack, not canonical.
 */
export class FormWriter {
  private bytes = new Uint8Array(256);
  private length = 0;

  constructor(
    private readonly rng: Rng,
    private readonly widen = 0,
  ) {}

  write(value: Packable): Uint8Array {
    this.length = 0;
    this.value(value);
    return this.bytes.slice(0, this.length);
  }

  private value(value: Packable): void {
    if (value === null) return this.byte(0xc0);
    if (value === false) return this.byte(0xc2);
    if (value === true) return this.byte(0xc3);
    if (typeof value === "number") return Number.isInteger(value) && !Object.is(value, -0) ? this.int(BigInt(value)) : this.float64(value);
    if (typeof value === "bigint") return this.int(value);
    if (typeof value === "string") return this.str(encoder.encode(value));
    if (value instanceof Uint8Array) return this.bin(value);
    if (Array.isArray(value)) {
      this.container(value.length, 0x90, 0xdc, 0xdd);
      for (const item of value as readonly Packable[]) this.value(item);
      return;
    }
    if (isObjectOf(value, "map")) {
      const { map } = value as PackMap;
      this.container(map.length, 0x80, 0xde, 0xdf);
      for (const [k, v] of map) {
        this.value(k);
        this.value(v);
      }
      return;
    }
    if (isObjectOf(value, "ext")) return this.ext(value as PackExt);
    if (isObjectOf(value, "float")) {
      const { float, single } = value as PackFloat;
      if (single) {
        this.byte(0xca);
        const view = new DataView(new ArrayBuffer(4));
        view.setFloat32(0, float);
        return this.append(new Uint8Array(view.buffer));
      }
      return this.float64(float);
    }
    this.append((value as PackRaw).raw);
  }

  private wide(): boolean {
    return this.widen > 0 && this.rng.below(1_000_000) < this.widen * 1_000_000;
  }

  /** An integer in its smallest form (or a wider one); beyond int64 / uint64 it is clamped to their ends. */
  private int(value: bigint): void {
    if (value >= 0n) {
      if (value >= 1n << 64n) return this.fixed(0xcf, (1n << 64n) - 1n, 8);
      let size = value < 0x80n ? 0 : value < 0x100n ? 1 : value < 0x1_0000n ? 2 : value < 0x1_0000_0000n ? 4 : 8;
      if (this.wide() && size < 8) size = size === 0 ? 1 : size * 2;
      if (size === 0) return this.byte(Number(value));
      return this.fixed(UINT_PREFIX[size] as number, value, size);
    }
    if (value < -(1n << 63n)) return this.fixed(0xd3, -(1n << 63n), 8);
    if (value >= -32n && !this.wide()) return this.byte(Number(value) & 0xff);
    const size = value >= -0x80n ? 1 : value >= -0x8000n ? 2 : value >= -0x8000_0000n ? 4 : 8;
    this.fixed(INT_PREFIX[size] as number, value, size);
  }

  private fixed(prefix: number, value: bigint, size: number): void {
    this.byte(prefix);
    const bits = BigInt.asUintN(size * 8, value);
    for (let i = size - 1; i >= 0; i--) this.byte(Number((bits >> BigInt(i * 8)) & 0xffn));
  }

  private float64(value: number): void {
    this.byte(0xcb);
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value);
    this.append(new Uint8Array(view.buffer));
  }

  private str(utf8: Uint8Array): void {
    const n = utf8.length;
    if (n < 32 && !this.wide()) this.byte(0xa0 | n);
    else this.sized(n, 0xd9, 0xda, 0xdb);
    this.append(utf8);
  }

  private bin(data: Uint8Array): void {
    this.sized(data.length, 0xc4, 0xc5, 0xc6);
    this.append(data);
  }

  private container(n: number, fix: number, p16: number, p32: number): void {
    if (n < 16 && !this.wide()) return this.byte(fix | n);
    if (n < 0x1_0000 && !this.wide()) return this.fixed(p16, BigInt(n), 2);
    this.fixed(p32, BigInt(n), 4);
  }

  /** A length in the smallest of the 8-, 16- and 32-bit forms (or a wider one). */
  private sized(n: number, p8: number, p16: number, p32: number): void {
    let size = n < 0x100 ? 1 : n < 0x1_0000 ? 2 : 4;
    if (this.wide() && size < 4) size *= 2;
    this.fixed(size === 1 ? p8 : size === 2 ? p16 : p32, BigInt(n), size);
  }

  private ext({ ext, data }: PackExt): void {
    const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[data.length];
    if (fixed !== undefined && !this.wide()) this.byte(fixed);
    else this.sized(data.length, 0xc7, 0xc8, 0xc9);
    this.byte(ext & 0xff);
    this.append(data);
  }

  private byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }

  private append(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}

// Maps as Map with keys of any type, 64-bit integers as bigint: nothing of the head is lost.
const reader = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "bigint" });

/** A msgpack buffer as a Packable tree; undefined when it is not one msgpack value. */
export function readPackable(bytes: Uint8Array): Packable | undefined {
  let value: unknown;
  try {
    value = reader.unpack(bytes);
  } catch {
    return undefined;
  }
  return toPackable(value);
}

function toPackable(value: unknown): Packable | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean" || typeof value === "bigint" || typeof value === "string") return value;
  if (typeof value === "number") return Number.isInteger(value) ? value : { float: value };
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    const items: Packable[] = [];
    for (const item of value) {
      const packable = toPackable(item);
      if (packable === undefined) return undefined;
      items.push(packable);
    }
    return items;
  }
  if (value instanceof Map) {
    const entries: (readonly [Packable, Packable])[] = [];
    for (const [k, v] of value as Map<unknown, unknown>) {
      const key = toPackable(k);
      const item = toPackable(v);
      if (key === undefined || item === undefined) return undefined;
      entries.push([key, item]);
    }
    return packMap(entries);
  }
  return undefined; // an extension type or a timestamp: the corpus holds none
}
