/**
 * Validates a config's Python plugins before a run starts: a short-lived Python of the worker's
 * environment (through pythonia) imports each one, builds it with its arguments, runs a dry
 * forward pass on two samples and checks that it is deterministic under the run's seed
 * (mcl_worker.plugins.check_plugins). A failure is a PluginCheckError naming the plugin, the
 * check and what was expected, and nothing else starts.
 *
 *   const env = { ...process.env, PYTHONPATH: "examples/plugins", MCL_WORKER_PLUGINS: "my_plugins" };
 *   await checkPlugins(config, { env });   // the project venv, the environment the worker will have
 */

import { existsSync } from "node:fs";
import { z } from "zod";
import { pythonError } from "../cli/doctor.js";
import type { MclConfig } from "../config/mcl-config.js";
import type { WorkerOptions } from "../sdk/worker-connection.js";
import { choosePython } from "../transport/python-env.js";
import { PLUGINS_ENV, isPluginRef, parsePluginRef, type PluginKind } from "./plugin-ref.js";

export interface PluginCheckOptions {
  /** The worker's interpreter (default: $MCL_WORKER_PYTHON, else the project's .venv). */
  readonly python?: string;
  /**
   * The environment the worker starts with (default: this process's): the check imports from its
   * PYTHONPATH, and only the modules its MCL_WORKER_PLUGINS allows, as the worker will.
   */
  readonly env?: NodeJS.ProcessEnv;
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

export class PluginCheckError extends Error {
  readonly code = "PLUGIN_CHECK_FAILED";
  /** The checks that failed (one per failing plugin: its first failure). */
  readonly failures: readonly PluginCheck[];

  constructor(failures: readonly PluginCheck[], options?: { cause?: unknown }) {
    super(
      `plugin check failed:\n  ${failures
        .map((f) => `${f.plugin} plugin ${f.ref}: the '${f.check}' check expected ${f.expected}, got ${f.got}`)
        .join("\n  ")}`,
      options,
    );
    this.failures = failures;
    this.name = "PluginCheckError";
  }
}

/** What the config names in the slots a plugin can fill: dataset, encoder, loss. */
function pluginSlots(config: MclConfig): string[] {
  return [config.dataset, config.encoder, config.loss.name];
}

/** The check request for mcl_worker.plugins.check_plugins, or null when the config names no plugin. */
export function pluginCheckRequest(config: MclConfig): Record<string, unknown> | null {
  if (!pluginSlots(config).some(isPluginRef)) return null;
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
 * when there is no plugin), rejects with PluginCheckError otherwise.
 */
export async function checkPlugins(config: MclConfig, options: PluginCheckOptions = {}): Promise<PluginReport> {
  const request = pluginCheckRequest(config);
  if (request === null) return { ok: true, checks: [] };
  const report = await runChecks(request, options);
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

/** The modules the config's plugins come from, e.g. ["my_plugins.encoders", "my_plugins.data"]. */
export function pluginModules(config: MclConfig): string[] {
  const modules = pluginSlots(config).flatMap((name) => parsePluginRef(name)?.module ?? []);
  return [...new Set(modules)];
}

/**
 * The SDK's check before a run starts, in the interpreter and environment a launched worker will
 * have; gives back the worker options to launch it with. A worker this process launches runs this
 * config, so unless its environment already says which plugins it allows, it allows the config's
 * modules. A worker reached by endpoint runs elsewhere, in an environment this process cannot
 * reach, with its operator's MCL_WORKER_PLUGINS: it checks each plugin when it loads it (the job
 * fails naming the check).
 */
export async function checkRunPlugins(config: MclConfig, worker: WorkerOptions | undefined): Promise<WorkerOptions | undefined> {
  const modules = pluginModules(config);
  if (modules.length === 0 || worker?.endpoint !== undefined) return worker;
  const launch = worker?.launch ?? {};
  const base = launch.env ?? process.env;
  const env = base[PLUGINS_ENV] === undefined ? { ...base, [PLUGINS_ENV]: modules.join(",") } : base;
  await checkPlugins(config, { ...(launch.python === undefined ? {} : { python: launch.python }), env });
  return { ...worker, launch: { ...launch, env } };
}
