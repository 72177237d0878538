/**
 * zod schemas of the header and the bodies of proto/protocol.json, checked against its JSON Schema
 * by test/ts/wire/schemas.test.ts. Bodies are checked after decoding, so a tensor is a Tensor here.
 */
import { z } from "zod";
import { type Body, countKeys } from "./codec.js";
import { describe } from "./describe.js";
import { DTYPES } from "./dtype.js";
import { CLIENT_ERROR_CODES, ERROR_CODES, WireError, type WireErrorCode } from "./errors.js";
import { MAX_REQUEST_ID, MESSAGE_KINDS, type MessageKind } from "./header.js";
import { type Tensor, isTensor } from "./tensor.js";

/** z.int() with the message both sides give when the value is not a number at all. */
const integer = () => z.int({ error: "expected an integer" });
const dtypeSchema = z.enum(DTYPES);
const shapeSchema = z.array(integer().min(0));
export const tensorSchema = z.custom<Tensor>((value) => isTensor(value), { message: "expected a tensor" });
const emptySchema = z.strictObject({});
const anyMapSchema = z.looseObject({});

export const headerSchema = z.strictObject({
  v: integer().min(1),
  id: integer().min(0).max(MAX_REQUEST_ID),
  kind: z.enum(MESSAGE_KINDS),
  type: z.string(),
});

const WIRE_ERROR_CODES = ERROR_CODES.filter(
  (code): code is WireErrorCode => !(CLIENT_ERROR_CODES as readonly string[]).includes(code),
) as [WireErrorCode, ...WireErrorCode[]];

export const errorBodySchema = z.strictObject({
  code: z.enum(WIRE_ERROR_CODES),
  message: z.string(),
  details: anyMapSchema.optional(),
});

export const helloRequestSchema = z.strictObject({
  protocols: z.array(integer().min(1)).min(1),
  client: z.string(),
});

export const helloResultSchema = z.strictObject({
  protocol: integer().min(1),
  worker_version: z.string(),
  torch_version: z.string(),
  python_version: z.string(),
  zmq_version: z.string(),
  devices: z.array(z.strictObject({ index: integer().min(0), type: z.enum(["cpu", "cuda"]), name: z.string() })),
  world_size: integer().min(1),
  max_message_bytes: integer().min(1),
});

export const pingRequestSchema = emptySchema;
export const pingResultSchema = emptySchema;
export const echoRequestSchema = anyMapSchema;
export const echoResultSchema = anyMapSchema;

export const generateRequestSchema = z.strictObject({ dtype: dtypeSchema, shape: shapeSchema });
export const generateResultSchema = z.strictObject({ tensor: tensorSchema });

export const sleepRequestSchema = z.strictObject({ seconds: z.number().min(0), steps: integer().min(1) });
export const sleepResultSchema = z.strictObject({ steps: integer().min(1) });
export const sleepProgressSchema = z.strictObject({ step: integer().min(1) });

export type ErrorBody = z.infer<typeof errorBodySchema>;
export type HelloRequest = z.infer<typeof helloRequestSchema>;
export type HelloResult = z.infer<typeof helloResultSchema>;
export type PingRequest = z.infer<typeof pingRequestSchema>;
export type PingResult = z.infer<typeof pingResultSchema>;
export type EchoRequest = z.infer<typeof echoRequestSchema>;
export type EchoResult = z.infer<typeof echoResultSchema>;
export type GenerateRequest = z.infer<typeof generateRequestSchema>;
export type GenerateResult = z.infer<typeof generateResultSchema>;
export type SleepRequest = z.infer<typeof sleepRequestSchema>;
export type SleepResult = z.infer<typeof sleepResultSchema>;
export type SleepProgress = z.infer<typeof sleepProgressSchema>;

export interface JobSchemas {
  readonly request: z.ZodType;
  readonly result: z.ZodType;
  /** null: the job sends no progress. */
  readonly progress: z.ZodType | null;
}

/** The diagnostic jobs of protocol.json "jobs", by type (compute jobs: ts/worker/job-schemas.ts). */
export const jobSchemas: { readonly [type: string]: JobSchemas } = {
  hello: { request: helloRequestSchema, result: helloResultSchema, progress: null },
  ping: { request: pingRequestSchema, result: pingResultSchema, progress: null },
  echo: { request: echoRequestSchema, result: echoResultSchema, progress: null },
  generate: { request: generateRequestSchema, result: generateResultSchema, progress: null },
  sleep: { request: sleepRequestSchema, result: sleepResultSchema, progress: sleepProgressSchema },
};

/** Bodies whose schema depends on the kind alone (protocol.json "bodies"). */
export const kindBodySchemas = {
  error: errorBodySchema,
  cancel: emptySchema,
  heartbeat: emptySchema,
} as const satisfies { readonly [K in MessageKind]?: z.ZodType };

/** The schema a body of this kind and job type must follow; UNKNOWN_JOB / INVALID_BODY when there is none. */
export function bodySchema(kind: MessageKind, type: string): z.ZodType {
  if (kind === "error" || kind === "cancel" || kind === "heartbeat") return kindBodySchemas[kind];
  const job = Object.hasOwn(jobSchemas, type) ? jobSchemas[type] : undefined;
  if (job === undefined) {
    throw new WireError("UNKNOWN_JOB", `no job of type ${JSON.stringify(type)}`, {
      details: { type, known: Object.keys(jobSchemas) },
    });
  }
  const schema = job[kind];
  if (schema === null) {
    throw new WireError("INVALID_BODY", `job ${JSON.stringify(type)} sends no progress`, { details: { path: "" } });
  }
  return schema;
}

/**
 * Checks a decoded body against its schema and returns it unchanged. Throws WireError INVALID_BODY
 * naming the first offending field, e.g. `seconds: expected a number >= 0, got -1`, with
 * `details.path` ("seconds", "devices[0].name", "" for the body itself).
 */
export function validateBody(kind: MessageKind, type: string, body: Body): Body {
  const schema = bodySchema(kind, type);
  if (schema === emptySchema && countKeys(body) === 0) return body; // the common empty body, without zod
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return body;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const { path, text } = explainIssue(issue);
  throw new WireError("INVALID_BODY", `${path === "" ? "body" : path}: ${text}`, { details: { path } });
}

function explainIssue(issue: z.core.$ZodIssue): { path: string; text: string } {
  const path = formatPath(issue.path);
  const got = `got ${describe(issue.input)}`;
  switch (issue.code) {
    case "invalid_type":
      // integer() names what it expects in its message; zod itself says "number" for it.
      return { path, text: `${issue.message.startsWith("expected ") ? issue.message : `expected ${article(issue.expected)}`}, ${got}` };
    case "too_small":
      return issue.origin === "array"
        ? { path, text: `expected at least ${issue.minimum} items, got ${lengthOf(issue.input)}` }
        : { path, text: `expected a number ${issue.inclusive ? ">=" : ">"} ${issue.minimum}, ${got}` };
    case "too_big":
      return issue.origin === "array"
        ? { path, text: `expected at most ${issue.maximum} items, got ${lengthOf(issue.input)}` }
        : { path, text: `expected a number ${issue.inclusive ? "<=" : "<"} ${issue.maximum}, ${got}` };
    case "invalid_value":
      return { path, text: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, ${got}` };
    case "unrecognized_keys": {
      const key = issue.keys[0] as string;
      return { path: formatPath([...issue.path, key]), text: "unexpected field" };
    }
    case "custom":
      return { path, text: `${issue.message}, ${got}` };
    default:
      return { path, text: issue.message };
  }
}

function article(expected: string): string {
  switch (expected) {
    case "int":
      return "an integer";
    case "object":
      return "a map";
    case "array":
      return "an array";
    default:
      return `a ${expected}`;
  }
}

function lengthOf(value: unknown): string {
  return Array.isArray(value) ? String(value.length) : describe(value);
}

/** ["devices", 0, "name"] → "devices[0].name". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}
