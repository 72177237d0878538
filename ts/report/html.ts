/**
 * The report as one self-contained HTML page: the headline in words first, then the charts as
 * inline SVG with their tables, then the run's facts. Inline CSS; no script, no external font,
 * stylesheet or image: it opens offline.
 */

import { LEFT_OUT_WARNING_FRACTION } from "../run/sampling.js";
import { type Accuracies, baselineLabel, formatPercent, type Sampling, summaryRows } from "../run/summary.js";
import { headline } from "./headline.js";
import { attributeColor } from "./palette.js";
import type { ProbeResult, ReportData } from "./report-data.js";

export interface ChartSvgs {
  readonly accuracy: string;
  /** A CLIP run's MMVP-style scores per category; null when the summary has none. */
  readonly mmvp: string | null;
  readonly groupSizes: string;
  readonly loss: string;
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.note { color: #666; }
caption { text-align: left; font-size: 0.9rem; padding-bottom: 0.2rem; white-space: nowrap; }
table { border-collapse: collapse; margin: 0.6rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { color: #666; }
dd { margin: 0; }
figure { margin: 1rem 0; }
.warning { color: #8a4b00; background: #fff4e0; padding: 0.4rem 0.7rem; border-left: 3px solid #e09000; }
figure svg { max-width: 100%; height: auto; }
.headline { background: #f5f5f5; border-left: 4px solid #999; padding: 0.6rem 1rem; margin: 1rem 0; }
.headline p { margin: 0.3rem 0; }
.headline ul { margin: 0.2rem 0 0.6rem; padding-left: 1.2rem; list-style: none; font-variant-numeric: tabular-nums; }
.headline li { margin: 0.15rem 0; }
.swatch { display: inline-block; width: 0.75em; height: 0.75em; border-radius: 2px; margin-right: 0.45em; vertical-align: baseline; }
`;

export function reportHtml(data: ReportData, charts: ChartSvgs): string {
  const { facts } = data;
  const status =
    data.summary === null
      ? `<p class="note">The run has not finished (${escape(facts.progress)}): this report shows what it has measured so far.</p>`
      : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MCL run ${escape(facts.name)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>MCL run <code>${escape(facts.name)}</code></h1>
${status}
${headlineSection(data)}
<h2>Per-attribute accuracy</h2>
<figure>${inline(charts.accuracy)}</figure>
${probeTable(data, "probe", "Linear-probe accuracy per attribute, held-out split of the training set.")}
${probeTable(data, "knn", `kNN accuracy per attribute (k = ${data.knnK}), same split.`)}
${clipSection(data, charts.mmvp)}
<h2>Composite groups</h2>
<figure>${inline(charts.groupSizes)}</figure>
${groupTable(data)}
${samplingTable(data)}
<h2>Loss</h2>
<figure>${inline(charts.loss)}</figure>
<h2>Run</h2>
${factList(data)}
</body>
</html>
`;
}

function factList(data: ReportData): string {
  const f = data.facts;
  const rows: [string, string][] = [
    ["directory", f.dir],
    ["dataset", f.numSamples === null ? f.dataset : `${f.dataset} (${f.numSamples} samples)`],
    ["encoder", f.encoder],
    ["stages", `${f.stages}, numbered ${data.firstStage}…${data.lastStage}: epochs ${f.epochs.join(", ")}${f.clusters.length > 0 ? `; K ${f.clusters.join(", ")}` : ""}`],
    ["batch size", String(f.batchSize)],
    ["sampling", f.sampling],
    ["loss", f.loss],
    ["seed", String(f.seed)],
    ["progress", f.progress],
    ["created", f.createdAt],
    ["updated", f.updatedAt],
    ["package", f.packageVersion],
  ];
  if (f.seconds !== null) rows.push(["last session", `${f.seconds.toFixed(1)} s`]);
  return `<dl>${rows.map(([name, value]) => `<dt>${escape(name)}</dt><dd>${escape(value)}</dd>`).join("")}</dl>`;
}

/** The headline in words (the CLI prints the same numbers as tables), attributes marked in their chart colour. */
function headlineSection(data: ReportData): string {
  const found = data.summary === null ? null : headline(data.summary);
  if (found === null) return "";
  const swatch = (name: string) => `<span class="swatch" style="background:${attributeColor(data.attributes, name)}"></span>`;
  const sections = found.sections.map(
    (section) =>
      `<p>${escape(section.title)}</p><ul>${section.lines.map((line) => `<li>${swatch(line.name)}${escape(line.text)}</li>`).join("")}</ul>`,
  );
  return `<section class="headline">${found.learned === null ? "" : `<p><strong>${escape(found.learned)}</strong></p>`}${sections.join("")}</section>`;
}

/** One row per representation of its `key` accuracies; nothing when no representation has them. */
function probeTable(data: ReportData, key: keyof ProbeResult, caption: string): string {
  const rows: [string, Accuracies | null][] = data.stages.map((s) => [`stage ${s.stage}`, s[key]]);
  if (data.integrated !== null) rows.push(["integrated", data.integrated[key]]);
  if (data.baseline !== null) rows.push([baselineLabel(data.baseline.epochs), data.baseline[key]]);
  if (rows.every(([, scores]) => scores === null)) return "";
  return table(
    ["representation", ...data.attributes],
    rows.map(([name, scores]) => [name, ...data.attributes.map((a) => formatPercent(scores?.[a], "–"))]),
    caption,
  );
}

/** A CLIP run's MMVP chart and its score tables; nothing for other runs. */
function clipSection(data: ReportData, mmvp: string | null): string {
  const tables = clipTables(data);
  if (mmvp === null && tables === "") return "";
  return `<h2>CLIP scores: MMVP-style pairs and zero-shot</h2>\n${mmvp === null ? "" : `<figure>${inline(mmvp)}</figure>`}\n${tables}`;
}

/** A CLIP run's zero-shot (per attribute) and MMVP (per category) scores of every representation. */
function clipTables(data: ReportData): string {
  const summary = data.summary;
  if (summary === null) return "";
  const rows = summaryRows(summary);
  const captions = {
    zeroShot: "Zero-shot accuracy per attribute (classes as text prototypes).",
    mmvp: "MMVP-style pairs per category: a pair counts only when both images match their own caption.",
    mmvpVlm: "The MMVP-VLM benchmark per category.",
  } as const;
  return (["zeroShot", "mmvp", "mmvpVlm"] as const)
    .flatMap((key) => {
      const columns = [...new Set(rows.flatMap(([, r]) => Object.keys(r[key] ?? {})))];
      if (columns.length === 0) return [];
      return [table(["representation", ...columns], rows.map(([name, r]) => [name, ...columns.map((c) => formatPercent(r[key]?.[c], "–"))]), captions[key])];
    })
    .join("\n");
}

function groupTable(data: ReportData): string {
  if (data.groups.length === 0) return "";
  return table(
    ["after stage", "K", "groups", "smallest", "median", "largest", "empty clusters"],
    data.groups.map((g) => [g.stage, g.k, g.stats.numGroups, g.stats.smallest, g.stats.median, g.stats.largest, g.stats.emptyClusters].map(String)),
    "Composite groups: the intersection of every clustering so far.",
  );
}

/** The samples each track's epochs left out; a track above the warning threshold is flagged with the setting to change. */
function samplingTable(data: ReportData): string {
  if (data.sampling.length === 0) return "";
  const over = data.sampling.filter((t) => t.sampling.leftOutFraction > LEFT_OUT_WARNING_FRACTION).map((t) => t.track);
  const reasons = Object.keys(data.sampling[0]!.sampling.leftOutByReason) as (keyof Sampling["leftOutByReason"])[];
  const threshold = formatPercent(LEFT_OUT_WARNING_FRACTION);
  const warning =
    over.length === 0
      ? ""
      : `<p class="warning">${escape(over.join(", "))} left out more than ${threshold} of the samples every epoch: they trained in no batch. ` +
        `The setting that decides it is <code>sampling.smallGroups</code> (${escape(data.facts.sampling)}); ` +
        `<code>balanced</code> and <code>shrink</code> train the groups smaller than a batch too.</p>`;
  return (
    warning +
    table(
      // Reasons in words ("rootResidual" → "root residual"), so that the headers wrap.
      ["track", "trained", "left out", "share", ...reasons.map((r) => r.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`))],
      data.sampling.map(({ track, sampling }) => [
        track,
        String(sampling.planned),
        String(sampling.leftOut),
        formatPercent(sampling.leftOutFraction),
        ...reasons.map((r) => String(sampling.leftOutByReason[r])),
      ]),
      "Samples each epoch trained on and left out under the small-group policy, by reason (the same every epoch of a track).",
    )
  );
}

function table(head: readonly string[], rows: readonly (readonly string[])[], caption: string): string {
  const tr = (cells: readonly string[], tag: "th" | "td") => `<tr>${cells.map((c) => `<${tag}>${escape(c)}</${tag}>`).join("")}</tr>`;
  return `<table><caption class="note">${escape(caption)}</caption><thead>${tr(head, "th")}</thead><tbody>${rows.map((r) => tr(r, "td")).join("")}</tbody></table>`;
}

/** SVG markup for inlining in HTML, where the parser supplies the namespaces. */
function inline(svg: string): string {
  return svg.replace(/^<svg([^>]*)>/, (_, attributes: string) => `<svg${attributes.replace(/\s+xmlns(:\w+)?="[^"]*"/g, "")}>`);
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
