import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { jobSchemas, tensorSchema } from "../../../ts/wire/index.js";
import { computeJobSchemas } from "../../../ts/worker/job-schemas.js";

type JsonSchema = { [key: string]: unknown };
type JobSpec = { request: JsonSchema; result: JsonSchema; progress: JsonSchema | null };
const protocol = JSON.parse(readFileSync(fileURLToPath(new URL("../../../proto/protocol.json", import.meta.url)), "utf8")) as {
  jobs: Record<string, JobSpec>;
};

// The same comparison as test/ts/wire/schemas.test.ts makes for the diagnostic jobs: zod's JSON
// Schema of each body, normalised, equals protocol.json's, field order included.
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    unrepresentable: "any",
    override: (ctx) => {
      if (ctx.zodSchema === tensorSchema) {
        for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
        ctx.jsonSchema.$ref = "#/$defs/tensor";
      }
    },
  }) as JsonSchema;
}

function normalise(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(normalise);
  if (schema === null || typeof schema !== "object") return schema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) out[key] = normalise(value);
  delete out.$schema;
  delete out.description;
  if ("enum" in out) delete out.type;
  if (out.type === "integer") {
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  }
  const additional = out.additionalProperties;
  if (typeof additional === "object" && additional !== null && Object.keys(additional).length === 0) {
    delete out.additionalProperties;
    if (Object.keys(out.properties ?? {}).length === 0) delete out.properties;
  }
  return out;
}

function propertyOrders(schema: unknown, at = "", out: Record<string, string[]> = {}): Record<string, string[]> {
  if (schema === null || typeof schema !== "object") return out;
  for (const [key, value] of Object.entries(schema)) {
    if (key === "properties") out[at] = Object.keys(value as object);
    propertyOrders(value, `${at}/${key}`, out);
  }
  return out;
}

function expectSameSchema(zodSchema: z.ZodType, jsonSchema: unknown): void {
  const fromZod = normalise(jsonSchemaOf(zodSchema));
  const fromProtocol = normalise(jsonSchema);
  expect(fromZod).toEqual(fromProtocol);
  expect(propertyOrders(fromZod)).toEqual(propertyOrders(fromProtocol));
}

describe("compute job schemas", () => {
  it("cover exactly the jobs of protocol.json that are not diagnostic", () => {
    const compute = Object.keys(protocol.jobs).filter((type) => !Object.hasOwn(jobSchemas, type));
    expect(Object.keys(computeJobSchemas)).toEqual(compute);
  });

  for (const [type, job] of Object.entries(computeJobSchemas)) {
    it(`match protocol.json for ${type}`, () => {
      const spec = protocol.jobs[type];
      if (spec === undefined) throw new Error(`protocol.json has no job ${type}`);
      expectSameSchema(job.request, spec.request);
      expectSameSchema(job.result, spec.result);
      if (job.progress === null) expect(spec.progress).toBeNull();
      else expectSameSchema(job.progress, spec.progress);
    });
  }

  it("catch a schema that drifts from protocol.json", () => {
    const drifted = computeJobSchemas.kmeans.request.extend({ k: z.int().min(2) });
    expect(normalise(jsonSchemaOf(drifted))).not.toEqual(normalise(protocol.jobs.kmeans?.request));
  });
});
