// examples/notebook.ipynb is made from examples/notebook.ts (scripts/notebook-ipynb.mjs): the
// committed notebook must be the one its source makes, so the two cannot tell different stories.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { NOTEBOOK_IPYNB, NOTEBOOK_SOURCE, renderNotebook } from "../../../scripts/notebook-ipynb.mjs";

interface Cell {
  readonly cell_type: "code" | "markdown";
  readonly source: readonly string[];
}

const source = readFileSync(NOTEBOOK_SOURCE, "utf8");
const cells = (JSON.parse(renderNotebook(source)) as { cells: Cell[] }).cells;
const text = (cell: Cell | undefined): string => cell?.source.join("") ?? "";

it("the committed notebook is the one examples/notebook.ts makes", () => {
  const committed = readFileSync(NOTEBOOK_IPYNB, "utf8");
  expect(committed, "run `node scripts/notebook-ipynb.mjs`").toBe(renderNotebook(source));
});

it("has one markdown and one code cell per step of the module, after an introduction", () => {
  const steps = source.split("\n").filter((line) => line.startsWith("// %% ")).map((line) => line.slice("// %% ".length));
  expect(steps).toHaveLength(7);
  expect(cells.map((cell) => cell.cell_type)).toEqual(["markdown", ...steps.flatMap(() => ["markdown", "code"])]);
  expect(text(cells[0]).startsWith("# MCL, step by step\n")).toBe(true);
  expect(steps.map((_, i) => text(cells[1 + 2 * i]).split("\n")[0])).toEqual(steps.map((title) => `### ${title}`));
});

it("imports the build, and runs the notebook-only lines as code", () => {
  const code = cells.filter((cell) => cell.cell_type === "code").map(text).join("\n");
  expect(code).toContain('from "../dist/ts/index.js"');
  expect(code).toContain('from "../dist/examples/settings.js"');
  expect(code).not.toMatch(/from "\.\.\/ts\/|from "\.\/settings/);
  expect(code).toContain('import * as tslab from "tslab";');
  expect(code).toContain("tslab.display.html(report.charts.accuracy);");
  expect(code).not.toContain("//>");
});

it("renders the same text twice, with Jupyter's key order (saving it unchanged leaves no diff)", () => {
  expect(renderNotebook(source)).toBe(renderNotebook(source));
  const notebook = JSON.parse(renderNotebook(source)) as Record<string, unknown>;
  const sorted = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sorted)
      : value !== null && typeof value === "object"
        ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sorted(v)]))
        : value;
  expect(renderNotebook(source)).toBe(`${JSON.stringify(sorted(notebook), null, 1)}\n`);
});
