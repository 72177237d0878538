// The optimizer's warm-up and schedule, and the labelled attribute of supcon, as the config takes
// them and as the SDK puts them in the worker's requests.
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { lossOf, optimizerRequest } from "../../../ts/sdk/job-requests.js";
import { modelHandleSchema, optimizerCreateRequestSchema, trainRequestSchema } from "../../../ts/wire/index.js";
import { issuesOf } from "../support/config-issues.js";

describe("optimizer schedule", () => {
  test("constant after the warm-up by default; cosine on request; nothing else", () => {
    expect(parseConfig({ name: "a" }).optimizer).toMatchObject({ warmupSteps: 0, schedule: "constant" });
    expect(parseConfig({ name: "a", optimizer: { warmupSteps: 600, schedule: "cosine" } }).optimizer).toMatchObject({
      warmupSteps: 600,
      schedule: "cosine",
    });
    expect(issuesOf({ name: "a", optimizer: { schedule: "step" } })[0]).toBe('optimizer.schedule: expected one of "constant", "cosine", got "step"');
    expect(issuesOf({ name: "a", optimizer: { warmupSteps: -1 } })[0]).toMatch(/^optimizer\.warmupSteps: /);
  });

  test("every stage's optimizer gets the schedule over that stage's steps", () => {
    const config = parseConfig({ name: "a", optimizer: { name: "sgd", lr: 0.1, warmupSteps: 7, schedule: "cosine" } });
    const model = modelHandleSchema.parse("model:3");
    const request = optimizerRequest(config, model, 40);
    expect(request).toEqual({
      model: "model:3",
      name: "sgd",
      lr: 0.1,
      weight_decay: 1e-4,
      momentum: 0.9,
      schedule: { name: "cosine", warmup_steps: 7, total_steps: 40 },
    });
    expect(optimizerCreateRequestSchema.parse(request)).toEqual(request);
    expect(optimizerRequest(parseConfig({ name: "a" }), model, 5)).not.toHaveProperty("momentum");
  });
});

describe("loss.attribute", () => {
  test("supcon needs it; the self-supervised losses refuse it; a plugin may take it", () => {
    expect(issuesOf({ name: "a", loss: { name: "supcon" } })).toEqual([
      "loss.attribute: supcon needs the dataset's labelled attribute whose classes are its labels, e.g. 'shape'",
    ]);
    for (const name of ["nt-xent", "dcl"]) {
      expect(issuesOf({ name: "a", loss: { name, attribute: "shape" } })).toEqual([
        `loss.attribute: ${name} is self-supervised and takes no labels; remove it or use supcon`,
      ]);
    }
    expect(parseConfig({ name: "a", loss: { name: "py:losses:mine", attribute: "shape" } }).loss.attribute).toBe("shape");
    expect(issuesOf({ name: "a", loss: { name: "supcon", attribute: "" } })[0]).toMatch(/^loss\.attribute: /);
  });

  test("the train job gets it with the loss", () => {
    const loss = lossOf(parseConfig({ name: "a", loss: { name: "supcon", temperature: 0.1, attribute: "color" } }));
    expect(loss).toEqual({ name: "supcon", temperature: 0.1, attribute: "color" });
    expect(lossOf(parseConfig({ name: "a" }))).toEqual({ name: "nt-xent", temperature: 0.2 });
    expect(trainRequestSchema.shape.loss.parse(loss)).toEqual(loss);
  });
});
