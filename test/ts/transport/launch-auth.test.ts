// A launched worker is keyed: another local user connecting to its loopback port gets AUTH_FAILED
// and changes nothing, unsigned, wrongly keyed or replaying; the key lives in a private file (not
// on the command line) that close() removes.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Dealer } from "zeromq";
import { type WorkerHandle, launchWorker } from "../../../ts/transport/index.js";
import { type Body, PROTOCOL_VERSION, type WireMessage, decodeMessage, encodeMessage, loadKeyFile, signFrames, tensor } from "../../../ts/wire/index.js";

let worker: WorkerHandle;
let key: Buffer;
let outsider: Dealer;
let scratch: string;

beforeAll(async () => {
  worker = await launchWorker({ onOutput: () => {} });
  key = loadKeyFile(worker.keyFile);
  outsider = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  outsider.connect(worker.client.endpoint);
  scratch = mkdtempSync(join(tmpdir(), "mcl-outsider-"));
}, 60_000);

afterAll(async () => {
  outsider?.close();
  await worker?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** The frames of a request, unsigned. */
const request = (id: number, type: string, body: Body): Uint8Array[] =>
  encodeMessage({ header: { v: PROTOCOL_VERSION, id, kind: "request", type }, body });

/** Sends `frames` as the outsider and reads the worker's answer (verified with the real key: the worker signs it). */
async function outsiderSends(frames: Uint8Array[]): Promise<WireMessage> {
  await outsider.send(frames);
  return decodeMessage(await outsider.receive(), { key });
}

const refusal = (reply: WireMessage) => ({ kind: reply.header.kind, id: reply.header.id, code: reply.body.code, reason: (reply.body.details as Body | undefined)?.reason });

describe("a launched worker refuses whoever lacks its key", () => {
  test.each([
    ["unsigned", (frames: Uint8Array[]) => frames, "unsigned"],
    ["signed with another key", (frames: Uint8Array[]) => signFrames(randomBytes(32), frames), "signature"],
  ])("%s: generate and echo get AUTH_FAILED", async (_, sign, reason) => {
    expect(refusal(await outsiderSends(sign(request(1, "generate", { dtype: "int32", shape: [3] }))))).toEqual({ kind: "error", id: 1, code: "AUTH_FAILED", reason });
    expect(refusal(await outsiderSends(sign(request(2, "echo", { x: 1 }))))).toEqual({ kind: "error", id: 2, code: "AUTH_FAILED", reason });
  });

  test("an outsider's checkpoint.save writes no file, while the client's own does", async () => {
    const { model } = await worker.client.request("model.create", { arch: "small-cnn", image_size: 16, seed: 0, options: { widths: [4, 8] } });
    const theirs = join(scratch, "outsider.safetensors");
    for (const sign of [(f: Uint8Array[]) => f, (f: Uint8Array[]) => signFrames(randomBytes(32), f)]) {
      const reply = await outsiderSends(sign(request(3, "checkpoint.save", { model, path: theirs })));
      expect(refusal(reply)).toMatchObject({ code: "AUTH_FAILED" });
    }
    const ours = join(scratch, "client.safetensors");
    await worker.client.request("checkpoint.save", { model, path: ours });
    expect([existsSync(theirs), existsSync(ours)]).toEqual([false, true]);
  });

  test("an outsider's handle.free leaves the handle, nor can a signed one be replayed from another connection", async () => {
    const { handle } = await worker.client.request("handle.put", { tensor: tensor("float32", [2], Float32Array.from([1, 2])) });
    expect(refusal(await outsiderSends(request(4, "handle.free", { handle })))).toMatchObject({ code: "AUTH_FAILED", reason: "unsigned" });
    // Frames the client signed, seen once by the worker and replayed by the outsider: refused.
    const captured = encodeMessage({ header: { v: PROTOCOL_VERSION, id: 5, kind: "request", type: "ping" }, body: {} }, { key });
    expect((await outsiderSends(captured)).header.kind).toBe("result");
    expect(refusal(await outsiderSends(captured))).toEqual({ kind: "error", id: 5, code: "AUTH_FAILED", reason: "replay" });
    const back = await worker.client.request("handle.get", { handle });
    expect(Array.from(back.tensor.data as Float32Array)).toEqual([1, 2]);
  });
});

describe("the generated key", () => {
  test("is 32 random bytes, hex, in a 0600 file inside a private 0700 directory under the temporary directory", () => {
    expect(readFileSync(worker.keyFile, "utf8")).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(worker.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(worker.keyFile)).mode & 0o777).toBe(0o700);
    expect(dirname(dirname(worker.keyFile))).toBe(tmpdir());
  });

  test.skipIf(!existsSync("/proc"))("reaches the worker as a path: its command line holds the file's name, not the key", () => {
    const argv = readFileSync(`/proc/${worker.pid}/cmdline`, "utf8").split("\0");
    expect(argv).toEqual(expect.arrayContaining(["--auth", worker.keyFile]));
    expect(argv.join(" ")).not.toContain(key.toString());
  });

  test("survives a restart and goes with close()", async () => {
    const keyFile = worker.keyFile;
    await worker.restart();
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
    expect(existsSync(keyFile)).toBe(true);
    await worker.close();
    expect(existsSync(dirname(keyFile))).toBe(false);
  });
});
