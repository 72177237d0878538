/**
 * The report's charts as Vega-Lite specs, pure functions of the report data. Data are inline
 * values; nothing is fetched. A chart without data says so in its place.
 *
 *   accuracyChart, mmvpChart   scores per attribute across stages (score-chart.ts)
 *   groupSizeChart             composite group sizes after each clustering (power-of-two bins)
 *   lossChart                  mean loss per epoch, one panel per track (loss-chart.ts)
 */

import type { TopLevelSpec } from "vega-lite";
import { CONFIG, HEIGHT, message, WIDTH } from "./chart-frame.js";
import { colorScale, stageColor } from "./palette.js";
import type { ReportData } from "./report-data.js";
import { stagePosition } from "../run/track.js";

export { lossChart } from "./loss-chart.js";
export { accuracyChart, mmvpChart } from "./score-chart.js";

export function groupSizeChart(data: ReportData): TopLevelSpec {
  if (data.groups.length === 0) return message("no clustering yet (a run clusters after every stage but the last)");
  const label = (lower: number, upper: number) => (lower === upper ? `${lower}` : `${lower}–${upper}`);
  const clustering = (g: ReportData["groups"][number]) => `after stage ${g.stage} (K=${g.k})`;
  const values = data.groups.flatMap((g) =>
    g.bins.map((bin) => ({ clustering: clustering(g), size: label(bin.lower, bin.upper), lower: bin.lower, groups: bin.groups, samples: bin.samples })),
  );
  const sizes = [...new Map(values.map((v) => [v.lower, v.size])).entries()].sort((a, b) => a[0] - b[0]).map(([, size]) => size);
  // Each clustering in the colour of the stage it followed, as in the loss chart.
  const color = colorScale(data.groups.map(clustering), (_, i) => stageColor(stagePosition(data.firstStage, data.groups[i]!.stage), data.facts.stages));
  return {
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    title: { text: "Composite group sizes after each clustering", subtitle: "groups per power-of-two size bin" },
    data: { values },
    mark: { type: "bar" },
    encoding: {
      x: { field: "size", type: "ordinal", scale: { domain: sizes }, title: "group size (samples)", axis: { labelAngle: 0 } },
      xOffset: { field: "clustering", type: "nominal", scale: { domain: color.domain } },
      y: { field: "groups", type: "quantitative", title: "composite groups", axis: { tickMinStep: 1, format: "d" } },
      color: { field: "clustering", type: "nominal", title: "clustering", scale: color },
      tooltip: [
        { field: "clustering" },
        { field: "size" },
        { field: "groups", type: "quantitative" },
        { field: "samples", type: "quantitative" },
      ],
    },
  };
}
