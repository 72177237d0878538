import { createHmac, randomFillSync, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { WireError } from "./errors.js";

/** Bytes of the random nonce that opens an auth frame. */
export const NONCE_BYTES = 16;
/** Bytes of the timestamp after it: u64le milliseconds since the Unix epoch. */
export const TIMESTAMP_BYTES = 8;
/** Bytes of the HMAC-SHA256 that closes it. */
export const MAC_BYTES = 32;
/** Bytes of an auth frame, the last frame of a signed message: nonce ‖ timestamp ‖ HMAC. */
export const AUTH_BYTES = NONCE_BYTES + TIMESTAMP_BYTES + MAC_BYTES;

/** The nonce and timestamp an auth frame carries: what a receiver checks against replays. */
export interface AuthTag {
  readonly nonce: Uint8Array;
  /** Milliseconds since the Unix epoch (a value beyond 2^53 - 1 is rounded: outside any window anyway). */
  readonly timestampMs: number;
}

/** Random bytes drawn at a time for nonces: one draw per call costs more than the rest of signing a small message. */
const NONCE_POOL_BYTES = 4096;
let noncePool = Buffer.alloc(0);
let nonceAt = 0;

/** A fresh tag: a random nonce and this side's clock. */
export function newAuthTag(): AuthTag {
  if (nonceAt + NONCE_BYTES > noncePool.length) {
    noncePool = randomFillSync(Buffer.allocUnsafe(NONCE_POOL_BYTES)); // a new pool: nonces handed out stay as they are
    nonceAt = 0;
  }
  const nonce = noncePool.subarray(nonceAt, nonceAt + NONCE_BYTES);
  nonceAt += NONCE_BYTES;
  return { nonce, timestampMs: Date.now() };
}

/**
 * The auth frame of `frames` ([head, ...tensors]): nonce ‖ timestamp ‖ HMAC-SHA256(key, nonce ‖
 * timestamp ‖ for each frame f: u64le(len(f)) ‖ f). `tag` is fresh unless given (golden vectors).
 */
export function authFrame(key: Uint8Array, frames: readonly Uint8Array[], tag: AuthTag = newAuthTag()): Buffer {
  if (tag.nonce.byteLength !== NONCE_BYTES) throw new RangeError(`an auth nonce has ${NONCE_BYTES} bytes, got ${tag.nonce.byteLength}`);
  if (!Number.isSafeInteger(tag.timestampMs) || tag.timestampMs < 0) {
    throw new RangeError(`an auth timestamp is a whole number of milliseconds >= 0, got ${tag.timestampMs}`);
  }
  const auth = Buffer.allocUnsafe(AUTH_BYTES);
  auth.set(tag.nonce, 0);
  writeU64(auth, tag.timestampMs, NONCE_BYTES);
  mac(key, auth.subarray(0, NONCE_BYTES + TIMESTAMP_BYTES), frames).copy(auth, NONCE_BYTES + TIMESTAMP_BYTES);
  return auth;
}

/** `frames` ([head, ...tensors]) with their auth frame appended: a fresh nonce and the current time. */
export function signFrames(key: Uint8Array, frames: readonly Uint8Array[]): Uint8Array[] {
  return [...frames, authFrame(key, frames)];
}

/** The tag of `auth` when it is the auth frame of `frames` under `key` (compared in constant time), else undefined. */
export function verifyAuth(key: Uint8Array, auth: Uint8Array, frames: readonly Uint8Array[]): AuthTag | undefined {
  if (auth.byteLength !== AUTH_BYTES) return undefined;
  const bytes = Buffer.from(auth.buffer, auth.byteOffset, auth.byteLength);
  const signed = NONCE_BYTES + TIMESTAMP_BYTES;
  if (!timingSafeEqual(mac(key, bytes.subarray(0, signed), frames), bytes.subarray(signed))) return undefined;
  return { nonce: bytes.subarray(0, NONCE_BYTES), timestampMs: bytes.readUInt32LE(NONCE_BYTES) + bytes.readUInt32LE(NONCE_BYTES + 4) * 2 ** 32 };
}

function mac(key: Uint8Array, prefix: Uint8Array, frames: readonly Uint8Array[]): Buffer {
  const hmac = createHmac("sha256", key).update(prefix);
  const length = Buffer.allocUnsafe(8);
  for (const frame of frames) {
    writeU64(length, frame.byteLength, 0);
    hmac.update(length);
    hmac.update(frame);
  }
  return hmac.digest();
}

/** u64le of a safe integer, without a bigint (which costs more than the write). */
function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value % 2 ** 32, offset);
  buf.writeUInt32LE(Math.floor(value / 2 ** 32), offset + 4);
}

/**
 * Reads a key file: its bytes with surrounding ASCII whitespace trimmed. AUTH_FAILED naming the
 * file for one that is missing, unreadable or empty.
 */
export function loadKeyFile(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? (error as Error).message})`;
    throw new WireError("AUTH_FAILED", `key file ${path} ${problem}; give keyFile (--key-file) the file that holds the worker's shared key`, {
      cause: error,
    });
  }
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
