import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import {
  type Body,
  type BodyValue,
  DTYPES,
  type Header,
  MESSAGE_KINDS,
  PROTOCOL_VERSION,
  type Tensor,
  WireError,
  decodeMessage,
  encodeMessage,
  tensor,
} from "../../../ts/wire/index.js";
import { MsgpackWriter } from "../../../ts/wire/msgpack-writer.js";
import { canonicalHeaderBytes, readCanonicalHeader, writeCanonicalHeader } from "../../../ts/wire/header-frame.js";
import { descriptorsOf, hexFrames, valuesOf } from "./golden.js";

const V = PROTOCOL_VERSION;
const ECHO: Header = { v: V, id: 7, kind: "request", type: "echo" };

/** Frame 0 built by hand: the msgpack array [header, body] from the body's bytes (msgpackr writes the header as a map16). */
function head(header: Record<string, unknown>, body: Uint8Array = Buffer.from([0x80])): Buffer {
  return Buffer.concat([Buffer.from([0x92]), pack(header), body]);
}

function caught(fn: () => unknown): WireError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WireError) return err;
    throw err;
  }
  throw new Error("expected a WireError");
}

describe("zero copy", () => {
  it("a decoded Float32Array views its frame's memory", () => {
    const frames = encodeMessage({ header: ECHO, body: { x: tensor("float32", [2, 3], new Float32Array([0, 1, 2, 3, 4, 5])) } });
    const frame = Buffer.from(frames[1] as Uint8Array); // a fresh Buffer, as zeromq.js hands over
    const x = decodeMessage([frames[0] as Uint8Array, frame]).body.x as Tensor<"float32">;
    expect(x.data.buffer).toBe(frame.buffer);
    expect(x.data.byteOffset).toBe(frame.byteOffset);
    frame.writeFloatLE(42.5, 4);
    expect(x.data[1]).toBe(42.5);
  });

  it("an encoded tensor frame views the tensor's memory", () => {
    const data = new BigInt64Array([1n, -2n, 3n]);
    const frame = encodeMessage({ header: ECHO, body: { t: tensor("int64", [3], data) } })[1] as Uint8Array;
    expect(frame.buffer).toBe(data.buffer);
    data[0] = 99n;
    expect(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).readBigInt64LE(0)).toBe(99n);
  });

  it("a misaligned frame is copied into aligned memory", () => {
    const raw = Buffer.alloc(13);
    const frame = raw.subarray(1); // byteOffset odd: no Float32Array view possible
    frame.writeFloatLE(1.5, 0);
    frame.writeFloatLE(-2, 4);
    frame.writeFloatLE(3.25, 8);
    const body = pack({ x: { $tensor: 0, dtype: "float32", shape: [3] } });
    expect(frame.byteOffset % 4).not.toBe(0);
    const x = decodeMessage([head({ v: V, id: 1, kind: "request", type: "echo" }, body), frame]).body.x as Tensor<"float32">;
    expect(Array.from(x.data)).toEqual([1.5, -2, 3.25]);
    expect(x.data.byteOffset % 4).toBe(0);
    expect(x.data.buffer).not.toBe(raw.buffer);
  });
});

describe("decoding", () => {
  it("keeps a __proto__ key as data", () => {
    const body = Buffer.from("81a95f5f70726f746f5f5f81a178c3", "hex"); // {"__proto__": {"x": true}}
    const decoded = decodeMessage([head({ v: V, id: 1, kind: "request", type: "echo" }, body)]).body;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("names the field and the sizes of a tensor mismatch, with the header", () => {
    const body = pack({ batch: { x: { $tensor: 0, dtype: "float32", shape: [2, 2] } } });
    const err = caught(() => decodeMessage([head({ v: V, id: 3, kind: "request", type: "echo" }, body), Buffer.alloc(15)]));
    expect(err.code).toBe("TENSOR_MISMATCH");
    expect(err.message).toBe("batch.x: a float32 tensor of shape [2, 2] needs 16 bytes, its frame has 15");
    expect(err.details).toEqual({ path: "batch.x", expected_bytes: 16, frame_bytes: 15 });
    expect(err.header).toEqual({ v: V, id: 3, kind: "request", type: "echo" });
  });

  it("reports an unsupported version with the version and the header", () => {
    const err = caught(() => decodeMessage([head({ v: V + 1, id: 5, kind: "request", type: "ping" })]));
    expect(err.code).toBe("UNSUPPORTED_VERSION");
    expect(err.header).toEqual({ v: V + 1, id: 5, kind: "request", type: "ping" });
    expect(err.details).toEqual({ version: V + 1, supported: [V] });
    expect(err.message).toMatch(
      new RegExp(`this side speaks ${V}: upgrade this side, which is older \\(the SDK and the worker must speak the same protocol version\\)$`),
    );
  });

  it("refuses the previous version's hello naming both versions and the fix, with its header", () => {
    const hello = pack({ protocols: [V - 1], client: "mcl-bridge/0.1.0" });
    const err = caught(() => decodeMessage([head({ v: V - 1, id: 1, kind: "request", type: "hello" }, hello)]));
    expect(err.code).toBe("UNSUPPORTED_VERSION");
    expect(err.header).toEqual({ v: V - 1, id: 1, kind: "request", type: "hello" });
    expect(err.message).toBe(
      `protocol version ${V - 1} is not supported; this side speaks ${V}: upgrade the other end, which is older` +
        " (the SDK and the worker must speak the same protocol version)",
    );
  });

  it("reads the header of a long head for an error without decoding the head", () => {
    const frames = encodeMessage({ header: ECHO, body: { pad: "x".repeat(10_000) } });
    const err = caught(() => decodeMessage(frames, { maxBytes: 1000 }));
    expect([err.code, err.header]).toEqual(["MESSAGE_TOO_LARGE", ECHO]);
  });

  it("names protocol version 1's framing", () => {
    const err = caught(() => decodeMessage([Buffer.alloc(0), pack({ v: 1, id: 5, kind: "request", type: "ping" }), Buffer.from([0x80])]));
    expect(err.code).toBe("MALFORMED");
    expect(err.message).toMatch(/looks like protocol version 1/);
  });

  it("names a signature sent to a receiver without a key", () => {
    const err = caught(() => decodeMessage(encodeMessage({ header: ECHO, body: {} }, { key: Buffer.from("k") })));
    expect([err.code, err.header]).toEqual(["AUTH_FAILED", ECHO]);
    expect(err.message).toMatch(/is signed .* and this side has no key/);
  });

  it("counts every frame against maxBytes", () => {
    const frames = encodeMessage({ header: ECHO, body: { x: tensor("float32", [4], new Float32Array(4)) } });
    const total = frames.reduce((n, f) => n + f.byteLength, 0);
    expect(decodeMessage(frames, { maxBytes: total }).header).toEqual(ECHO);
    const err = caught(() => decodeMessage(frames, { maxBytes: total - 1 }));
    expect([err.code, err.header]).toEqual(["MESSAGE_TOO_LARGE", ECHO]);
  });

  it("refuses a tampered tensor frame of a signed message", () => {
    const key = Buffer.from("k");
    const frames = encodeMessage({ header: ECHO, body: { x: tensor("uint8", [2], new Uint8Array([1, 2])) } }, { key });
    expect(decodeMessage(frames, { key }).header).toEqual(ECHO);
    const tampered = [frames[0] as Uint8Array, Buffer.from([1, 3]), frames[2] as Uint8Array];
    const err = caught(() => decodeMessage(tampered, { key }));
    expect([err.code, err.header]).toEqual(["AUTH_FAILED", ECHO]);
  });
});

// The same bytes as in test/py/wire/test_codec.py: wider msgpack forms than needed (array16,
// map16, int8, uint64, str8, int64) are accepted, and re-encoding writes the canonical ones.
// The version byte follows V, a positive fixint below 128 either way.
const VERSION_HEX = V.toString(16).padStart(2, "0");
const NONCANONICAL_HEAD =
  "dc0002" +
  `de0004a176d0${VERSION_HEX}a26964cf000000000000002aa46b696e64d90772657175657374a474797065a46563686f` +
  "de0002a178d3fffffffffffffffed9017ac40100";

describe("non-canonical input", () => {
  it("is accepted and re-encoded canonically", () => {
    const msg = decodeMessage([Buffer.from(NONCANONICAL_HEAD, "hex")]);
    expect(msg).toStrictEqual({ header: { v: V, id: 42, kind: "request", type: "echo" }, body: { x: -2, z: Buffer.from([0]) } });
    expect(hexFrames(encodeMessage(msg))).toEqual([
      "92" + `84a176${VERSION_HEX}a269642aa46b696e64a772657175657374a474797065a46563686f` + "82a178fea17ac40100",
    ]);
  });
});

describe("the canonical header, byte by byte", () => {
  const general = (header: Header): string => {
    const w = new MsgpackWriter(64);
    w.map(4);
    for (const key of ["v", "id", "kind", "type"] as const) {
      w.str(key);
      if (key === "kind" || key === "type") w.str(header[key]);
      else w.number(header[key]);
    }
    return Buffer.from(w.finish()).toString("hex");
  };
  const headers = MESSAGE_KINDS.flatMap((kind) =>
    [0, 1, 127, 128, 255, 256, 65535, 65536, 0xffff_ffff].flatMap((id) =>
      (kind === "heartbeat" || kind === "cancel" ? [""] : ["", "ping", "model.create", "x".repeat(31)]).map((type) => ({ v: V, id, kind, type })),
    ),
  );

  it("writes what the general msgpack writer writes, and reads it back", () => {
    for (const header of headers) {
      const out = new Uint8Array(canonicalHeaderBytes(header) as number);
      expect(writeCanonicalHeader(out, 0, header)).toBe(out.length);
      expect(Buffer.from(out).toString("hex")).toBe(general(header));
      expect(readCanonicalHeader(out, 0)).toEqual({ header, end: out.length });
      for (let cut = 0; cut < out.length; cut++) expect(readCanonicalHeader(out.subarray(0, cut), 0)).toBeUndefined();
    }
  });

  it("leaves other forms to the general path", () => {
    expect(canonicalHeaderBytes({ ...ECHO, type: "x".repeat(32) })).toBeUndefined();
    expect(canonicalHeaderBytes({ ...ECHO, type: "échо" })).toBeUndefined();
    const wide = Buffer.from(NONCANONICAL_HEAD, "hex");
    expect(readCanonicalHeader(wide, 3)).toBeUndefined();
  });
});

describe("encoding", () => {
  it.each([
    [{ x: new Float32Array(2) }, "x: a Float32Array cannot be sent as is; wrap it with tensor(dtype, shape, data)"],
    [{ m: { $tensor: 0 } }, 'm: the key "$tensor" is reserved for tensor descriptors'],
    [{ d: new Date(0) }, "d: a Date cannot be encoded"],
    [{ u: undefined }, "u: a value of type undefined cannot be encoded"],
    [{ n: [2n ** 64n] }, "n[0]: 18446744073709551616 does not fit"],
    [{ s: "\ud800" }, "s: string has a lone UTF-16 surrogate"],
  ])("refuses %o", (body, message) => {
    const err = caught(() => encodeMessage({ header: ECHO, body: body as unknown as Body }));
    expect(err.code).toBe("MALFORMED");
    expect(err.message.startsWith(message)).toBe(true);
    expect(err.header).toEqual(ECHO);
  });

  it("refuses a tensor whose data does not match its shape", () => {
    const bad = { dtype: "int32", shape: [3], data: new Int32Array(2) } as Tensor;
    const err = caught(() => encodeMessage({ header: ECHO, body: { t: bad } }));
    expect([err.code, err.message]).toEqual(["TENSOR_MISMATCH", "t: shape [3] needs 3 elements, the int32 data has 2"]);
    expect(() => tensor("int32", [3], new Int32Array(2))).toThrow(WireError);
    expect(() => tensor("float16", [1], new Float32Array(1) as never)).toThrow(/Uint16Array/);
  });

  it("checks the header", () => {
    expect(() => encodeMessage({ header: { v: V, id: 1, kind: "heartbeat", type: "ping" }, body: {} })).toThrow(
      /a heartbeat has type/,
    );
    expect(() => encodeMessage({ header: { v: V, id: -1, kind: "request", type: "ping" }, body: {} })).toThrow(/header\.id/);
  });

  it("writes integers in the smallest form and other numbers as float64", () => {
    const headerHex = (hexFrames(encodeMessage({ header: ECHO, body: {} }))[0] as string).slice(0, -2); // less the empty body
    const body = (value: BodyValue) => hexFrames(encodeMessage({ header: ECHO, body: { n: value } }))[0]?.slice(headerHex.length);
    expect(body(1)).toBe("81a16e01");
    expect(body(-33)).toBe("81a16ed0df");
    expect(body(2 ** 32)).toBe("81a16ecf0000000100000000");
    expect(body(5n)).toBe("81a16e05");
    expect(body(0.5)).toBe("81a16ecb3fe0000000000000");
    expect(body(-0)).toBe("81a16ecb8000000000000000");
    expect(body(2 ** 53)).toBe("81a16ecb4340000000000000");
  });
});

const dtypeArb = fc.constantFrom(...DTYPES);
const tensorArb = fc.tuple(dtypeArb, fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })).map(([dtype, shape]) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data =
    dtype === "float32"
      ? Float32Array.from({ length: n }, (_, i) => i / 4)
      : dtype === "int64"
        ? BigInt64Array.from({ length: n }, (_, i) => BigInt(i) - 2n)
        : dtype === "int32"
          ? Int32Array.from({ length: n }, (_, i) => -i)
          : dtype === "float16" || dtype === "bfloat16"
            ? Uint16Array.from({ length: n }, (_, i) => i * 257)
            : Uint8Array.from({ length: n }, (_, i) => i % 2);
  return tensor(dtype, shape, data as never) as Tensor;
});
const keyArb = fc.string().filter((k) => k !== "$tensor" && k !== "__proto__" && !/^(0|[1-9]\d*)$/.test(k));
const valueArb: fc.Arbitrary<BodyValue> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d) || Math.abs(d) > Number.MAX_SAFE_INTEGER || Object.is(d, -0)),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).filter((b) => b < -(2n ** 53n) || b > 2n ** 53n),
    fc.string(),
    fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
    tensorArb,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(keyArb, tie("value"), { maxKeys: 3 }),
  ),
})).value as fc.Arbitrary<BodyValue>;

describe("round trip", () => {
  it("any body decodes to itself and re-encodes to the same frames", () => {
    fc.assert(
      fc.property(fc.dictionary(keyArb, valueArb, { maxKeys: 4 }), (body) => {
        const frames = encodeMessage({ header: ECHO, body: body as Body });
        const decoded = decodeMessage(frames);
        const sent: Tensor[] = [];
        const received: Tensor[] = [];
        expect(descriptorsOf(decoded.body, received)).toStrictEqual(descriptorsOf(body as Body, sent));
        expect(received.map(valuesOf)).toEqual(sent.map(valuesOf));
        expect(hexFrames(encodeMessage(decoded))).toEqual(hexFrames(frames));
      }),
      { numRuns: 150 },
    );
  });
});
