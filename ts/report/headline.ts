/**
 * The report's headline: what a finished run found, in words, from its summary. For every
 * attribute, the integrated representation's linear-probe accuracy against the first stage's
 * (which learned the easy features and suppressed the others) and the equal-compute baseline's,
 * largest gain first:
 *
 *   shape 51% → 70% (+19 points vs stage 1, +4 vs the equal-compute baseline)
 *
 * and, for a CLIP run, the same for the MMVP-style pair score of every category. Differences are
 * of the rounded percentages shown, so the words add up.
 */

import type { Accuracies, RepresentationResult, Summary } from "../run/summary.js";

export interface HeadlineLine {
  /** The attribute or category the line is about. */
  readonly name: string;
  readonly text: string;
}

export interface HeadlineSection {
  readonly title: string;
  readonly lines: readonly HeadlineLine[];
}

export interface Headline {
  /** Which attributes the first stage learned best (the ones that suppress the others), or null. */
  readonly learned: string | null;
  readonly sections: readonly HeadlineSection[];
}

/** The headline of a finished run; null when its summary has no stage. */
export function headline(summary: Summary): Headline | null {
  const first = summary.stages[0];
  if (first === undefined) return null;
  const reference = `stage ${first.stage}`;
  const integrated = summary.integrated;
  const baseline = summary.baseline;
  const lines = (names: readonly string[], pick: (r: RepresentationResult) => Accuracies | undefined): HeadlineLine[] =>
    names
      .flatMap((name) => {
        const from = pick(first)?.[name];
        const to = pick(integrated)?.[name];
        if (from === undefined || to === undefined) return [];
        const base = baseline === undefined ? undefined : pick(baseline)?.[name];
        const versus = base === undefined ? "" : `, ${signed(percent(to) - percent(base))} vs the equal-compute baseline`;
        const gain = percent(to) - percent(from);
        const text = `${name} ${percent(from)}% → ${percent(to)}% (${signed(gain)} point${Math.abs(gain) === 1 ? "" : "s"} vs ${reference}${versus})`;
        return [{ name, gain, text }];
      })
      .sort((a, b) => b.gain - a.gain)
      .map(({ name, text }) => ({ name, text }));

  const stages = integrated.spec.stages.join(", ");
  const sections: HeadlineSection[] = [
    { title: `Integrated representation (stages ${stages}), linear-probe accuracy:`, lines: lines(summary.attributes, (r) => r.probe) },
  ];
  const categories = [...new Set([first, integrated].flatMap((r) => Object.keys(r.mmvp ?? {})))];
  if (categories.length > 0) {
    sections.push({ title: "MMVP-style pair score per category, integrated:", lines: lines(categories, (r) => r.mmvp) });
  }
  const best = strongest(first.probe, summary.attributes);
  const learned = best.length === 0 ? null : `${capital(reference)} learned ${best.join(" and ")} best.`;
  return { learned, sections: sections.filter((section) => section.lines.length > 0) };
}

/** The attributes within 2 points of the best accuracy of `probe`, with their accuracy. */
function strongest(probe: Accuracies, attributes: readonly string[]): string[] {
  const known = attributes.filter((a) => probe[a] !== undefined);
  const top = Math.max(...known.map((a) => probe[a]!));
  return known.filter((a) => probe[a]! >= top - 0.02).map((a) => `${a} (${percent(probe[a]!)}%)`);
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function percent(value: number): number {
  return Math.round(100 * value);
}

function signed(points: number): string {
  return points > 0 ? `+${points}` : points < 0 ? `−${-points}` : "±0";
}
