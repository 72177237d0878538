import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SIGNATURE_BYTES, WireError, loadKeyFile, sign, verify } from "../../../ts/wire/index.js";

const u64le = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

describe("signing", () => {
  it("is HMAC-SHA256 over length-prefixed frames", () => {
    const frames = [Buffer.from("header"), Buffer.alloc(0), Buffer.alloc(5)];
    const expected = createHmac("sha256", "k")
      .update(Buffer.concat(frames.flatMap((f) => [u64le(f.length), f])))
      .digest();
    expect(sign(Buffer.from("k"), frames)).toEqual(expected);
    expect(expected.length).toBe(SIGNATURE_BYTES);
  });

  it("verifies the signature and refuses others", () => {
    const key = Buffer.from("key");
    const frames = [Buffer.from("a"), Buffer.from("bc")];
    const good = sign(key, frames);
    expect(verify(key, good, frames)).toBe(true);
    expect(verify(Buffer.from("other"), good, frames)).toBe(false);
    expect(verify(key, good.subarray(1), frames)).toBe(false);
    expect(verify(key, Buffer.alloc(0), frames)).toBe(false);
    expect(verify(key, good, [Buffer.from("ab"), Buffer.from("c")])).toBe(false); // lengths are signed too
  });

  it("reads a key file trimmed of whitespace, and refuses an empty one", () => {
    const dir = mkdtempSync(join(tmpdir(), "mcl-key-"));
    writeFileSync(join(dir, "key"), "\n  s3cret key\t\r\n");
    expect(loadKeyFile(join(dir, "key")).toString()).toBe("s3cret key");
    writeFileSync(join(dir, "empty"), " \n");
    expect(() => loadKeyFile(join(dir, "empty"))).toThrow(WireError);
    expect(() => loadKeyFile(join(dir, "empty"))).toThrow(/is empty/);
  });
});
