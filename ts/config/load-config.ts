/**
 * Reading a run config: from a value (`Mcl.start({...})`) or from a JSON file (`mcl run x.json`).
 * Problems come back as one ConfigError listing every issue, one line each.
 */

import { readFile } from "node:fs/promises";
import { ConfigError, formatIssues } from "./config-error.js";
import { mclConfigSchema, RETIRED_CONFIG_KEYS, type MclConfig } from "./mcl-config.js";

/** Validates `value` and fills in the defaults; `source` names it in the error message. */
export function parseConfig(value: unknown, source = "config"): MclConfig {
  const result = mclConfigSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = formatIssues(result.error.issues, mclConfigSchema, RETIRED_CONFIG_KEYS);
  throw new ConfigError("INVALID_CONFIG", `invalid ${source}:\n  ${issues.join("\n  ")}`, issues);
}

/** Reads and validates a JSON config file. A syntax error names the line and column. */
export async function loadConfigFile(path: string): Promise<MclConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError("CONFIG_UNREADABLE", `cannot read config ${path}: ${(error as Error).message}`, [], {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const { line, column } = lineAndColumn(text, jsonErrorPosition(message, text));
    throw new ConfigError("CONFIG_SYNTAX", `${path}:${line}:${column}: invalid JSON: ${message}`, [], { cause: error });
  }
  return parseConfig(value, path);
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
