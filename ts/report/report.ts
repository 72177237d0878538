/**
 * A run's visual report: report.html (self-contained, opens offline) and report-accuracy.svg (the
 * main chart) in the run directory, rendered from what the directory holds. The same HTML, SVG
 * strings and Vega-Lite specs are returned for notebooks.
 */

import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { writeFileAtomic } from "../control/atomic-file.js";
import { accuracyChart, groupSizeChart, lossChart, mmvpChart } from "./charts.js";
import { type ChartSvgs, reportHtml } from "./html.js";
import { readReportData } from "./report-data.js";
import { renderSvg } from "./render.js";

export const REPORT_FILE = "report.html";
export const ACCURACY_SVG_FILE = "report-accuracy.svg";

export interface Report {
  /** The self-contained report page. */
  readonly html: string;
  /** Each chart as standalone SVG markup. */
  readonly charts: ChartSvgs;
  /** Each chart's Vega-Lite spec (data inline), for a notebook's own renderer. */
  readonly specs: {
    readonly accuracy: TopLevelSpec;
    /** null unless the run is a finished CLIP run with MMVP scores. */
    readonly mmvp: TopLevelSpec | null;
    readonly groupSizes: TopLevelSpec;
    readonly loss: TopLevelSpec;
  };
}

/** Renders the report of the run in `runDir` (finished or not) without writing anything. */
export async function renderReport(runDir: string): Promise<Report> {
  const data = await readReportData(runDir);
  const specs = { accuracy: accuracyChart(data), mmvp: mmvpChart(data), groupSizes: groupSizeChart(data), loss: lossChart(data) };
  const charts = {
    accuracy: await renderSvg(specs.accuracy),
    mmvp: specs.mmvp === null ? null : await renderSvg(specs.mmvp),
    groupSizes: await renderSvg(specs.groupSizes),
    loss: await renderSvg(specs.loss),
  };
  return { html: reportHtml(data, charts), charts, specs };
}

/** Renders the report and writes report.html and report-accuracy.svg into `runDir`, atomically. */
export async function writeReport(runDir: string): Promise<{ readonly html: string; readonly accuracySvg: string }> {
  const report = await renderReport(runDir);
  const html = join(runDir, REPORT_FILE);
  const accuracySvg = join(runDir, ACCURACY_SVG_FILE);
  await writeFileAtomic(accuracySvg, report.charts.accuracy);
  await writeFileAtomic(html, report.html);
  return { html, accuracySvg };
}
