import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { WireError } from "./errors.js";

/** Bytes of an HMAC-SHA256 signature (the last frame of a signed message). */
export const SIGNATURE_BYTES = 32;

/** HMAC-SHA256(key, for each frame f: u64le(len(f)) ‖ f) over [head, ...tensors]. */
export function sign(key: Uint8Array, frames: readonly Uint8Array[]): Buffer {
  const hmac = createHmac("sha256", key);
  const length = Buffer.alloc(8);
  for (const frame of frames) {
    length.writeBigUInt64LE(BigInt(frame.byteLength));
    hmac.update(length);
    hmac.update(frame);
  }
  return hmac.digest();
}

/** Whether `signature` signs `frames` ([head, ...tensors]) under `key`; constant time. */
export function verify(key: Uint8Array, signature: Uint8Array, frames: readonly Uint8Array[]): boolean {
  if (signature.byteLength !== SIGNATURE_BYTES) return false;
  return timingSafeEqual(sign(key, frames), signature);
}

/** Reads a key file: its bytes with surrounding ASCII whitespace trimmed. */
export function loadKeyFile(path: string): Buffer {
  const bytes = readFileSync(path);
  let start = 0;
  let end = bytes.length;
  while (start < end && isAsciiSpace(bytes[start] as number)) start++;
  while (end > start && isAsciiSpace(bytes[end - 1] as number)) end--;
  if (start === end) {
    throw new WireError("AUTH_FAILED", `key file ${path} is empty; write the shared key into it (e.g. 32 random bytes, hex)`);
  }
  return bytes.subarray(start, end);
}

/** The whitespace Python's bytes.strip() removes: space, \t, \n, \v, \f, \r. */
function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}
