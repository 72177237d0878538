// What the report tells at a glance: the headline in words, every attribute in its own panel and
// colour (linear probe and kNN), one palette per meaning, loss panels that do not share an axis,
// and a CLIP run's MMVP scores across stages. Numbers come from synthetic-run.ts.
import { describe, expect, test } from "vitest";
import { BASELINE_DASH } from "../../../ts/report/chart-frame.js";
import { attributeColor, BASELINE_COLOR, stageColor } from "../../../ts/report/palette.js";
import { renderReport } from "../../../ts/report/report.js";
import { ATTRIBUTES, syntheticRun } from "./synthetic-run.js";

/** Every SVG mark of `role` ("line mark", "bar") as its aria label and its stroke or fill colour. */
function marks(svg: string, role: "line mark" | "bar"): { label: string; color: string }[] {
  const pattern = new RegExp(`aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="${role}"[^>]*? (?:stroke|fill)="(#[0-9a-f]{6})"`, "g");
  return [...svg.matchAll(pattern)].map((m) => ({ label: m[1]!, color: m[2]! }));
}

/** The line mark of each panel of the grid titled `metric`, by category. */
function panelLines(svg: string, metric: string): Map<string, string> {
  const lines = marks(svg, "line mark").filter((m) => m.label.includes(`; ${metric}: `));
  const byCategory = new Map(lines.map((m) => [/category: ([^;]+)$/.exec(m.label)![1]!, m.color]));
  expect(byCategory.size).toBe(lines.length);
  return byCategory;
}

const mcl = () => syntheticRun({ finished: true, losses: true });
const clip = () => syntheticRun({ finished: true, losses: true, clip: true });

describe("the report's story", () => {
  test("the headline in words comes first: each attribute from stage 1 to integrated, against the baseline, largest gain first", async () => {
    const { html } = await renderReport(await mcl());
    const start = html.indexOf('<section class="headline">');
    expect(start).toBeGreaterThan(0);
    expect(start).toBeLessThan(html.indexOf("<svg"));
    const section = html.slice(start, html.indexOf("</section>", start));
    expect(section).toContain("<strong>Stage 1 learned color (99%) best.</strong>");
    expect(section).toContain("Integrated representation (stages 1, 2, 3), linear-probe accuracy:");
    const lines = [...section.matchAll(/<li><span class="swatch" style="background:(#\w+)"><\/span>([^<]*)<\/li>/g)].map((m) => [m[1], m[2]]);
    expect(lines).toEqual([
      [attributeColor(ATTRIBUTES, "texture"), "texture 45% → 75% (+30 points vs stage 1, +20 vs the equal-compute baseline)"],
      [attributeColor(ATTRIBUTES, "shape"), "shape 35% → 50% (+15 points vs stage 1, +10 vs the equal-compute baseline)"],
      [attributeColor(ATTRIBUTES, "color"), "color 99% → 99% (±0 points vs stage 1, ±0 vs the equal-compute baseline)"],
    ]);
  });

  test("every attribute has its own panel in its own colour, for the linear probe and for kNN beside it", async () => {
    const { charts } = await renderReport(await mcl());
    for (const metric of ["linear probe", "kNN (k = 20)"]) {
      const lines = panelLines(charts.accuracy, metric);
      expect([...lines.keys()]).toEqual(ATTRIBUTES);
      for (const [attribute, color] of lines) expect(color).toBe(attributeColor(ATTRIBUTES, attribute));
    }
    // The integrated representation as labelled diamonds, the baseline as grey dashed rules.
    expect(charts.accuracy).toContain(`stroke="${BASELINE_COLOR}" stroke-width="1.5" stroke-dasharray="${BASELINE_DASH.join(",")}"`);
    expect(charts.accuracy.match(/aria-roledescription="text mark"[^>]*>75%</g)).toHaveLength(1);
  });

  test("one palette per meaning: attributes keep their colours across charts, stages take sequential blues that no attribute uses", async () => {
    const { charts } = await renderReport(await clip());
    expect(panelLines(charts.mmvp!, "pairs right")).toEqual(panelLines(charts.accuracy, "linear probe"));

    const bars = new Map(marks(charts.groupSizes, "bar").map((m) => [/clustering: after (stage \d+)/.exec(m.label)![1]!, m.color]));
    const losses = new Map(marks(charts.loss, "line mark").map((m) => [/track: (.+)$/.exec(m.label)![1]!, m.color]));
    // A CLIP run's stages 0, 1 and 2: stage 0 clusters and trains no epoch, stage 2 trains and does not cluster.
    expect([...bars.keys()]).toEqual(["stage 0", "stage 1"]);
    expect([...losses.keys()]).toEqual(["stage 1", "stage 2", "baseline"]);
    const stages = [0, 1, 2].map((i) => stageColor(i, 3));
    expect(bars.get("stage 0")).toBe(stages[0]);
    expect(bars.get("stage 1")).toBe(stages[1]);
    expect(losses.get("stage 1")).toBe(stages[1]);
    expect(losses.get("stage 2")).toBe(stages[2]);
    expect(losses.get("baseline")).toBe(BASELINE_COLOR);
    // Darker as the run goes on; no stage colour is an attribute's.
    const lightness = stages.map((c) => [1, 3, 5].reduce((sum, i) => sum + parseInt(c.slice(i, i + 2), 16), 0));
    expect(lightness).toEqual([...lightness].sort((a, b) => b - a));
    expect(new Set(stages).size).toBe(3);
    for (const c of stages) expect(ATTRIBUTES.map((a) => attributeColor(ATTRIBUTES, a))).not.toContain(c);
  });

  test("loss: one panel per track on its own scale, and a note that losses of different stages are not comparable", async () => {
    const { specs, charts } = await renderReport(await mcl());
    const spec = specs.loss as { facet: { sort: string[] }; resolve: { scale: { y: string } }; data: { values: { track: string; epoch: number }[] } };
    expect(spec.facet.sort).toEqual(["stage 1", "stage 2", "stage 3", "baseline"]);
    expect(spec.resolve.scale.y).toBe("independent");
    // Stages keep the run's epoch numbers, so the panels read in order; the baseline counts its own.
    const epochs = (track: string) => spec.data.values.filter((v) => v.track === track).map((v) => v.epoch);
    expect([epochs("stage 1"), epochs("stage 2"), epochs("stage 3"), epochs("baseline")]).toEqual([[1], [2, 3], [4], [1, 2, 3, 4]]);
    expect(charts.loss).toContain("losses of different stages are not comparable");
    expect(charts.loss).toContain("each later stage");
    expect(charts.loss).toContain(`stroke-dasharray="${BASELINE_DASH.join(",")}"`);
    expect(marks(charts.loss, "line mark")).toHaveLength(4);
  });

  test("a CLIP run: the MMVP-style score per category across stage 0…2, integrated and baseline, and its headline", async () => {
    const { html, specs, charts } = await renderReport(await clip());
    const values = (specs.mmvp as { vconcat: { data: { values: { representation: string; category: string; score: number }[] } }[] }).vconcat[0]!.data.values;
    const color = values.filter((v) => v.category === "color").map((v) => [v.representation, Number(v.score.toFixed(2))]);
    expect(color).toEqual([["stage 0", 0.95], ["stage 1", 0.9], ["stage 2", 0.85], ["integrated", 0.8], ["baseline", 0.9]]);
    expect(charts.mmvp).toContain("MMVP-style pair score per category across stages");
    expect(html).toContain("<h2>CLIP scores: MMVP-style pairs and zero-shot</h2>");
    expect(html).toContain("MMVP-style pair score per category, integrated:");
    expect(html).toContain("color 95% → 80% (−15 points vs stage 0, −10 vs the equal-compute baseline)");
    expect(html).toContain("line: stage 0 (the initial model), then the MCL stages");
    expect(html).toContain("<dt>loss</dt><dd>clip (learnable temperature)</dd>");
    expect(html).toContain("<dt>stages</dt><dd>3, numbered 0…2: epochs 0, 2, 1; K 2, 3</dd>");
  });
});
