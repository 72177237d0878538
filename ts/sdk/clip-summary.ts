/**
 * The tables of a CLIP run's summary.json, one row per representation (every stage from 0, the
 * integrated model, the baseline): zero-shot accuracy per attribute, and MMVP pair score per
 * category with their mean (and the published MMVP-VLM's when it was scored).
 *
 *   MMVP (pairs)        color   shape  texture  average
 *   stage 0             62.0%   10.0%    8.0%    26.7%
 */

import { type ExtraScores, type Summary, formatPercent, summaryRows } from "../run/summary.js";

type Scores = keyof ExtraScores;

export function formatClipTables(summary: Summary): string {
  const tables = [table(summary, "zeroShot", "zero-shot", false), table(summary, "mmvp", "MMVP (pairs)", true)];
  if (summary.stages.some((s) => s.mmvpVlm !== undefined)) tables.push(table(summary, "mmvpVlm", "MMVP-VLM", true));
  return tables.join("\n\n");
}

function table(summary: Summary, key: Scores, title: string, average: boolean): string {
  const rows = summaryRows(summary).map(([name, result]) => [name, result[key]] as const);
  const columns = [...new Set(rows.flatMap(([, scores]) => Object.keys(scores ?? {})))];
  const header = average ? [...columns, "average"] : columns;
  const first = Math.max(title.length, ...rows.map(([name]) => name.length));
  const widths = header.map((c) => Math.max(c.length, 6));
  const line = (name: string, cells: string[]) => [name.padEnd(first), ...cells.map((c, i) => c.padStart(widths[i]!))].join("  ");
  return [
    line(title, header),
    ...rows.map(([name, scores]) => {
      const values = columns.map((c) => scores?.[c]);
      const known = values.filter((v): v is number => v !== undefined);
      const cells = values.map((v) => formatPercent(v));
      if (average) cells.push(formatPercent(known.length === columns.length && known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : undefined));
      return line(name, cells);
    }),
  ].join("\n");
}
