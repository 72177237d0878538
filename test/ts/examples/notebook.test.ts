// examples/notebook.ts on tiny settings, imported as a module (its cells are top-level awaits):
// stage 1 pauses, its clusters are shown, the next stages finish the run, the chart is written.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { type Summary } from "../../../ts/index.js";

const root = mkdtempSync(join(tmpdir(), "mcl-example-notebook-"));
const saved = { ...process.env };
afterAll(() => {
  process.env = saved;
  vi.restoreAllMocks();
  rmSync(root, { recursive: true, force: true });
});

it("runs every cell in order", { timeout: 600_000 }, async () => {
  const tiny = { MCL_EXAMPLE_SAMPLES: "128", MCL_EXAMPLE_SIZE: "16", MCL_EXAMPLE_EPOCHS: "1", MCL_EXAMPLE_STAGES: "2" };
  Object.assign(process.env, { ...tiny, MCL_EXAMPLE_RUN_DIR: root });
  const lines: string[] = [];
  const tables: unknown[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  vi.spyOn(console, "table").mockImplementation((table: unknown) => void tables.push(table));
  await import("../../../examples/notebook.js");

  // [2] open data
  expect(lines[0]).toBe("dataset synthetic:trifeature?n=128&size=16&seed=0: 128 images of 3x16x16");
  expect(tables[0]).toEqual([
    { attribute: "shape", classes: 8 },
    { attribute: "color", classes: 8 },
    { attribute: "texture", classes: 8 },
    { attribute: "background", classes: 16 },
  ]);
  // [3] stage 1 alone, then the pause; [5] the rest
  const paused = lines.indexOf("  paused after stage 1");
  expect(paused).toBeGreaterThan(0);
  expect(lines.slice(0, paused).filter((line) => line.includes(" epoch "))).toEqual([expect.stringMatching(/^ {2}stage 1 epoch 1: loss \d/)]);
  // [4] the clusters: 8 sizes summing to the dataset
  const clusters = lines.find((line) => line.startsWith("stage 1: k=8, cluster sizes "));
  const sizes = clusters!.replace("stage 1: k=8, cluster sizes ", "").split(", ").map(Number);
  expect(sizes).toHaveLength(8);
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(128);
  // [5] finished: both stages and the baseline measured
  const summary = JSON.parse(readFileSync(join(root, "notebook", "summary.json"), "utf8")) as Summary;
  expect(summary.stages).toHaveLength(2);
  expect(summary.baseline?.epochs).toBe(2);
  expect(summary.resumed).toBe(true);
  expect(lines.some((line) => line.includes("integrated"))).toBe(true);
  // [6] the chart
  const svg = readFileSync(join(root, "notebook", "report-accuracy.svg"), "utf8");
  expect(svg.startsWith("<svg")).toBe(true);
  expect(lines).toContain(`accuracy chart: ${svg.length} bytes of SVG, also in ${join(root, "notebook", "report-accuracy.svg")}`);
  expect(existsSync(join(root, "notebook", "report.html"))).toBe(true);
});
