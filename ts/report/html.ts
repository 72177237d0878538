/**
 * The report as one self-contained HTML page: inline CSS, the charts as inline SVG, the probe
 * table and the run's facts. No script, no external font, stylesheet or image: it opens offline.
 */

import { LEFT_OUT_WARNING_FRACTION } from "../sdk/left-out.js";
import { type Accuracies, baselineLabel, formatPercent, type Sampling, summaryRows } from "../sdk/summary.js";
import type { ReportData } from "./report-data.js";

export interface ChartSvgs {
  readonly accuracy: string;
  readonly groupSizes: string;
  readonly loss: string;
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.note { color: #666; }
table { border-collapse: collapse; margin: 0.6rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { color: #666; }
dd { margin: 0; }
figure { margin: 1rem 0; }
.warning { color: #8a4b00; background: #fff4e0; padding: 0.4rem 0.7rem; border-left: 3px solid #e09000; }
figure svg { max-width: 100%; height: auto; }
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
<h2>Run</h2>
${factList(data)}
<h2>Per-attribute accuracy</h2>
<figure>${inline(charts.accuracy)}</figure>
${probeTable(data)}
${clipTables(data)}
<h2>Composite groups</h2>
<figure>${inline(charts.groupSizes)}</figure>
${groupTable(data)}
${samplingTable(data)}
<h2>Loss</h2>
<figure>${inline(charts.loss)}</figure>
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
    ["stages", `${f.stages}: epochs ${f.epochs.join(", ")}${f.clusters.length > 0 ? `; K ${f.clusters.join(", ")}` : ""}`],
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

function probeTable(data: ReportData): string {
  if (data.stages.length === 0) return "";
  const rows: [string, Accuracies][] = data.stages.map((s) => [`stage ${s.stage}`, s.probe]);
  if (data.integrated !== null) rows.push(["integrated", data.integrated]);
  if (data.baseline !== null) rows.push([baselineLabel(data.baseline.epochs), data.baseline.probe]);
  return table(
    ["representation", ...data.attributes],
    rows.map(([name, probe]) => [name, ...data.attributes.map((a) => formatPercent(probe[a], "–"))]),
    "Linear-probe accuracy per attribute, held-out split of the training set.",
  );
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
    .map((key) => {
      const columns = [...new Set(rows.flatMap(([, r]) => Object.keys(r[key] ?? {})))];
      if (columns.length === 0) return "";
      return table(["representation", ...columns], rows.map(([name, r]) => [name, ...columns.map((c) => formatPercent(r[key]?.[c], "–"))]), captions[key]);
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
      ["track", "trained", "left out", "share", ...reasons],
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
