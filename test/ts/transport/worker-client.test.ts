// WorkerClient against one real worker: jobs in flight, progress, cancellation, timeouts, remote
// errors, and raw bad frames from a second DEALER after each of which the worker still serves.
import { encode as msgpack } from "msgpackr";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Dealer } from "zeromq";
import {
  CancelledError,
  JobTimeoutError,
  RemoteJobError,
  type WorkerHandle,
  WorkerError,
  launchWorker,
} from "../../../ts/transport/index.js";
import { type Body, PROTOCOL_VERSION, type Tensor, decodeMessage, encodeMessage, loadKeyFile, signFrames, tensor } from "../../../ts/wire/index.js";

const MAX_MESSAGE_BYTES = 4 << 20;
let worker: WorkerHandle;

beforeAll(async () => {
  worker = await launchWorker({ maxMessageBytes: MAX_MESSAGE_BYTES, jobs: 4, onOutput: () => {} });
});

afterAll(async () => {
  await worker?.close();
});

describe("jobs", () => {
  test("hello describes the worker", () => {
    expect(worker.hello.protocol).toBe(PROTOCOL_VERSION);
    expect(worker.hello.max_message_bytes).toBe(MAX_MESSAGE_BYTES);
    expect(worker.hello.devices[0]?.type).toBe("cpu");
    expect(worker.hello.torch_version).toMatch(/^\d+\.\d+/);
  });

  test("echo returns tensors bit for bit, nested anywhere", async () => {
    const x = tensor("float32", [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6.5]));
    const ids = tensor("int64", [2], BigInt64Array.from([-1n, 2n ** 40n]));
    const reply = await worker.client.request("echo", { x, nested: [{ ids }], name: "n" });
    const back = reply.x as Tensor<"float32">;
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(Array.from(((reply.nested as Body[])[0]?.ids as Tensor<"int64">).data)).toEqual([-1n, 2n ** 40n]);
    expect(reply.name).toBe("n");
  });

  test("generate returns arange in the asked dtype and shape", async () => {
    const { tensor: t } = await worker.client.request("generate", { dtype: "int32", shape: [4, 5] });
    expect(t.dtype).toBe("int32");
    expect(t.shape).toEqual([4, 5]);
    expect(Array.from(t.data as Int32Array)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  test("several jobs in flight complete out of order", async () => {
    const finished: string[] = [];
    const slow = worker.client.request("sleep", { seconds: 0.4, steps: 1 }).then(() => finished.push("slow"));
    const fast = Promise.all([worker.client.request("ping", {}), worker.client.request("sleep", { seconds: 0, steps: 1 })]).then(() =>
      finished.push("fast"),
    );
    expect(worker.client.inFlight).toBe(3);
    await Promise.all([slow, fast]);
    expect(finished).toEqual(["fast", "slow"]);
  });

  test("progress arrives in order before the result", async () => {
    const seen: string[] = [];
    const result = await worker.client.request("sleep", { seconds: 0.03, steps: 3 }, { onProgress: (p) => seen.push(`step ${p.step}`) });
    seen.push(`result ${result.steps}`);
    expect(seen).toEqual(["step 1", "step 2", "step 3", "result 3"]);
  });

  test("stream() yields the progress events, then the result", async () => {
    const events = [];
    for await (const event of worker.client.stream("sleep", { seconds: 0.02, steps: 2 })) events.push(event);
    expect(events).toEqual([
      { kind: "progress", body: { step: 1 } },
      { kind: "progress", body: { step: 2 } },
      { kind: "result", body: { steps: 2 } },
    ]);
  });

  test("aborting rejects with CancelledError and the worker stops the job", async () => {
    const abort = new AbortController();
    let steps = 0;
    const job = worker.client.request("sleep", { seconds: 100, steps: 1000 }, { signal: abort.signal, onProgress: () => ++steps === 1 && abort.abort() });
    await expect(job).rejects.toBeInstanceOf(CancelledError);
    await expect(job).rejects.toMatchObject({ code: "CANCELLED" });
    expect(worker.client.inFlight).toBe(0);
    // With --jobs 4, four more 100 s sleeps only start if the cancelled one freed its thread.
    const sleepers = Array.from({ length: 4 }, () => worker.client.request("sleep", { seconds: 0.05, steps: 1 }));
    await expect(Promise.all(sleepers)).resolves.toHaveLength(4);
  });

  test("leaving a stream early cancels the job", async () => {
    for await (const event of worker.client.stream("sleep", { seconds: 100, steps: 1000 })) {
      expect(event).toEqual({ kind: "progress", body: { step: 1 } });
      break;
    }
    expect(worker.client.inFlight).toBe(0);
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
  });

  test("a job past its timeout rejects with JobTimeoutError", async () => {
    const job = worker.client.request("sleep", { seconds: 100, steps: 100 }, { timeoutMs: 200 });
    await expect(job).rejects.toBeInstanceOf(JobTimeoutError);
    await expect(job).rejects.toMatchObject({ code: "TIMEOUT", job: { type: "sleep" } });
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
  });
});

describe("errors", () => {
  test("an unknown job type is the worker's UNKNOWN_JOB", async () => {
    const job = worker.client.request("no.such.job", {});
    await expect(job).rejects.toBeInstanceOf(RemoteJobError);
    await expect(job).rejects.toMatchObject({ code: "UNKNOWN_JOB", details: { type: "no.such.job" } });
  });

  test("a body violating the schema is the worker's INVALID_BODY, naming the field", async () => {
    const job = worker.client.request("sleep", { seconds: -1, steps: 1 });
    await expect(job).rejects.toBeInstanceOf(RemoteJobError);
    await expect(job).rejects.toMatchObject({ code: "INVALID_BODY", details: { path: "seconds" } });
  });

  test("a body the wire cannot carry is refused before it is sent", async () => {
    const job = worker.client.request("echo", { x: new Float32Array(2) as never });
    await expect(job).rejects.toBeInstanceOf(WorkerError);
    await expect(job).rejects.toMatchObject({ code: "MALFORMED", details: { path: "x" } });
  });

  test("an oversized message is the worker's MESSAGE_TOO_LARGE, and it keeps serving", async () => {
    const big = tensor("uint8", [MAX_MESSAGE_BYTES], new Uint8Array(MAX_MESSAGE_BYTES));
    await expect(worker.client.request("echo", { big })).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
    const fits = tensor("uint8", [MAX_MESSAGE_BYTES / 2], new Uint8Array(MAX_MESSAGE_BYTES / 2).fill(7));
    const back = await worker.client.request("echo", { fits });
    expect((back.fits as Tensor<"uint8">).data.every((b) => b === 7)).toBe(true);
  });

  test("an already aborted signal rejects without sending", async () => {
    const job = worker.client.request("ping", {}, { signal: AbortSignal.abort() });
    await expect(job).rejects.toBeInstanceOf(CancelledError);
  });
});

describe("raw bad frames from another DEALER, signed with the worker's key", () => {
  let raw: Dealer;
  let key: Buffer;

  beforeAll(() => {
    key = loadKeyFile(worker.keyFile);
    raw = new Dealer({ linger: 0, receiveTimeout: 10_000 });
    raw.connect(worker.client.endpoint);
  });

  afterAll(() => raw.close());

  async function reply(): Promise<{ kind: string; id: number; body: Body }> {
    const msg = decodeMessage(await raw.receive(), { key });
    return { kind: msg.header.kind, id: msg.header.id, body: msg.body };
  }

  async function expectServing(): Promise<void> {
    await raw.send(encodeMessage({ header: { v: PROTOCOL_VERSION, id: 99, kind: "request", type: "ping" }, body: {} }, { key }));
    expect(await reply()).toEqual({ kind: "result", id: 99, body: {} });
  }

  /** Frame 0 built by hand: the msgpack array [header, body]. */
  const head = (id: number, type: string, body: Buffer = msgpack({}), v = PROTOCOL_VERSION): Buffer =>
    Buffer.concat([Buffer.from([0x92]), msgpack({ v, id, kind: "request", type }), body]);
  /** The body {x: <float32 descriptor>} with the shape's msgpack bytes as given (msgpackr writes no uint64 beyond int64). */
  const hugeShape = (shapeHex: string): Buffer =>
    Buffer.concat([Buffer.from([0x81]), msgpack("x"), Buffer.from([0x83]), msgpack("$tensor"), msgpack(0), msgpack("dtype"), msgpack("float32"),
      msgpack("shape"), Buffer.from(shapeHex, "hex")]);
  const cases: [string, () => Buffer[], string, number][] = [
    ["an empty message", () => [Buffer.alloc(0)], "MALFORMED", 0],
    ["a head that is not msgpack", () => [Buffer.from([0xc1])], "MALFORMED", 0],
    ["protocol version 1's framing", () => [Buffer.alloc(0), msgpack({ v: 1, id: 4, kind: "request", type: "ping" }), msgpack({})], "MALFORMED", 0],
    ["a body that is not a map", () => [head(5, "ping", msgpack([1, 2]))], "MALFORMED", 5],
    ["a wrong protocol version", () => [head(6, "ping", msgpack({}), 9)], "UNSUPPORTED_VERSION", 6],
    ["an unknown job type", () => [head(7, "nope")], "UNKNOWN_JOB", 7],
    ["a body violating the schema", () => [head(8, "sleep", msgpack({ seconds: 1 }))], "INVALID_BODY", 8],
    [
      "a tensor frame whose length is not dtype x shape",
      () => [head(9, "echo", msgpack({ x: { $tensor: 0, dtype: "float32", shape: [3] } })), Buffer.alloc(11)],
      "TENSOR_MISMATCH",
      9,
    ],
    ["an oversized message", () => [head(10, "echo"), Buffer.alloc(MAX_MESSAGE_BYTES)], "MESSAGE_TOO_LARGE", 10],
    ["a negative dimension", () => [head(11, "echo", hugeShape("9200ff")), Buffer.alloc(0)], "MALFORMED", 11],
  ];

  // Empty frames, but shapes too large to exist: torch overflows building them.
  test.each([
    ["a dimension beyond int64 beside a 0", "9200cf8000000000000000"],
    ["dimensions multiplying beyond int64 beside a 0", "9300cf0000010000000000cf0000010000000000"],
    ["an element count beyond int64", "92cf0000000100000000cf0000000100000000"],
  ])("%s is TENSOR_MISMATCH naming the tensor, then the worker still serves", async (_, shapeHex) => {
    await raw.send(signFrames(key, [head(12, "echo", hugeShape(shapeHex)), Buffer.alloc(0)]));
    const { kind, id, body } = await reply();
    expect({ kind, id, code: body.code, path: (body.details as Body).path }).toEqual({ kind: "error", id: 12, code: "TENSOR_MISMATCH", path: "x" });
    expect(body.message).toMatch(/^x: a float32 tensor of shape \[.*\] is too large/);
    await expectServing();
  });

  test.each(cases)("%s gets its error, then the worker still serves", async (_, frames, code, id) => {
    await raw.send(signFrames(key, frames()));
    const { kind, id: replyId, body } = await reply();
    expect({ kind, id: replyId, code: body.code }).toEqual({ kind: "error", id, code });
    expect(typeof body.message).toBe("string");
    await expectServing();
  });
});
