// A hostile endpoint: a fake worker (a raw ROUTER written here) that answers hello correctly and
// then misbehaves: garbage replies, silence, replies to the wrong id, a reply that cannot be
// decoded or breaks its schema, or it goes away mid-job. The client (and a run of the SDK on it)
// rejects within its deadline, naming what happened; nothing hangs.
import { encode as msgpack } from "msgpackr";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, expect, test } from "vitest";
import { Router } from "zeromq";
import { Mcl, type MclRun } from "../../ts/index.js";
import { type ConnectOptions, type ConnectedWorker, connectWorker } from "../../ts/transport/index.js";
import { type Body, type Header, PROTOCOL_VERSION, decodeMessage, encodeMessage } from "../../ts/wire/index.js";
import { garbageBytes } from "./support/damage.js";
import { fakeHelloResult } from "../ts/support/fake-hello.js";
import { faultConfig } from "./support/tiny.js";

type Behaviour = (header: Header, send: (frames: Buffer[]) => void, fake: FakeWorker) => void;

const root = mkdtempSync(join(tmpdir(), "mcl-faults-endpoint-"));
const fakes: FakeWorker[] = [];
const clients: ConnectedWorker[] = [];
const runs: MclRun[] = [];

/** Heartbeats and answers hello (unless told otherwise); every other request gets `behaviour`. */
class FakeWorker {
  readonly router = new Router({ linger: 0 });
  readonly cancelled: number[] = [];
  answerHello: ((header: Header) => Body | null) | undefined;

  constructor(private readonly behaviour: Behaviour) {
    fakes.push(this);
  }

  async start(): Promise<string> {
    await this.router.bind("tcp://127.0.0.1:*");
    void this.serve();
    return this.router.lastEndpoint as string;
  }

  close(): void {
    if (!this.router.closed) this.router.close();
  }

  private async serve(): Promise<void> {
    try {
      for await (const [peer, ...frames] of this.router) {
        if (peer === undefined) continue;
        const send = (reply: Buffer[]): void => void this.router.send([peer, ...reply]).catch(() => {});
        const { header } = decodeMessage(frames);
        if (header.kind === "heartbeat") send(message({ ...header }, {}));
        else if (header.kind === "cancel") this.cancelled.push(header.id);
        else if (header.type === "hello") {
          const body = this.answerHello === undefined ? fakeHelloResult(PROTOCOL_VERSION) : this.answerHello(header);
          if (body !== null) send(message({ ...header, kind: "result" }, body));
        } else this.behaviour(header, send, this);
      }
    } catch {
      // closed
    }
  }
}

function message(header: Header, body: Body): Buffer[] {
  return encodeMessage({ header, body }).map((frame) => Buffer.from(frame));
}

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const fake of fakes.splice(0)) fake.close();
});

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

async function connect(fake: FakeWorker, options: ConnectOptions = {}): Promise<ConnectedWorker> {
  const worker = await connectWorker(await fake.start(), { timeoutMs: 3000, ...options });
  clients.push(worker);
  return worker;
}

/** The error `job` rejects with and how long it took. */
async function failure(job: Promise<unknown>): Promise<{ error: { code?: string; message?: string; job?: { type: string } }; ms: number }> {
  const started = performance.now();
  const error = await job.then(
    () => {
      throw new Error("the job succeeded");
    },
    (e: unknown) => e as { code?: string; message?: string },
  );
  return { error, ms: performance.now() - started };
}

test("endpoint: every reply is garbage with no readable id: the job rejects at its deadline, saying the replies could not be decoded", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker((_, send) => send([garbageBytes(200, 7)]));
  const { client } = await connect(fake);
  client.on("wireError", () => {});
  const { error, ms } = await failure(client.request("ping", {}, { timeoutMs: 800 }));
  expect(error).toMatchObject({ code: "TIMEOUT", job: { type: "ping" }, message: expect.stringMatching(/could not be decoded/) });
  expect(ms).toBeLessThan(5000);
});

test("endpoint: heartbeats but never answers a job: TIMEOUT at the deadline, and the job is cancelled", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker(() => {});
  const { client } = await connect(fake);
  const { error, ms } = await failure(client.request("sleep", { seconds: 1, steps: 1 }, { timeoutMs: 800 }));
  expect(error).toMatchObject({ code: "TIMEOUT", job: { type: "sleep" }, message: expect.stringMatching(/timed out: no progress or reply within 800 ms/) });
  expect(ms).toBeLessThan(5000);
  await expect.poll(() => fake.cancelled.length).toBe(1);
});

test("endpoint: answers with the wrong id: the stray reply settles nothing, the job times out naming itself", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker((header, send) => send(message({ ...header, id: header.id + 1000, kind: "result" }, {})));
  const { client } = await connect(fake);
  const { error, ms } = await failure(client.request("ping", {}, { timeoutMs: 800 }));
  expect(error).toMatchObject({ code: "TIMEOUT", job: { type: "ping" } });
  expect(ms).toBeLessThan(5000);
});

test("endpoint: a reply whose id reads but whose tensor cannot be: rejects at once, naming the job", { timeout: 20_000 }, async () => {
  const shape = Buffer.concat([Buffer.from([0x81]), msgpack("x"), Buffer.from([0x83]), msgpack("$tensor"), msgpack(0), msgpack("dtype"), msgpack("float32"),
    msgpack("shape"), Buffer.from("9200cf8000000000000000", "hex")]);
  const fake = new FakeWorker((header, send) => send([Buffer.concat([Buffer.from([0x92]), msgpack({ ...header, kind: "result" }), shape]), Buffer.alloc(0)]));
  const { client } = await connect(fake);
  const { error, ms } = await failure(client.request("echo", {}, { timeoutMs: 5000 }));
  expect(error).toMatchObject({ code: "TENSOR_MISMATCH", job: { type: "echo" }, message: expect.stringMatching(/\(echo\): the worker's reply could not be decoded: x: /) });
  expect(ms).toBeLessThan(2000);
});

test("endpoint: a result that breaks its job's schema: INVALID_BODY naming the job and the field", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker((header, send) => send(message({ ...header, kind: "result" }, { steps: "many" })));
  const { client } = await connect(fake);
  const { error } = await failure(client.request("sleep", { seconds: 1, steps: 1 }, { timeoutMs: 5000 }));
  expect(error).toMatchObject({ code: "INVALID_BODY", message: expect.stringMatching(/\(sleep\): the worker's result reply is not valid: steps: /) });
});

test("endpoint: goes away mid-job (closes its socket): WORKER_LOST within the heartbeat deadline", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker((_, __, self) => self.close());
  const { client } = await connect(fake, { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 });
  const { error, ms } = await failure(client.request("sleep", { seconds: 60, steps: 1 }));
  expect(error).toMatchObject({ code: "WORKER_LOST" });
  expect(ms).toBeLessThan(5000);
});

test("endpoint: never answers hello: connecting fails at its deadline naming hello", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker(() => {});
  fake.answerHello = () => null;
  const started = performance.now();
  await expect(connect(fake, { timeoutMs: 1000 })).rejects.toMatchObject({ code: "TIMEOUT", message: expect.stringContaining("hello") });
  expect(performance.now() - started).toBeLessThan(5000);
});

test("endpoint: answers hello with a protocol it does not share: UNSUPPORTED_VERSION", { timeout: 20_000 }, async () => {
  const fake = new FakeWorker(() => {});
  fake.answerHello = () => fakeHelloResult(PROTOCOL_VERSION + 7);
  await expect(connect(fake)).rejects.toMatchObject({ code: "UNSUPPORTED_VERSION" });
});

test("endpoint: an SDK run on a worker that answers jobs with garbage fails at its deadline naming the job, and is not left hanging", { timeout: 30_000 }, async () => {
  const fake = new FakeWorker((_, send) => send([garbageBytes(64, 9)]));
  const endpoint = await fake.start();
  const run = await Mcl.start(faultConfig(root, "garbage-worker"), { worker: { endpoint, connect: { jobTimeoutsMs: { "*": 1500 } } } });
  runs.push(run);
  const { error, ms } = await failure(run.result());
  expect(error).toMatchObject({ code: "TIMEOUT", message: expect.stringMatching(/\(dataset\.open\) timed out.*could not be decoded/s) });
  expect(ms).toBeLessThan(10_000);
});

test("endpoint: an SDK run whose worker goes silent mid-job fails with WORKER_LOST within the heartbeat deadline", { timeout: 30_000 }, async () => {
  const fake = new FakeWorker((_, __, self) => self.close());
  const endpoint = await fake.start();
  const run = await Mcl.start(faultConfig(root, "silent-worker"), {
    worker: { endpoint, connect: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 } },
  });
  runs.push(run);
  const { error, ms } = await failure(run.result());
  expect(error).toMatchObject({ code: "WORKER_LOST" });
  expect(ms).toBeLessThan(10_000);
});
