/**
 * Seeded pseudo-random numbers for the control plane: xoshiro128** (Blackman & Vigna) seeded
 * through splitmix32. Small, fast on 32-bit integer arithmetic, and identical on every
 * platform, so that the same seed gives the same batch plan everywhere.
 */

const UINT32 = 0x1_0000_0000;
const INV_UINT32 = 1 / UINT32;
/** Below 2^21, uint32 × n stays within the 53 bits a double holds exactly. */
const SMALL_BOUND = 0x20_0000;

/** One splitmix32 step: a well-mixed 32-bit value from a counter. */
function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z ^= z >>> 16;
  z = Math.imul(z, 0x21f0aaad);
  z ^= z >>> 15;
  z = Math.imul(z, 0x735a2d97);
  z ^= z >>> 15;
  return z >>> 0;
}

/**
 * Mixes a seed and a list of stream identifiers (stage, epoch, …) into one 32-bit seed, so that
 * every (seed, stage, epoch) gets its own independent stream. Each part must be a safe integer.
 */
export function deriveSeed(seed: number, ...parts: readonly number[]): number {
  let h = splitmix32(mixSafeInteger(0x6d636c00, seed));
  for (const part of parts) h = splitmix32(mixSafeInteger(h, part));
  return h;
}

function mixSafeInteger(h: number, value: number): number {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`seed parts must be safe integers, got ${value}`);
  }
  const low = value % UINT32 >>> 0;
  const high = Math.floor(value / UINT32) >>> 0;
  return splitmix32(splitmix32(h ^ low) ^ high);
}

/** xoshiro128** generator. Not for cryptography. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed`: any safe integer; use `deriveSeed` to split streams. */
  constructor(seed: number) {
    let state = deriveSeed(seed);
    this.s0 = state = splitmix32(state);
    this.s1 = state = splitmix32(state);
    this.s2 = state = splitmix32(state);
    this.s3 = splitmix32(state);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = 1; // the all-zero state is a fixed point
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform integer in [0, n), without modulo bias. `n` in [1, 2^32]. */
  below(n: number): number {
    if (n <= SMALL_BOUND) {
      // Lemire's multiply-shift: x * n < 2^53 is exact; reject the few low words that would bias.
      let product = this.nextUint32() * n;
      let high = Math.floor(product * INV_UINT32);
      let low = product - high * UINT32;
      if (low < n) {
        const threshold = (UINT32 - n) % n;
        while (low < threshold) {
          product = this.nextUint32() * n;
          high = Math.floor(product * INV_UINT32);
          low = product - high * UINT32;
        }
      }
      return high;
    }
    // Reject the top partial copy of [0, n) so every residue is equally likely.
    const limit = UINT32 - (UINT32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Fisher–Yates shuffle of `array[start, end)` in place. */
export function shuffleRange(array: Int32Array, start: number, end: number, rng: Rng): void {
  for (let i = end - 1; i > start; i--) {
    const j = start + rng.below(i - start + 1);
    const tmp = array[i]!;
    array[i] = array[j]!;
    array[j] = tmp;
  }
}
