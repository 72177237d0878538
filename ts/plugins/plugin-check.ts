/**
 * Validates a config's Python plugins before a run starts: a short-lived Python of the worker's
 * environment (through pythonia) imports each one, builds it with its arguments, runs a dry
 * forward pass on two samples and checks that it is deterministic under the run's seed
 * (mcl_worker.plugins.check_plugins). A failure is a PluginCheckError naming the plugin, the
 * check and what was expected, and nothing else starts. Before Python starts, the consent gate
 * (plugin-consent.ts) refuses a plugin the user has not allowed, or one from the standard library.
 *
 *   const env = { ...process.env, PYTHONPATH: "examples/plugins" };
 *   await checkPlugins(config, { env, allowPlugins: ["my_plugins"] });   // the project venv, the worker's environment
 */

import { existsSync } from "node:fs";
import { z } from "zod";
import type { MclConfig } from "../config/mcl-config.js";
import { MclError } from "../errors.js";
import type { WorkerOptions } from "../transport/open.js";
import { choosePython } from "../transport/python-env.js";
import { pythonError } from "../transport/python-error.js";
import { allowedModules, gatePlugins, pluginSlots, type ConsentEntry } from "./plugin-consent.js";
import { PLUGINS_ENV, isPluginRef, type PluginKind } from "../config/plugin-ref.js";

export interface PluginCheckOptions {
  /** The worker's interpreter (default: $MCL_WORKER_PYTHON, else the project's .venv). */
  readonly python?: string;
  /**
   * The environment the worker starts with (default: this process's): the check imports from its
   * PYTHONPATH, and only the modules its MCL_WORKER_PLUGINS and `allowPlugins` allow, as the worker will.
   */
  readonly env?: NodeJS.ProcessEnv;
  /** The modules or packages the user allows plugins from, besides the environment's MCL_WORKER_PLUGINS. */
  readonly allowPlugins?: readonly string[];
  /** How long the whole check may take, interpreter start and torch import included (default 90 s, under pythonia's own 100 s). */
  readonly timeoutMs?: number;
}

const checkSchema = z.strictObject({
  plugin: z.enum(["encoder", "dataset", "loss"]),
  ref: z.string(),
  check: z.string(),
  ok: z.boolean(),
  expected: z.string(),
  got: z.string(),
});
const reportSchema = z.strictObject({ ok: z.boolean(), checks: z.array(checkSchema) });

/** One check of one plugin, as the Python side ran it. */
export type PluginCheck = z.infer<typeof checkSchema>;
export type PluginReport = z.infer<typeof reportSchema>;

/** `details.failures`: the checks that failed (one per failing plugin: its first failure). */
export class PluginCheckError extends MclError<"PLUGIN_CHECK_FAILED", { readonly failures: readonly PluginCheck[] }> {
  constructor(failures: readonly PluginCheck[], options: { cause?: unknown } = {}) {
    super(
      "PLUGIN_CHECK_FAILED",
      `plugin check failed:\n  ${failures
        .map((f) => `${f.plugin} plugin ${f.ref}: the '${f.check}' check expected ${f.expected}, got ${f.got}`)
        .join("\n  ")}`,
      { details: { failures }, cause: options.cause },
    );
  }
}

/** The check request for mcl_worker.plugins.check_plugins, or null when the config names no plugin. */
export function pluginCheckRequest(config: MclConfig): Record<string, unknown> | null {
  if (pluginSlots(config).length === 0) return null;
  return {
    seed: config.seed,
    dataset: config.dataset,
    dataset_args: config.datasetArgs ?? {},
    encoder: config.encoder,
    encoder_args: config.encoderArgs ?? {},
    loss: config.loss.name,
    loss_args: config.loss.args ?? {},
    temperature: config.loss.temperature,
  };
}

/**
 * Runs every check of the config's plugins; resolves with the report when all pass (an empty one
 * when there is no plugin), rejects with PluginCheckError otherwise, and with PluginConsentError,
 * before any Python starts, when a plugin is not allowed or comes from the standard library.
 */
export async function checkPlugins(config: MclConfig, options: PluginCheckOptions = {}): Promise<PluginReport> {
  return checkAllowed(config, options, "check");
}

async function checkAllowed(config: MclConfig, options: PluginCheckOptions, entry: ConsentEntry, source?: string): Promise<PluginReport> {
  const request = pluginCheckRequest(config);
  if (request === null) return { ok: true, checks: [] };
  const env = options.env ?? process.env;
  const allowed = allowedModules(options.allowPlugins, env);
  gatePlugins(config, allowed, entry, source);
  const report = await runChecks(request, { ...options, env: { ...env, [PLUGINS_ENV]: allowed.join(",") } });
  const failures = report.checks.filter((c) => !c.ok);
  if (failures.length > 0 || !report.ok) throw new PluginCheckError(failures);
  return report;
}

/** pythonia runs one interpreter per Node process: checks take turns. */
let queue: Promise<unknown> = Promise.resolve();

function runChecks(request: Record<string, unknown>, options: PluginCheckOptions): Promise<PluginReport> {
  const run = queue.then(() => checkInPython(request, options));
  queue = run.catch(() => undefined);
  return run;
}

async function checkInPython(request: Record<string, unknown>, options: PluginCheckOptions): Promise<PluginReport> {
  const python = choosePython(options.python).path;
  const refs = Object.values(request).filter((v): v is string => typeof v === "string" && isPluginRef(v));
  const fail = (check: string, expected: string, got: string, cause?: unknown): PluginCheckError =>
    new PluginCheckError(
      refs.map((ref) => ({ plugin: kindOf(request, ref), ref, check, ok: false, expected, got })),
      cause === undefined ? undefined : { cause },
    );
  if (!existsSync(python)) throw fail("python", "the worker's interpreter", `no such file ${python}`);

  // pythonia spawns its interpreter from $PYTHON_BIN when imported (or restarted): the worker's
  // interpreter, PYTHONPATH and plugin list hold only for that moment.
  const env = options.env ?? process.env;
  const saved = { PYTHON_BIN: process.env.PYTHON_BIN, PYTHONPATH: process.env.PYTHONPATH, [PLUGINS_ENV]: process.env[PLUGINS_ENV] };
  setEnv({ PYTHON_BIN: python, PYTHONPATH: env.PYTHONPATH, [PLUGINS_ENV]: env[PLUGINS_ENV] });
  let bridge: typeof import("pythonia");
  let module: Promise<PyObject>;
  try {
    bridge = (await import("pythonia")).default;
    module = bridge.python("mcl_worker.plugins") as Promise<PyObject>;
  } finally {
    setEnv(saved);
  }
  const timeoutMs = options.timeoutMs ?? 90_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail("timeout", `the checks to finish within ${timeoutMs} ms`, "no answer")), timeoutMs);
  });
  try {
    const answer = await Promise.race([
      (async () => String(await (await module).check_plugins(JSON.stringify(request))))(),
      timeout,
    ]);
    const report = reportSchema.safeParse(JSON.parse(answer));
    if (!report.success) throw fail("report", "a report of checks", answer.slice(0, 200));
    return report.data;
  } catch (err) {
    if (err instanceof PluginCheckError) throw err;
    throw fail("python", "mcl_worker.plugins to run in the worker's interpreter", pythonError(err), err);
  } finally {
    clearTimeout(timer);
    bridge.python.exit();
  }
}

function kindOf(request: Record<string, unknown>, ref: string): PluginKind {
  return request.encoder === ref ? "encoder" : request.dataset === ref ? "dataset" : "loss";
}

function setEnv(values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

/** A Python object seen through pythonia: any attribute or call, awaited. Dynamic by nature, so untyped. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PyObject = any;

/** What the SDK knows of the run beyond its config: the user's consent and where the config came from. */
export interface RunPluginOptions {
  /** The modules or packages the user allows plugins from (RunOptions.allowPlugins, mcl --allow-plugins). */
  readonly allowPlugins?: readonly string[] | undefined;
  readonly entry: "start" | "resume" | "export";
  /** The file the config was read from (a run directory's manifest), for the error messages. */
  readonly source?: string;
}

/**
 * The SDK's check before a run starts, in the interpreter and environment a launched worker will
 * have; gives back the worker options to launch it with. A launched worker imports plugins only
 * from the modules the user allows (`allowPlugins` and its environment's MCL_WORKER_PLUGINS),
 * never from what the config names. A worker reached by endpoint runs elsewhere, with its
 * operator's MCL_WORKER_PLUGINS, in an environment this process cannot reach: only the standard
 * library is refused here, and the worker checks each plugin when it loads it (the job fails
 * naming the check).
 */
export async function checkRunPlugins(
  config: MclConfig,
  worker: WorkerOptions | undefined,
  options: RunPluginOptions,
): Promise<WorkerOptions | undefined> {
  const launch = worker?.launch ?? {};
  const base = launch.env ?? process.env;
  const allowed = allowedModules(options.allowPlugins, base); // a bad entry is refused even when no plugin is named
  if (pluginSlots(config).length === 0) return worker;
  if (worker?.endpoint !== undefined) {
    gatePlugins(config, null, options.entry, options.source);
    return worker;
  }
  const env = { ...base, [PLUGINS_ENV]: allowed.join(",") };
  const check = { ...(launch.python === undefined ? {} : { python: launch.python }), env };
  await checkAllowed(config, check, options.entry, options.source);
  return { ...worker, launch: { ...launch, env } };
}
