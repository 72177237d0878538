// How a zod schema is compared with protocol.json's JSON Schema: the check that scripts/gen-wire.mjs
// turns every schema of proto/protocol.json into zod that accepts and refuses what it says.
import { expect } from "vitest";
import { z } from "zod";
import { tensorSchema } from "../../../ts/wire/index.js";

export type JsonSchema = { [key: string]: unknown };

/** zod's JSON Schema of a schema; a tensor becomes a reference to protocol.json's descriptor. */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    // The tensor has no JSON Schema of its own (override names it); anything else unrepresentable
    // becomes {} and then differs from protocol.json.
    unrepresentable: "any",
    override: (ctx) => {
      if (ctx.zodSchema === tensorSchema) {
        for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
        ctx.jsonSchema.$ref = "#/$defs/tensor";
      }
    },
  }) as JsonSchema;
}

/** `schema` with every $ref but the tensor's replaced by the $defs entry it names. */
export function inlineRefs(schema: unknown, defs: Record<string, unknown>): unknown {
  if (Array.isArray(schema)) return schema.map((item) => inlineRefs(item, defs));
  if (schema === null || typeof schema !== "object") return schema;
  const ref = (schema as JsonSchema).$ref;
  if (typeof ref === "string" && ref !== "#/$defs/tensor") {
    const name = ref.replace("#/$defs/", "");
    if (!Object.hasOwn(defs, name)) throw new Error(`$ref ${ref} names no entry of $defs`);
    return inlineRefs(defs[name], defs);
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, inlineRefs(value, defs)]));
}

/**
 * The two spellings of one schema made equal: zod adds $schema, a type beside enum, the safe-integer
 * bounds of z.int() and `properties: {}, additionalProperties: {}` on a loose object.
 */
export function normalise(schema: unknown): unknown {
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

/** Every properties map's key order, by location: both sides report fields in this order. */
export function propertyOrders(schema: unknown, at = "", out: Record<string, string[]> = {}): Record<string, string[]> {
  if (schema === null || typeof schema !== "object") return out;
  for (const [key, value] of Object.entries(schema)) {
    if (key === "properties") out[at] = Object.keys(value as object);
    propertyOrders(value, `${at}/${key}`, out);
  }
  return out;
}

export function expectSameSchema(zodSchema: z.ZodType, jsonSchema: unknown): void {
  const fromZod = normalise(jsonSchemaOf(zodSchema));
  const fromProtocol = normalise(jsonSchema);
  expect(fromZod).toEqual(fromProtocol);
  expect(propertyOrders(fromZod)).toEqual(propertyOrders(fromProtocol));
}

/** A job's zod schemas (request, result, progress or null) equal its protocol.json entry. */
export function expectSameJob(
  type: string,
  job: { request: z.ZodType; result: z.ZodType; progress: z.ZodType | null },
  spec: { request: unknown; result: unknown; progress: unknown } | undefined,
): void {
  if (spec === undefined) throw new Error(`protocol.json has no job ${type}`);
  expectSameSchema(job.request, spec.request);
  expectSameSchema(job.result, spec.result);
  if (job.progress === null) expect(spec.progress).toBeNull();
  else expectSameSchema(job.progress, spec.progress);
}
