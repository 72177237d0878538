/**
 * Scores per attribute (or category) across representations as small multiples, one panel per
 * attribute in the attribute's colour so that no line hides another: the stages as a line, the
 * integrated representation as a labelled diamond, the equal-compute baseline as a grey dashed rule.
 *
 *   accuracyChart  linear-probe accuracy, and the kNN accuracy in a second grid under it
 *   mmvpChart      a CLIP run's MMVP-style pair score per category (null when the summary has none)
 */

import type { TopLevelSpec } from "vega-lite";
import type { Accuracies } from "../run/summary.js";
import { BASELINE_DASH, CONFIG, message } from "./chart-frame.js";
import { attributeColor, BASELINE_COLOR, colorScale } from "./palette.js";
import type { ProbeResult, ReportData } from "./report-data.js";

/** Panels per row before they wrap. */
const COLUMNS = 4;
const PANEL_HEIGHT = 160;
/** Horizontal room per representation in a panel. */
const SLOT = 46;

type Kind = "stage" | "integrated" | "baseline";
interface Row {
  readonly kind: Kind;
  readonly representation: string;
  readonly category: string;
  readonly score: number;
}

/** One representation's scores. */
interface Series {
  readonly kind: Kind;
  readonly representation: string;
  readonly scores: Accuracies | undefined;
}

export function accuracyChart(data: ReportData): TopLevelSpec {
  if (data.stages.length === 0) return message("no probe results yet (the first stage has not been measured)");
  const representations: [Kind, string, ProbeResult][] = data.stages.map((s) => ["stage", `stage ${s.stage}`, s]);
  if (data.integrated !== null) representations.push(["integrated", "integrated", data.integrated]);
  if (data.baseline !== null) representations.push(["baseline", "baseline", data.baseline]);
  const series = (key: keyof ProbeResult) =>
    representations.map(([kind, representation, result]): Series => ({ kind, representation, scores: result[key] ?? undefined }));
  const grids = [grid("linear probe", data.attributes, data.attributes, series("probe"))];
  const knn = series("knn");
  if (knn.some((s) => s.scores !== undefined)) grids.push(grid(`kNN (k = ${data.knnK})`, data.attributes, data.attributes, knn));
  return {
    config: CONFIG,
    title: { text: "Per-attribute accuracy across stages", subtitle: legend(data) },
    vconcat: grids,
    spacing: 28,
  };
}

/** A CLIP run's MMVP-style pair score per category across representations; null when the summary has none. */
export function mmvpChart(data: ReportData): TopLevelSpec | null {
  const summary = data.summary;
  if (summary === null) return null;
  const series: Series[] = [
    ...summary.stages.map((s): Series => ({ kind: "stage", representation: `stage ${s.stage}`, scores: s.mmvp })),
    { kind: "integrated", representation: "integrated", scores: summary.integrated.mmvp },
    ...(summary.baseline === undefined ? [] : [{ kind: "baseline" as const, representation: "baseline", scores: summary.baseline.mmvp }]),
  ];
  const categories = [...new Set(series.flatMap((s) => Object.keys(s.scores ?? {})))];
  if (categories.length === 0) return null;
  return {
    config: CONFIG,
    title: {
      text: "MMVP-style pair score per category across stages",
      subtitle: ["a pair counts only when both images match their own caption", ...legend(data)],
    },
    vconcat: [grid("pairs right", categories, data.attributes, series)],
  };
}

/** What each mark stands for, for the chart's subtitle. */
function legend(data: ReportData): string[] {
  const stages = data.firstStage === 0 ? "stage 0 (the initial model), then the MCL stages" : "the MCL stages, in order";
  const lines = [`line: ${stages}`, "diamond: the integrated representation (its value written above)"];
  if (data.baseline !== null) lines.push(`grey dashed line: single-stage baseline (${data.baseline.epochs} epochs, equal compute)`);
  return lines;
}

/**
 * One panel per category, wrapped COLUMNS to a row, under the heading `metric`. A category named
 * like one of `attributes` takes that attribute's colour.
 */
function grid(metric: string, categories: readonly string[], attributes: readonly string[], series: readonly Series[]) {
  const values: Row[] = series.flatMap(({ kind, representation, scores }) =>
    categories.flatMap((category) => {
      const score = scores?.[category];
      return score === undefined ? [] : [{ kind, representation, category, score }];
    }),
  );
  const domain = series.filter((s) => s.kind !== "baseline").map((s) => s.representation);
  const only = (kind: Kind) => [{ filter: { field: "kind", equal: kind } }];
  const x = { field: "representation", type: "ordinal" as const, scale: { domain }, title: null, axis: { labelAngle: -35, labelAlign: "right" as const } };
  // Room above 100 % for the integrated value's label, so that no panel grows taller than the others.
  const y = {
    field: "score",
    type: "quantitative" as const,
    scale: { domain: [0, 1.12], nice: false },
    axis: { format: ".0%", values: [0, 0.2, 0.4, 0.6, 0.8, 1] },
    title: metric,
  };
  const color = { field: "category", type: "nominal" as const, scale: colorScale(categories, (c) => attributeColor(attributes, c)), legend: null };
  return {
    data: { values },
    facet: { field: "category", type: "nominal" as const, sort: [...categories], title: null },
    columns: Math.min(COLUMNS, categories.length),
    spec: {
      width: Math.max(140, SLOT * domain.length),
      height: PANEL_HEIGHT,
      layer: [
        { transform: only("baseline"), mark: { type: "rule" as const, strokeDash: BASELINE_DASH, strokeWidth: 1.5, color: BASELINE_COLOR }, encoding: { y } },
        { transform: only("stage"), mark: { type: "line" as const, point: true, strokeWidth: 2.5 }, encoding: { x, y, color } },
        { transform: only("integrated"), mark: { type: "point" as const, shape: "diamond", filled: true, size: 130, opacity: 1 }, encoding: { x, y, color } },
        {
          transform: only("integrated"),
          mark: { type: "text" as const, dy: -12, fontSize: 11, fontWeight: "bold" as const },
          encoding: { x, y, color, text: { field: "score", type: "quantitative" as const, format: ".0%" } },
        },
      ],
    },
  };
}
