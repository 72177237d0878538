// WorkerClient against a fake worker, a raw ROUTER that heartbeats and answers hello correctly and
// then misbehaves as each test asks: replies that do not decode, with or without a readable id,
// and jobs that go silent or keep sending progress. Every call must end, naming its job.
import { encode as msgpack } from "msgpackr";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { Router } from "zeromq";
import { DEFAULT_JOB_TIMEOUTS_MS, JobTimeoutError, WorkerClient, WorkerError, handshake } from "../../../ts/transport/index.js";
import { type Body, type Header, type WireError, decodeMessage, encodeMessage } from "../../../ts/wire/index.js";
import { fakeHelloResult } from "../support/fake-hello.js";

type Reply = (header: Header, send: (frames: Buffer[]) => void) => void;

/** The body {x: <float32 descriptor of shape [0, 2^63]>}, by hand: msgpackr has no uint64 beyond int64. */
const HUGE_EMPTY_TENSOR = Buffer.concat([
  Buffer.from([0x81]),
  msgpack("x"),
  Buffer.from([0x83]),
  msgpack("$tensor"),
  msgpack(0),
  msgpack("dtype"),
  msgpack("float32"),
  msgpack("shape"),
  Buffer.from("9200cf8000000000000000", "hex"),
]);

class FakeWorker {
  readonly router = new Router({ linger: 0 });
  /** Request ids the client cancelled. */
  readonly cancelled: number[] = [];
  /** How to answer a request of each type other than hello; none: stay silent. */
  readonly replies = new Map<string, Reply>();

  async start(): Promise<string> {
    await this.router.bind("tcp://127.0.0.1:*");
    void this.serve();
    return this.router.lastEndpoint as string;
  }

  close(): void {
    this.router.close();
  }

  private async serve(): Promise<void> {
    try {
      for await (const [peer, ...frames] of this.router) {
        if (peer === undefined) continue;
        const send = (reply: Buffer[]): void => void this.router.send([peer, ...reply]).catch(() => {});
        const { header } = decodeMessage(frames);
        if (header.kind === "heartbeat") send(message({ ...header }, {}));
        else if (header.kind === "cancel") this.cancelled.push(header.id);
        else if (header.type === "hello") send(message({ ...header, kind: "result" }, fakeHelloResult()));
        else this.replies.get(header.type)?.(header, send);
      }
    } catch {
      // closed
    }
  }
}

function message(header: Header, body: Body): Buffer[] {
  return encodeMessage({ header, body }).map((frame) => Buffer.from(frame));
}

/** Frame 0 by hand: [header, body] with the body's msgpack bytes as given. */
function head(header: Header, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x92]), msgpack(header), body]);
}

async function eventually(check: () => void, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

let fake: FakeWorker;
let client: WorkerClient;

beforeAll(async () => {
  fake = new FakeWorker();
  client = new WorkerClient(await fake.start(), { jobTimeoutsMs: { echo: 400, sleep: 400 } });
  await handshake(client, { startupTimeoutMs: 5000 });
});

afterEach(() => {
  fake.replies.clear();
  client.removeAllListeners("wireError");
});

afterAll(() => {
  client?.close();
  fake?.close();
});

describe("replies that do not decode", () => {
  test("with a readable id: the job rejects at once naming itself and why, and is cancelled", async () => {
    fake.replies.set("echo", (h, send) => send([head({ ...h, kind: "result" }, HUGE_EMPTY_TENSOR), Buffer.alloc(0)]));
    const started = performance.now();
    const job = client.request("echo", {});
    const error = (await job.catch((err: unknown) => err)) as WorkerError;
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).not.toBeInstanceOf(JobTimeoutError);
    expect(error.code).toBe("TENSOR_MISMATCH");
    expect(error.job?.type).toBe("echo");
    expect(error.message).toMatch(new RegExp(`^job ${error.job?.id} \\(echo\\): the worker's reply could not be decoded: x: `));
    expect(performance.now() - started).toBeLessThan(400);
    await eventually(() => expect(fake.cancelled).toContain(error.job?.id));
  });

  test("a result that breaks the job's schema rejects naming the job", async () => {
    fake.replies.set("sleep", (h, send) => send(message({ ...h, kind: "result" }, { steps: "many" })));
    const error = (await client.request("sleep", { seconds: 1, steps: 1 }).catch((err: unknown) => err)) as WorkerError;
    expect(error.code).toBe("INVALID_BODY");
    expect(error.message).toMatch(new RegExp(`^job ${error.job?.id} \\(sleep\\): the worker's result reply is not valid: steps: `));
  });

  test("without an id: reported as wireError, and the job rejects at its deadline saying so", async () => {
    fake.replies.set("echo", (_h, send) => send([Buffer.from([0xc1])]));
    const reported: WireError[] = [];
    client.on("wireError", (err) => reported.push(err));
    const started = performance.now();
    const error = (await client.request("echo", {}).catch((err: unknown) => err)) as JobTimeoutError;
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(JobTimeoutError);
    expect(error.message).toMatch(
      new RegExp(`^job ${error.job?.id} \\(echo\\) timed out: no progress or reply within 400 ms; .*could not be decoded.*frame 0`),
    );
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(3000);
    expect(reported.map((err) => err.code)).toEqual(["MALFORMED"]);
    await eventually(() => expect(fake.cancelled).toContain(error.job?.id));
  });

  test("without an id and without a wireError listener: a process warning", async () => {
    fake.replies.set("echo", (_h, send) => send([Buffer.from([0xc1])]));
    const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
    await expect(client.request("echo", {}, { timeoutMs: 50 })).rejects.toBeInstanceOf(JobTimeoutError);
    const warning = await warned;
    expect(warning.name).toBe("WorkerWireWarning");
    expect(warning.message).toMatch(/could not be decoded: frame 0/);
  });
});

describe("deadlines", () => {
  test("a job past its deadline without progress rejects and is cancelled on the worker", async () => {
    const started = performance.now();
    const error = (await client.request("sleep", { seconds: 100, steps: 1 }).catch((err: unknown) => err)) as JobTimeoutError;
    expect(error).toBeInstanceOf(JobTimeoutError);
    expect(error).toMatchObject({ code: "TIMEOUT", job: { type: "sleep" }, details: { timeoutMs: 400 } });
    expect(error.message).toMatch(/^job \d+ \(sleep\) timed out: no progress or reply within 400 ms; it was cancelled on the worker$/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    await eventually(() => expect(fake.cancelled).toContain(error.job?.id));
    expect(client.inFlight).toBe(0);
  });

  test("progress extends the deadline", async () => {
    const steps = 8; // 8 x 100 ms: twice the 400 ms deadline, each gap a quarter of it
    fake.replies.set("sleep", (h, send) => {
      let step = 0;
      const timer = setInterval(() => {
        step += 1;
        if (step <= steps) send(message({ ...h, kind: "progress" }, { step }));
        else {
          clearInterval(timer);
          send(message({ ...h, kind: "result" }, { steps }));
        }
      }, 100);
    });
    const seen: number[] = [];
    const started = performance.now();
    const result = await client.request("sleep", { seconds: 0.8, steps }, { onProgress: (p) => seen.push(p.step) });
    expect(performance.now() - started).toBeGreaterThan(400);
    expect(result).toEqual({ steps });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("a request's own timeoutMs wins over the client's", async () => {
    const error = (await client.request("sleep", { seconds: 100, steps: 1 }, { timeoutMs: 60 }).catch((err: unknown) => err)) as JobTimeoutError;
    expect(error).toMatchObject({ code: "TIMEOUT", details: { timeoutMs: 60 } });
  });
});

describe("deadline configuration", () => {
  test("defaults: short for hello and handle.*, long for compute jobs, an hour otherwise", () => {
    const defaults = new WorkerClient("tcp://127.0.0.1:9", { jobTimeoutsMs: { "handle.get": 5000, "clip.*": 7000 } });
    try {
      expect(defaults.timeoutFor("hello")).toBe(DEFAULT_JOB_TIMEOUTS_MS.hello);
      expect(defaults.timeoutFor("handle.put")).toBe(DEFAULT_JOB_TIMEOUTS_MS["handle.*"]);
      expect(defaults.timeoutFor("handle.get")).toBe(5000);
      expect(defaults.timeoutFor("clip.create")).toBe(7000);
      expect(defaults.timeoutFor("clip.train")).toBe(DEFAULT_JOB_TIMEOUTS_MS["clip.train"]);
      expect(defaults.timeoutFor("dataset.open")).toBe(DEFAULT_JOB_TIMEOUTS_MS["*"]);
      expect(defaults.timeoutFor("constructor")).toBe(DEFAULT_JOB_TIMEOUTS_MS["*"]);
      for (const short of ["hello", "handle.*"]) {
        for (const long of ["train", "embed", "kmeans"]) {
          expect(DEFAULT_JOB_TIMEOUTS_MS[short]).toBeLessThan(DEFAULT_JOB_TIMEOUTS_MS[long] as number);
        }
      }
    } finally {
      defaults.close();
    }
  });

  test("a bad deadline is refused naming the setting", async () => {
    expect(() => new WorkerClient("tcp://127.0.0.1:9", { jobTimeoutsMs: { train: -1 } })).toThrow(/jobTimeoutsMs\["train"\] must be/);
    expect(() => new WorkerClient("tcp://127.0.0.1:9", { jobTimeoutsMs: { train: 2 ** 40 } })).toThrow(/or Infinity/);
    await expect(client.request("ping", {}, { timeoutMs: 0 })).rejects.toThrow(/timeoutMs must be/);
  });
});
