/**
 * Reading a run config: from a value (`Mcl.start({...})`) or from a file (`mcl run x.yaml`), YAML
 * (.yaml, .yml) or JSON (any other name), with command-line changes (config-overrides.ts) applied.
 * Problems come back as one ConfigError listing every issue, one line each; an issue in a file
 * names its line, one a --set made names that --set.
 */

import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { type Document, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError, formatIssues, issueLine } from "./config-error.js";
import { applyOverrides, type ConfigOverride, overrideOf } from "./config-overrides.js";
import { mclConfigSchema, RETIRED_CONFIG_KEYS, type MclConfig } from "./mcl-config.js";

/** Where the value at a config path came from (` (line 7)`, ` (--set x=1)`), or "" when unknown. */
type Locate = (path: readonly PropertyKey[]) => string;

/** Validates `value` and fills in the defaults; `source` names it in the error message. */
export function parseConfig(value: unknown, source = "config", locate: Locate = () => ""): MclConfig {
  const result = mclConfigSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue) => {
    const found = formatIssues([issue], mclConfigSchema, RETIRED_CONFIG_KEYS);
    return found.map((each, i) => ({ ...each, message: `${each.message}${locate(issuePaths(issue)[i] ?? issue.path)}` }));
  });
  throw new ConfigError("INVALID_CONFIG", `invalid ${source}:\n  ${issues.map(issueLine).join("\n  ")}`, issues);
}

/** The path of each problem formatIssues gives for `issue`: an unknown key's own, else the issue's. */
function issuePaths(issue: z.core.$ZodIssue): (readonly PropertyKey[])[] {
  return issue.code === "unrecognized_keys" ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
}

/** Whether `path` names a YAML file (by its extension); any other is read as JSON. */
export function isYamlPath(path: string): boolean {
  return [".yaml", ".yml"].includes(extname(path).toLowerCase());
}

/**
 * Reads and validates a config file, YAML or JSON by its extension, after applying `overrides`.
 * A syntax error names the line and column.
 */
export async function loadConfigFile(path: string, overrides: readonly ConfigOverride[] = []): Promise<MclConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError("CONFIG_UNREADABLE", `cannot read config ${path}: ${(error as Error).message}`, [], {
      cause: error,
    });
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  let value: unknown;
  if (isYamlPath(path)) {
    const error = document.errors[0];
    if (error !== undefined) {
      const { line, col } = lines.linePos(error.pos[0]);
      throw new ConfigError("CONFIG_SYNTAX", `${path}:${line}:${col}: invalid YAML: ${error.message}`, [], { cause: error });
    }
    value = document.toJS();
  } else {
    value = parseJson(text, path);
  }
  const locate: Locate = (at) => {
    const override = overrideOf(at, overrides);
    if (override !== undefined) return ` (${override.text})`;
    const line = lineOf(document, lines, at);
    return line === undefined ? "" : ` (line ${line})`;
  };
  return parseConfig(applyOverrides(value, overrides), path, locate);
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const { line, column } = lineAndColumn(text, jsonErrorPosition(message, text));
    const hint = " (a YAML config needs the extension .yaml or .yml)";
    throw new ConfigError("CONFIG_SYNTAX", `${path}:${line}:${column}: invalid JSON: ${message}${hint}`, [], { cause: error });
  }
}

/**
 * The line of the value at `path`, or of the nearest section above it that the file has (a
 * missing field is named by its section). JSON is read as YAML for this: a JSON text is YAML.
 */
function lineOf(document: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth > 0; depth--) {
    const node: unknown = document.getIn(path.slice(0, depth), true);
    const range = typeof node === "object" && node !== null && "range" in node ? (node as { range?: [number, number, number] }).range : undefined;
    if (range !== undefined) return lines.linePos(range[0]).line;
  }
  return undefined;
}

/** V8 says "... at position 42" (or "line 3 column 5"); an early end has no position. */
function jsonErrorPosition(message: string, text: string): number {
  const position = /at position (\d+)/.exec(message);
  if (position !== null) return Number(position[1]);
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn !== null) {
    const lines = text.split("\n").slice(0, Number(lineColumn[1]) - 1);
    return lines.reduce((sum, l) => sum + l.length + 1, 0) + Number(lineColumn[2]) - 1;
  }
  return text.length;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  const column = position - before.lastIndexOf("\n");
  return { line, column };
}
