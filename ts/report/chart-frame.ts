/**
 * What every chart of the report shares: its look (font, titles), the baseline's dash, and the
 * notice a chart shows in its place when it has no data.
 */

import type { TopLevelSpec } from "vega-lite";

export const WIDTH = 520;
export const HEIGHT = 300;
/** Stroke dash of the baseline (SVG stroke-dasharray). */
export const BASELINE_DASH = [6, 4];

export const CONFIG = {
  font: "sans-serif",
  view: { stroke: null },
  title: { anchor: "start", fontSize: 15, subtitleFontSize: 12, subtitleColor: "#444", offset: 10 },
  header: { labelFontSize: 13, labelFontWeight: "bold", titleFontSize: 13 },
  axis: { labelFontSize: 11, titleFontSize: 12 },
} as const;

/** A chart-sized notice in place of a chart that has no data. */
export function message(text: string): TopLevelSpec {
  return {
    width: WIDTH,
    height: 60,
    config: CONFIG,
    data: { values: [{ text }] },
    mark: { type: "text", fontSize: 14, color: "#555" },
    encoding: { text: { field: "text", type: "nominal" } },
  };
}
