import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type Body, type Header, PROTOCOL_VERSION, decodeMessage, encodeMessage, tensor } from "../../../ts/wire/index.js";
import { hexFrames } from "./golden.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PYTHON = `${ROOT}.venv/bin/python`;

// Reads a JSON list of messages (frames as hex) on stdin; for each, decodes with the Python codec
// and writes back the frames it re-encodes (with the nonce and timestamp it decoded), or the error code.
const REENCODE = `
import json, sys
from mcl_worker.wire import WireError, decode_message, encode_message
out = []
for case in json.load(sys.stdin):
    key = bytes.fromhex(case["key"]) if case["key"] else None
    try:
        msg = decode_message([bytes.fromhex(f) for f in case["frames"]], key=key)
        out.append({"frames": [bytes(f).hex() for f in encode_message(msg, key=key, auth=msg.auth)]})
    except WireError as error:
        out.append({"code": error.code, "message": error.message})
json.dump(out, sys.stdout)
`;

interface Reply {
  frames?: string[];
  code?: string;
  message?: string;
}

function pythonReencodes(cases: { frames: string[]; key: string | null }[]): Reply[] {
  const run = spawnSync(PYTHON, ["-c", REENCODE], { input: JSON.stringify(cases), encoding: "utf8", cwd: ROOT });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Reply[];
}

const ECHO: Header = { v: PROTOCOL_VERSION, id: 21, kind: "request", type: "echo" };
const hex = hexFrames;

const KEY = Buffer.from("cross-language key");
const fixed: { body: Body; key: Buffer | null }[] = [
  { body: { x: tensor("bfloat16", [2, 1], new Uint16Array([0x3f80, 0xc000])), note: "ünïcode", big: 2n ** 63n }, key: null },
  { body: { nested: [{ t: tensor("int64", [], new BigInt64Array([-5n])) }, tensor("bool", [0], new Uint8Array(0))] }, key: KEY },
];
const random = fc
  .sample(
    fc.dictionary(
      fc.string().filter((k) => k !== "$tensor" && k !== "__proto__" && !/^(0|[1-9]\d*)$/.test(k)),
      fc.oneof(fc.integer(), fc.double({ noNaN: true, min: -1e9, max: 1e9 }).filter((d) => !Number.isInteger(d)), fc.string(), fc.boolean()),
      { maxKeys: 5 },
    ),
    { numRuns: 30, seed: 7 },
  )
  .map((body) => ({ body: body as Body, key: null }));
const MESSAGES = [...fixed, ...random].map(({ body, key }) => ({
  frames: hex(encodeMessage({ header: ECHO, body }, key === null ? {} : { key })),
  key: key === null ? null : key.toString("hex"),
}));

const good = encodeMessage({ header: ECHO, body: { x: tensor("float32", [2], new Float32Array([1, 2])) } });
const SHORT = [good[0] as Uint8Array, (good[1] as Uint8Array).subarray(0, 7)];
const REFUSED = [
  { frames: hex(SHORT), key: null },
  { frames: hex(good), key: Buffer.from("k").toString("hex") },
];

describe.skipIf(!existsSync(PYTHON))("TypeScript and Python codecs", () => {
  let replies: Reply[] = [];
  // One Python process for all cases: importing torch takes seconds.
  beforeAll(() => {
    replies = pythonReencodes([...MESSAGES, ...REFUSED]);
  });

  it("agree byte for byte on messages TypeScript makes", () => {
    expect(replies.slice(0, MESSAGES.length)).toEqual(MESSAGES.map((m) => ({ frames: m.frames })));
  });

  it("agree on what is refused", () => {
    expect(replies.slice(MESSAGES.length).map((r) => r.code)).toEqual(["TENSOR_MISMATCH", "AUTH_FAILED"]);
    expect(() => decodeMessage(SHORT)).toThrow(expect.objectContaining({ code: "TENSOR_MISMATCH" }));
  });
});
