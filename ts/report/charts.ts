/**
 * The report's charts as Vega-Lite specs, pure functions of the report data:
 *
 *   accuracyChart    linear-probe accuracy per attribute across stages (one line per attribute),
 *                    the integrated representation as diamonds, the baseline as dashed rules
 *   groupSizeChart   composite group sizes after each clustering (power-of-two bins)
 *   lossChart        mean loss per epoch, stages one after another, the baseline dashed
 *
 * Data are inline values; nothing is fetched. A chart without data says so in its place.
 */

import type { TopLevelSpec } from "vega-lite";
import type { ReportData } from "./report-data.js";

const WIDTH = 520;
const HEIGHT = 300;
/** Stroke dash of the baseline (SVG stroke-dasharray). */
export const BASELINE_DASH = [6, 4];

const frame = { width: WIDTH, height: HEIGHT, config: { font: "sans-serif", view: { stroke: null }, title: { anchor: "start" } } } as const;

export function accuracyChart(data: ReportData): TopLevelSpec {
  if (data.stages.length === 0) return message("no probe results yet (the first stage has not been measured)");
  const representations = [...data.stages.map((s) => `stage ${s.stage}`), ...(data.integrated === null ? [] : ["integrated"])];
  const rows = (representation: string, probe: Readonly<Record<string, number>>) =>
    data.attributes.flatMap((attribute) => {
      const accuracy = probe[attribute];
      return accuracy === undefined ? [] : [{ representation, attribute, accuracy }];
    });
  const x = { field: "representation", type: "ordinal" as const, scale: { domain: representations }, title: null, axis: { labelAngle: 0 } };
  const y = { field: "accuracy", type: "quantitative" as const, scale: { domain: [0, 1] }, axis: { format: ".0%" }, title: "linear-probe accuracy" };
  const color = { field: "attribute", type: "nominal" as const, scale: { domain: [...data.attributes] }, title: "attribute" };
  const subtitle = ["solid: MCL stages"];
  if (data.integrated !== null) subtitle.push("diamonds: integrated representation");
  if (data.baseline !== null) subtitle.push(`dashed: single-stage baseline (${data.baseline.epochs} epochs, equal compute)`);
  return {
    ...frame,
    title: { text: "Per-attribute accuracy across stages", subtitle },
    layer: [
      {
        data: { values: data.stages.flatMap((s) => rows(`stage ${s.stage}`, s.probe)) },
        mark: { type: "line", point: true, strokeWidth: 2 },
        encoding: { x, y, color },
      },
      ...(data.integrated === null
        ? []
        : [
            {
              data: { values: rows("integrated", data.integrated) },
              mark: { type: "point" as const, shape: "diamond", filled: true, size: 110 },
              encoding: { x, y, color },
            },
          ]),
      ...(data.baseline === null
        ? []
        : [
            {
              data: { values: rows("baseline", data.baseline.probe) },
              mark: { type: "rule" as const, strokeDash: BASELINE_DASH, strokeWidth: 1.5 },
              encoding: { y, color },
            },
          ]),
    ],
  };
}

export function groupSizeChart(data: ReportData): TopLevelSpec {
  if (data.groups.length === 0) return message("no clustering yet (a run clusters after every stage but the last)");
  const label = (lower: number, upper: number) => (lower === upper ? `${lower}` : `${lower}–${upper}`);
  const values = data.groups.flatMap((g) =>
    g.bins.map((bin) => ({ clustering: `after stage ${g.stage} (K=${g.k})`, size: label(bin.lower, bin.upper), lower: bin.lower, groups: bin.groups, samples: bin.samples })),
  );
  const sizes = [...new Map(values.map((v) => [v.lower, v.size])).entries()].sort((a, b) => a[0] - b[0]).map(([, size]) => size);
  return {
    ...frame,
    title: { text: "Composite group sizes after each clustering", subtitle: "groups per power-of-two size bin" },
    data: { values },
    mark: { type: "bar" },
    encoding: {
      x: { field: "size", type: "ordinal", scale: { domain: sizes }, title: "group size (samples)", axis: { labelAngle: 0 } },
      xOffset: { field: "clustering", type: "nominal" },
      y: { field: "groups", type: "quantitative", title: "composite groups", axis: { tickMinStep: 1, format: "d" } },
      color: { field: "clustering", type: "nominal", title: "clustering" },
      tooltip: [
        { field: "clustering" },
        { field: "size" },
        { field: "groups", type: "quantitative" },
        { field: "samples", type: "quantitative" },
      ],
    },
  };
}

export function lossChart(data: ReportData): TopLevelSpec {
  const tracks = data.losses?.tracks ?? {};
  // Stage s's epoch e is training epoch (epochs of stages 1…s-1) + e + 1 of the run; the baseline counts its own.
  const offsets = data.facts.epochs.map((_, s) => data.facts.epochs.slice(0, s).reduce((a, b) => a + b, 0));
  const values: { track: string; kind: string; epoch: number; loss: number }[] = [];
  for (const [name, losses] of Object.entries(tracks)) {
    const stage = /^stage-(\d+)$/.exec(name);
    const offset = stage === null ? 0 : (offsets[Number(stage[1]) - 1] ?? 0);
    const track = stage === null ? name : `stage ${stage[1]}`;
    losses.forEach((loss, epoch) => {
      if (loss !== null) values.push({ track, kind: stage === null ? "baseline" : "mcl", epoch: offset + epoch + 1, loss });
    });
  }
  if (values.length === 0) {
    return message(data.losses === null ? "no loss history (this run directory has no losses.json)" : "no epoch trained yet");
  }
  return {
    ...frame,
    title: { text: "Training loss", subtitle: "mean loss per epoch; stages run one after another, the baseline dashed" },
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "epoch", type: "quantitative", title: "training epoch", axis: { tickMinStep: 1 } },
      y: { field: "loss", type: "quantitative", scale: { zero: false }, title: "mean loss" },
      color: { field: "track", type: "nominal", title: "track" },
      strokeDash: { field: "kind", type: "nominal", scale: { domain: ["mcl", "baseline"], range: [[1, 0], BASELINE_DASH] }, legend: null },
    },
  };
}

/** A chart-sized notice in place of a chart that has no data. */
function message(text: string): TopLevelSpec {
  return {
    ...frame,
    height: 60,
    data: { values: [{ text }] },
    mark: { type: "text", fontSize: 14, color: "#555" },
    encoding: { text: { field: "text", type: "nominal" } },
  };
}
