// Our TensorBoard event files read by TensorBoard's own readers (the oracle peer, installed by
// `node scripts/bootstrap.mjs --oracles`): every scalar's tag, step, value and wall time comes back
// as written, and a file whose CRC does not match its bytes is refused, so the CRCs are checked;
// a resumed run's second event file holds only what the first did not.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maskedCrc32c } from "../../../ts/sdk/crc32c.js";
import { encodeEvent, FILE_VERSION, TensorBoardWriter } from "../../../ts/sdk/tensorboard-writer.js";
import { TENSORBOARD_FOLDER } from "../../../ts/sdk/experiment-logs.js";
import { FIRST_SESSION, logSession, probe, progress, runDir } from "./sessions.js";
import { readWithTensorBoard } from "./tensorboard-reader.js";

const root = mkdtempSync(join(tmpdir(), "mcl-tensorboard-"));

/** Scalars of several tags per event, at steps far apart, of values float32 must round. */
const WRITTEN: { step: number; wallTime: number; scalars: [string, number][] }[] = [
  { step: 1, wallTime: 1765000000.125, scalars: [["stage-1/train/loss", 5.123456789], ["stage-1/train/lr", 1e-3]] },
  { step: 2, wallTime: 1765000001.5, scalars: [["stage-1/train/loss", -0.5], ["stage-1/train/lr", 3.3e-7]] },
  { step: 300, wallTime: 1765000002.75, scalars: [["stage-1/train/loss", 1e30], ["stage-1/train/lr", 0]] },
  { step: 2 ** 40 + 3, wallTime: 1765000003, scalars: [["baseline/epoch/left_out_fraction", 0.0625]] },
  { step: 2, wallTime: 1765000004.25, scalars: [["probe/linear/shape", 0.9], ["probe/knn/größe", 0.33], ["probe/linear/color", 1]] },
];

let eventFile = "";

beforeAll(async () => {
  const writer = await TensorBoardWriter.create(join(root, "run"), new Date(1765000000_000));
  for (const { step, wallTime, scalars } of WRITTEN) writer.addScalars(step, scalars, wallTime);
  await writer.close();
  eventFile = writer.path;
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("our event file, read by TensorBoard", () => {
  it("holds every scalar with its tag, step, value and wall time, and the file version first", () => {
    const answer = readWithTensorBoard(join(root, "run"), [eventFile]);
    expect(answer.fileVersion).toBe(2);
    const expected: Record<string, [number, number, number][]> = {};
    for (const { step, wallTime, scalars } of WRITTEN) {
      for (const [tag, value] of scalars) (expected[tag] ??= []).push([step, Math.fround(value), wallTime]);
    }
    expect(answer.scalars).toEqual(expected);
    const loaded = answer.loaded[eventFile]!;
    expect(loaded[0]).toEqual({ step: 0, fileVersion: FILE_VERSION, tags: [] });
    expect(loaded.slice(1).map((e) => [e.step, e.tags])).toEqual(WRITTEN.map((e) => [e.step, e.scalars.map(([tag]) => tag)]));
    expect(answer.errors[eventFile]).toBeNull();
  });

  it("has the masked CRC-32C TensorBoard computes", () => {
    const samples = [new Uint8Array(0), new TextEncoder().encode("brain.Event:2"), encodeEvent(WRITTEN[4]!), Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff)];
    expect(readWithTensorBoard(join(root, "run"), [], samples).masked).toEqual(samples.map(maskedCrc32c));
  });

  it("is refused where a record's data or length does not match its CRC", () => {
    const bytes = readFileSync(eventFile);
    const recordStarts: number[] = [];
    for (let at = 0; at < bytes.length; at += 16 + Number(bytes.readBigUInt64LE(at))) recordStarts.push(at);
    expect(recordStarts).toHaveLength(1 + WRITTEN.length);
    const folder = join(root, "damaged");
    mkdirSync(folder);
    const damage = (name: string, offset: number): string => {
      const copy = Buffer.from(bytes);
      copy[offset]! ^= 0x10;
      const path = join(folder, name);
      writeFileSync(path, copy);
      return path;
    };
    // A byte of the third scalar event's data (its length and its framing stay valid), and a byte
    // of the second one's length CRC.
    const dataDamaged = damage("events.out.tfevents.1.data", recordStarts[3]! + 12 + 20);
    const lengthDamaged = damage("events.out.tfevents.2.length", recordStarts[2]! + 9);
    const intact = join(folder, "events.out.tfevents.3.intact"); // the control: an undamaged copy is read whole
    copyFileSync(eventFile, intact);
    const answer = readWithTensorBoard(folder, [dataDamaged, lengthDamaged, intact]);
    expect(answer.errors[dataDamaged]).toMatch(/failed event crc32 check/);
    expect(answer.errors[lengthDamaged]).toMatch(/failed header crc32 check/);
    expect(answer.errors[intact]).toBeNull();
    // The loader stops at the damaged record: nothing of it or after it is taken.
    expect(answer.loaded[dataDamaged]!.map((e) => e.step)).toEqual([0, WRITTEN[0]!.step, WRITTEN[1]!.step]);
    expect(answer.loaded[lengthDamaged]!.map((e) => e.step)).toEqual([0, WRITTEN[0]!.step]);
    expect(answer.loaded[intact]!).toHaveLength(1 + WRITTEN.length);
  });
});

describe("the experiment logs' event files, read by TensorBoard", () => {
  it("holds the scalars of the lines it logged, one new file per session", async () => {
    const dir = runDir(root);
    await logSession(dir, [...FIRST_SESSION, probe(1, 0.75)]);
    await logSession(dir, [progress(1, 1, 2, 9.9), progress(1, 1, 4, 4.0), probe(1, 0.1), probe(2, 0.625), probe("baseline", 0.25)], {
      resumed: true,
    });
    const folder = join(dir, TENSORBOARD_FOLDER);
    expect(readdirSync(folder)).toHaveLength(2);
    const { scalars } = readWithTensorBoard(folder);
    const steps = (tag: string) => scalars[tag]?.map(([step, value]) => [step, value]);
    // Step 6 keeps the first session's loss, not the resumed one's 9.9; a NaN loss is written as NaN.
    expect(steps("stage-1/train/loss")).toEqual([[2, 5.5], [4, "nan"], [6, 4.5], [8, 4.0]]);
    expect(steps("stage-1/train/lr")).toEqual([[2, Math.fround(0.002)], [4, Math.fround(0.004)], [6, Math.fround(0.002)], [8, Math.fround(0.004)]]);
    expect(steps("stage-1/epoch/loss")).toEqual([[4, 5.25]]);
    expect(steps("stage-1/epoch/left_out_fraction")).toEqual([[4, 0.0625]]);
    expect(steps("probe/linear/shape")).toEqual([[1, 0.75], [2, 0.625]]);
    expect(steps("probe/knn/color")).toEqual([[1, 0.25], [2, 0.25]]);
    expect(steps("baseline/probe/linear/shape")).toEqual([[2, 0.25]]); // at the last stage
    expect(Object.keys(scalars).sort()).toEqual(
      [
        ...["train/loss", "train/lr", "train/samples_per_sec", "epoch/loss", "epoch/samples_per_sec", "epoch/left_out_fraction"].map((t) => `stage-1/${t}`),
        ...["linear/shape", "linear/color", "knn/shape", "knn/color"].flatMap((t) => [`probe/${t}`, `baseline/probe/${t}`]),
      ].sort(),
    );
  });
});
