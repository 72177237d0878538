// The TensorBoard writer's parts that need no reader: CRC-32C against its published check values,
// the TFRecord framing, the steps an event takes, and the event file's name (what TensorBoard's
// own readers make of the files: tensorboard-oracle.test.ts).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { crc32c, maskedCrc32c } from "../../../ts/sdk/crc32c.js";
import { encodeEvent, TensorBoardWriter, tfRecord } from "../../../ts/sdk/tensorboard-writer.js";

const root = mkdtempSync(join(tmpdir(), "mcl-tensorboard-writer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("CRC-32C", () => {
  it("gives the published check values", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    // RFC 3720, appendix B.4
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });
});

describe("tfRecord", () => {
  it("frames data as length, masked CRC of the length, data, masked CRC of the data", () => {
    const data = new TextEncoder().encode("abc");
    const record = tfRecord(data);
    const view = Buffer.from(record);
    expect(view.readBigUInt64LE(0)).toBe(3n);
    expect(view.readUInt32LE(8)).toBe(maskedCrc32c(record.subarray(0, 8)));
    expect(view.subarray(12, 15).toString()).toBe("abc");
    expect(view.readUInt32LE(15)).toBe(maskedCrc32c(data));
  });

  it("refuses a step that int64 varints of ours do not take", () => {
    expect(() => encodeEvent({ wallTime: 1, step: -1 })).toThrow(/step: expected an integer >= 0, got -1/);
    expect(() => encodeEvent({ wallTime: 1, step: 1.5 })).toThrow(/step/);
  });
});

describe("TensorBoardWriter.create", () => {
  it("names the file events.out.tfevents.<seconds>.<hostname>, with a suffix when that name is taken", async () => {
    const folder = join(root, "named");
    const now = new Date(1765000000_900);
    const first = await TensorBoardWriter.create(folder, now);
    const second = await TensorBoardWriter.create(folder, now);
    await Promise.all([first.close(), second.close()]);
    expect(first.path).toBe(join(folder, `events.out.tfevents.1765000000.${hostname()}`));
    expect(second.path).toBe(`${first.path}.1`);
    expect(existsSync(second.path)).toBe(true);
  });
});
