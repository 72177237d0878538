/**
 * The training loss as one panel per track (each stage, the baseline), each on its own scale:
 * stages draw their negatives differently, so their loss levels are not comparable and one axis
 * would suggest they are. A stage's epochs are numbered as in the whole run, so the panels read
 * in order; the baseline counts its own.
 */

import type { TopLevelSpec } from "vega-lite";
import { BASELINE_DASH, CONFIG, message } from "./chart-frame.js";
import { BASELINE_COLOR, colorScale, stageColor } from "./palette.js";
import type { ReportData } from "./report-data.js";
import { stagePosition } from "../run/track.js";

const COLUMNS = 4;

export function lossChart(data: ReportData): TopLevelSpec {
  const tracks = data.losses?.tracks ?? {};
  // The epoch e of the run's i-th stage (from 0) is training epoch (epochs of the stages before it) + e + 1 of the run.
  const offsets = data.facts.epochs.map((_, s) => data.facts.epochs.slice(0, s).reduce((a, b) => a + b, 0));
  const stageTracks: { name: string; index: number }[] = [];
  const values: { track: string; epoch: number; loss: number }[] = [];
  for (const [name, losses] of Object.entries(tracks)) {
    const stage = /^stage-(\d+)$/.exec(name);
    const index = stage === null ? null : stagePosition(data.firstStage, Number(stage[1]));
    const track = stage === null ? "baseline" : `stage ${stage[1]}`;
    if (index !== null) stageTracks.push({ name: track, index });
    const offset = index === null ? 0 : (offsets[index] ?? 0);
    losses.forEach((loss, epoch) => {
      if (loss !== null) values.push({ track, epoch: offset + epoch + 1, loss });
    });
  }
  if (values.length === 0) {
    return message(data.losses === null ? "no loss history (this run directory has no losses.json)" : "no epoch trained yet");
  }
  stageTracks.sort((a, b) => a.index - b.index);
  const order = [...stageTracks.map((t) => t.name), ...("baseline" in tracks ? ["baseline"] : [])];
  const color = colorScale(order, (name, i) => (name === "baseline" ? BASELINE_COLOR : stageColor(stageTracks[i]!.index, data.facts.stages)));
  return {
    config: CONFIG,
    title: { text: "Training loss per stage", subtitle: note(data) },
    data: { values },
    facet: { field: "track", type: "nominal", sort: order, title: null },
    columns: Math.min(COLUMNS, order.length),
    resolve: { scale: { x: "independent", y: "independent" } },
    spec: {
      width: 170,
      height: 130,
      mark: { type: "line", point: true, strokeWidth: 2 },
      encoding: {
        x: { field: "epoch", type: "quantitative", title: "training epoch", scale: { zero: false, nice: false }, axis: { tickMinStep: 1, format: "d" } },
        // Padding and flush labels keep points and labels inside the panel, so every header sits at the same height.
        y: { field: "loss", type: "quantitative", scale: { zero: false, padding: 8 }, axis: { labelFlush: true, format: ".3~g" }, title: "mean loss" },
        color: { field: "track", type: "nominal", scale: color, legend: null },
        strokeDash: { field: "track", type: "nominal", scale: { domain: order, range: order.map((t) => (t === "baseline" ? BASELINE_DASH : [1, 0])) }, legend: null },
      },
    },
  };
}

/** Why the panels do not share an axis, in the run's terms. */
function note(data: ReportData): string[] {
  if (data.facts.policy !== "mcl") {
    return [
      "Mean loss per epoch, each panel on its own scale to show its trend",
      `(sampling.policy ${data.facts.policy}: every stage draws its negatives from the whole dataset).`,
    ];
  }
  return [
    "Mean loss per epoch, each panel on its own scale: losses of different stages are not comparable,",
    `as stage ${data.firstStage} and the baseline draw their negatives from the whole dataset and each later stage`,
    "from within its composite groups (harder negatives). Read each panel's trend, not its level.",
  ];
}
