/**
 * Random draws for the fuzzer: bytes, the values a decoder finds hardest (integers at the edges of
 * every msgpack form, floats that are not numbers, strings that are not UTF-8, extension types,
 * nesting about the depth limit, tensor descriptors that lie), all from one seeded Rng.
 */
import type { Rng } from "../../ts/control/rng.js";
import { DTYPES } from "../../ts/wire/dtype.js";
import { MESSAGE_KINDS, PROTOCOL_VERSION } from "../../ts/wire/header.js";
import { type Packable, packMap } from "./msgpack-forms.js";

/** Jobs the fuzzer may ask for: they do bounded work on a bounded body (see engine's cost check). */
export const SAFE_JOBS = ["hello", "ping", "echo", "generate", "sleep"] as const;
/** Job types no worker has. */
const UNKNOWN_JOBS = ["", "nope", "PING", "ping ", "echo\u0000", "sleep.", "héllo", "$tensor", "0", "x".repeat(40)];

export class Draw {
  constructor(readonly rng: Rng) {}

  /** True with probability p. */
  chance(p: number): boolean {
    return this.rng.below(1_000_000) < p * 1_000_000;
  }

  int(min: number, max: number): number {
    return min + this.rng.below(max - min + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.rng.below(items.length)] as T;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const x = this.rng.nextUint32();
      out[i] = x;
      out[i + 1] = x >>> 8;
      out[i + 2] = x >>> 16;
      out[i + 3] = x >>> 24;
    }
    for (; i < n; i++) out[i] = this.rng.below(256);
    return out;
  }

  /** A frame length: mostly small, sometimes kilobytes, rarely hundreds of kilobytes (over a small --max-message-bytes). */
  length(): number {
    const r = this.rng.below(1000);
    if (r < 700) return this.rng.below(65);
    if (r < 950) return this.int(65, 4096);
    if (r < 995) return this.int(4097, 65_536);
    return this.int(65_537, 400_000);
  }

  /** An integer at or beside the edge of a msgpack form, or an ordinary one. */
  edgeInt(): number | bigint {
    return this.pick<number | bigint>([
      0, 1, -1, 31, -32, -33, 127, 128, 255, 256, 65_535, 65_536, -129, -32_769, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
      -(2 ** 31), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n,
      2n ** 64n - 1n, -(2n ** 53n) - 1n, -(2n ** 63n), this.int(0, 1_000_000), -this.int(1, 1_000_000),
    ]);
  }

  float(): Packable {
    const value = this.pick([Number.NaN, Infinity, -Infinity, -0, 0, 1, 0.5, 1e308, 5e-324, -1.5, 3, 2 ** 53, 2 ** 64, 1e-9]);
    return { float: value, single: this.chance(0.2) };
  }

  string(): Packable {
    switch (this.rng.below(8)) {
      case 0:
        return "";
      case 1:
        return this.pick(["request", "cancel", "heartbeat", "result", "v", "id", "kind", "type", "$tensor", "dtype", "shape", "__proto__", "17"]);
      case 2:
        return "é€😀\u0000\uFFFF".repeat(this.int(1, 4));
      case 3: // invalid UTF-8 in a str: fixstr of 4 bytes that are not UTF-8
        return { raw: Uint8Array.of(0xa4, 0xff, 0xfe, 0xc0, 0x80) };
      case 4:
        return "a".repeat(this.pick([31, 32, 255, 256, 5000]));
      default:
        return String.fromCharCode(...Array.from({ length: this.int(1, 12) }, () => this.int(0x20, 0x7e)));
    }
  }

  ext(): Packable {
    switch (this.rng.below(3)) {
      case 0: // a timestamp, valid or not
        return { ext: -1, data: this.bytes(this.pick([4, 8, 12, 3])) };
      case 1:
        return { ext: this.int(-128, 127), data: this.bytes(this.pick([1, 2, 4, 8, 16])) };
      default:
        return { ext: this.int(-128, 127), data: this.bytes(this.int(0, 40)) };
    }
  }

  /** Arrays or maps nested about the depth limit (64). */
  nest(): Packable {
    const depth = this.int(55, 75);
    const asMap = this.chance(0.5);
    let value: Packable = this.chance(0.5) ? 1 : [];
    for (let i = 0; i < depth; i++) value = asMap ? packMap([["k", value]]) : [value];
    return value;
  }

  /** A tensor descriptor, rarely a consistent one. */
  descriptor(): Packable {
    const index: Packable = this.chance(0.7) ? this.int(0, 3) : this.value(0);
    const dtype: Packable = this.chance(0.7) ? this.pick(DTYPES) : this.value(0);
    const shape: Packable = this.chance(0.8) ? this.shape() : this.value(0);
    const entries: [Packable, Packable][] = [["$tensor", index], ["dtype", dtype], ["shape", shape]];
    if (this.chance(0.1)) entries.push([this.string(), this.value(0)]);
    if (this.chance(0.1)) entries.splice(this.rng.below(entries.length), 1);
    if (this.chance(0.2)) entries.reverse();
    return packMap(entries);
  }

  /** A shape: small, with zeros, negative, beyond int64, or too large to exist beside a 0. */
  shape(): Packable {
    switch (this.rng.below(6)) {
      case 0:
        return [0, 2n ** 63n];
      case 1:
        return [this.edgeInt(), this.edgeInt()];
      case 2:
        return [-1];
      case 3:
        return [0, Number.MAX_SAFE_INTEGER, 2];
      default:
        return Array.from({ length: this.int(0, 4) }, () => this.int(0, 4));
    }
  }

  /** Any value; containers only while `depth` < 3. */
  value(depth: number): Packable {
    const r = this.rng.below(100);
    if (r < 20) return this.edgeInt();
    if (r < 30) return this.float();
    if (r < 45) return this.string();
    if (r < 50) return this.bytes(this.int(0, 40));
    if (r < 55) return this.pick([null, true, false]);
    if (r < 60) return this.ext();
    if (r < 65) return { raw: this.bytes(this.int(1, 9)) }; // likely not msgpack
    if (depth >= 3 || r < 70) return this.descriptor();
    if (r < 75) return this.nest();
    if (r < 88) return Array.from({ length: this.int(0, 5) }, () => this.value(depth + 1));
    return packMap(Array.from({ length: this.int(0, 5) }, () => [this.key(), this.value(depth + 1)] as const));
  }

  /** A map key: mostly a string, else any type a decoder must refuse. */
  key(): Packable {
    if (this.chance(0.8)) return this.string();
    return this.pick<Packable>([0, -1, null, true, this.bytes(3), [1], packMap([]), { float: 1.5 }, this.ext()]);
  }

  /** A value for header field `field`: a good one, a neighbour of one, or any value. */
  headerField(field: string): Packable {
    if (this.chance(0.3)) return this.value(1);
    switch (field) {
      case "v":
        return this.pick<Packable>([PROTOCOL_VERSION, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 1, 0, -1, 255, 2 ** 32, { float: PROTOCOL_VERSION }, `${PROTOCOL_VERSION}`]);
      case "id":
        return this.pick<Packable>([0, 1, 2 ** 32 - 1, 2 ** 32, -1, 2n ** 64n - 1n, { float: 7 }, "7", this.edgeInt()]);
      case "kind":
        return this.pick<Packable>([...MESSAGE_KINDS, "", "REQUEST", "requests", this.string()]);
      default:
        return this.pick<Packable>([...SAFE_JOBS, ...UNKNOWN_JOBS, this.string(), "t".repeat(5000)]);
    }
  }
}

/** Jobs the worker runs on its I/O thread (the others run on its pool). */
export const INLINE_JOBS: ReadonlySet<string> = new Set(["ping", "echo"]);
