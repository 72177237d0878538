import { type Header, type MessageKind, MESSAGE_KINDS, isWellFormedHeader } from "./header.js";

/**
 * The header in its canonical form, written and read byte by byte. Every message has a header,
 * and on the small messages that are most of the traffic (ping, heartbeat, cancel, progress) a
 * general msgpack writer and reader cost more than everything else the client does with them:
 * the first message after a wait meets cold caches, and the general code touches far more of them
 * than these few lines do.
 *
 * Canonical means what both codecs write: a fixmap of v, id, kind, type in that order, integers
 * in their smallest unsigned form, strings as fixstr (the reader also takes an id in a wider
 * unsigned form: the value is the same). A header in another valid form (a peer
 * with another msgpack library) is not canonical: `readCanonicalHeader` returns undefined for it
 * and the caller decodes it with the general reader, which also names whatever is wrong.
 */

const PREFIX = [0x84, 0xa1, 0x76] as const; // {  "v"
const ID_KEY = [0xa2, 0x69, 0x64] as const; // "id"
const KIND_KEY = [0xa4, 0x6b, 0x69, 0x6e, 0x64] as const; // "kind"
const TYPE_KEY = [0xa4, 0x74, 0x79, 0x70, 0x65] as const; // "type"
const FIXSTR = 0xa0;
const MAX_FIXSTR = 0x1f;
const MAX_FIXINT = 0x7f;

/** Bytes of `id` in its smallest unsigned msgpack form. */
function idBytes(id: number): number {
  return id <= MAX_FIXINT ? 1 : id <= 0xff ? 2 : id <= 0xffff ? 3 : 5;
}

/** ASCII strings shorter than 32 characters: the only ones written as a fixstr byte by byte. */
function isShortAscii(value: string): boolean {
  if (value.length > MAX_FIXSTR) return false;
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * Bytes of the canonical form of `header` (well formed, see isWellFormedHeader), or undefined
 * when its type is not a short ASCII string: the caller writes that one with the general writer.
 */
export function canonicalHeaderBytes(header: Header): number | undefined {
  if (header.v > MAX_FIXINT || !isShortAscii(header.type)) return undefined;
  return PREFIX.length + 1 + ID_KEY.length + idBytes(header.id) + KIND_KEY.length + 1 + header.kind.length + TYPE_KEY.length + 1 + header.type.length;
}

/** Writes the canonical form of `header` (see canonicalHeaderBytes) into `out` at `at`; returns the position after it. */
export function writeCanonicalHeader(out: Uint8Array, at: number, header: Header): number {
  const { v, id, kind, type } = header;
  let p = at;
  for (const byte of PREFIX) out[p++] = byte;
  out[p++] = v;
  for (const byte of ID_KEY) out[p++] = byte;
  if (id > 0xffff) (out[p++] = 0xce), (out[p++] = id >>> 24), (out[p++] = (id >>> 16) & 0xff);
  else if (id > 0xff) out[p++] = 0xcd;
  else if (id > MAX_FIXINT) out[p++] = 0xcc;
  if (id > 0xff) out[p++] = (id >>> 8) & 0xff;
  out[p++] = id & 0xff;
  for (const byte of KIND_KEY) out[p++] = byte;
  p = writeAscii(out, p, kind);
  for (const byte of TYPE_KEY) out[p++] = byte;
  return writeAscii(out, p, type);
}

function writeAscii(out: Uint8Array, at: number, value: string): number {
  out[at++] = FIXSTR | value.length;
  for (let i = 0; i < value.length; i++) out[at++] = value.charCodeAt(i);
  return at;
}

/**
 * The header at `at` in `frame` and the position after it, when it is canonical and well formed
 * (see above); undefined for anything else, which the caller then reads with the general reader.
 */
export function readCanonicalHeader(frame: Uint8Array, at: number): { header: Header; end: number } | undefined {
  let p = expect(frame, at, PREFIX);
  if (p < 0 || p >= frame.length) return undefined;
  const v = frame[p] as number;
  if (v > MAX_FIXINT) return undefined;
  p = expect(frame, p + 1, ID_KEY);
  if (p < 0) return undefined;
  const tag = frame[p++] as number;
  let id: number;
  if (tag <= MAX_FIXINT) id = tag;
  else if (tag === 0xcc && p + 1 <= frame.length) (id = frame[p] as number), (p += 1);
  else if (tag === 0xcd && p + 2 <= frame.length) (id = ((frame[p] as number) << 8) | (frame[p + 1] as number)), (p += 2);
  else if (tag === 0xce && p + 4 <= frame.length) (id = (frame[p] as number) * 0x100_0000 + (((frame[p + 1] as number) << 16) | ((frame[p + 2] as number) << 8) | (frame[p + 3] as number))), (p += 4);
  else return undefined;
  p = expect(frame, p, KIND_KEY);
  const kind = p < 0 ? undefined : knownKind(frame, p);
  if (kind === undefined) return undefined;
  p = expect(frame, p + 1 + kind.length, TYPE_KEY);
  const typeTag = p < 0 ? -1 : (frame[p] as number);
  const end = p + 1 + (typeTag & MAX_FIXSTR);
  if ((typeTag & ~MAX_FIXSTR) !== FIXSTR || end > frame.length) return undefined;
  let type = "";
  for (let i = p + 1; i < end; i++) {
    const c = frame[i] as number;
    if (c >= 0x80) return undefined; // UTF-8 beyond ASCII: the general reader decodes it
    type += String.fromCharCode(c);
  }
  return isWellFormedHeader(v, id, kind, type) ? { header: { v, id, kind, type }, end } : undefined;
}

/** The position after `bytes` if `frame` holds them at `at`, else -1. */
function expect(frame: Uint8Array, at: number, bytes: readonly number[]): number {
  if (at < 0 || at + bytes.length > frame.length) return -1;
  for (let i = 0; i < bytes.length; i++) if (frame[at + i] !== bytes[i]) return -1;
  return at + bytes.length;
}

/** The message kind whose fixstr is at `at`, as the shared constant (no string is built). */
function knownKind(frame: Uint8Array, at: number): MessageKind | undefined {
  const length = (frame[at] as number) ^ FIXSTR;
  if (length > MAX_FIXSTR || at + 1 + length > frame.length) return undefined;
  search: for (const kind of MESSAGE_KINDS) {
    if (kind.length !== length) continue;
    for (let i = 0; i < length; i++) if (frame[at + 1 + i] !== kind.charCodeAt(i)) continue search;
    return kind;
  }
  return undefined;
}
