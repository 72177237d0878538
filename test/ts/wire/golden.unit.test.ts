import { describe, expect, it } from "vitest";
import {
  type AuthTag,
  type DecodeOptions,
  type Header,
  REPLAY_WINDOW_MS,
  ReplayGuard,
  WireError,
  decodeMessage,
  encodeMessage,
  type Tensor,
} from "../../../ts/wire/index.js";
import {
  type InvalidCase,
  type ValidCase,
  buildBody,
  descriptorsOf,
  fromHex,
  fromJson,
  hexFrames,
  loadCases,
  loadGolden,
  tensorFromSpec,
  valuesOf,
} from "./golden.js";

const VALID = loadCases<ValidCase>("vectors.json");
const INVALID = loadCases<InvalidCase>("invalid.json");
const keyOf = (c: { key: string | null }) => (c.key === null ? {} : { key: fromHex(c.key) });
const authOf = (c: ValidCase): AuthTag | undefined =>
  c.auth === null ? undefined : { nonce: fromHex(c.auth.nonce), timestampMs: c.auth.timestamp };
/** The key and the auth frame's nonce and timestamp: what re-encodes a vector byte for byte. */
const signingOf = (c: ValidCase) => {
  const auth = authOf(c);
  return { ...keyOf(c), ...(auth && { auth }) };
};

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
    expect(msg.auth && { nonce: Buffer.from(msg.auth.nonce).toString("hex"), timestamp: msg.auth.timestampMs }).toEqual(c.auth ?? undefined);
    const tensors: Tensor[] = [];
    // toStrictEqual tells -0 from 0 (Object.is) and number from bigint.
    expect(descriptorsOf(msg.body, tensors)).toStrictEqual(fromJson(c.body));
    expect(tensors.map((t) => ({ dtype: t.dtype, shape: [...t.shape], values: valuesOf(t) }))).toEqual(c.tensors);
  });

  it.each(VALID.map((c) => [c.name, c] as const))("%s re-encodes byte for byte", (_name, c) => {
    const msg = decodeMessage(c.frames.map(fromHex), keyOf(c));
    expect(hexFrames(encodeMessage(msg, signingOf(c)))).toEqual(c.frames);
  });

  it.each(VALID.map((c) => [c.name, c] as const))("%s encodes from its JSON form", (_name, c) => {
    const tensors = c.tensors.map(tensorFromSpec);
    const body = buildBody(fromJson(c.body), tensors) as Record<string, never>;
    const frames = encodeMessage({ header: c.header as Header, body }, signingOf(c));
    expect(hexFrames(frames)).toEqual(c.frames);
  });
});

describe("invalid golden vectors", () => {
  it("use this side's replay window", () => {
    expect(loadGolden<{ replay_window_ms: number }>("invalid.json").replay_window_ms).toBe(REPLAY_WINDOW_MS);
  });

  it.each(INVALID.map((c) => [c.name, c] as const))("%s is refused", (_name, c) => {
    const now = c.now;
    const opts: DecodeOptions = {
      ...keyOf(c),
      ...(c.max_bytes !== null && { maxBytes: c.max_bytes }),
      ...(now !== null && { replay: new ReplayGuard({ now: () => now }) }),
    };
    const frames = c.frames.map(fromHex);
    if (c.replayed) decodeMessage(frames, opts); // accepted the first time
    let caught: unknown;
    try {
      decodeMessage(frames, opts);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(WireError);
    const err = caught as WireError;
    expect({ code: err.code, id: err.header?.id ?? null, reason: err.details?.reason ?? null }).toEqual({
      code: c.code,
      id: c.header_id,
      reason: c.reason,
    });
  });
});
