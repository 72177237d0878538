#!/usr/bin/env node
// Generates from proto/protocol.json what is derived from it:
//   ts/wire/generated/constants.ts  versions, message kinds, dtypes, error codes, job types
//   ts/wire/generated/schemas.ts    a zod schema and a type for every $def and job body
//   proto/PROTOCOL.md               its job reference, between the two JOBS_MARKERS lines
// and checks protocol.json's own consistency (its enums that restate another list).
//
//   node scripts/gen-wire.mjs           writes the files (npm run gen:wire)
//   node scripts/gen-wire.mjs --check   writes nothing; exits 1 naming each file that differs
//   --protocol <file> --out <dir> --doc <file>   read and write elsewhere (tests)
//
// JSON Schema is mapped to zod for the subset protocol.json uses, the subset that
// py/mcl_worker/wire/schema.py validates (anything else is refused, naming where):
// additionalProperties false -> z.strictObject, a schema -> .catchall, absent -> z.looseObject;
// "#/$defs/tensor" is a decoded Tensor; a $def named <kind>_handle is a string branded
// "<kind>-handle", so that a model handle cannot be passed where a dataset's goes.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KEYWORDS = new Set([
  "type", "properties", "required", "additionalProperties", "minimum", "maximum",
  "enum", "items", "minItems", "maxItems", "$ref", "description",
]);
const DEFS = "#/$defs/";
const HEADER = "// Generated from proto/protocol.json by `npm run gen:wire` (scripts/gen-wire.mjs): do not edit.\n";

class ProtocolError extends Error {}

const words = (name) => name.split(/[._\-]/).filter((w) => w !== "");
const camel = (name) => words(name).map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1))).join("");
const pascal = (name) => words(name).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
const literal = (value) => JSON.stringify(value);
/** A list of strings as source, one a line when it would not fit a line of `room` characters. */
const list = (values, indent = "", room = 80) => {
  const flat = `[${values.map(literal).join(", ")}]`;
  return flat.length <= room ? flat : `[\n${values.map((v) => `${indent}  ${literal(v)},\n`).join("")}${indent}]`;
};
/** Words of `text` in lines of at most `width` characters. */
const wrap = (text, width) => {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  return [...lines, line];
};
const key = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : literal(name));
/** A JSDoc comment of `text`, wrapped. */
const doc = (text, indent) => {
  if (text === undefined) return "";
  const lines = wrap(text.replaceAll("*/", "*\\/"), 110 - indent.length);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}\n`).join("")}${indent} */\n`;
};
const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The zod expression of a schema; `at` names it in errors; `indent` is the current line's. */
function zodOf(schema, at, indent) {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    throw new ProtocolError(`${at}: a schema is a JSON object, got ${literal(schema)}`);
  }
  const unknown = Object.keys(schema).filter((k) => !KEYWORDS.has(k));
  if (unknown.length > 0) {
    throw new ProtocolError(`${at}: JSON Schema keywords ${unknown.join(", ")} are not supported (supported: ${[...KEYWORDS].join(", ")})`);
  }
  if (schema.$ref !== undefined) {
    if (!schema.$ref.startsWith(DEFS)) throw new ProtocolError(`${at}: $ref must name an entry of $defs, got ${schema.$ref}`);
    return `${camel(schema.$ref.slice(DEFS.length))}Schema`;
  }
  if (schema.enum !== undefined) {
    if (!schema.enum.every((v) => typeof v === "string") || schema.enum.length === 0) {
      throw new ProtocolError(`${at}: an enum must list strings`);
    }
    return `z.enum(${list(schema.enum, indent, 100 - indent.length)})`;
  }
  const bounds = (min, max) => (min === undefined ? "" : `.min(${min})`) + (max === undefined ? "" : `.max(${max})`);
  switch (schema.type) {
    case "integer":
      return `integer()${bounds(schema.minimum, schema.maximum)}`;
    case "number":
      return `z.number()${bounds(schema.minimum, schema.maximum)}`;
    case "string":
      return "z.string()";
    case "boolean":
      return "z.boolean()";
    case "array":
      if (schema.items === undefined) throw new ProtocolError(`${at}: an array needs items`);
      return `z.array(${zodOf(schema.items, `${at}[]`, indent)})${bounds(schema.minItems, schema.maxItems)}`;
    case "object":
      return objectOf(schema, at, indent);
    default:
      throw new ProtocolError(`${at}: type ${literal(schema.type)} is not supported`);
  }
}

function objectOf(schema, at, indent) {
  const properties = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  for (const name of required) {
    if (!properties.some(([n]) => n === name)) throw new ProtocolError(`${at}: required field ${name} is not among its properties`);
  }
  const additional = schema.additionalProperties;
  if (additional === false && properties.length === 0) return "emptyBodySchema";
  const inner = `${indent}  `;
  const fields = properties.map(
    ([name, sub]) =>
      `${doc(sub.description, inner)}${inner}${key(name)}: ${zodOf(sub, `${at}.${name}`, inner)}${required.has(name) ? "" : ".optional()"},\n`,
  );
  const shape = fields.length === 0 ? "{}" : `{\n${fields.join("")}${indent}}`;
  if (additional === false) return `z.strictObject(${shape})`;
  if (additional === undefined || additional === true) return `z.looseObject(${shape})`;
  return `z.object(${shape}).catchall(${zodOf(additional, `${at}.*`, indent)})`;
}

/** The $defs a schema references, directly or through others. */
function references(schema, out = new Set()) {
  if (Array.isArray(schema)) for (const item of schema) references(item, out);
  else if (schema !== null && typeof schema === "object") {
    for (const [k, v] of Object.entries(schema)) {
      if (k === "$ref" && typeof v === "string") out.add(v.slice(DEFS.length));
      else references(v, out);
    }
  }
  return out;
}

/** protocol.json's lists that restate another must agree with it. */
function checkConsistency(protocol) {
  const dtypes = Object.keys(protocol.dtypes);
  const wireCodes = Object.keys(protocol.error_codes).filter((c) => !protocol.client_error_codes.includes(c));
  const checks = [
    ["$defs.dtype.enum", protocol.$defs?.dtype?.enum, dtypes, "the keys of dtypes"],
    ["header.properties.kind.enum", protocol.header.properties.kind.enum, protocol.kinds, "kinds"],
    ["bodies.error.properties.code.enum", protocol.bodies.error.properties.code.enum, wireCodes, "error_codes less client_error_codes"],
  ];
  for (const [where, got, want, what] of checks) {
    if (!Array.isArray(got) || !sameList(got, want)) throw new ProtocolError(`${where} must list ${what}: ${literal(want)}`);
  }
  for (const code of protocol.client_error_codes) {
    if (!(code in protocol.error_codes)) throw new ProtocolError(`client_error_codes: ${code} is not in error_codes`);
  }
  for (const [type, job] of Object.entries(protocol.jobs)) {
    if (typeof job.description !== "string") throw new ProtocolError(`jobs.${type}.description: every job says what it does`);
    if (typeof job.collective !== "boolean") throw new ProtocolError(`jobs.${type}.collective: true or false (does every rank run it?)`);
  }
  for (const ref of references(protocol)) {
    if (!(ref in protocol.$defs)) throw new ProtocolError(`$ref #/$defs/${ref} names no entry of $defs`);
  }
}

function constantsModule(protocol) {
  const lines = [
    HEADER,
    `/** The protocol version this side speaks (the header's \`v\`). */`,
    `export const PROTOCOL_VERSION = ${protocol.version};`,
    `export const SUPPORTED_VERSIONS: readonly number[] = [${protocol.supported_versions.join(", ")}];`,
    `export const MESSAGE_KINDS = ${list(protocol.kinds)} as const;`,
    `/** 0 is reserved for errors about a message whose id could not be read. */`,
    `export const MAX_REQUEST_ID = ${protocol.header.properties.id.maximum};`,
    `/** The tensor element types, in protocol.json's order. */`,
    `export const DTYPES = ${list(Object.keys(protocol.dtypes))} as const;`,
    `/** Every error code, in protocol.json's order. */`,
    `export const ERROR_CODES = ${list(Object.keys(protocol.error_codes))} as const;`,
    `/** Codes that never travel on the wire: the client raises them itself. */`,
    `export const CLIENT_ERROR_CODES = ${list(protocol.client_error_codes)} as const;`,
    `/** Every job type, in protocol.json's order. */`,
    `export const JOB_TYPES = ${list(Object.keys(protocol.jobs))} as const;`,
  ];
  return `${lines.join("\n")}\n`;
}

function schemasModule(protocol) {
  const out = [
    HEADER,
    `import { z } from "zod";\n`,
    `import { emptyBodySchema, integer, tensorSchema } from "../zod-parts.js";\n\n`,
  ];
  // $defs, each after those it references; the tensor is zod-parts' (a decoded Tensor).
  const emitted = new Set(["tensor"]);
  const emitDef = (name, chain) => {
    if (emitted.has(name)) return;
    if (chain.includes(name)) throw new ProtocolError(`$defs.${name}: references itself through ${chain.join(" -> ")}`);
    const schema = protocol.$defs[name];
    for (const ref of references(schema)) emitDef(ref, [...chain, name]);
    emitted.add(name);
    const id = camel(name);
    out.push(doc(schema.description, ""));
    if (schema.enum !== undefined) {
      zodOf(schema, `$defs.${name}`, "");
      out.push(`export const ${id}Values = ${list(schema.enum)} as const;\n`);
      out.push(`export const ${id}Schema = z.enum(${id}Values);\n`);
    } else if (name.endsWith("_handle")) {
      if (schema.type !== "string") throw new ProtocolError(`$defs.${name}: a handle is a string`);
      out.push(`export const ${id}Schema = z.string().brand<${literal(name.replace(/_handle$/, "-handle"))}>();\n`);
    } else {
      out.push(`export const ${id}Schema = ${zodOf(schema, `$defs.${name}`, "")};\n`);
    }
    out.push(`export type ${pascal(name)} = z.infer<typeof ${id}Schema>;\n\n`);
  };
  for (const name of Object.keys(protocol.$defs)) emitDef(name, []);

  out.push(`export const headerSchema = ${zodOf(protocol.header, "header", "")};\n\n`);
  const bodies = Object.entries(protocol.bodies);
  for (const [kind, schema] of bodies) out.push(`export const ${camel(kind)}BodySchema = ${zodOf(schema, `bodies.${kind}`, "")};\n`);
  out.push(`export type ErrorBody = z.infer<typeof errorBodySchema>;\n\n`);
  out.push(`/** Bodies whose schema depends on the kind alone. */\n`);
  out.push(`export const kindBodySchemas = {\n${bodies.map(([kind]) => `  ${key(kind)}: ${camel(kind)}BodySchema,\n`).join("")}} as const;\n\n`);

  const entries = [];
  const bodyTypes = [];
  for (const [type, job] of Object.entries(protocol.jobs)) {
    out.push(`${wrap(`-- ${type}: ${job.description}`, 105).map((l) => `// ${l}\n`).join("")}\n`);
    const parts = {};
    const types = {};
    for (const kind of ["request", "result", "progress"]) {
      const schema = job[kind];
      if (schema === null) {
        if (kind !== "progress") throw new ProtocolError(`jobs.${type}.${kind}: only progress may be null`);
        parts[kind] = "null";
        types[kind] = "never";
        continue;
      }
      const id = `${camel(type)}${pascal(kind)}`;
      const expression = zodOf(schema, `jobs.${type}.${kind}`, "");
      parts[kind] = `${id}Schema`;
      types[kind] = pascal(`${type}.${kind}`);
      // A body that is a $def of the very same name is already emitted.
      if (expression !== `${id}Schema`) {
        out.push(doc(schema.description, ""));
        out.push(`export const ${id}Schema = ${expression};\n`);
        out.push(`export type ${types[kind]} = z.infer<typeof ${id}Schema>;\n`);
      }
    }
    out.push("\n");
    entries.push(`  ${key(type)}: { request: ${parts.request}, result: ${parts.result}, progress: ${parts.progress} },\n`);
    bodyTypes.push(`  ${key(type)}: { request: ${types.request}; result: ${types.result}; progress: ${types.progress} };\n`);
  }
  out.push(`/** Every job's body schemas, by type; progress null: the job sends none. */\n`);
  out.push(`export const jobSchemas = {\n${entries.join("")}} as const;\n\n`);
  out.push(`export type JobType = keyof typeof jobSchemas;\n\n`);
  out.push(`/** Every job's request, result and progress bodies, by type (never: the job sends no progress). */\n`);
  out.push(`export interface JobBodies {\n${bodyTypes.join("")}}\n`);
  return out.join("");
}

// -- PROTOCOL.md's job reference -------------------------------------------------------------

const JOBS_MARKERS = [
  "<!-- job reference: generated from protocol.json by npm run gen:wire; edit protocol.json, not this -->",
  "<!-- end of the job reference -->",
];

const range = (what, min, max) => {
  if (min !== undefined && max !== undefined) return min === max ? `${what} ${min}` : `${what} in [${min}, ${max}]`;
  if (min !== undefined) return `${what} ≥ ${min}`;
  return max !== undefined ? `${what} ≤ ${max}` : what;
};

/** A schema's type in words, for a table cell. */
function typeText(schema) {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.slice(DEFS.length);
    return name === "tensor" ? "tensor" : `[${name}](#${name})`;
  }
  if (schema.enum !== undefined) return `one of ${schema.enum.map((v) => `\`${v}\``).join(", ")}`;
  switch (schema.type) {
    case "integer":
      return range("integer", schema.minimum, schema.maximum);
    case "number":
      return range("number", schema.minimum, schema.maximum);
    case "array": {
      const { minItems: min, maxItems: max } = schema;
      const count = min !== undefined && min === max ? `, ${min} items` : min !== undefined && max !== undefined
        ? `, ${min} to ${max} items` : min !== undefined ? `, at least ${min}` : max !== undefined ? `, at most ${max}` : "";
      const items = typeText(schema.items).replace(/^(array|map)\b/, "$1s");
      return `array of ${items}${count}`;
    }
    case "object":
      if (schema.properties === undefined || Object.keys(schema.properties).length === 0) {
        if (typeof schema.additionalProperties === "object") return `map of ${typeText(schema.additionalProperties)}`;
        return schema.additionalProperties === false ? "empty map" : "map (any keys)";
      }
      return "map";
    default:
      return schema.type;
  }
}

/** Table rows of an object's fields, nested maps as dotted names, those of array items as name[]. */
function fieldRows(schema, prefix = "") {
  const required = new Set(schema.required ?? []);
  const rows = [];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    const note = (sub.description ?? "").replaceAll("|", "\\|").replaceAll("\n", " ");
    rows.push(`| \`${path}\` | ${typeText(sub)} | ${required.has(name) ? "yes" : ""} | ${note} |`);
    if (sub.type === "object" && sub.properties !== undefined) rows.push(...fieldRows(sub, `${path}.`));
    if (sub.type === "array" && sub.items?.type === "object") rows.push(...fieldRows(sub.items, `${path}[].`));
  }
  return rows;
}

/** A body's description: a table of its fields, or what it is in words. */
function bodyText(schema) {
  if (schema === null) return " none";
  if (schema.type === "object" && Object.keys(schema.properties ?? {}).length > 0) {
    if (schema.additionalProperties !== false) throw new ProtocolError("only closed maps are documented as tables");
    return ["", "", "| field | type | required | notes |", "| --- | --- | --- | --- |", ...fieldRows(schema)].join("\n");
  }
  return ` ${typeText(schema) === "map (any keys)" ? "any map" : typeText(schema)}`;
}

function jobReference(protocol) {
  const out = [JOBS_MARKERS[0], "", "### Jobs", ""];
  for (const [type, job] of Object.entries(protocol.jobs)) {
    out.push(`#### \`${type}\``, "", `${job.description[0].toUpperCase()}${job.description.slice(1)}.`);
    out.push(job.collective ? "Collective: every rank runs it." : "Rank 0 alone runs it.", "");
    for (const kind of ["request", "result", "progress"]) out.push(`${kind[0].toUpperCase()}${kind.slice(1)}:${bodyText(job[kind])}`, "");
  }
  out.push("### Definitions", "", "The schemas the bodies above refer to (protocol.json `$defs`).", "");
  for (const [name, schema] of Object.entries(protocol.$defs)) {
    out.push(`#### \`${name}\``, "");
    if (schema.description !== undefined) out.push(`${schema.description[0].toUpperCase()}${schema.description.slice(1)}.`, "");
    const fields = schema.type === "object" && Object.keys(schema.properties ?? {}).length > 0;
    out.push(fields ? `A map:${bodyText(schema)}` : `${typeText(schema)[0].toUpperCase()}${typeText(schema).slice(1)}.`, "");
  }
  out.push(JOBS_MARKERS[1]);
  return out.join("\n");
}

/** `doc` with its job reference replaced by the one of `protocol`. */
function withJobReference(doc, protocol) {
  const start = doc.indexOf(JOBS_MARKERS[0]);
  const end = doc.indexOf(JOBS_MARKERS[1]);
  if (start === -1 || end < start) throw new ProtocolError(`PROTOCOL.md must hold the lines ${JOBS_MARKERS.join(" and ")}`);
  return doc.slice(0, start) + jobReference(protocol) + doc.slice(end + JOBS_MARKERS[1].length);
}

/** The files generated from a parsed protocol.json, by path relative to `outDir`. */
export function generate(protocol) {
  checkConsistency(protocol);
  return { "constants.ts": constantsModule(protocol), "schemas.ts": schemasModule(protocol) };
}

function main(argv) {
  const arg = (name, fallback) => {
    const i = argv.indexOf(name);
    return i === -1 ? fallback : resolve(argv[i + 1]);
  };
  const protocolPath = arg("--protocol", join(ROOT, "proto", "protocol.json"));
  const outDir = arg("--out", join(ROOT, "ts", "wire", "generated"));
  const docPath = arg("--doc", join(ROOT, "proto", "PROTOCOL.md"));
  const check = argv.includes("--check");
  let files;
  try {
    const protocol = JSON.parse(readFileSync(protocolPath, "utf8"));
    files = Object.fromEntries(Object.entries(generate(protocol)).map(([name, text]) => [join(outDir, name), text]));
    files[docPath] = withJobReference(readFileSync(docPath, "utf8"), protocol);
  } catch (err) {
    if (!(err instanceof ProtocolError || err instanceof SyntaxError)) throw err;
    console.error(`gen-wire: ${relative(process.cwd(), protocolPath)}: ${err.message}`);
    return 2;
  }
  const stale = [];
  for (const [path, text] of Object.entries(files)) {
    let current = null;
    try {
      current = readFileSync(path, "utf8");
    } catch {
      // absent: stale
    }
    if (current === text) continue;
    stale.push(relative(process.cwd(), path));
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }
  }
  if (check && stale.length > 0) {
    console.error(`gen-wire: ${stale.join(", ")} differ from proto/protocol.json: run npm run gen:wire`);
    return 1;
  }
  if (!check) console.log(stale.length === 0 ? "gen-wire: up to date" : `gen-wire: wrote ${stale.join(", ")}`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
