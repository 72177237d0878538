/**
 * TensorBoard event files, written without TensorFlow or a protobuf package: the TFRecord framing
 * and the few fields of tensorflow.Event that scalars need.
 *
 *   record  = uint64 length (LE) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
 *   Event   = wall_time 1 (double), step 2 (int64), file_version 3 (string, the first record only),
 *             summary 5 (Summary)
 *   Summary = value 1 (repeated Value { tag 1 (string), simple_value 2 (float) })
 *
 * Each writer makes a new file `events.out.tfevents.<seconds>.<hostname>` (a suffix `.1`, `.2`, …
 * when that name is taken); TensorBoard reads every such file of a folder, in name order.
 */

import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { AppendFile } from "./append-file.js";
import { maskedCrc32c } from "./crc32c.js";

/** What the first record of every event file says its format is (version 2: no step-based purging). */
export const FILE_VERSION = "brain.Event:2";
export const EVENT_FILE_PREFIX = "events.out.tfevents.";

/** One tensorflow.Event, as far as this module writes them. */
export interface EventFields {
  /** Seconds since the Unix epoch. */
  readonly wallTime: number;
  /** An integer >= 0. */
  readonly step: number;
  readonly fileVersion?: string;
  /** Scalars by tag, stored as 32-bit floats. */
  readonly scalars?: readonly (readonly [tag: string, value: number])[];
}

/** The Event message's bytes. */
export function encodeEvent(event: EventFields): Uint8Array {
  if (!Number.isSafeInteger(event.step) || event.step < 0) throw new RangeError(`step: expected an integer >= 0, got ${event.step}`);
  if (!Number.isFinite(event.wallTime)) throw new RangeError(`wallTime: expected a finite number, got ${event.wallTime}`);
  const parts: Uint8Array[] = [key(1, WIRE_FIXED64), float64(event.wallTime), key(2, WIRE_VARINT), varint(event.step)];
  if (event.fileVersion !== undefined) parts.push(lengthDelimited(3, utf8(event.fileVersion)));
  if (event.scalars !== undefined && event.scalars.length > 0) {
    const values = event.scalars.map(([tag, value]) =>
      lengthDelimited(1, concat([lengthDelimited(1, utf8(tag)), key(2, WIRE_FIXED32), float32(value)])),
    );
    parts.push(lengthDelimited(5, concat(values)));
  }
  return concat(parts);
}

/** `data` framed as one TFRecord. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const record = new Uint8Array(16 + data.length);
  const view = new DataView(record.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(record.subarray(0, 8)), true);
  record.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return record;
}

/** Appends scalar events to a new event file in a folder; writes go out in the background (append-file.ts). */
export class TensorBoardWriter {
  readonly #file: AppendFile;

  private constructor(file: AppendFile) {
    this.#file = file;
  }

  /** A new event file in `folder` (created when absent), opened with its file-version record. */
  static async create(folder: string, now: Date = new Date()): Promise<TensorBoardWriter> {
    await mkdir(folder, { recursive: true });
    const seconds = Math.floor(now.getTime() / 1000);
    const base = join(folder, `${EVENT_FILE_PREFIX}${seconds}.${hostname()}`);
    for (let n = 0; ; n++) {
      const file = await AppendFile.create(n === 0 ? base : `${base}.${n}`);
      if (file === null) continue;
      file.append(tfRecord(encodeEvent({ wallTime: now.getTime() / 1000, step: 0, fileVersion: FILE_VERSION })));
      return new TensorBoardWriter(file);
    }
  }

  get path(): string {
    return this.#file.path;
  }

  /** One event holding `scalars` at `step`. */
  addScalars(step: number, scalars: readonly (readonly [tag: string, value: number])[], wallTime: number): void {
    this.#file.append(tfRecord(encodeEvent({ wallTime, step, scalars })));
  }

  flush(): Promise<void> {
    return this.#file.flush();
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

function key(field: number, wireType: number): Uint8Array {
  return varint(field * 8 + wireType);
}

/** A non-negative integer up to 2^53 as a protobuf varint. */
function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

function lengthDelimited(field: number, data: Uint8Array): Uint8Array {
  return concat([key(field, WIRE_LENGTH_DELIMITED), varint(data.length), data]);
}

function float64(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, value, true);
  return bytes;
}

function float32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return bytes;
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
