// The CLIP tables of `mcl demo clip`: one row per representation, stage 0 first, and the MMVP
// average only over a row that has every category.
import { describe, expect, test } from "vitest";
import { formatClipTables } from "../../../ts/sdk/clip-summary.js";
import { summarySchema, SUMMARY_FORMAT } from "../../../ts/run/summary.js";

const summary = summarySchema.parse({
  format: SUMMARY_FORMAT,
  name: "c",
  dataset: { uri: "synthetic:trifeature", samples: 64 },
  encoder: "clip-tiny",
  attributes: ["color"],
  stages: [
    { stage: 0, epochs: 0, probe: { color: 0.5 }, zeroShot: { color: 0.25 }, mmvp: { color: 0.5, shape: 0.25 } },
    { stage: 1, epochs: 1, probe: { color: 0.5 }, zeroShot: { color: 0.5 }, mmvp: { color: 1, shape: 0 } },
  ],
  integrated: { spec: { stages: [0, 1], weights: [1, 1], normalize: "per-stage-l2" }, probe: { color: 1 }, zeroShot: { color: 1 }, mmvp: { color: 1 } },
  seconds: 1,
  resumed: false,
  finishedAt: "2026-01-01T00:00:00Z",
});

describe("formatClipTables", () => {
  test("zero-shot per attribute and MMVP per category for every representation", () => {
    const lines = formatClipTables(summary).split("\n");
    expect(lines[0]).toMatch(/^zero-shot\s+color$/);
    expect(lines[1]).toMatch(/^stage 0\s+25\.0%$/);
    expect(lines[3]).toMatch(/^integrated\s+100\.0%$/);
    expect(lines[5]).toMatch(/^MMVP \(pairs\)\s+color\s+shape\s+average$/);
    expect(lines[6]).toMatch(/^stage 0\s+50\.0%\s+25\.0%\s+37\.5%$/);
    expect(lines[8]).toMatch(/^integrated\s+100\.0%\s+-\s+-$/); // no average over a missing category
    expect(lines).toHaveLength(9);
  });

  test("summary.json of a CLIP run numbers its stages from 0; stage 0 may train 0 epochs", () => {
    expect(summary.stages.map((s) => [s.stage, s.epochs])).toEqual([[0, 0], [1, 1]]);
    expect(() => summarySchema.parse({ ...summary, stages: [{ ...summary.stages[0], mmvp: { color: 1.5 } }] })).toThrow();
  });
});
