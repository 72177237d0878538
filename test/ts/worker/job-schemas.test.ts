import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { jobSchemas } from "../../../ts/wire/index.js";
import { computeJobSchemas } from "../../../ts/worker/job-schemas.js";
import { type JsonSchema, expectSameJob, jsonSchemaOf, normalise } from "../support/json-schema.js";

type JobSpec = { request: JsonSchema; result: JsonSchema; progress: JsonSchema | null };
const protocol = JSON.parse(readFileSync(fileURLToPath(new URL("../../../proto/protocol.json", import.meta.url)), "utf8")) as {
  jobs: Record<string, JobSpec>;
};

describe("compute job schemas", () => {
  it("cover exactly the jobs of protocol.json that are not diagnostic", () => {
    const compute = Object.keys(protocol.jobs).filter((type) => !Object.hasOwn(jobSchemas, type));
    expect(Object.keys(computeJobSchemas)).toEqual(compute);
  });

  for (const [type, job] of Object.entries(computeJobSchemas)) {
    it(`match protocol.json for ${type}`, () => {
      expectSameJob(type, job, protocol.jobs[type]);
    });
  }

  it("catch a schema that drifts from protocol.json", () => {
    const drifted = computeJobSchemas.kmeans.request.extend({ k: z.int().min(2) });
    expect(normalise(jsonSchemaOf(drifted))).not.toEqual(normalise(protocol.jobs.kmeans?.request));
  });
});
