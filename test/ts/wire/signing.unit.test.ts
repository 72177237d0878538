import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AUTH_BYTES,
  type AuthTag,
  REPLAY_WINDOW_MS,
  ReplayGuard,
  WireError,
  authFrame,
  decodeMessage,
  encodeMessage,
  loadKeyFile,
  signFrames,
  verifyAuth,
} from "../../../ts/wire/index.js";

const u64le = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const tag = (byte: number, timestampMs: number): AuthTag => ({ nonce: Buffer.alloc(16, byte), timestampMs });

describe("auth frames", () => {
  it("are nonce, timestamp and HMAC-SHA256 over both and the length-prefixed frames", () => {
    const frames = [Buffer.from("header"), Buffer.alloc(0), Buffer.alloc(5)];
    const t = tag(7, 1_700_000_000_000);
    const prefix = Buffer.concat([Buffer.from(t.nonce), u64le(t.timestampMs)]);
    const mac = createHmac("sha256", "k")
      .update(Buffer.concat([prefix, ...frames.flatMap((f) => [u64le(f.length), f])]))
      .digest();
    const auth = authFrame(Buffer.from("k"), frames, t);
    expect(auth).toEqual(Buffer.concat([prefix, mac]));
    expect(auth.length).toBe(AUTH_BYTES);
  });

  it("verify to their tag and refuse others", () => {
    const key = Buffer.from("key");
    const frames = [Buffer.from("a"), Buffer.from("bc")];
    const good = authFrame(key, frames, tag(1, 5));
    expect(verifyAuth(key, good, frames)).toEqual({ nonce: Buffer.alloc(16, 1), timestampMs: 5 });
    expect(verifyAuth(Buffer.from("other"), good, frames)).toBeUndefined();
    expect(verifyAuth(key, good.subarray(1), frames)).toBeUndefined();
    expect(verifyAuth(key, Buffer.alloc(0), frames)).toBeUndefined();
    expect(verifyAuth(key, good, [Buffer.from("ab"), Buffer.from("c")])).toBeUndefined(); // lengths are signed too
    const later = Buffer.from(good);
    later.writeBigUInt64LE(6n, 16);
    expect(verifyAuth(key, later, frames)).toBeUndefined(); // so are the nonce and timestamp
  });

  it("signFrames appends a fresh auth frame: a new nonce each time, the current time", () => {
    const key = Buffer.from("key");
    const frames = [Buffer.from("head")];
    const before = Date.now();
    const [first, second] = [signFrames(key, frames), signFrames(key, frames)];
    expect(first.slice(0, -1)).toEqual(frames);
    const a = verifyAuth(key, first.at(-1) as Uint8Array, frames) as AuthTag;
    const b = verifyAuth(key, second.at(-1) as Uint8Array, frames) as AuthTag;
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(a.timestampMs).toBeGreaterThanOrEqual(before);
    expect(a.timestampMs).toBeLessThanOrEqual(Date.now());
  });

  it("reads a key file trimmed of whitespace, and refuses an empty, missing or unreadable one naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "mcl-key-"));
    writeFileSync(join(dir, "key"), "\n  s3cret key\t\r\n");
    expect(loadKeyFile(join(dir, "key")).toString()).toBe("s3cret key");
    writeFileSync(join(dir, "empty"), " \n");
    expect(() => loadKeyFile(join(dir, "empty"))).toThrow(WireError);
    expect(() => loadKeyFile(join(dir, "empty"))).toThrow(/is empty/);
    const missing = join(dir, "missing");
    expect(() => loadKeyFile(missing)).toThrow(
      expect.objectContaining({ name: "WireError", code: "AUTH_FAILED", message: expect.stringMatching(/^key file .*missing does not exist; give keyFile \(--key-file\)/) }),
    );
    expect(() => loadKeyFile(dir)).toThrow(expect.objectContaining({ code: "AUTH_FAILED", message: expect.stringContaining("cannot be read (EISDIR)") }));
  });
});

describe("ReplayGuard", () => {
  const refusal = (guard: ReplayGuard, t: AuthTag): unknown => {
    try {
      guard.accept(t);
    } catch (err) {
      return err instanceof WireError ? { code: err.code, reason: err.details?.reason } : err;
    }
    return undefined;
  };

  it("accepts the edges of the window and refuses beyond them", () => {
    const guard = new ReplayGuard({ now: () => 1_000_000 });
    expect(refusal(guard, tag(1, 1_000_000 - REPLAY_WINDOW_MS))).toBeUndefined();
    expect(refusal(guard, tag(2, 1_000_000 + REPLAY_WINDOW_MS))).toBeUndefined();
    expect(refusal(guard, tag(3, 1_000_000 - REPLAY_WINDOW_MS - 1))).toEqual({ code: "AUTH_FAILED", reason: "window" });
    expect(refusal(guard, tag(4, 1_000_000 + REPLAY_WINDOW_MS + 1))).toEqual({ code: "AUTH_FAILED", reason: "window" });
    expect(() => guard.accept(tag(5, 0))).toThrow(/1000\.0 s behind this side's clock, outside the window of ±60 s/);
  });

  it("refuses a nonce it accepted, whatever the timestamp", () => {
    const guard = new ReplayGuard({ now: () => 1_000_000 });
    guard.accept(tag(1, 1_000_000));
    expect(refusal(guard, tag(1, 1_000_000))).toEqual({ code: "AUTH_FAILED", reason: "replay" });
    expect(refusal(guard, tag(1, 1_000_500))).toEqual({ code: "AUTH_FAILED", reason: "replay" });
    expect(refusal(guard, tag(2, 1_000_000))).toBeUndefined();
  });

  it("forgets nonces once their timestamps leave the window: memory stays bounded", () => {
    let now = 1_000_000;
    const guard = new ReplayGuard({ windowMs: 1000, now: () => now });
    for (let i = 0; i < 100; i++) guard.accept(tag(i, now));
    expect(guard.size).toBe(100);
    now += 1001; // every nonce so far is outside the window now
    expect(refusal(guard, tag(0, now - 1001))).toEqual({ code: "AUTH_FAILED", reason: "window" });
    guard.accept(tag(200, now));
    expect(guard.size).toBe(1);
  });

  it("sits after the signature in decoding: a forged message leaves no nonce behind", () => {
    const key = Buffer.from("key");
    const guard = new ReplayGuard();
    const frames = encodeMessage({ header: { v: 4, id: 3, kind: "request", type: "ping" }, body: {} }, { key });
    const forged = [...frames.slice(0, -1), Buffer.from(frames.at(-1) as Uint8Array).fill(0, 24)];
    expect(() => decodeMessage(forged, { key, replay: guard })).toThrow(/signature does not match/);
    expect(guard.size).toBe(0);
    expect(decodeMessage(frames, { key, replay: guard }).header.id).toBe(3);
    expect(() => decodeMessage(frames, { key, replay: guard })).toThrow(expect.objectContaining({ code: "AUTH_FAILED", header: expect.objectContaining({ id: 3 }) }));
  });
});
