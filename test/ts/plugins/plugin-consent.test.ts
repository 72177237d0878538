// A config or a run directory alone never makes the SDK, the CLI or the plugin check import a
// plugin: the user allows plugin modules outside the config (allowPlugins, --allow-plugins,
// MCL_WORKER_PLUGINS), and references into Python's standard library are refused whatever is
// allowed. Each refusal comes before anything starts: the file the command would create, or the
// one a plugin module writes when imported, never appears.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resumeCommand } from "../../../ts/cli/resume-command.js";
import { runCommand } from "../../../ts/cli/run-command.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import type { MclConfigInput } from "../../../ts/config/mcl-config.js";
import { MANIFEST_FILE, RunStore } from "../../../ts/run/run-store.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { PluginCheckError, checkPlugins } from "../../../ts/plugins/plugin-check.js";
import { PluginConsentError } from "../../../ts/plugins/plugin-consent.js";
import { PYTHON_STDLIB_MODULES } from "../../../ts/plugins/python-stdlib.js";
import { Mcl } from "../../../ts/sdk/mcl.js";
import { projectRoot, venvPython } from "../../../ts/transport/python-env.js";
import { PROTOCOL_VERSION } from "../../../ts/wire/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "fixtures");
const work = mkdtempSync(join(tmpdir(), "mcl-consent-"));
const marker = join(work, "marker");
const base: MclConfigInput = { name: "consent", dataset: "synthetic:trifeature?n=8&size=16", runDir: join(work, "runs") };

/** Every way a config can name a standard-library callable that would create the marker. */
const stdlibPlugins: [string, MclConfigInput][] = [
  ["py:os:system", { ...base, encoder: "py:os:system", encoderArgs: { command: `touch ${marker}` } }],
  ["py:subprocess:run", { ...base, dataset: "py:subprocess:run", datasetArgs: { args: ["touch", marker] } }],
  ["py:builtins:eval", { ...base, loss: { name: "py:builtins:eval", args: { source: `open(${JSON.stringify(marker)}, "w")` } } }],
];
const ownPlugin: MclConfigInput = { ...base, encoder: "py:marker_plugins:encoder", encoderArgs: { command: `touch ${marker}` } };
// Consent to everything a user could give: the worker's environment and the SDK option.
const everythingAllowed = {
  allowPlugins: ["marker_plugins"],
  worker: { launch: { onOutput: () => {}, env: { ...process.env, PYTHONPATH: fixtures, MCL_WORKER_PLUGINS: "os,subprocess,builtins" } } },
};

beforeEach(() => {
  vi.stubEnv("MCL_TEST_IMPORT_MARKER", marker);
  vi.stubEnv("PYTHONPATH", fixtures);
  vi.stubEnv("MCL_WORKER_PLUGINS", undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(marker, { force: true });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function refusal(promise: Promise<unknown>): Promise<PluginConsentError> {
  const error = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(error instanceof PluginConsentError)) throw new Error(`expected a PluginConsentError, got ${String(error)}`);
  expect(error.code).toBe("PLUGIN_NOT_ALLOWED");
  return error;
}

/** Runs a CLI command, giving its exit code and what it printed on stderr. */
async function cli(command: { run(args: readonly string[]): Promise<number> }, args: string[]): Promise<{ code: number; stderr: string }> {
  const errors: string[] = [];
  const spy = vi.spyOn(console, "error").mockImplementation((text: unknown) => void errors.push(String(text)));
  try {
    return { code: await command.run(args), stderr: errors.join("\n") };
  } finally {
    spy.mockRestore();
  }
}

/** A run directory as Mcl.start leaves it, whose manifest is then edited to name `config`'s plugins. */
async function doctoredRun(name: string, config: MclConfigInput): Promise<string> {
  const benign = parseConfig({ ...base, name });
  const store = await RunStore.create(join(work, "runs", name), {
    config: benign,
    versions: { package: "0.0.0", protocol: PROTOCOL_VERSION },
    state: initialState(scheduleFromConfig(benign)),
  });
  const path = join(store.dir, MANIFEST_FILE);
  const manifest = JSON.parse(readFileSync(path, "utf8")) as { config: Record<string, unknown> };
  manifest.config = { ...manifest.config, ...parseConfig({ ...config, name }) };
  writeFileSync(path, JSON.stringify(manifest));
  return store.dir;
}

describe("standard-library references", () => {
  it("are refused by Mcl.start whatever is allowed, naming the field, before the run directory exists", async () => {
    for (const [ref, config] of stdlibPlugins) {
      const error = await refusal(Mcl.start({ ...config, name: `sdk-${ref.replace(/\W/g, "-")}` }, everythingAllowed));
      expect(error.message).toContain(`${error.details.field}: ${ref} names`);
      expect(error.message).toContain("part of Python's standard library or builtins");
      expect(existsSync(join(work, "runs", `sdk-${ref.replace(/\W/g, "-")}`))).toBe(false);
    }
    expect((await refusal(Mcl.start(stdlibPlugins[0]![1], { worker: { endpoint: "tcp://127.0.0.1:9" } }))).details.field).toBe("encoder");
    expect((await refusal(Mcl.start(base, { allowPlugins: ["subprocess"] }).then(() => undefined))).details.field).toBe("allowPlugins");
    expect(existsSync(marker)).toBe(false);
  });

  it("are refused by the plugin check before any Python starts", async () => {
    for (const [, config] of stdlibPlugins) {
      await refusal(checkPlugins(parseConfig(config), { python: "/no/such/python", env: everythingAllowed.worker.launch.env }));
    }
    expect(existsSync(marker)).toBe(false);
  });

  it("are refused by `mcl run` and `mcl resume` of a doctored run directory", async () => {
    for (const [ref, config] of stdlibPlugins) {
      const name = `cli-${ref.replace(/\W/g, "-")}`;
      const file = join(work, `${name}.json`);
      writeFileSync(file, JSON.stringify({ ...config, name }));
      vi.stubEnv("MCL_WORKER_PLUGINS", "os,subprocess,builtins");
      const run = await cli(runCommand, [file, "--allow-plugins", "marker_plugins"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${ref} names`);
      expect(run.stderr).toContain("(PLUGIN_NOT_ALLOWED)");
      expect(existsSync(join(work, "runs", name))).toBe(false);

      const dir = await doctoredRun(`${name}-resumed`, config);
      const resumed = await cli(resumeCommand, [dir, "--allow-plugins", "marker_plugins"]);
      expect(resumed.code).toBe(1);
      expect(resumed.stderr).toContain(`(in ${join(dir, MANIFEST_FILE)}): ${ref} names`);
      await refusal(Mcl.resume(dir, everythingAllowed));
    }
    expect(existsSync(marker)).toBe(false);
  });

  it("are all in the TypeScript list, which matches the worker interpreter's own", () => {
    const python = spawnSync(
      venvPython(projectRoot(here)),
      ["-I", "-c", "import json, sys; print(json.dumps(sorted(set(sys.stdlib_module_names) | set(sys.builtin_module_names))))"],
      { encoding: "utf8" },
    );
    expect(python.status, python.stderr).toBe(0);
    const names = JSON.parse(python.stdout) as string[];
    expect(names).toContain("subprocess");
    expect(names.filter((name) => !PYTHON_STDLIB_MODULES.has(name))).toEqual([]);
  });
});

describe("a plugin of the user's own", () => {
  it("is refused by Mcl.start and `mcl run` without consent, naming the field and the option or flag to give", async () => {
    const error = await refusal(Mcl.start(ownPlugin, { worker: { launch: { env: { ...process.env, PYTHONPATH: fixtures } } } }));
    expect(error.details.field).toBe("encoder");
    expect(error.message).toContain("encoder: py:marker_plugins:encoder is a plugin (the encoder), code that would run in the worker");
    expect(error.message).toContain('Mcl.start(config, { allowPlugins: ["marker_plugins"] })');
    expect(error.message).toContain("mcl run <config.json> --allow-plugins marker_plugins");
    expect(error.message).toContain("MCL_WORKER_PLUGINS=marker_plugins");

    const file = join(work, "own.json");
    writeFileSync(file, JSON.stringify({ ...ownPlugin, name: "own-cli" }));
    const run = await cli(runCommand, [file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("--allow-plugins marker_plugins");
    expect(existsSync(join(work, "runs", "own-cli"))).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });

  it("is refused by Mcl.resume and `mcl resume` of a run directory that names it without consent", async () => {
    const dir = await doctoredRun("own-resumed", ownPlugin);
    const error = await refusal(Mcl.resume(dir));
    expect(error.message).toContain(`encoder (in ${join(dir, MANIFEST_FILE)}): py:marker_plugins:encoder`);
    expect(error.message).toContain('Mcl.resume(runDir, { allowPlugins: ["marker_plugins"] })');
    const resumed = await cli(resumeCommand, [dir]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain("mcl resume <runDir> --allow-plugins marker_plugins");
    expect(existsSync(marker)).toBe(false);
  });

  it("is imported by the check once the user allows it", { timeout: 120_000 }, async () => {
    const error = await checkPlugins(parseConfig(ownPlugin), { env: { ...process.env, PYTHONPATH: fixtures }, allowPlugins: ["marker_plugins"] }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(PluginCheckError); // it builds no nn.Module: the check got as far as calling it
    expect((error as PluginCheckError).details.failures.map((f) => [f.plugin, f.check])).toEqual([["encoder", "build"]]);
    expect(existsSync(marker)).toBe(true);
  });
});
