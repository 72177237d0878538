/**
 * Where the fuzzer's messages come from: valid diagnostic messages built with the project's
 * codec (the corpus), those mutated at the byte, frame and msgpack level, purely random frame
 * sets, and the golden invalid vectors of proto/golden/invalid.json. Every message is frames
 * [head, ...tensors] before any signing; the id given goes into its header, which a mutation may
 * destroy.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Rng } from "../../ts/control/rng.js";
import { projectRoot } from "../../ts/transport/index.js";
import { type Body, encodeMessage } from "../../ts/wire/codec.js";
import { DTYPES, type DType, itemsize, typedArrayConstructor } from "../../ts/wire/dtype.js";
import { type MessageKind, PROTOCOL_VERSION } from "../../ts/wire/header.js";
import { tensor } from "../../ts/wire/tensor.js";
import { FormWriter, type Packable, type PackMap, isPackMap, packMap, readPackable } from "./msgpack-forms.js";
import { Draw } from "./values.js";

/** What a message was made from: a row of the report. */
export const ORIGINS = ["corpus", "mutated", "msgpack", "random", "golden"] as const;
export type Origin = (typeof ORIGINS)[number];

export interface Draft {
  readonly frames: Uint8Array[];
  readonly origin: Origin;
}

interface GoldenCase {
  readonly name: string;
  readonly frames: readonly string[];
}

/** The golden invalid vectors, as frames; those of no frames are left out (ZeroMQ cannot send them). */
export function goldenInvalid(): { readonly name: string; readonly frames: Uint8Array[] }[] {
  const path = join(projectRoot(), "proto", "golden", "invalid.json");
  const { cases } = JSON.parse(readFileSync(path, "utf8")) as { cases: GoldenCase[] };
  return cases
    .filter((c) => c.frames.length > 0)
    .map((c) => ({ name: c.name, frames: c.frames.map((hex) => Uint8Array.from(Buffer.from(hex, "hex"))) }));
}

export class MessageSource {
  private readonly draw: Draw;
  private readonly writer: FormWriter;
  private readonly wideWriter: FormWriter;
  private readonly golden = goldenInvalid();

  constructor(rng: Rng) {
    this.draw = new Draw(rng);
    this.writer = new FormWriter(rng);
    this.wideWriter = new FormWriter(rng, 0.3);
  }

  /** The next message, with `id` in its header unless a mutation destroyed it. */
  next(id: number): Draft {
    const r = this.draw.rng.below(100);
    if (r < 10) return { frames: this.corpus(id), origin: "corpus" };
    if (r < 45) return { frames: this.mutate(this.corpus(id)), origin: "mutated" };
    if (r < 75) return { frames: this.msgpackEdit(this.corpus(id)), origin: "msgpack" };
    if (r < 97) return { frames: this.random(), origin: "random" };
    return { frames: this.draw.pick(this.golden).frames.map((f) => f.slice()), origin: "golden" };
  }

  /** A valid ping: the marker sent after each message. */
  ping(id: number): Uint8Array[] {
    return encode("request", "ping", id, {});
  }

  /** A valid diagnostic message. */
  corpus(id: number): Uint8Array[] {
    const d = this.draw;
    switch (d.rng.below(9)) {
      case 0:
        return encode("request", "hello", id, { protocols: [PROTOCOL_VERSION], client: "mcl-fuzz/1" });
      case 1:
        return encode("request", "ping", id, {});
      case 2:
        return encode("request", "generate", id, { dtype: d.pick(DTYPES), shape: Array.from({ length: d.int(0, 3) }, () => d.int(0, 5)) });
      case 3:
        return encode("request", "sleep", id, { seconds: d.pick([0, 0.0005, 0.001]), steps: d.int(1, 3) });
      case 4:
        return encode("heartbeat", "", id, {});
      case 5:
        return encode("cancel", "", id, {});
      default:
        return encode("request", "echo", id, this.echoBody());
    }
  }

  private echoBody(): Body {
    const d = this.draw;
    const body: Body = {};
    for (let i = d.int(0, 4); i > 0; i--) {
      const key = `k${d.int(0, 99)}`;
      switch (d.rng.below(6)) {
        case 0:
          body[key] = this.tensor(d.pick(DTYPES));
          break;
        case 1:
          body[key] = [this.tensor(d.pick(DTYPES)), { inner: this.tensor(d.pick(DTYPES)) }];
          break;
        case 2:
          body[key] = d.pick(["text", "", "é€😀"]);
          break;
        case 3:
          body[key] = d.pick([0, -1, 2 ** 40, 0.25, true, null]);
          break;
        case 4:
          body[key] = d.bytes(d.int(0, 16));
          break;
        default:
          body[key] = { nested: [1, "two", { three: 3 }] };
      }
    }
    return body;
  }

  private tensor(dtype: DType): ReturnType<typeof tensor> {
    const shape = Array.from({ length: this.draw.int(0, 3) }, () => this.draw.int(0, 3));
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = this.draw.bytes(n * itemsize(dtype));
    if (dtype === "bool") for (let i = 0; i < n; i++) bytes[i] = (bytes[i] as number) & 1;
    return tensor(dtype, shape, new (typedArrayConstructor(dtype))(bytes.buffer, 0, n));
  }

  /** 1 to 3 byte- and frame-level mutations. */
  mutate(frames: Uint8Array[]): Uint8Array[] {
    let out: Uint8Array[] = frames.map((f) => f.slice());
    for (let i = this.draw.int(1, 3); i > 0; i--) out = this.mutateOnce(out);
    return out.length === 0 ? [new Uint8Array(0)] : out;
  }

  private mutateOnce(frames: Uint8Array[]): Uint8Array[] {
    const d = this.draw;
    const at = frames.length > 1 && d.chance(0.3) ? d.rng.below(frames.length) : 0;
    const frame = frames[at] ?? new Uint8Array(0);
    const replace = (f: Uint8Array): Uint8Array[] => frames.map((g, i) => (i === at ? f : g));
    switch (d.rng.below(10)) {
      case 0: {
        // bit flips
        const f = frame.slice();
        for (let i = d.int(1, 8); i > 0 && f.length > 0; i--) {
          const pos = d.rng.below(f.length);
          f[pos] = (f[pos] as number) ^ (1 << d.rng.below(8));
        }
        return replace(f);
      }
      case 1: {
        // bytes replaced by values that mean something to msgpack
        const f = frame.slice();
        const special = [0x00, 0xff, 0x7f, 0x80, 0xc0, 0xc1, 0xc4, 0xc7, 0xcf, 0xd3, 0xd4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0x90, 0x92, 0xa0];
        for (let i = d.int(1, 4); i > 0 && f.length > 0; i--) f[d.rng.below(f.length)] = d.chance(0.5) ? d.pick(special) : d.rng.below(256);
        return replace(f);
      }
      case 2:
        return replace(frame.subarray(0, d.rng.below(frame.length + 1)).slice());
      case 3:
        return replace(concat(frame, d.chance(0.5) ? d.bytes(d.int(1, 64)) : frame.subarray(d.rng.below(frame.length + 1))));
      case 4: {
        // a range deleted or random bytes inserted
        const from = d.rng.below(frame.length + 1);
        const to = Math.min(frame.length, from + d.int(1, 16));
        return replace(d.chance(0.5) ? concat(frame.subarray(0, from), frame.subarray(to)) : concat(frame.subarray(0, from), d.bytes(d.int(1, 16)), frame.subarray(from)));
      }
      case 5: // a frame repeated
        return [...frames.slice(0, at + 1), frame.slice(), ...frames.slice(at + 1)];
      case 6: // a frame removed
        return frames.filter((_, i) => i !== at);
      case 7: {
        // two frames swapped
        const other = d.rng.below(frames.length);
        return frames.map((g, i) => (i === at ? (frames[other] as Uint8Array) : i === other ? frame : g));
      }
      case 8: // a frame added: random, empty, or of an auth frame's or a signature's length
        return [...frames, d.bytes(d.pick([0, 1, 32, 56, d.length()]))];
      default:
        return replace(d.bytes(d.length()));
    }
  }

  /**
   * An edit of the head's msgpack: a header field or the body replaced, a descriptor bent, the
   * head's array reshaped, or the same head in wider msgpack forms; then, sometimes, a byte-level
   * mutation on top.
   */
  msgpackEdit(frames: Uint8Array[]): Uint8Array[] {
    const d = this.draw;
    const head = readPackable(frames[0] as Uint8Array);
    if (!Array.isArray(head) || head.length !== 2) return this.mutate(frames);
    const [header, body] = head as [Packable, Packable];
    if (!isPackMap(header) || !isPackMap(body)) return this.mutate(frames);
    let edited: Packable;
    switch (d.rng.below(7)) {
      case 0:
      case 1:
        edited = [this.editHeader(header), body];
        break;
      case 2:
      case 3:
        edited = [header, this.editBody(body)];
        break;
      case 4:
        edited = this.reshapeHead(header, body);
        break;
      case 5: // body values that describe tensors, consistent or not
        edited = [header, packMap([...body.map, [`t${d.int(0, 9)}`, d.descriptor()]])];
        break;
      default: // the same message in wider forms: it must be answered as the canonical one is
        return [this.wideWriter.write(head), ...frames.slice(1)];
    }
    const out = [(d.chance(0.3) ? this.wideWriter : this.writer).write(edited), ...frames.slice(1)];
    if (d.chance(0.15)) out.push(d.bytes(d.pick([0, 8, d.length()])));
    return d.chance(0.1) ? this.mutate(out) : out;
  }

  private editHeader(header: PackMap): PackMap {
    const d = this.draw;
    const entries = [...header.map];
    const r = d.rng.below(10);
    if (r < 7 && entries.length > 0) {
      const i = d.rng.below(entries.length);
      const [key] = entries[i] as readonly [Packable, Packable];
      entries[i] = [key, d.headerField(typeof key === "string" ? key : "")];
    } else if (r === 7 && entries.length > 0) {
      entries.splice(d.rng.below(entries.length), 1);
    } else if (r === 8) {
      entries.push([d.chance(0.5) ? d.pick(["v", "id", "kind", "type"]) : d.key(), d.value(1)]);
    } else {
      for (let i = entries.length - 1; i > 0; i--) {
        const j = d.rng.below(i + 1);
        [entries[i], entries[j]] = [entries[j] as readonly [Packable, Packable], entries[i] as readonly [Packable, Packable]];
      }
    }
    return packMap(entries);
  }

  private editBody(body: PackMap): Packable {
    const d = this.draw;
    if (d.chance(0.1)) return d.value(0); // not a map at all
    if (d.chance(0.1)) return packMap([["deep", d.nest()]]);
    const entries = [...body.map];
    if (entries.length > 0 && d.chance(0.6)) {
      const i = d.rng.below(entries.length);
      const [key, value] = entries[i] as readonly [Packable, Packable];
      entries[i] = d.chance(0.2) ? [d.key(), value] : [key, this.editValue(value, 0)];
    } else {
      entries.push([d.key(), d.value(0)]);
    }
    return packMap(entries);
  }

  /** `value` with one node somewhere inside it replaced. */
  private editValue(value: Packable, depth: number): Packable {
    const d = this.draw;
    if (depth < 4 && Array.isArray(value) && value.length > 0 && d.chance(0.7)) {
      const items = [...(value as readonly Packable[])];
      const i = d.rng.below(items.length);
      items[i] = this.editValue(items[i] as Packable, depth + 1);
      return items;
    }
    if (depth < 4 && isPackMap(value) && value.map.length > 0 && d.chance(0.7)) {
      const entries = [...value.map];
      const i = d.rng.below(entries.length);
      const [key, item] = entries[i] as readonly [Packable, Packable];
      entries[i] = [key, this.editValue(item, depth + 1)];
      return packMap(entries);
    }
    return d.value(1);
  }

  private reshapeHead(header: PackMap, body: PackMap): Packable {
    const d = this.draw;
    return d.pick<Packable>([[header], [header, body, d.value(1)], [body, header], header, [], [header, body, body], [[header, body]], packMap([["header", header]])]);
  }

  /** 1 to 5 frames of random bytes; the head sometimes opens like a real one. */
  random(): Uint8Array[] {
    const d = this.draw;
    const frames = Array.from({ length: d.int(1, 5) }, () => d.bytes(d.length()));
    const head = frames[0] as Uint8Array;
    const r = d.rng.below(4);
    if (r === 0 && head.length > 0) head[0] = 0x92; // [?, ?]
    if (r === 1) frames[0] = concat(Uint8Array.of(0x92), this.writer.write(d.value(0)), this.writer.write(d.value(0)));
    return frames;
  }
}

function encode(kind: MessageKind, type: string, id: number, body: Body): Uint8Array[] {
  return encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind, type }, body });
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
