/**
 * metrics.jsonl: every metric record of a run (metric-records.ts), one JSON object per line,
 * appended as the events arrive (append-file.ts):
 *
 *   {"time":1765071234.51,"kind":"train","stage":1,"epoch":0,"step":5,"loss":5.01,"lr":0.001,"samplesPerSec":812.4}
 *
 * A new run starts the file afresh. A resumed run appends to it, first cutting off a last line
 * that a killed process left unfinished, and skips every record whose key (recordKey) the file
 * holds already, so that a step trained again after a resume is logged once, with the values it
 * had first. Values that are not finite (a diverged loss) are written as null.
 */

import { readFile, truncate } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFailure } from "../control/atomic-file.js";
import { AppendFile } from "./append-file.js";
import { type MetricRecord, recordKey } from "./metric-records.js";

export const METRICS_FILE = "metrics.jsonl";

/** What a line needs for its key; lines without it (edited by hand) are kept and not counted. */
const keyedLine = z.looseObject({
  kind: z.enum(["train", "epoch", "probe"]),
  stage: z.union([z.number(), z.string()]),
  epoch: z.number().nullable(),
  step: z.number().nullable(),
});

export class MetricsLog {
  readonly #file: AppendFile;
  readonly #keys: Set<string>;

  private constructor(file: AppendFile, keys: Set<string>) {
    this.#file = file;
    this.#keys = keys;
  }

  /** The run's log: emptied for a new run, continued for a resumed one. */
  static async open(runDir: string, resumed: boolean): Promise<MetricsLog> {
    const path = join(runDir, METRICS_FILE);
    if (!resumed) return new MetricsLog(await AppendFile.open(path, "truncate"), new Set());
    const keys = await wholeLineKeys(path);
    return new MetricsLog(await AppendFile.open(path, "append"), keys);
  }

  get path(): string {
    return this.#file.path;
  }

  /** Appends `record` unless the log holds its key already; whether it did. */
  append(record: MetricRecord): boolean {
    const key = recordKey(record);
    if (this.#keys.has(key)) return false;
    this.#keys.add(key);
    this.#file.append(`${JSON.stringify(record)}\n`);
    return true;
  }

  flush(): Promise<void> {
    return this.#file.flush();
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

/** The keys of the records on `path`'s whole lines, once an unfinished last line is cut off. */
async function wholeLineKeys(path: string): Promise<Set<string>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw error;
  }
  const end = bytes.lastIndexOf(0x0a) + 1;
  if (end < bytes.length) await truncate(path, end).catch((error: unknown) => Promise.reject(writeFailure(path, error)));
  const keys = new Set<string>();
  for (const line of bytes.subarray(0, end).toString("utf8").split("\n")) {
    const parsed = keyedLine.safeParse(parseJson(line));
    if (parsed.success) keys.add(recordKey(parsed.data));
  }
  return keys;
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
