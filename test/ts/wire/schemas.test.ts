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
  errorBodySchema,
  headerSchema,
  itemsize,
  jobSchemas,
  kindBodySchemas,
  tensor,
  validateBody,
} from "../../../ts/wire/index.js";
import { type JsonSchema, expectSameJob, expectSameSchema, jsonSchemaOf, normalise } from "../support/json-schema.js";

interface Protocol {
  version: number;
  supported_versions: number[];
  kinds: string[];
  dtypes: Record<string, number>;
  error_codes: Record<string, string>;
  client_error_codes: string[];
  header: JsonSchema;
  bodies: Record<string, JsonSchema>;
  jobs: Record<string, { request: JsonSchema; result: JsonSchema; progress: JsonSchema | null }>;
}

const PROTO = fileURLToPath(new URL("../../../proto/", import.meta.url));
const protocol = JSON.parse(readFileSync(`${PROTO}protocol.json`, "utf8")) as Protocol;
const invalidBodies = (
  JSON.parse(readFileSync(`${PROTO}golden/invalid_bodies.json`, "utf8")) as {
    cases: { kind: MessageKind; type: string; body: Body; code: string; path: string | null; message: string }[];
  }
).cases;

describe("protocol.json", () => {
  it("lists the error codes, kinds, dtypes and versions of the TypeScript side", () => {
    expect(ERROR_CODES).toEqual(Object.keys(protocol.error_codes));
    expect(CLIENT_ERROR_CODES).toEqual(protocol.client_error_codes);
    expect(MESSAGE_KINDS).toEqual(protocol.kinds);
    expect(Object.fromEntries(DTYPES.map((d) => [d, itemsize(d)]))).toEqual(protocol.dtypes);
    expect([PROTOCOL_VERSION, SUPPORTED_VERSIONS]).toEqual([protocol.version, protocol.supported_versions]);
  });

  it("has the header schema of headerSchema", () => expectSameSchema(headerSchema, protocol.header));

  it("has the diagnostic jobs of jobSchemas and exactly its kind bodies", () => {
    // Compute jobs follow in protocol.json; their zod schemas live with the worker client.
    expect(Object.keys(jobSchemas)).toEqual(["hello", "ping", "echo", "generate", "sleep"]);
    expect(Object.keys(protocol.jobs).slice(0, 5)).toEqual(Object.keys(jobSchemas));
    expect(Object.keys(kindBodySchemas)).toEqual(Object.keys(protocol.bodies));
    expectSameSchema(errorBodySchema, protocol.bodies.error);
  });

  for (const [kind, schema] of Object.entries(kindBodySchemas)) {
    it(`has the ${kind} body of kindBodySchemas.${kind}`, () => expectSameSchema(schema, protocol.bodies[kind]));
  }

  for (const [type, job] of Object.entries(jobSchemas)) {
    it(`has the bodies of job ${type}`, () => {
      expectSameJob(type, job, protocol.jobs[type]);
    });
  }

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
