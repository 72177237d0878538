// examples/quick-start.ts on tiny settings: a 2-stage run with its baseline, summary written.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { quickStart } from "../../../examples/quick-start.js";
import { tinySettings } from "./tiny.js";

const root = mkdtempSync(join(tmpdir(), "mcl-example-quick-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("runs the stages and the baseline, logs them and writes summary.json", { timeout: 600_000 }, async () => {
  const lines: string[] = [];
  const summary = await quickStart(tinySettings(root), (line) => lines.push(line));
  expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
  expect(summary.baseline?.epochs).toBe(2);
  const onDisk = JSON.parse(readFileSync(join(root, "quick-start", "summary.json"), "utf8")) as unknown;
  expect(onDisk).toEqual(summary);
  expect(lines[0]).toMatch(/quick-start: 128 samples on cpu/);
  expect(lines.filter((line) => /^stage [12] epoch 1\/1: loss \d/.test(line))).toHaveLength(2);
  expect(lines.filter((line) => /^baseline epoch [12]\/2: loss \d/.test(line))).toHaveLength(2);
  expect(lines.filter((line) => /^stage 1: k=8, \d+ groups of \d+…\d+ samples$/.test(line))).toHaveLength(1);
  expect(lines.at(-1)).toContain("integrated");
  await expect(quickStart(tinySettings(root), () => {})).rejects.toMatchObject({ code: "RUN_EXISTS" });
});
