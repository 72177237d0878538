// The wire, from a raw ZeroMQ DEALER that holds the worker's key (so every message passes
// authentication and reaches the decoder): random bytes, empty and wrong shapes, shapes that
// overflow, a message over the size limit, many frames, deep nesting, unknown jobs and bad bodies.
// Each gets its error reply with the right code (to its id when the header can be read), and the
// worker answers a ping after it.
import { encode as msgpack } from "msgpackr";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Dealer } from "zeromq";
import { launchWorker, type WorkerHandle } from "../../ts/transport/index.js";
import { type Body, PROTOCOL_VERSION, decodeMessage, encodeMessage, loadKeyFile, signFrames } from "../../ts/wire/index.js";
import { garbageBytes } from "./support/damage.js";

const MAX_MESSAGE_BYTES = 1 << 20;
let worker: WorkerHandle;
let raw: Dealer;
let key: Buffer;
let pings = 1000;

beforeAll(async () => {
  worker = await launchWorker({ maxMessageBytes: MAX_MESSAGE_BYTES, onOutput: () => {} });
  key = loadKeyFile(worker.keyFile);
  raw = new Dealer({ linger: 0, receiveTimeout: 15_000 });
  raw.connect(worker.client.endpoint);
}, 120_000);

afterAll(async () => {
  raw?.close();
  await worker?.close();
});

interface Reply {
  readonly kind: string;
  readonly id: number;
  readonly body: Body;
}

async function reply(): Promise<Reply> {
  const message = decodeMessage(await raw.receive(), { key });
  return { kind: message.header.kind, id: message.header.id, body: message.body };
}

/** Sends `frames` signed with the worker's key and gives the reply. */
async function exchange(frames: Buffer[]): Promise<Reply> {
  await raw.send(signFrames(key, frames));
  return reply();
}

async function expectServing(): Promise<void> {
  const id = ++pings;
  await raw.send(encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind: "request", type: "ping" }, body: {} }, { key }));
  expect(await reply()).toEqual({ kind: "result", id, body: {} });
}

/** Frame 0 by hand: the msgpack array [header, body] with the body's bytes as given. */
const head = (id: number, type: string, body: Buffer = msgpack({}), v: number = PROTOCOL_VERSION): Buffer =>
  Buffer.concat([Buffer.from([0x92]), msgpack({ v, id, kind: "request", type }), body]);
/** The body {x: <descriptor>} with the shape's msgpack bytes as given (9103: [3]) (msgpackr writes no uint64 beyond int64). */
const shaped = (shapeHex: string, dtype = "float32"): Buffer =>
  Buffer.concat([Buffer.from([0x81]), msgpack("x"), Buffer.from([0x83]), msgpack("$tensor"), msgpack(0), msgpack("dtype"), msgpack(dtype),
    msgpack("shape"), Buffer.from(shapeHex, "hex")]);
/** msgpack of `depth` nested one-element arrays around 0. */
const nested = (depth: number): Buffer => Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0x00])]);

const cases: [string, () => Buffer[], string, number][] = [
  ["random bytes (64)", () => [garbageBytes(64, 1)], "MALFORMED", 0],
  ["random bytes (64 KiB)", () => [garbageBytes(1 << 16, 2)], "MALFORMED", 0],
  ["random bytes in three frames", () => [garbageBytes(40, 3), garbageBytes(8, 4), garbageBytes(300, 5)], "MALFORMED", 0],
  ["an empty message (one empty frame)", () => [Buffer.alloc(0)], "MALFORMED", 0],
  ["a head that is a msgpack map, not [header, body]", () => [msgpack({ v: PROTOCOL_VERSION, id: 3 })], "MALFORMED", 0],
  ["a header without its id", () => [Buffer.concat([Buffer.from([0x92]), msgpack({ v: PROTOCOL_VERSION, kind: "request", type: "ping" }), msgpack({})])], "MALFORMED", 0],
  ["a wrong protocol version", () => [head(6, "ping", msgpack({}), 99)], "UNSUPPORTED_VERSION", 6],
  ["an unknown job", () => [head(7, "no.such.job")], "UNKNOWN_JOB", 7],
  ["a body that breaks the job's schema", () => [head(8, "sleep", msgpack({ seconds: "long", steps: 1 }))], "INVALID_BODY", 8],
  ["a tensor frame shorter than dtype x shape", () => [head(9, "echo", shaped("9103")), Buffer.alloc(11)], "TENSOR_MISMATCH", 9],
  ["a tensor frame longer than dtype x shape", () => [head(10, "echo", shaped("9103")), Buffer.alloc(13)], "TENSOR_MISMATCH", 10],
  ["a descriptor whose frame is missing", () => [head(11, "echo", shaped("9103"))], "TENSOR_MISMATCH", 11],
  ["an unknown dtype", () => [head(12, "echo", shaped("9103", "float128")), Buffer.alloc(48)], "MALFORMED", 12],
  ["a negative dimension", () => [head(13, "echo", shaped("92ff03")), Buffer.alloc(0)], "MALFORMED", 13],
  ["a shape [0, 2^63] (overflows int64)", () => [head(14, "echo", shaped("9200cf8000000000000000")), Buffer.alloc(0)], "TENSOR_MISMATCH", 14],
  ["a shape whose element count overflows int64", () => [head(15, "echo", shaped("92cf0000000100000000cf0000000100000000")), Buffer.alloc(0)], "TENSOR_MISMATCH", 15],
  ["a message over max_message_bytes", () => [head(16, "echo"), Buffer.alloc(MAX_MESSAGE_BYTES)], "MESSAGE_TOO_LARGE", 16],
  ["10 000 frames no descriptor names", () => [head(17, "ping"), ...Array.from({ length: 10_000 }, () => Buffer.alloc(1))], "TENSOR_MISMATCH", 17],
  ["a body nested 100 000 arrays deep", () => [Buffer.concat([Buffer.from([0x92]), msgpack({ v: PROTOCOL_VERSION, id: 18, kind: "request", type: "echo" }), Buffer.from([0x81]), msgpack("x"), nested(100_000)])], "MALFORMED", 18],
];

for (const [name, frames, code, id] of cases) {
  test(`wire: ${name} is ${code}, then the worker still serves`, { timeout: 30_000 }, async () => {
    const answer = await exchange(frames());
    expect({ kind: answer.kind, id: answer.id, code: answer.body.code }).toEqual({ kind: "error", id, code });
    expect(answer.body.message).toEqual(expect.any(String));
    await expectServing();
  });
}

test("wire: a shape that overflows names its tensor (details.path x)", { timeout: 30_000 }, async () => {
  const answer = await exchange([head(20, "echo", shaped("9300cf0000010000000000cf0000010000000000")), Buffer.alloc(0)]);
  expect(answer).toMatchObject({ kind: "error", id: 20, body: { code: "TENSOR_MISMATCH", details: { path: "x" }, message: expect.stringMatching(/^x: /) } });
  await expectServing();
});

test("wire: 2 000 requests at once are each answered, to their own ids", { timeout: 60_000 }, async () => {
  const ids = Array.from({ length: 2000 }, (_, i) => 10_000 + i);
  // Sent back to back (one send at a time is all a ZeroMQ socket takes), read only afterwards.
  for (const id of ids) await raw.send(encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind: "request", type: "ping" }, body: {} }, { key }));
  const seen: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const answer = await reply();
    expect(answer.kind).toBe("result");
    seen.push(answer.id);
  }
  expect(seen.sort((a, b) => a - b)).toEqual(ids);
  await expectServing();
});
