/**
 * Python plugin references: `py:<module.path>:<attribute>`, e.g. `py:my_pkg.models:make_encoder`.
 * A reference is only a name: the worker imports that module from its own Python path, and the
 * plugin's keyword arguments travel as JSON values, so no code ever crosses the wire.
 */

/** The prefix that marks a config value as a plugin. */
export const PLUGIN_PREFIX = "py:";

/**
 * The worker's own list of the modules (or packages) it may import plugins from, comma-separated,
 * in its environment: a client cannot make it import anything else.
 */
export const PLUGINS_ENV = "MCL_WORKER_PLUGINS";

/** py:<dotted module>:<attribute>, each part a Python identifier. */
export const PLUGIN_REF = /^py:([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$/;

/** What a plugin provides to a run. */
export type PluginKind = "encoder" | "dataset" | "loss";

export interface PluginRef {
  readonly module: string;
  readonly attribute: string;
}

export function isPluginRef(value: string): boolean {
  return value.startsWith(PLUGIN_PREFIX);
}

/** The module and attribute of a well-formed reference, else null. */
export function parsePluginRef(value: string): PluginRef | null {
  const match = PLUGIN_REF.exec(value);
  return match === null ? null : { module: match[1]!, attribute: match[2]! };
}
