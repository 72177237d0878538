import { describe, expect, test } from "vitest";
import { integrationProblems, resolveIntegrationSpec } from "../../../ts/control/integration.js";

// The formula itself is the worker's (py/mcl_worker/integration.py, test/py/compute/test_integration.py).
describe("integration spec", () => {
  test("defaults: every stage, unit weights, concat-then-l2", () => {
    expect(resolveIntegrationSpec({}, 3)).toEqual({ stages: [1, 2, 3], weights: [1, 1, 1], normalize: "concat-then-l2" });
    expect(resolveIntegrationSpec({ stages: [3, 1], normalize: "none" }, 3)).toEqual({ stages: [3, 1], weights: [1, 1], normalize: "none" });
  });

  test("a CLIP run's stages are numbered from 0", () => {
    expect(resolveIntegrationSpec({}, 3, 0).stages).toEqual([0, 1, 2]);
    expect(resolveIntegrationSpec({ stages: [0, 2], weights: [1, 2] }, 3, 0)).toEqual({ stages: [0, 2], weights: [1, 2], normalize: "concat-then-l2" });
    expect(integrationProblems({ stages: [3] }, 3, 0)).toEqual(["stages[0]: expected a stage in [0, 2], got 3"]);
    expect(integrationProblems({ stages: [0] }, 3)).toEqual(["stages[0]: expected a stage in [1, 3], got 0"]);
  });

  test("bad specs are refused with the field", () => {
    expect(() => resolveIntegrationSpec({ stages: [1, 4] }, 3)).toThrow(/stages\[1\]: expected a stage in \[1, 3\], got 4/);
    expect(() => resolveIntegrationSpec({ stages: [1, 1] }, 3)).toThrow(/stages\[1\]: stage 1 is listed twice/);
    expect(() => resolveIntegrationSpec({ stages: [] }, 3)).toThrow(/stages: expected at least one stage/);
    expect(() => resolveIntegrationSpec({ weights: [1] }, 3)).toThrow(/weights: expected 3 entries/);
    expect(() => resolveIntegrationSpec({ weights: [0, 0, 0] }, 3)).toThrow(/at least one must be > 0/);
    expect(integrationProblems({ stages: [2], weights: [Number.NaN] }, 3)).toEqual(["weights[0]: expected a finite number >= 0, got NaN"]);
    expect(integrationProblems({ stages: [2, 1], weights: [0.5, 2] }, 3)).toEqual([]);
  });
});
