import { describe, expect, it } from "vitest";
import { type Header, WireError, decodeMessage, encodeMessage, type Tensor } from "../../../ts/wire/index.js";
import {
  type InvalidCase,
  type ValidCase,
  buildBody,
  descriptorsOf,
  fromHex,
  fromJson,
  hexFrames,
  loadCases,
  tensorFromSpec,
  valuesOf,
} from "./golden.js";

const VALID = loadCases<ValidCase>("vectors.json");
const INVALID = loadCases<InvalidCase>("invalid.json");
const keyOf = (c: { key: string | null }) => (c.key === null ? {} : { key: fromHex(c.key) });

describe("golden vectors", () => {
  it("cover every dtype, 0-d and empty tensors", () => {
    const dtypes = new Set(VALID.flatMap((c) => c.tensors.map((t) => t.dtype)));
    expect([...dtypes].sort()).toEqual(["bfloat16", "bool", "float16", "float32", "int32", "int64", "uint8"]);
    const shapes = VALID.flatMap((c) => c.tensors.map((t) => JSON.stringify(t.shape)));
    expect(shapes).toEqual(expect.arrayContaining(["[]", "[0]", "[2,0,3]"]));
  });

  it.each(VALID.map((c) => [c.name, c] as const))("%s decodes to its JSON form", (_name, c) => {
    const msg = decodeMessage(c.frames.map(fromHex), keyOf(c));
    expect(msg.header).toEqual(c.header);
    const tensors: Tensor[] = [];
    // toStrictEqual tells -0 from 0 (Object.is) and number from bigint.
    expect(descriptorsOf(msg.body, tensors)).toStrictEqual(fromJson(c.body));
    expect(tensors.map((t) => ({ dtype: t.dtype, shape: [...t.shape], values: valuesOf(t) }))).toEqual(c.tensors);
  });

  it.each(VALID.map((c) => [c.name, c] as const))("%s re-encodes byte for byte", (_name, c) => {
    const msg = decodeMessage(c.frames.map(fromHex), keyOf(c));
    expect(hexFrames(encodeMessage(msg, keyOf(c)))).toEqual(c.frames);
  });

  it.each(VALID.map((c) => [c.name, c] as const))("%s encodes from its JSON form", (_name, c) => {
    const tensors = c.tensors.map(tensorFromSpec);
    const body = buildBody(fromJson(c.body), tensors) as Record<string, never>;
    const frames = encodeMessage({ header: c.header as Header, body }, keyOf(c));
    expect(hexFrames(frames)).toEqual(c.frames);
  });
});

describe("invalid golden vectors", () => {
  it.each(INVALID.map((c) => [c.name, c] as const))("%s is refused", (_name, c) => {
    const opts = { ...keyOf(c), ...(c.max_bytes !== null && { maxBytes: c.max_bytes }) };
    let caught: unknown;
    try {
      decodeMessage(c.frames.map(fromHex), opts);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(WireError);
    const err = caught as WireError;
    expect({ code: err.code, id: err.header?.id ?? null }).toEqual({ code: c.code, id: c.header_id });
  });
});
