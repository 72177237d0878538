/**
 * The report's colours, one palette per meaning so that a colour means the same in every chart:
 * attributes (and the MMVP categories named like them) take categorical hues in the summary's
 * attribute order; stages take a sequential blue ramp, light to dark as the run goes on; the
 * equal-compute baseline is grey. The attribute hues hold no blue, so no attribute reads as a stage.
 */

const ATTRIBUTE_HUES = ["#e45756", "#54a24b", "#f58518", "#b279a2", "#9d755d", "#d6a90f", "#ff7fae", "#3ca49b", "#7f7f3f", "#c44e9b"];
/** Sequential blues, from the first stage's to the last's. */
const STAGE_RAMP = ["#8fbfe0", "#5a9fd0", "#2f7fbf", "#1763a6", "#0b4a8a", "#08306b"];
/** Colour of a category that is no attribute, and of the baseline. */
export const NEUTRAL = "#6e6e6e";
export const BASELINE_COLOR = NEUTRAL;

/** Attribute `name`'s colour among `attributes` (NEUTRAL for a name that is none of them). */
export function attributeColor(attributes: readonly string[], name: string): string {
  const index = attributes.indexOf(name);
  return index < 0 ? NEUTRAL : ATTRIBUTE_HUES[index % ATTRIBUTE_HUES.length]!;
}

/** The colour of the `index`-th of `count` stages (0-based): spread over the ramp, the last one darkest. */
export function stageColor(index: number, count: number): string {
  if (count <= 1) return STAGE_RAMP[STAGE_RAMP.length - 1]!;
  const last = STAGE_RAMP.length - 1;
  const first = Math.max(0, last - 2 * (count - 1));
  return STAGE_RAMP[Math.round(first + ((last - first) * index) / (count - 1))]!;
}

/** A Vega-Lite scale mapping each of `domain` to its colour. */
export function colorScale(domain: readonly string[], color: (name: string, index: number) => string): { domain: string[]; range: string[] } {
  return { domain: [...domain], range: domain.map(color) };
}
