// How a refused config is looked at: the issues of the ConfigError that parseConfig throws, one line each.
import { expect } from "vitest";
import { ConfigError, issueLine } from "../../../ts/config/config-error.js";
import { parseConfig } from "../../../ts/config/load-config.js";

/** The issues parseConfig names for `value`; fails the test when the config is accepted. */
export function issuesOf(value: unknown): readonly string[] {
  try {
    parseConfig(value);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("INVALID_CONFIG");
    return (error as ConfigError).details.issues.map(issueLine);
  }
  throw new Error("expected the config to be refused");
}
