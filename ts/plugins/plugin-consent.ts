/**
 * The consent a plugin needs before anything imports it. A config (or a run directory's manifest)
 * is data that others may write: naming `py:my_plugins.encoders:depthwise_cnn` in it must not be
 * enough to run that code. The user allows the modules plugins may come from outside the config,
 * by an SDK option, a CLI flag or the worker's environment:
 *
 *   await Mcl.start(config, { allowPlugins: ["my_plugins"] });
 *   mcl run config.json --allow-plugins my_plugins
 *   MCL_WORKER_PLUGINS=my_plugins mcl run config.json
 *
 * A reference into Python's standard library or builtins (py:os:system, py:subprocess:run,
 * py:builtins:eval) is refused whatever is allowed: it would turn the config's arguments into a
 * command. The worker's own loader (mcl_worker.plugins) refuses the same, from its interpreter.
 */

import type { MclConfig } from "../config/mcl-config.js";
import { MclError } from "../errors.js";
import { PLUGINS_ENV, isPluginRef, parsePluginRef, type PluginKind } from "../config/plugin-ref.js";
import { PYTHON_STDLIB_MODULES } from "./python-stdlib.js";

/** How the run was asked for: the consent message names that entry point's option and flag. */
export type ConsentEntry = "start" | "resume" | "export" | "check";

/** `details.field`: the refused field (dataset, encoder, loss.name, or allowPlugins). */
export class PluginConsentError extends MclError<"PLUGIN_NOT_ALLOWED", { readonly field: string }> {
  constructor(field: string, message: string) {
    super("PLUGIN_NOT_ALLOWED", message, { details: { field } });
  }
}

/** A config slot that can hold a plugin, with the field that names it. */
interface PluginSlot {
  readonly kind: PluginKind;
  readonly field: string;
  readonly ref: string;
}

/** The config's plugin references, each with its field. */
export function pluginSlots(config: MclConfig): PluginSlot[] {
  const slots: PluginSlot[] = [
    { kind: "dataset", field: "dataset", ref: config.dataset },
    { kind: "encoder", field: "encoder", ref: config.encoder },
    { kind: "loss", field: "loss.name", ref: config.loss.name },
  ];
  return slots.filter((slot) => isPluginRef(slot.ref));
}

/** A module list as the CLI flag and $MCL_WORKER_PLUGINS write it: "my_plugins, other.pkg". */
export function parseModuleList(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
}

/** RunOptions.allowPlugins from `--allow-plugins my_plugins,other.pkg`, when given. */
export function allowPluginsArg(values: ReadonlyMap<string, string>): { allowPlugins?: string[] } {
  const text = values.get("--allow-plugins");
  return text === undefined ? {} : { allowPlugins: parseModuleList(text) };
}

const MODULE_NAME = /^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$/;

/**
 * The modules the user allows plugins from: `allowPlugins` (an SDK option or CLI flag) and the
 * worker environment's $MCL_WORKER_PLUGINS. An entry that is not a module name, or that names the
 * standard library, is refused naming it.
 */
export function allowedModules(allowPlugins: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  for (const name of allowPlugins ?? []) {
    if (!MODULE_NAME.test(name)) {
      throw new PluginConsentError("allowPlugins", `allowPlugins: expected module or package names such as "my_plugins", got ${JSON.stringify(name)}`);
    }
    if (isStdlib(name)) {
      throw new PluginConsentError(
        "allowPlugins",
        `allowPlugins: ${name} is part of Python's standard library, which never provides plugins; name the module or package of your own plugins`,
      );
    }
  }
  return [...new Set([...(allowPlugins ?? []), ...parseModuleList(env[PLUGINS_ENV])])];
}

/**
 * Refuses the config's plugins unless each comes from an allowed module, and any of them from the
 * standard library; imports and starts nothing. `source` names where the config was read (a run
 * directory's manifest) when it was not given directly.
 */
export function gatePlugins(
  config: MclConfig,
  allowed: readonly string[] | null,
  entry: ConsentEntry,
  source?: string,
): void {
  for (const slot of pluginSlots(config)) {
    const where = source === undefined ? slot.field : `${slot.field} (in ${source})`;
    const module = parsePluginRef(slot.ref)?.module;
    if (module === undefined) {
      throw new PluginConsentError(slot.field, `${where}: expected a plugin reference py:<module.path>:<attribute>, got ${JSON.stringify(slot.ref)}`);
    }
    if (isStdlib(module)) {
      throw new PluginConsentError(
        slot.field,
        `${where}: ${slot.ref} names ${module}, part of Python's standard library or builtins, which is never run as a plugin ` +
          `(whatever is allowed); a plugin is a callable of your own module, e.g. py:my_plugins.encoders:make_encoder`,
      );
    }
    if (allowed !== null && !allowed.some((name) => module === name || module.startsWith(`${name}.`))) {
      const top = module.split(".")[0]!;
      throw new PluginConsentError(
        slot.field,
        `${where}: ${slot.ref} is a plugin (the ${slot.kind}), code that would run in the worker, and nothing allows module ${module} ` +
          `(a config cannot allow its own plugins). If you trust it, allow it outside the config: ${consentHint(entry, top)}`,
      );
    }
  }
}

function consentHint(entry: ConsentEntry, module: string): string {
  const env = `or set ${PLUGINS_ENV}=${module} in the worker's environment`;
  switch (entry) {
    case "start":
      return `Mcl.start(config, { allowPlugins: ["${module}"] }), mcl run <config.json> --allow-plugins ${module}, ${env}`;
    case "resume":
      return `Mcl.resume(runDir, { allowPlugins: ["${module}"] }), mcl resume <runDir> --allow-plugins ${module}, ${env}`;
    case "export":
      return `exportRun(runDir, { allowPlugins: ["${module}"] }), mcl export <runDir> --allow-plugins ${module}, ${env}`;
    case "check":
      return `checkPlugins(config, { allowPlugins: ["${module}"] }), ${env}`;
  }
}

function isStdlib(module: string): boolean {
  return PYTHON_STDLIB_MODULES.has(module.split(".")[0]!);
}
