// The layers of ts/ and the imports between them: no cycle of module loading among files, and no
// import a layer may not make, type-only ones included. A file's layer is its folder under ts/
// ("index" for ts/index.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { findCycles, readImportGraph, type ImportEdge, type ImportGraph } from "./import-graph.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * What each layer may import besides itself (docs/architecture.md, "Repository layout"), from the
 * bottom up. errors (ts/errors.ts) holds the root that every error class extends. control is the
 * pure control plane: schedules, plans and clusterings, from numbers alone. run is the run
 * directory (manifest, summary, the driver that commits to it), which the report reads and the
 * SDK writes; only the CLI depends on the CLI.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  errors: [],
  wire: ["errors"],
  transport: ["wire", "errors"],
  client: ["transport", "wire", "errors"],
  control: ["errors"],
  config: ["control", "wire", "errors"],
  plugins: ["config", "transport", "errors"],
  run: ["config", "control", "errors"],
  report: ["run", "config", "control", "errors"],
  sdk: ["report", "run", "plugins", "config", "control", "client", "transport", "wire", "errors"],
  cli: ["sdk", "report", "run", "plugins", "config", "control", "client", "transport", "wire", "errors"],
  index: ["sdk", "report", "run", "plugins", "config", "control", "client", "transport", "wire", "errors"],
};

function layerOf(file: string): string {
  const parts = file.split("/");
  return parts.length === 2 ? parts[1]!.replace(/\.ts$/, "") : parts[1]!;
}

/** The imports that break the layering, one line each: "ts/a/x.ts:12 imports ts/b/y.ts (a may not import b)". */
function forbiddenEdges(graph: ImportGraph): string[] {
  return graph.edges
    .filter((edge) => {
      const from = layerOf(edge.from);
      const to = layerOf(edge.to);
      return from !== to && !(MAY_IMPORT[from]?.includes(to) ?? false);
    })
    .map((edge) => `${edge.from}:${edge.line} imports ${edge.to} (${layerOf(edge.from)} may not import ${layerOf(edge.to)})`);
}

/** Each cycle as "a.ts -> b.ts -> a.ts", with the line of every import that closes it. */
function describeCycles(graph: ImportGraph, cycles: readonly string[][]): string[] {
  const line = (from: string, to: string): number | undefined =>
    graph.edges.find((edge: ImportEdge) => edge.from === from && edge.to === to && !edge.typeOnly)?.line;
  return cycles.map((cycle) =>
    cycle.map((file, i) => (i === 0 ? file : `${file} (${cycle[i - 1]}:${line(cycle[i - 1]!, file)})`)).join(" -> "),
  );
}

describe("ts/ import graph", () => {
  const graph = readImportGraph(ROOT, "ts");

  it("reads every source file and its relative imports", () => {
    expect(graph.files).toContain("ts/index.ts");
    expect(graph.files).toContain("ts/control/stage-scheduler.ts");
    expect(graph.edges.length).toBeGreaterThan(graph.files.length);
  });

  it("has no import cycle", () => {
    const cycles = describeCycles(graph, findCycles(graph));
    expect(cycles, `import cycles in ts/ (move what both sides need into a module below them):\n${cycles.join("\n")}`).toEqual([]);
  });

  it("puts every file in a known layer", () => {
    const unknown = [...new Set(graph.files.map(layerOf))].filter((layer) => MAY_IMPORT[layer] === undefined);
    expect(unknown, "new folders under ts/: add each to MAY_IMPORT with the layers it may import").toEqual([]);
  });

  it("imports across layers only downwards", () => {
    const forbidden = forbiddenEdges(graph);
    expect(forbidden, `imports against the layering:\n${forbidden.join("\n")}`).toEqual([]);
  });

  it("declares layers that form no cycle", () => {
    const layers: ImportGraph = {
      files: Object.keys(MAY_IMPORT),
      edges: Object.entries(MAY_IMPORT).flatMap(([from, targets]) => targets.map((to) => ({ from, to, line: 0, typeOnly: false }))),
    };
    expect(findCycles(layers)).toEqual([]);
  });
});

describe("the checks themselves", () => {
  const dir = mkdtempSync(join(tmpdir(), "mcl-layers-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function tree(files: Record<string, string>): ImportGraph {
    const root = mkdtempSync(join(dir, "t-"));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return readImportGraph(root, "ts");
  }

  it("finds a cycle through imports, re-exports and import() and names every file of it", () => {
    const graph = tree({
      "ts/report/a.ts": 'import { type B } from "../sdk/b.js";\nexport type A = B;\n',
      "ts/sdk/b.ts": 'export * from "./c.js";\nexport type B = number;\n',
      "ts/sdk/c.ts": 'export const c = () => import("../report/a.js");\n',
    });
    expect(describeCycles(graph, findCycles(graph))).toEqual([
      "ts/report/a.ts -> ts/sdk/b.ts (ts/report/a.ts:1) -> ts/sdk/c.ts (ts/sdk/b.ts:1) -> ts/report/a.ts (ts/sdk/c.ts:1)",
    ]);
    expect(forbiddenEdges(graph)).toEqual(["ts/report/a.ts:1 imports ts/sdk/b.ts (report may not import sdk)"]);
  });

  it("counts a type-only import against the layering but not as a cycle", () => {
    const graph = tree({
      "ts/report/a.ts": 'import type { B } from "../sdk/b.js";\nexport type A = B;\nexport const a = 1;\n',
      "ts/sdk/b.ts": 'import { a } from "../report/a.js";\nexport type B = typeof a;\n',
    });
    expect(findCycles(graph)).toEqual([]);
    expect(forbiddenEdges(graph)).toEqual(["ts/report/a.ts:1 imports ts/sdk/b.ts (report may not import sdk)"]);
  });

  it("refuses control -> config, library -> cli and wire -> anything", () => {
    const graph = tree({
      "ts/control/x.ts": 'import type { C } from "../config/c.js";\nexport type X = C;\n',
      "ts/config/c.ts": "export type C = 1;\n",
      "ts/plugins/p.ts": 'import { main } from "../cli/main.js";\nexport const p = main;\n',
      "ts/cli/main.ts": "export const main = 1;\n",
      "ts/wire/w.ts": 'import { t } from "../transport/t.js";\nexport const w = t;\n',
      "ts/transport/t.ts": "export const t = 1;\n",
    });
    expect(findCycles(graph)).toEqual([]);
    expect(forbiddenEdges(graph)).toEqual([
      "ts/control/x.ts:1 imports ts/config/c.ts (control may not import config)",
      "ts/plugins/p.ts:1 imports ts/cli/main.ts (plugins may not import cli)",
      "ts/wire/w.ts:1 imports ts/transport/t.ts (wire may not import transport)",
    ]);
  });
});
