/**
 * Cross-stage representation integration (docs/method.md, step 5): the final representation of a sample
 * is the concatenation of its per-stage embeddings, so what earlier stages learned is kept.
 *
 * For the selected stages s_1…s_m with weights w_j and embeddings f_s (rows of D_s floats):
 *   concat-then-l2  z = normalize([w_1 f_{s_1}; …; w_m f_{s_m}])          (the reference recipe)
 *   per-stage-l2    z = [w_1 normalize(f_{s_1}); …; w_m normalize(f_{s_m})] (every stage weighs w_j)
 *   none            z = [w_1 f_{s_1}; …; w_m f_{s_m}]
 * where normalize(v) = v / ‖v‖₂, and a zero row stays zero. The spec is plain JSON
 * (`{"stages":[1,2,3],"weights":[1,1,1],"normalize":"concat-then-l2"}`) so that the worker can
 * apply the same formula to bulk embeddings it holds.
 */

import { z } from "zod";
import { IntegrationError } from "./errors.js";

export const NORMALIZATIONS = ["concat-then-l2", "per-stage-l2", "none"] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

/** The serialised form of an integration spec (strict; stages 1-based). */
export const integrationSpecSchema = z.strictObject({
  stages: z.array(z.int().min(1)).min(1).describe("1-based stages to concatenate, in this order"),
  weights: z.array(z.number().min(0)).min(1).describe("One weight per entry of `stages`"),
  normalize: z.enum(NORMALIZATIONS).describe("Where the L2 normalisation happens"),
});

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

/** Fills in the defaults of `choice` for a run of `numStages` stages and validates it. */
export function resolveIntegrationSpec(choice: IntegrationChoice, numStages: number): IntegrationSpec {
  const stages = choice.stages ?? Array.from({ length: numStages }, (_, s) => s + 1);
  const spec: IntegrationSpec = {
    stages,
    weights: choice.weights ?? stages.map(() => 1),
    normalize: choice.normalize ?? "concat-then-l2",
  };
  return validateIntegrationSpec(spec, numStages);
}

/** Checks a spec against a run of `numStages` stages; returns it unchanged when valid. */
export function validateIntegrationSpec(spec: IntegrationSpec, numStages: number): IntegrationSpec {
  const problems = integrationProblems(spec, numStages);
  if (problems.length > 0) throw new IntegrationError("INVALID_ARGUMENT", problems.join("; "));
  return spec;
}

/**
 * The reasons `spec` does not fit a run of `numStages` stages, each as `field: what is wrong`
 * (empty when it fits). The config schema reports these under its own path.
 */
export function integrationProblems(spec: IntegrationChoice, numStages: number): string[] {
  const problems: string[] = [];
  const { stages, weights } = spec;
  if (stages !== undefined && stages.length === 0) problems.push("stages: expected at least one stage");
  stages?.forEach((stage, j) => {
    if (!Number.isInteger(stage) || stage < 1 || stage > numStages) {
      problems.push(`stages[${j}]: expected a stage in [1, ${numStages}], got ${stage}`);
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

/** JSON text of a spec, for the worker or the run manifest. */
export function integrationSpecToJSON(spec: IntegrationSpec): string {
  return JSON.stringify({ stages: spec.stages, weights: spec.weights, normalize: spec.normalize });
}

/** Parses and validates a spec from JSON text or an already-parsed value. */
export function parseIntegrationSpec(json: string | unknown, numStages: number): IntegrationSpec {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new IntegrationError("INVALID_ARGUMENT", `integration spec: not JSON (${(error as Error).message})`);
    }
  }
  const parsed = integrationSpecSchema.safeParse(value);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(spec)"}: ${i.message}`);
    throw new IntegrationError("INVALID_ARGUMENT", `integration spec: ${detail.join("; ")}`);
  }
  return validateIntegrationSpec(parsed.data, numStages);
}

/** Width of the integrated representation: the sum of the selected stages' widths. */
export function integratedDim(dims: readonly number[], spec: IntegrationSpec): number {
  return spec.stages.reduce((sum, stage) => sum + (dims[stage - 1] ?? 0), 0);
}

/**
 * Builds the integrated representation. `blocks[s - 1]` holds stage s's embeddings, N rows of
 * `dims[s - 1]` floats, row-major; stages the spec does not select may be missing. Returns N
 * rows of integratedDim(dims, spec) floats.
 */
export function integrate(
  blocks: readonly (Float32Array | undefined)[],
  dims: readonly number[],
  spec: IntegrationSpec,
): Float32Array {
  validateIntegrationSpec(spec, Math.max(...spec.stages));
  let rows = -1;
  const selected = spec.stages.map((stage) => {
    const block = blocks[stage - 1];
    const dim = dims[stage - 1];
    if (block === undefined || dim === undefined) {
      throw new IntegrationError("INVALID_ARGUMENT", `blocks: stage ${stage} is integrated but its embeddings are missing`);
    }
    if (!Number.isInteger(dim) || dim < 1 || block.length % dim !== 0) {
      throw new IntegrationError(
        "INVALID_ARGUMENT",
        `dims[${stage - 1}]: ${dim} does not divide stage ${stage}'s ${block.length} floats into rows`,
      );
    }
    const n = block.length / dim;
    if (rows >= 0 && n !== rows) {
      throw new IntegrationError("INVALID_ARGUMENT", `blocks: stage ${stage} has ${n} rows, earlier stages ${rows}`);
    }
    rows = n;
    return { block, dim };
  });
  const width = selected.reduce((sum, s) => sum + s.dim, 0);
  const out = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) {
    const rowStart = i * width;
    let column = rowStart;
    let sumSquares = 0;
    selected.forEach(({ block, dim }, j) => {
      const from = i * dim;
      let scale = spec.weights[j]!;
      if (spec.normalize === "per-stage-l2") {
        const norm = l2(block, from, from + dim);
        scale = norm > 0 ? scale / norm : 0;
      }
      for (let d = 0; d < dim; d++) {
        const v = block[from + d]! * scale;
        out[column + d] = v;
        sumSquares += v * v;
      }
      column += dim;
    });
    if (spec.normalize === "concat-then-l2" && sumSquares > 0) {
      const inverse = 1 / Math.sqrt(sumSquares);
      for (let c = rowStart; c < rowStart + width; c++) out[c]! *= inverse;
    }
  }
  return out;
}

function l2(values: Float32Array, start: number, end: number): number {
  let sum = 0;
  for (let k = start; k < end; k++) sum += values[k]! * values[k]!;
  return Math.sqrt(sum);
}
