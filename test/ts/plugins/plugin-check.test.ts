// The checks a config's plugins pass before a run starts, run through pythonia in the project
// venv: each failing check is named with its plugin, and a config without plugins starts no Python.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { PluginCheckError, checkPlugins, pluginCheckRequest } from "../../../ts/plugins/plugin-check.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
// The modules the user allows plugins from, here through the worker's environment.
const env = { ...process.env, PYTHONPATH: fixtures, MCL_WORKER_PLUGINS: "broken_plugins,no_such_package" };
const config = (overrides: Record<string, unknown>) =>
  parseConfig({ name: "check", dataset: "synthetic:trifeature?n=8&size=16", ...overrides });

async function failure(overrides: Record<string, unknown>): Promise<PluginCheckError> {
  const error = await checkPlugins(config(overrides), { env }).then(
    () => null,
    (err: unknown) => err,
  );
  if (!(error instanceof PluginCheckError)) throw new Error(`expected a PluginCheckError, got ${String(error)}`);
  return error;
}

describe("checkPlugins", () => {
  it("starts no Python for a config without plugins", async () => {
    expect(pluginCheckRequest(config({}))).toBeNull();
    await expect(checkPlugins(config({}), { python: "/no/such/python" })).resolves.toEqual({ ok: true, checks: [] });
  });

  it("names the plugin, the check and what was expected for each failure", { timeout: 120_000 }, async () => {
    const error = await failure({
      dataset: "py:broken_plugins:FloatImages",
      encoder: "py:broken_plugins:nondeterministic",
      loss: { name: "py:broken_plugins:NOT_CALLABLE" },
    });
    expect(error.code).toBe("PLUGIN_CHECK_FAILED");
    expect(error.details.failures.map((f) => [f.plugin, f.check])).toEqual([
      ["dataset", "items"],
      ["encoder", "deterministic"],
      ["loss", "callable"],
    ]);
    expect(error.message).toContain("dataset plugin py:broken_plugins:FloatImages: the 'items' check expected uint8 images, got torch.float32 at item 0");
    expect(error.message).toContain("encoder plugin py:broken_plugins:nondeterministic: the 'deterministic' check expected the same features");
    expect(error.message).toContain("loss plugin py:broken_plugins:NOT_CALLABLE: the 'callable' check expected NOT_CALLABLE to be callable, got str");
  });

  it("reports a module that does not import and an encoder of the wrong output shape", { timeout: 120_000 }, async () => {
    const error = await failure({
      dataset: "py:no_such_package.data:Images",
      encoder: "py:broken_plugins:wrong_shape",
    });
    expect(error.details.failures.map((f) => [f.plugin, f.check])).toEqual([
      ["dataset", "import"],
      ["encoder", "forward"],
    ]);
    expect(error.message).toContain(
      "dataset plugin py:no_such_package.data:Images: the 'import' check expected module 'no_such_package.data' importable by the worker's Python",
    );
    expect(error.message).toContain("ModuleNotFoundError: No module named 'no_such_package'");
    expect(error.message).toContain(
      "encoder plugin py:broken_plugins:wrong_shape: the 'forward' check expected a float tensor [1, D], got a torch.float32 tensor [1, 4, 32, 32]",
    );
  });

  it("gives up after timeoutMs, naming the check", { timeout: 30_000 }, async () => {
    const error = await checkPlugins(config({ encoder: "py:broken_plugins:wrong_shape" }), { env, timeoutMs: 1 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PluginCheckError);
    expect((error as PluginCheckError).message).toContain(
      "encoder plugin py:broken_plugins:wrong_shape: the 'timeout' check expected the checks to finish within 1 ms, got no answer",
    );
  });

  it("refuses an interpreter that does not exist, naming it", async () => {
    const error = await checkPlugins(config({ encoder: "py:m:f" }), { python: "/no/such/python", allowPlugins: ["m"] }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PluginCheckError);
    expect((error as PluginCheckError).message).toContain("the 'python' check expected the worker's interpreter, got no such file /no/such/python");
  });
});
