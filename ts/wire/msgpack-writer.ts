/**
 * A canonical msgpack writer: the smallest form of every map, array, string, binary and integer,
 * float64 for every non-integral number. It exists because msgpackr's Packr writes integers beyond
 * 32 bits as float64 (numbers) or always as 8-byte int64 (bigints), while Python's msgpack writes
 * the smallest integer form, and the golden vectors need both sides to agree byte for byte.
 * Decoding uses msgpackr's Unpackr.
 */
export class MsgpackWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** The bytes written so far, as a Buffer of its own. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  nil(): void {
    this.reserve(1);
    this.buf[this.pos++] = 0xc0;
  }

  bool(value: boolean): void {
    this.reserve(1);
    this.buf[this.pos++] = value ? 0xc3 : 0xc2;
  }

  /** Integral numbers within the safe range as integers, every other number (and -0) as float64. */
  number(value: number): void {
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) this.float64(value);
    else if (value >= -0x8000_0000 && value <= 0xffff_ffff) this.int32(value);
    else this.int64(BigInt(value));
  }

  /** An integer in the smallest form. */
  int(value: bigint): void {
    if (value >= -0x8000_0000n && value <= 0xffff_ffffn) this.int32(Number(value));
    else this.int64(value);
  }

  float64(value: number): void {
    this.reserve(9);
    this.buf[this.pos] = 0xcb;
    this.pos = this.buf.writeDoubleBE(value, this.pos + 1);
  }

  /** -2^31 ≤ value ≤ 2^32 - 1. Non-negative values use the unsigned forms, as Python's msgpack does. */
  private int32(value: number): void {
    this.reserve(5);
    const b = this.buf;
    const p = this.pos;
    if (value >= 0) {
      if (value < 0x80) (b[p] = value), (this.pos = p + 1);
      else if (value <= 0xff) (b[p] = 0xcc), (b[p + 1] = value), (this.pos = p + 2);
      else if (value <= 0xffff) (b[p] = 0xcd), (this.pos = b.writeUInt16BE(value, p + 1));
      else (b[p] = 0xce), (this.pos = b.writeUInt32BE(value, p + 1));
    } else {
      if (value >= -0x20) (b[p] = 0x100 + value), (this.pos = p + 1);
      else if (value >= -0x80) (b[p] = 0xd0), (this.pos = b.writeInt8(value, p + 1));
      else if (value >= -0x8000) (b[p] = 0xd1), (this.pos = b.writeInt16BE(value, p + 1));
      else (b[p] = 0xd2), (this.pos = b.writeInt32BE(value, p + 1));
    }
  }

  /** Beyond 32 bits: uint64 when non-negative, else int64. */
  private int64(value: bigint): void {
    this.reserve(9);
    if (value >= 0n && value <= 0xffff_ffff_ffff_ffffn) {
      this.buf[this.pos] = 0xcf;
      this.pos = this.buf.writeBigUInt64BE(value, this.pos + 1);
    } else if (value < 0n && value >= -0x8000_0000_0000_0000n) {
      this.buf[this.pos] = 0xd3;
      this.pos = this.buf.writeBigInt64BE(value, this.pos + 1);
    } else {
      throw new RangeError(`${value} does not fit in a msgpack integer (int64 or uint64)`);
    }
  }

  str(value: string): void {
    if (value.length < 0x20 && this.asciiFixstr(value)) return;
    const length = Buffer.byteLength(value, "utf8");
    if (length < 0x20) this.head(0xa0 | length, 0, length);
    else if (length <= 0xff) this.head(0xd9, 1, length);
    else if (length <= 0xffff) this.head(0xda, 2, length);
    else this.head(0xdb, 4, length);
    this.reserve(length);
    this.pos += this.buf.write(value, this.pos, "utf8");
  }

  /** Short ASCII strings (keys, mostly) byte by byte: cheaper than a native UTF-8 encode. */
  private asciiFixstr(value: string): boolean {
    this.reserve(1 + value.length);
    const b = this.buf;
    const start = this.pos + 1;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return false;
      b[start + i] = c;
    }
    b[this.pos] = 0xa0 | value.length;
    this.pos = start + value.length;
    return true;
  }

  bin(value: Uint8Array): void {
    const length = value.byteLength;
    if (length <= 0xff) this.head(0xc4, 1, length);
    else if (length <= 0xffff) this.head(0xc5, 2, length);
    else this.head(0xc6, 4, length);
    this.reserve(length);
    this.buf.set(value, this.pos);
    this.pos += length;
  }

  /** Starts an array of `length` items; the caller writes them next. */
  array(length: number): void {
    if (length < 0x10) this.head(0x90 | length, 0, length);
    else if (length <= 0xffff) this.head(0xdc, 2, length);
    else this.head(0xdd, 4, length);
  }

  /** Starts a map of `length` entries; the caller writes key, value, key, value, … next. */
  map(length: number): void {
    if (length < 0x10) this.head(0x80 | length, 0, length);
    else if (length <= 0xffff) this.head(0xde, 2, length);
    else this.head(0xdf, 4, length);
  }

  private head(tag: number, lengthBytes: 0 | 1 | 2 | 4, length: number): void {
    this.reserve(5);
    this.buf[this.pos++] = tag;
    if (lengthBytes === 1) this.buf[this.pos++] = length;
    else if (lengthBytes === 2) this.pos = this.buf.writeUInt16BE(length, this.pos);
    else if (lengthBytes === 4) this.pos = this.buf.writeUInt32BE(length, this.pos);
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
