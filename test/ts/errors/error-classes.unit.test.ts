// Every error class the package defines extends the one root, MclError, and carries a code and
// details. The classes are found by loading every module under ts/ and looking at its exports, so
// a new error class that skips the root, or has no example here, fails this test.
import { readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { CommandUsageError } from "../../../ts/cli/args.js";
import { ConfigError } from "../../../ts/config/config-error.js";
import {
  ClusterBookError,
  ControlError,
  IntegrationError,
  PlanError,
  RunStoreError,
  SchedulerError,
} from "../../../ts/control/errors.js";
import { MclError } from "../../../ts/errors.js";
import { PluginCheckError } from "../../../ts/plugins/plugin-check.js";
import { PluginConsentError } from "../../../ts/plugins/plugin-consent.js";
import { RunError } from "../../../ts/run/errors.js";
import { CancelledError, JobTimeoutError, RemoteJobError, WorkerError, WorkerLostError } from "../../../ts/transport/errors.js";
import { WorkerStartError } from "../../../ts/transport/process.js";
import { WorkerSetupError } from "../../../ts/transport/setup.js";
import { WireError } from "../../../ts/wire/errors.js";

const TS = resolve(dirname(fileURLToPath(import.meta.url)), "../../../ts");
/** Modules that act when loaded: the CLI's entry point runs a command. */
const NOT_LOADED = new Set(["cli/main.ts"]);

const job = { id: 7, type: "train" };

/** One instance of every error class, as the package raises it. */
const EXAMPLES: Readonly<Record<string, () => Error>> = {
  MclError: () => new MclError("SOME_CODE", "the root"),
  WireError: () => new WireError("MALFORMED", "body: not a map", { details: { path: "" } }),
  WorkerError: () => new WorkerError("JOB_FAILED", "job 7 (train): failed", { job }),
  RemoteJobError: () => new RemoteJobError("INVALID_BODY", "k: expected an integer", { job, details: { path: "k" } }),
  JobTimeoutError: () => new JobTimeoutError(job, 1000),
  CancelledError: () => new CancelledError(job, "aborted"),
  WorkerLostError: () => new WorkerLostError("the worker exited"),
  WorkerStartError: () => new WorkerStartError("cannot run the worker's Python"),
  WorkerSetupError: () => new WorkerSetupError("install torch", "mcl setup could not install torch"),
  ControlError: () => new ControlError("INVALID_ARGUMENT", "k: expected an integer"),
  ClusterBookError: () => new ClusterBookError("INVALID_ARGUMENT", "labels: wrong length"),
  PlanError: () => new PlanError("PLAN_INFEASIBLE", "batch size not divisible"),
  SchedulerError: () => new SchedulerError("INVALID_TRANSITION", "unexpected event"),
  IntegrationError: () => new IntegrationError("INVALID_ARGUMENT", "stages: out of range"),
  RunStoreError: () => new RunStoreError("RUN_EXISTS", "runs/x holds a run"),
  RunError: () => new RunError("STOPPED", "the run was stopped"),
  ConfigError: () => new ConfigError("INVALID_CONFIG", "invalid config", [{ path: "stages", message: "expected an integer >= 1, got 0" }]),
  PluginCheckError: () => new PluginCheckError([]),
  PluginConsentError: () => new PluginConsentError("encoder", "encoder: not allowed"),
  CommandUsageError: () => new CommandUsageError("unknown option --x"),
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Every exported class whose instances are Errors, by name, across ts/. */
async function exportedErrorClasses(): Promise<Map<string, Function>> {
  const classes = new Map<string, Function>();
  for (const file of sourceFiles(TS)) {
    if (NOT_LOADED.has(relative(TS, file).split("\\").join("/"))) continue;
    const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (typeof value === "function" && (value === Error || value.prototype instanceof Error)) classes.set(value.name, value);
    }
  }
  return classes;
}

describe("error classes", () => {
  it("each exported one extends MclError and has an example here", async () => {
    const classes = await exportedErrorClasses();
    expect(classes.size).toBeGreaterThanOrEqual(Object.keys(EXAMPLES).length);
    for (const [name, cls] of classes) {
      expect(cls === MclError || cls.prototype instanceof MclError, `${name} must extend MclError (ts/errors.ts)`).toBe(true);
      expect(Object.hasOwn(EXAMPLES, name), `add an example of ${name} to EXAMPLES`).toBe(true);
    }
    expect(Object.keys(EXAMPLES).filter((name) => !classes.has(name)), "examples of classes no module exports").toEqual([]);
  });

  it.each(Object.entries(EXAMPLES))("%s carries a code, details and its own name", (name, make) => {
    const error = make();
    expect(error).toBeInstanceOf(MclError);
    const { code, details } = error as MclError;
    expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(typeof details === "object" && details !== null && !Array.isArray(details)).toBe(true);
    expect(error.name).toBe(name);
    expect(error.message).not.toBe("");
  });

  it("details hold what a subclass adds, and default to an empty record", () => {
    expect(new WorkerSetupError("install torch", "failed").details).toEqual({ step: "install torch" });
    expect(new PluginConsentError("encoder", "refused").details).toEqual({ field: "encoder" });
    expect(new JobTimeoutError(job, 1000).details).toEqual({ timeoutMs: 1000 });
    expect(new RunError("STOPPED", "stopped").details).toEqual({});
    const cause = new Error("underneath");
    expect(new RunStoreError("WRITE_FAILED", "cannot write", { cause }).cause).toBe(cause);
  });
});
