/**
 * Cross-stage representation integration (docs/method.md, step 5): the final representation of a sample
 * is the concatenation of its per-stage embeddings, so what earlier stages learned is kept.
 *
 * The control plane picks the stages s_1…s_m (by number: 1…S, a CLIP run's 0…S), their weights
 * w_j and where the L2 normalisation happens; the worker computes it (py/mcl_worker/integration.py,
 * the `integrate` job) on the stages' L2-normalised embeddings f_s:
 *   concat-then-l2  z = normalize([w_1 f_{s_1}; …; w_m f_{s_m}])
 *   per-stage-l2    z = [w_1 normalize(f_{s_1}); …; w_m normalize(f_{s_m})] (every stage weighs w_j)
 *   none            z = [w_1 f_{s_1}; …; w_m f_{s_m}]
 */

import { IntegrationError } from "./errors.js";

export const NORMALIZATIONS = ["concat-then-l2", "per-stage-l2", "none"] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

export interface IntegrationSpec {
  readonly stages: readonly number[];
  readonly weights: readonly number[];
  readonly normalize: Normalization;
}

/** What a user may leave out: all stages, unit weights, the reference normalisation. */
export interface IntegrationChoice {
  readonly stages?: readonly number[] | undefined;
  readonly weights?: readonly number[] | undefined;
  readonly normalize?: Normalization | undefined;
}

/**
 * Fills in the defaults of `choice` for a run of `numStages` stages numbered from `firstStage`
 * (1, or a CLIP run's 0: ts/run/track.ts) and validates it.
 */
export function resolveIntegrationSpec(choice: IntegrationChoice, numStages: number, firstStage: 0 | 1 = 1): IntegrationSpec {
  const stages = choice.stages ?? Array.from({ length: numStages }, (_, s) => s + firstStage);
  const spec: IntegrationSpec = {
    stages,
    weights: choice.weights ?? stages.map(() => 1),
    normalize: choice.normalize ?? "concat-then-l2",
  };
  const problems = integrationProblems(spec, numStages, firstStage);
  if (problems.length > 0) throw new IntegrationError("INVALID_ARGUMENT", problems.join("; "));
  return spec;
}

/**
 * The reasons `spec` does not fit a run of `numStages` stages, each as `field: what is wrong`
 * (empty when it fits). The config schema reports these under its own path.
 */
export function integrationProblems(spec: IntegrationChoice, numStages: number, firstStage: 0 | 1 = 1): string[] {
  const problems: string[] = [];
  const { stages, weights } = spec;
  const last = firstStage + numStages - 1;
  if (stages !== undefined && stages.length === 0) problems.push("stages: expected at least one stage");
  stages?.forEach((stage, j) => {
    if (!Number.isInteger(stage) || stage < firstStage || stage > last) {
      problems.push(`stages[${j}]: expected a stage in [${firstStage}, ${last}], got ${stage}`);
    } else if (stages.indexOf(stage) !== j) {
      problems.push(`stages[${j}]: stage ${stage} is listed twice`);
    }
  });
  const expected = stages?.length ?? numStages;
  if (weights !== undefined) {
    if (weights.length !== expected) {
      problems.push(`weights: expected ${expected} entries (one per integrated stage), got ${weights.length}`);
    }
    weights.forEach((w, j) => {
      if (!Number.isFinite(w) || w < 0) problems.push(`weights[${j}]: expected a finite number >= 0, got ${w}`);
    });
    if (weights.length > 0 && weights.every((w) => w === 0)) problems.push("weights: at least one must be > 0");
  }
  return problems;
}
