import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type Body,
  CLIENT_ERROR_CODES,
  DTYPES,
  ERROR_CODES,
  MESSAGE_KINDS,
  type MessageKind,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  WireError,
  JOB_TYPES,
  errorBodySchema,
  headerSchema,
  itemsize,
  jobSchemas,
  kindBodySchemas,
  modelHandleSchema,
  tensor,
  validateBody,
} from "../../../ts/wire/index.js";
import { type JsonSchema, expectSameJob, expectSameSchema, inlineRefs, jsonSchemaOf, normalise } from "../support/json-schema.js";

interface Protocol {
  version: number;
  supported_versions: number[];
  kinds: string[];
  dtypes: Record<string, number>;
  error_codes: Record<string, string>;
  client_error_codes: string[];
  $defs: Record<string, JsonSchema>;
  header: JsonSchema;
  bodies: Record<string, JsonSchema>;
  jobs: Record<string, { request: JsonSchema; result: JsonSchema; progress: JsonSchema | null }>;
}

const PROTO = fileURLToPath(new URL("../../../proto/", import.meta.url));
const protocol = JSON.parse(readFileSync(`${PROTO}protocol.json`, "utf8")) as Protocol;
/** A schema of protocol.json as zod's JSON Schema spells it: references inlined. */
const resolved = (schema: unknown): unknown => inlineRefs(schema, protocol.$defs);
const invalidBodies = (
  JSON.parse(readFileSync(`${PROTO}golden/invalid_bodies.json`, "utf8")) as {
    cases: { kind: MessageKind; type: string; body: Body; code: string; path: string | null; message: string }[];
  }
).cases;

// The zod schemas are generated from protocol.json (scripts/gen-wire.mjs): these check the generator.
describe("the zod schemas generated from protocol.json", () => {
  it("lists the error codes, kinds, dtypes, job types and versions of the TypeScript side", () => {
    expect(ERROR_CODES).toEqual(Object.keys(protocol.error_codes));
    expect(CLIENT_ERROR_CODES).toEqual(protocol.client_error_codes);
    expect(MESSAGE_KINDS).toEqual(protocol.kinds);
    expect(Object.fromEntries(DTYPES.map((d) => [d, itemsize(d)]))).toEqual(protocol.dtypes);
    expect([PROTOCOL_VERSION, SUPPORTED_VERSIONS]).toEqual([protocol.version, protocol.supported_versions]);
    expect(JOB_TYPES).toEqual(Object.keys(protocol.jobs));
  });

  it("has the header schema of headerSchema", () => expectSameSchema(headerSchema, protocol.header));

  it("has every job of protocol.json and exactly its kind bodies", () => {
    expect(Object.keys(jobSchemas)).toEqual(Object.keys(protocol.jobs));
    expect(Object.keys(kindBodySchemas)).toEqual(Object.keys(protocol.bodies));
    expectSameSchema(errorBodySchema, protocol.bodies.error);
  });

  for (const [kind, schema] of Object.entries(kindBodySchemas)) {
    it(`has the ${kind} body of kindBodySchemas.${kind}`, () => expectSameSchema(schema, protocol.bodies[kind]));
  }

  for (const [type, job] of Object.entries(jobSchemas)) {
    it(`has the bodies of job ${type}`, () => {
      const spec = protocol.jobs[type];
      expectSameJob(type, job, spec && { request: resolved(spec.request), result: resolved(spec.result), progress: resolved(spec.progress) });
    });
  }

  it("brands a handle with its kind and checks it as the string it is on the wire", () => {
    expect(modelHandleSchema.parse("model:1")).toBe("model:1");
    expect(modelHandleSchema.safeParse(1).success).toBe(false);
  });

  it("catches a schema that drifts from protocol.json", () => {
    const drifted = z.strictObject({ seconds: z.number().min(1), steps: z.int().min(1) });
    expect(normalise(jsonSchemaOf(drifted))).not.toEqual(normalise(protocol.jobs.sleep?.request));
  });
});

describe("validateBody", () => {
  it.each(invalidBodies.map((c) => [`${c.kind} ${c.type} ${c.path}`, c] as const))(
    "refuses %s with the path and message Python gives",
    (_name, c) => {
      let caught: unknown;
      try {
        validateBody(c.kind, c.type, c.body);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(WireError);
      const err = caught as WireError;
      expect([err.code, err.message]).toEqual([c.code, c.message]);
      if (c.path !== null) expect(err.details).toEqual({ path: c.path });
    },
  );

  // As test/py/wire/test_schema.py: a $defs entry is checked and reported as if written in place.
  it.each([
    [{ model: "model:1", augment: { interpolation: "nearest" } }, "augment.interpolation", 'augment.interpolation: expected one of "bilinear", "bicubic", got "nearest"'],
    [{ model: "model:1", data: { workers: 65 } }, "data.workers", "data.workers: expected a number <= 64, got 65"],
    [{ dataset: "dataset:1" }, "model", "model: expected a string, got nothing"],
  ])("refuses the embed request %j at %s as Python does", (body, path, message) => {
    expect(() => validateBody("request", "embed", body)).toThrow(expect.objectContaining({ message, details: { path } }));
  });

  it.each([
    ["request", "hello", { protocols: [PROTOCOL_VERSION], client: "mcl-bridge/0.1.0" }],
    ["request", "echo", { anything: [1, { x: null }], t: tensor("uint8", [1], new Uint8Array(1)) }],
    ["request", "generate", { dtype: "bfloat16", shape: [2, 0] }],
    ["result", "generate", { tensor: tensor("float32", [], new Float32Array(1)) }],
    ["request", "sleep", { seconds: 0.25, steps: 3 }],
    ["progress", "sleep", { step: 1 }],
    ["error", "sleep", { code: "CANCELLED", message: "cancelled", details: { step: 2 } }],
    ["heartbeat", "", {}],
  ] as const)("accepts a %s of %s", (kind, type, body) => {
    expect(validateBody(kind, type, body as Body)).toBe(body);
  });
});
