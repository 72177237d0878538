/**
 * Changes to a config on the command line, `--set loss.temperature=0.2`: a path of keys and array
 * indices (`integration.stages[1]`), and a value read as YAML (so 0.2 is a number, true a boolean,
 * [1, 2] an array, "007" a string). They apply to the config as read from its file, before it is
 * validated, so a bad key or value is refused by the same schema with the same message.
 */

import { parse as parseYaml } from "yaml";
import { formatPath } from "../errors.js";
import { ConfigError } from "./config-error.js";

export type ConfigPath = readonly (string | number)[];

export interface ConfigOverride {
  readonly path: ConfigPath;
  readonly value: unknown;
  /** As the command line gave it (`--set loss.temperature=0.2`, `--name x`), to name it in messages. */
  readonly text: string;
}

const KEY = "[A-Za-z_][\\w-]*";
const PATH = new RegExp(`^${KEY}(?:\\.${KEY}|\\[\\d+\\])*$`);
const PART = new RegExp(`(${KEY})|\\[(\\d+)\\]`, "g");
/** Keys that would reach an object's prototype instead of a config field. */
const RESERVED_KEYS = new Set(["__proto__", "prototype", "constructor"]);

/** Reads `key.path=value`; refuses (INVALID_OVERRIDE) a missing `=`, a malformed path or value. */
export function parseOverride(text: string): ConfigOverride {
  const equals = text.indexOf("=");
  const pathText = equals < 0 ? text : text.slice(0, equals);
  if (equals < 0 || !PATH.test(pathText)) {
    throw new ConfigError(
      "INVALID_OVERRIDE",
      `--set ${text}: expected KEY.PATH=VALUE, e.g. --set loss.temperature=0.2 or --set integration.stages[0]=2`,
    );
  }
  const path = [...pathText.matchAll(PART)].map((m) => (m[2] === undefined ? m[1]! : Number(m[2])));
  const reserved = path.find((part) => typeof part === "string" && RESERVED_KEYS.has(part));
  if (reserved !== undefined) {
    throw new ConfigError("INVALID_OVERRIDE", `--set ${text}: ${JSON.stringify(reserved)} is not a config field`);
  }
  let value: unknown;
  try {
    value = parseYaml(text.slice(equals + 1), { prettyErrors: false });
  } catch (error) {
    const reason = (error as Error).message.split("\n")[0];
    throw new ConfigError("INVALID_OVERRIDE", `--set ${text}: the value is not YAML or JSON (${reason}); quote a string: --set '${pathText}="…"'`, [], {
      cause: error,
    });
  }
  return { path, value, text: `--set ${text}` };
}

/** A copy of `config` with each override applied in order (a later one wins). */
export function applyOverrides(config: unknown, overrides: readonly ConfigOverride[]): unknown {
  if (overrides.length === 0) return config;
  const root: unknown = config === null || config === undefined ? {} : structuredClone(config);
  for (const override of overrides) setAt(root, override);
  return root;
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === "object" && value !== null;
}

function setAt(root: unknown, override: ConfigOverride): void {
  const { path } = override;
  let current = root;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    if (!isContainer(current) || Array.isArray(current) !== (typeof key === "number")) {
      const where = i === 0 ? "the config" : formatPath(path.slice(0, i));
      const want = typeof key === "number" ? "an array" : "a section (an object)";
      throw new ConfigError("INVALID_OVERRIDE", `${override.text}: ${where} is not ${want}, so it has no ${JSON.stringify(key)}`);
    }
    if (Array.isArray(current) && (key as number) > current.length) {
      throw new ConfigError(
        "INVALID_OVERRIDE",
        `${override.text}: ${formatPath(path.slice(0, i))} has ${current.length} entries; an index past its end leaves a gap`,
      );
    }
    const container = current as Record<string | number, unknown>;
    if (i === path.length - 1) {
      container[key] = override.value;
      return;
    }
    container[key] ??= typeof path[i + 1] === "number" ? [] : {};
    current = container[key];
  }
}

/** The last override that set `path` or a section above it. */
export function overrideOf(path: readonly PropertyKey[], overrides: readonly ConfigOverride[]): ConfigOverride | undefined {
  return [...overrides].reverse().find((o) => o.path.length <= path.length && o.path.every((part, i) => part === path[i]));
}
