// Authentication: every worker the SDK launches has a fresh key, and a message that is unsigned,
// signed with another key, tampered with, stamped outside the replay window or repeated (on the
// same connection or a new one) is refused with AUTH_FAILED, after which the worker still serves.
// An outsider on the loopback port of a run's worker can neither list its handles nor make it
// write a checkpoint.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Dealer } from "zeromq";
import { Mcl, type MclRun } from "../../ts/index.js";
import { launchWorker, type WorkerHandle } from "../../ts/transport/index.js";
import { type Body, PROTOCOL_VERSION, authFrame, decodeMessage, encodeMessage, loadKeyFile, signFrames } from "../../ts/wire/index.js";
import { listeningPorts } from "./support/ports.js";
import { faultConfig, quietLaunch } from "./support/tiny.js";

const root = mkdtempSync(join(tmpdir(), "mcl-faults-auth-"));
const dealers: Dealer[] = [];
const runs: MclRun[] = [];
let worker: WorkerHandle;
let key: Buffer;
let ids = 0;

beforeAll(async () => {
  worker = await launchWorker({ onOutput: () => {} });
  key = loadKeyFile(worker.keyFile);
}, 120_000);

afterAll(async () => {
  for (const dealer of dealers) dealer.close();
  await Promise.all(runs.map((run) => run.stop()));
  await worker?.close();
  rmSync(root, { recursive: true, force: true });
});

function dealer(endpoint: string): Dealer {
  const socket = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  socket.connect(endpoint);
  dealers.push(socket);
  return socket;
}

/** The worker's reply, verified with its key (every reply of a keyed worker is signed). */
async function reply(socket: Dealer): Promise<{ kind: string; id: number; body: Body }> {
  const message = decodeMessage(await socket.receive(), { key });
  return { kind: message.header.kind, id: message.header.id, body: message.body };
}

/** A reply as an outsider reads it, without the key: its head is plain msgpack before the auth frame. */
async function unverifiedReply(socket: Dealer): Promise<{ kind: string; id: number; body: Body }> {
  const frames = await socket.receive();
  const message = decodeMessage(frames.slice(0, -1));
  return { kind: message.header.kind, id: message.header.id, body: message.body };
}

function request(type: string, body: Body = {}): { id: number; frames: Buffer[] } {
  const id = ++ids;
  const frames = encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind: "request", type }, body }).map((f) => Buffer.from(f));
  return { id, frames };
}

async function expectServing(socket: Dealer): Promise<void> {
  const { id, frames } = request("ping");
  await socket.send(signFrames(key, frames));
  expect(await reply(socket)).toEqual({ kind: "result", id, body: {} });
}

async function expectRefused(socket: Dealer, id: number, reason: string): Promise<void> {
  expect(await reply(socket)).toMatchObject({ kind: "error", id, body: { code: "AUTH_FAILED", details: { reason } } });
}

test("auth: an unsigned request to a keyed worker is AUTH_FAILED (unsigned)", { timeout: 30_000 }, async () => {
  const socket = dealer(worker.client.endpoint);
  const { id, frames } = request("ping");
  await socket.send(frames);
  await expectRefused(socket, id, "unsigned");
  await expectServing(socket);
});

test("auth: a request signed with another key is AUTH_FAILED (signature)", { timeout: 30_000 }, async () => {
  const socket = dealer(worker.client.endpoint);
  const { id, frames } = request("ping");
  await socket.send(signFrames(randomBytes(32), frames));
  await expectRefused(socket, id, "signature");
  await expectServing(socket);
});

test("auth: a signed request with one byte of its head changed is AUTH_FAILED (signature)", { timeout: 30_000 }, async () => {
  const socket = dealer(worker.client.endpoint);
  const { id, frames } = request("echo", { n: 1 });
  const signed = signFrames(key, frames).map((f) => Buffer.from(f));
  signed[0]![signed[0]!.byteLength - 1] = 2; // {n: 1} becomes {n: 2}
  await socket.send(signed);
  await expectRefused(socket, id, "signature");
  await expectServing(socket);
});

test("auth: a signed request stamped 2 minutes ago is AUTH_FAILED (window)", { timeout: 30_000 }, async () => {
  const socket = dealer(worker.client.endpoint);
  const { id, frames } = request("ping");
  await socket.send([...frames, authFrame(key, frames, { nonce: randomBytes(16), timestampMs: Date.now() - 120_000 })]);
  await expectRefused(socket, id, "window");
  await expectServing(socket);
});

test("auth: the same signed message sent twice: the first is served, the second is AUTH_FAILED (replay)", { timeout: 30_000 }, async () => {
  const socket = dealer(worker.client.endpoint);
  const { id, frames } = request("ping");
  const signed = signFrames(key, frames);
  await socket.send(signed);
  expect(await reply(socket)).toEqual({ kind: "result", id, body: {} });
  await socket.send(signed);
  await expectRefused(socket, id, "replay");
  await expectServing(socket);
});

test("auth: a signed message replayed from a second connection is AUTH_FAILED (replay)", { timeout: 30_000 }, async () => {
  const first = dealer(worker.client.endpoint);
  const second = dealer(worker.client.endpoint);
  const { id, frames } = request("ping");
  const signed = signFrames(key, frames);
  await first.send(signed);
  expect(await reply(first)).toEqual({ kind: "result", id, body: {} });
  await second.send(signed);
  await expectRefused(second, id, "replay");
  await expectServing(second);
});

test("auth: an SDK-launched worker has a key of its own, in a private file removed when the run ends", { timeout: 240_000 }, async () => {
  const run = await Mcl.start(faultConfig(root, "keyed"), { worker: { launch: quietLaunch } });
  runs.push(run);
  let argv: string[] = [];
  let mode = -1;
  for await (const event of run.events()) {
    if (event.type !== "run-start") continue;
    argv = readFileSync(`/proc/${run.workerPid}/cmdline`, "utf8").split("\0");
    if (argv.includes("--auth")) mode = statSync(argv[argv.indexOf("--auth") + 1]!).mode;
  }
  expect(argv).toContain("--auth");
  const keyFile = argv[argv.indexOf("--auth") + 1];
  expect(mode & 0o077).toBe(0);
  await run.result();
  await run.stop();
  expect(existsSync(keyFile!)).toBe(false);
});

test("auth: an outsider on an SDK-launched worker's loopback port is AUTH_FAILED, and its checkpoint.save writes nothing", { timeout: 240_000 }, async () => {
  // Long enough to attack while its models are held: 2 stages of 3 epochs.
  const run = await Mcl.start(faultConfig(root, "attacked", { epochsPerStage: [3, 3] }), { worker: { launch: quietLaunch } });
  runs.push(run);
  const targets: string[] = [];
  let attacked = false;
  for await (const event of run.events()) {
    if (attacked || event.type !== "train-progress") continue;
    attacked = true;
    const ports = listeningPorts(run.workerPid!);
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) {
      const outsider = dealer(`tcp://127.0.0.1:${port}`);
      const list = request("handle.list");
      await outsider.send(list.frames);
      expect(await unverifiedReply(outsider)).toMatchObject({ id: list.id, body: { code: "AUTH_FAILED" } });
      for (let n = 1; n <= 8; n++) {
        const target = join(root, `stolen-${port}-${n}.safetensors`);
        targets.push(target);
        const save = request("checkpoint.save", { model: `model:${n}`, path: target });
        await outsider.send(save.frames);
        expect(await unverifiedReply(outsider)).toMatchObject({ id: save.id, body: { code: "AUTH_FAILED" } });
      }
    }
    void run.stop();
  }
  expect(attacked).toBe(true);
  expect(targets.filter((target) => existsSync(target))).toEqual([]);
});
