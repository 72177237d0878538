/**
 * Server-side rendering of a Vega-Lite spec to SVG markup: vega-lite compiles it to Vega, a
 * headless Vega view (renderer "none": no canvas, no DOM) lays it out and writes the SVG.
 * Vega is imported on first use: it takes about a second to load, which every CLI command and
 * SDK import would otherwise pay.
 */

import type { TopLevelSpec } from "vega-lite";

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [{ parse, View }, { compile }] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
