// The four ways a file of a run directory is damaged in the matrix. Deterministic, so that a
// failing case damages the same bytes again.
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";

export type Damage = "truncated" | "garbage" | "deleted" | "bit-flipped";
export const DAMAGES: readonly Damage[] = ["truncated", "garbage", "deleted", "bit-flipped"];

/** Bytes from a fixed-seed xorshift generator: the same garbage each run. */
export function garbageBytes(length: number, seed = 0x9e3779b9): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/**
 * Damages `path`. A bit flip in a JSON file lands in its first key's first letter's case bit
 * ("format" becomes "Format"): a flip that a reader must notice (a flip inside a number is
 * undetectable without a checksum, which JSON side files do not carry); in a binary file it lands
 * 17 bytes before the end.
 */
export function damage(path: string, how: Damage): void {
  const bytes = readFileSync(path);
  switch (how) {
    case "truncated":
      truncateSync(path, Math.floor(bytes.byteLength / 2));
      return;
    case "garbage":
      writeFileSync(path, garbageBytes(bytes.byteLength));
      return;
    case "deleted":
      rmSync(path);
      return;
    case "bit-flipped": {
      const at = path.endsWith(".json") ? bytes.indexOf('"') + 1 : Math.max(0, bytes.byteLength - 17);
      bytes[at] = bytes[at]! ^ (path.endsWith(".json") ? 0x20 : 0x10);
      writeFileSync(path, bytes);
      return;
    }
  }
}
