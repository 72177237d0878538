/**
 * The configuration reference (docs/configuration.md), generated from the run config's zod schema:
 * every field's path, type, default and `.describe()` text, so the document cannot drift from what
 * `Mcl.start` and `mcl run` accept. `npm run docs:config` writes it (scripts/config-reference.mjs);
 * test/ts/config/config-reference.unit.test.ts fails when the committed file differs.
 */

import { z } from "zod";
import { CLIP_ENCODERS } from "./clip-config.js";
import { ENCODERS, LOSSES, mclConfigSchema } from "./mcl-config.js";

/** A JSON Schema node as zod writes it (only the keywords read here). */
interface Node {
  readonly type?: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly Node[];
  readonly oneOf?: readonly Node[];
  readonly properties?: { readonly [key: string]: Node };
  readonly required?: readonly string[];
  readonly items?: Node | false;
  readonly prefixItems?: readonly Node[];
  readonly additionalProperties?: Node | false;
  readonly $ref?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly minItems?: number;
  readonly minLength?: number;
  readonly pattern?: string;
}

interface Row {
  readonly path: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

/**
 * Fields whose values a refinement checks (so the JSON Schema says only "string"): the values
 * they take, from the same constants the schema checks against.
 */
const REFINED_VALUES: { readonly [path: string]: readonly string[] } = {
  encoder: [...ENCODERS, ...CLIP_ENCODERS, "py:<module>:<attr>"],
  "loss.name": [...LOSSES, "py:<module>:<attr>"],
};

const PREAMBLE = `# Configuration reference

<!-- Generated from ts/config/mcl-config.ts, ts/config/clip-config.ts and ts/config/preprocess.ts
by \`npm run docs:config\`; do not edit by hand. -->

Every field of the run config that \`Mcl.start(config)\` takes as an object and \`mcl run config.json\`
reads from a JSON file. Objects are strict: an unknown key is an error that names it (and the
field it probably meant). Only \`name\` is required; every other field has the default shown, or
is absent unless given. Rules that join several fields (for instance \`clusters\` as an array has
one entry per clustering) are checked when the config is read and reported with the field's path.
How to use the config: [usage.md](usage.md); the \`clip\` section: [clip.md](clip.md); plugins:
[plugins.md](plugins.md).
`;

/** docs/configuration.md as the schema describes the config today. */
export function renderConfigReference(): string {
  const root = z.toJSONSchema(mclConfigSchema, { io: "input", unrepresentable: "any" }) as Node;
  const sections: string[] = [PREAMBLE];
  const topLevel: Row[] = [];
  const nested: [string, Row[]][] = [];
  for (const [key, node] of Object.entries(root.properties ?? {})) {
    const required = root.required?.includes(key) ?? false;
    if (node.type === "object" && node.properties !== undefined) {
      const rows: Row[] = [row(key, node, required)];
      collect(node, key, rows);
      nested.push([key, rows]);
    } else {
      topLevel.push(row(key, node, required));
    }
  }
  sections.push(`## Top level\n\n${table(topLevel)}`);
  for (const [key, rows] of nested) sections.push(`## \`${key}\`\n\n${table(rows)}`);
  return `${sections.join("\n")}`;
}

/** Rows of every field under `node`, depth first, discriminated-union variants included. */
function collect(node: Node, at: string, rows: Row[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = `${at}.${key}`;
    rows.push(row(path, child, node.required?.includes(key) ?? false));
    if (child.type === "object" && child.properties !== undefined) collect(child, path, rows);
    for (const variant of child.oneOf ?? []) {
      const tag = discriminator(variant);
      for (const [field, leaf] of Object.entries(variant.properties ?? {})) {
        if (leaf.const !== undefined) continue;
        const described = { ...leaf, description: `(${tag}) ${leaf.description ?? ""}`.trim() };
        rows.push(row(`${path}.${field}`, described, variant.required?.includes(field) ?? false));
      }
    }
  }
}

function row(path: string, node: Node, required: boolean): Row {
  const values = REFINED_VALUES[path];
  return {
    path,
    type: values === undefined ? typeOf(node) : values.map((v) => JSON.stringify(v)).join(" | "),
    default: node.default !== undefined ? JSON.stringify(node.default) : required ? "required" : "",
    description: describe(node),
  };
}

/** The description, with each variant of a discriminated union described after it. */
function describe(node: Node): string {
  const own = node.description ?? "";
  const variants = (node.oneOf ?? []).map((variant) => `${discriminator(variant)}: ${variant.description ?? ""}`);
  return [own, ...variants].filter((part) => part !== "").join("; ");
}

/** `kind "bpe"` for a variant whose `kind` is the constant "bpe". */
function discriminator(variant: Node): string {
  const [key, node] = Object.entries(variant.properties ?? {}).find(([, child]) => child.const !== undefined) ?? ["?", {}];
  return `${key} ${JSON.stringify(node.const)}`;
}

function typeOf(node: Node): string {
  if (node.$ref !== undefined) return "JSON value";
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum !== undefined) return node.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (node.anyOf !== undefined) return node.anyOf.map(typeOf).join(" or ");
  if (node.oneOf !== undefined) return `object (${node.oneOf.map(discriminator).join(" or ")})`;
  switch (node.type) {
    case "integer":
    case "number":
      return `${node.type}${bounds(node)}`;
    case "string":
      return node.minLength !== undefined && node.minLength > 0 ? "non-empty string" : "string";
    case "array":
      if (node.prefixItems !== undefined) return `[${node.prefixItems.map(typeOf).join(", ")}]`;
      return `${node.minItems !== undefined && node.minItems > 0 ? "non-empty " : ""}array of ${
        node.items === undefined || node.items === false ? "values" : typeOf(node.items)
      }`;
    case "object":
      if (node.properties === undefined && node.additionalProperties !== undefined && node.additionalProperties !== false) {
        return `object of ${typeOf(node.additionalProperties)}s`;
      }
      return "object";
    default:
      return node.type ?? "any";
  }
}

/** ` in [0, 1]`, ` > 0` or ` ≥ 2` from the bounds that say something (not z.int()'s safe-integer range). */
function bounds(node: Node): string {
  const low =
    node.exclusiveMinimum !== undefined
      ? { value: node.exclusiveMinimum, open: true }
      : node.minimum !== undefined && node.minimum !== Number.MIN_SAFE_INTEGER
        ? { value: node.minimum, open: false }
        : undefined;
  const high = node.maximum !== undefined && node.maximum !== Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
  if (low !== undefined && high !== undefined) return ` in ${low.open ? "(" : "["}${low.value}, ${high}]`;
  if (low !== undefined) return ` ${low.open ? ">" : "≥"} ${low.value}`;
  return high === undefined ? "" : ` ≤ ${high}`;
}

function table(rows: readonly Row[]): string {
  const lines = ["| field | type | default | description |", "| --- | --- | --- | --- |"];
  for (const r of rows) {
    const def = r.default === "" || r.default === "required" ? r.default : code(r.default);
    lines.push(`| ${code(r.path)} | ${code(r.type)} | ${def} | ${text(r.description)} |`);
  }
  return `${lines.join("\n")}\n`;
}

/** A code span in a table cell: GitHub's tables need `|` escaped even there. */
function code(value: string): string {
  return `\`${value.replaceAll("|", "\\|")}\``;
}

/** Prose in a table cell: no HTML tags (`<runDir>`), no emphasis (`**args`), no column breaks. */
function text(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll("|", "\\|")
    .replaceAll("*", "\\*");
}
