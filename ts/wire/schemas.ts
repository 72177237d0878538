/**
 * Checking decoded bodies against the schemas of proto/protocol.json, which generated/schemas.ts
 * holds as zod (npm run gen:wire). Bodies are checked after decoding, so a tensor is a Tensor here.
 */
import type { z } from "zod";
import { type Body, countKeys } from "./codec.js";
import { formatPath } from "../errors.js";
import { describe } from "./describe.js";
import { WireError } from "./errors.js";
import {
  type DatasetHandle,
  type EmbeddingHandle,
  type ModelHandle,
  type OptimizerHandle,
  type TensorHandle,
  jobSchemas,
  kindBodySchemas,
} from "./generated/schemas.js";
import type { MessageKind } from "./header.js";
import { emptyBodySchema } from "./zod-parts.js";

// The bodies of the worker's jobs. Field names are the wire's (snake_case); handles are branded
// strings, so that a model handle cannot be passed where a dataset goes.
export * from "./generated/schemas.js";
export { tensorSchema } from "./zod-parts.js";

// The enumerations of protocol.json under the names the configuration uses.
export {
  clipActivationValues as CLIP_ACTIVATIONS,
  exportFormatValues as EXPORT_FORMATS,
  interpolationValues as INTERPOLATIONS,
  lrScheduleValues as LR_SCHEDULES,
  optimizerNameValues as OPTIMIZERS,
  precisionValues as PRECISIONS,
} from "./generated/schemas.js";

/** Any handle the worker holds. */
export type Handle = DatasetHandle | ModelHandle | OptimizerHandle | EmbeddingHandle | TensorHandle;

export interface JobSchemas {
  readonly request: z.ZodType;
  readonly result: z.ZodType;
  /** null: the job sends no progress. */
  readonly progress: z.ZodType | null;
}

const jobsByType: { readonly [type: string]: JobSchemas } = jobSchemas;

/** The schema a body of this kind and job type must follow; UNKNOWN_JOB / INVALID_BODY when there is none. */
export function bodySchema(kind: MessageKind, type: string): z.ZodType {
  if (kind === "error" || kind === "cancel" || kind === "heartbeat") return kindBodySchemas[kind];
  const job = Object.hasOwn(jobsByType, type) ? jobsByType[type] : undefined;
  if (job === undefined) {
    throw new WireError("UNKNOWN_JOB", `no job of type ${JSON.stringify(type)}`, {
      details: { type, known: Object.keys(jobsByType) },
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
  if (schema === emptyBodySchema && countKeys(body) === 0) return body; // the common empty body, without zod
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
