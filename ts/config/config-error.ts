/**
 * Config errors and the formatter that turns zod issues into issues of a path and a message,
 * one readable line each:
 *   stages: expected an integer >= 1, got 0
 *   stagse: unknown key; did you mean "stages"?
 *   init: expected one of "scratch", "pretrained", "previous", got "scrach"; did you mean "scratch"?
 */

import type { z } from "zod";
import { formatPath, MclError } from "../errors.js";
import { didYouMean } from "./suggest.js";

export type ConfigErrorCode =
  /** The config parsed but violates the schema; `details.issues` holds every problem. */
  | "INVALID_CONFIG"
  /** The config file is not valid JSON or YAML; the message gives line and column. */
  | "CONFIG_SYNTAX"
  /** The config file cannot be read. */
  | "CONFIG_UNREADABLE"
  /** A command-line change (`--set key.path=value`) is malformed; the message shows the form. */
  | "INVALID_OVERRIDE";

/** One problem of a config: the field (`loss.temperature`; "" for the config itself) and what is wrong with it. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** `details.issues`: every problem found (INVALID_CONFIG), else none. */
export class ConfigError extends MclError<ConfigErrorCode, { readonly issues: readonly ConfigIssue[] }> {
  constructor(code: ConfigErrorCode, message: string, issues: readonly ConfigIssue[] = [], options: { cause?: unknown } = {}) {
    super(code, message, { details: { issues }, cause: options.cause });
  }
}

/** An issue as one line: `loss.temperature: expected a number > 0, got 0`. */
export function issueLine(issue: ConfigIssue): string {
  return `${issue.path === "" ? "(config)" : issue.path}: ${issue.message}`;
}

type Issue = z.core.$ZodIssue;
type Schema = z.core.$ZodType;

/**
 * The problems of zod's issues, one for each (one per key for unknown keys); `root` (the schema
 * that was parsed) sharpens the wording. `retired` maps the path of a key that earlier versions
 * took (`clip.imageUnlockedBlocks`) to what replaced it, said instead of "unknown key".
 */
export function formatIssues(issues: readonly Issue[], root?: Schema, retired: Readonly<Record<string, string>> = {}): ConfigIssue[] {
  return issues.flatMap((issue) => formatIssue(issue, root, retired));
}

function formatIssue(issue: Issue, root: Schema | undefined, retired: Readonly<Record<string, string>>): ConfigIssue[] {
  const path = formatPath(issue.path);
  const at = (message: string): ConfigIssue[] => [{ path, message }];
  const got = "input" in issue ? `, got ${describeValue(issue.input)}` : "";
  switch (issue.code) {
    case "invalid_type": {
      const integer = issue.expected === "number" && root !== undefined && isIntegerAt(root, issue.path);
      const expected = typePhrase(integer ? "int" : issue.expected);
      if (issue.input === undefined) return at(`required, expected ${expected}`);
      return at(`expected ${expected}${got}`);
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = small ? issue.minimum : issue.maximum;
      if (issue.origin === "number") {
        const kind = root !== undefined && isIntegerAt(root, issue.path) ? "an integer" : "a number";
        const op = small ? (issue.inclusive ? ">=" : ">") : issue.inclusive ? "<=" : "<";
        return at(`expected ${kind} ${op} ${bound}${got}`);
      }
      const unit = issue.origin === "string" ? "characters" : "entries";
      const length = Array.isArray(issue.input) || typeof issue.input === "string" ? `, got ${issue.input.length}` : "";
      return at(`expected at ${small ? "least" : "most"} ${bound} ${unit}${length}`);
    }
    case "invalid_value": {
      const expected = `${issue.values.length === 1 ? "" : "one of "}${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
      const strings = issue.values.filter((v): v is string => typeof v === "string");
      const hint = typeof issue.input === "string" ? didYouMean(issue.input, strings) : "";
      return at(`expected ${expected}${got}${hint}`);
    }
    case "unrecognized_keys": {
      const known = root === undefined ? [] : knownKeysAt(root, issue.path);
      return issue.keys.map((key) => {
        const keyPath = formatPath([...issue.path, key]);
        const replaced = Object.hasOwn(retired, keyPath) ? retired[keyPath] : undefined;
        return { path: keyPath, message: replaced ?? `unknown key${suggestion(key, known)}` };
      });
    }
    case "custom": {
      const hint = typeof issue.input === "string" ? didYouMean(issue.input, allowedValues(issue)) : "";
      return at(`${issue.message}${hint}`);
    }
    default:
      return at(`${issue.message}${issue.message.includes(", got ") ? "" : got}`);
  }
}

function typePhrase(expected: string): string {
  const phrases: Record<string, string> = {
    int: "an integer",
    number: "a number",
    string: "a string",
    boolean: "true or false",
    array: "an array",
    tuple: "an array",
    object: "an object",
  };
  return phrases[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return value.length <= 8 ? JSON.stringify(value) : `an array of ${value.length}`;
  if (typeof value === "object" && value !== null) return "an object";
  return String(value);
}

function suggestion(key: string, known: readonly string[]): string {
  const hint = didYouMean(key, known);
  if (hint !== "") return hint;
  return known.length > 0 ? `; expected one of ${known.join(", ")}` : "";
}

/** The allowed values a refinement names in its params (`{ params: { values } }`), for a custom issue. */
function allowedValues(issue: Issue): readonly string[] {
  const values: unknown = "params" in issue ? issue.params?.["values"] : undefined;
  return Array.isArray(values) ? values.filter((v): v is string => typeof v === "string") : [];
}

// --- a small walk over zod's schema definitions, to name known keys and integer fields ---

interface Definition {
  readonly type: string;
  readonly format?: string;
  readonly shape?: Record<string, Schema>;
  readonly element?: Schema;
  readonly items?: readonly Schema[];
  readonly options?: readonly Schema[];
  readonly innerType?: Schema;
  readonly in?: Schema;
}

function definition(schema: Schema): Definition {
  return schema._zod.def as unknown as Definition;
}

/** Strips wrappers (default, optional, …) down to the schema that validates. */
function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    const def = definition(current);
    const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
    if (inner === undefined) return current;
    current = inner;
  }
}

/** Every schema the value at `path` may be validated by (several under a union). */
function schemasAt(root: Schema, path: readonly PropertyKey[]): Schema[] {
  let current = [unwrap(root)];
  for (const key of path) {
    const next: Schema[] = [];
    for (const schema of current.flatMap(expandUnion)) {
      const def = definition(schema);
      const child =
        def.type === "object" && typeof key === "string"
          ? def.shape?.[key]
          : def.type === "array" && typeof key === "number"
            ? def.element
            : def.type === "tuple" && typeof key === "number"
              ? def.items?.[key]
              : undefined;
      if (child !== undefined) next.push(unwrap(child));
    }
    current = next;
  }
  return current.flatMap(expandUnion);
}

function expandUnion(schema: Schema): Schema[] {
  const def = definition(schema);
  return def.type === "union" ? (def.options ?? []).map(unwrap).flatMap(expandUnion) : [schema];
}

function isIntegerAt(root: Schema, path: readonly PropertyKey[]): boolean {
  return schemasAt(root, path).some((s) => {
    const def = definition(s);
    return def.type === "number" && def.format !== undefined && /int/.test(def.format);
  });
}

function knownKeysAt(root: Schema, path: readonly PropertyKey[]): string[] {
  return schemasAt(root, path).flatMap((s) => Object.keys(definition(s).shape ?? {}));
}
