import { describe, expect, test } from "vitest";
import {
  integrate,
  integratedDim,
  integrationSpecToJSON,
  parseIntegrationSpec,
  resolveIntegrationSpec,
} from "../../../ts/control/integration.js";

// Two samples; stage 1 has 2 dims, stage 2 has 1, stage 3 has 2.
const blocks = [Float32Array.of(3, 4, 0, 0), Float32Array.of(2, 5), Float32Array.of(1, 0, 0, 1)];
const dims = [2, 1, 2];

function rows(z: Float32Array, width: number): number[][] {
  return Array.from({ length: z.length / width }, (_, i) => Array.from(z.subarray(i * width, (i + 1) * width)));
}

describe("integration", () => {
  test("concat-then-l2 normalises the weighted concatenation (the reference recipe)", () => {
    const spec = resolveIntegrationSpec({ stages: [1, 2] }, 3);
    const z = rows(integrate(blocks, dims, spec), 3);
    expect(z[0]!.map((v) => v * Math.sqrt(29))).toEqual([expect.closeTo(3, 5), expect.closeTo(4, 5), expect.closeTo(2, 5)]);
    expect(z[1]).toEqual([0, 0, 1]); // a zero stage-1 row stays zero
  });

  test("per-stage-l2 normalises each stage, then weighs it", () => {
    const spec = resolveIntegrationSpec({ stages: [1, 2], weights: [2, 1], normalize: "per-stage-l2" }, 3);
    const z = rows(integrate(blocks, dims, spec), 3);
    expect(z[0]).toEqual([expect.closeTo(1.2, 6), expect.closeTo(1.6, 6), 1]);
    expect(z[1]).toEqual([0, 0, 1]);
  });

  test("none concatenates weighted raw embeddings; stages in the spec's order", () => {
    const spec = resolveIntegrationSpec({ stages: [3, 1], weights: [1, 0.5], normalize: "none" }, 3);
    expect(integratedDim(dims, spec)).toBe(4);
    expect(rows(integrate(blocks, dims, spec), 4)).toEqual([
      [1, 0, 1.5, 2],
      [0, 1, 0, 0],
    ]);
  });

  test("defaults: every stage, unit weights, concat-then-l2; JSON round trip", () => {
    const spec = resolveIntegrationSpec({}, 3);
    expect(spec).toEqual({ stages: [1, 2, 3], weights: [1, 1, 1], normalize: "concat-then-l2" });
    expect(parseIntegrationSpec(integrationSpecToJSON(spec), 3)).toEqual(spec);
  });

  test("bad specs and blocks are refused with the field", () => {
    expect(() => resolveIntegrationSpec({ stages: [1, 4] }, 3)).toThrow(/stages\[1\]: expected a stage in \[1, 3\], got 4/);
    expect(() => resolveIntegrationSpec({ stages: [1, 1] }, 3)).toThrow(/stages\[1\]: stage 1 is listed twice/);
    expect(() => resolveIntegrationSpec({ weights: [1] }, 3)).toThrow(/weights: expected 3 entries/);
    expect(() => resolveIntegrationSpec({ weights: [0, 0, 0] }, 3)).toThrow(/at least one must be > 0/);
    expect(() => parseIntegrationSpec('{"stages":[1],"weights":[1],"normalize":"l2"}', 3)).toThrow(/normalize/);
    expect(() => parseIntegrationSpec("{", 3)).toThrow(/not JSON/);
    const spec = resolveIntegrationSpec({}, 3);
    expect(() => integrate([blocks[0]!, undefined, blocks[2]!], dims, spec)).toThrow(/stage 2 is integrated but its embeddings are missing/);
    expect(() => integrate([blocks[0]!, Float32Array.of(1, 2, 3), blocks[2]!], dims, spec)).toThrow(/stage 2 has 3 rows, earlier stages 2/);
  });
});
