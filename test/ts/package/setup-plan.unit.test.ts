// `mcl setup` without installing anything: the torch build it picks (the script bootstrap shares),
// the commands it plans, how it runs them (deadlines, failures that name the step and the fix, a
// half-built environment never left in place), where the environment lives, and the fixes the
// launcher and doctor give in a clone and in the installed package.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { type PythonFacts, diagnose } from "../../../ts/cli/doctor.js";
import { formatPlan } from "../../../ts/cli/setup-command.js";
import {
  type SetupPlan,
  type TorchSource,
  WorkerSetupError,
  chooseTorch,
  planSetup,
  projectRoot,
  pythonFix,
  pythonIn,
  setupHint,
  userVenv,
} from "../../../ts/transport/index.js";
import { runSetup } from "../../../ts/transport/setup.js";

const root = projectRoot();
const work = mkdtempSync(join(tmpdir(), "mcl-setup-plan-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface TorchSourceScript {
  torchSource(env: NodeJS.ProcessEnv, hasGpu: () => boolean): TorchSource;
}
const script = (await import(pathToFileURL(join(root, "scripts", "torch-source.mjs")).href)) as TorchSourceScript;

describe("the torch build", () => {
  const cuda = ["--extra-index-url", "https://download.pytorch.org/whl/cu128"];

  test.each([
    { env: {}, gpu: false, spec: "torch==2.13.0", pipArgs: [] },
    { env: {}, gpu: true, spec: "torch==2.13.0", pipArgs: cuda },
    { env: { MCL_TORCH_SPEC: "torch==2.5.1" }, gpu: false, spec: "torch==2.5.1", pipArgs: [] },
    { env: { MCL_TORCH_INDEX_URL: "https://download.pytorch.org/whl/cpu" }, gpu: true, spec: "torch==2.13.0", pipArgs: ["--index-url", "https://download.pytorch.org/whl/cpu"] },
    { env: { MCL_TORCH_INDEX_URL: "" }, gpu: true, spec: "torch==2.13.0", pipArgs: [] },
  ])("$env with a GPU: $gpu -> $spec $pipArgs", ({ env, gpu, spec, pipArgs }) => {
    expect(script.torchSource(env, () => gpu)).toMatchObject({ spec, pipArgs });
  });

  test("mcl setup asks the same script", async () => {
    const env = { MCL_TORCH_SPEC: "torch==9.9", MCL_TORCH_INDEX_URL: "https://example.invalid/whl" };
    expect(await chooseTorch(env, root)).toEqual(script.torchSource(env, () => false));
  });
});

describe("the plan", () => {
  const torch: TorchSource = { spec: "torch==2.13.0", pipArgs: ["--extra-index-url", "https://x.invalid/cu"], why: "test" };
  const plan = planSetup({ root: "/pkg", venv: "/cache/venv-1.0.0", basePython: "/usr/bin/python3", torch, tag: "7" });

  test("builds beside the final place, then installs torch, the worker (not editable) and checks the imports", () => {
    const python = pythonIn("/cache/venv-1.0.0.building-7");
    expect(plan.staging).toBe("/cache/venv-1.0.0.building-7");
    expect(plan.steps.map((s) => [s.command, ...s.args])).toEqual([
      ["/usr/bin/python3", "-m", "venv", "/cache/venv-1.0.0.building-7"],
      [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--progress-bar", "off", "--extra-index-url", "https://x.invalid/cu", "torch==2.13.0"],
      [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--progress-bar", "off", "/cache/venv-1.0.0.building-7-src"],
      [python, "-c", expect.stringContaining("import torch, zmq, mcl_worker")],
    ]);
  });

  test("every step has a deadline and a fix", () => {
    for (const step of plan.steps) {
      expect(step.timeoutMs).toBeGreaterThan(0);
      expect(step.fix.length).toBeGreaterThan(20);
    }
    expect(plan.steps[0]!.fix).toContain("MCL_PYTHON");
    expect(plan.steps[1]!.fix).toContain("MCL_TORCH_INDEX_URL");
  });

  test("--dry-run prints each command as a shell line", () => {
    const lines = formatPlan(plan).split("\n");
    expect(lines).toContain(`/usr/bin/python3 -m venv /cache/venv-1.0.0.building-7    # create the virtual environment, at most 2 min`);
    expect(lines.at(-1)).toMatch(/ -c 'import torch, zmq, mcl_worker;.*'    # check that the worker imports/);
  });
});

describe("running a plan", () => {
  const node = process.execPath;
  /** A plan whose steps are small node scripts; the first makes the venv's python. */
  function fakePlan(name: string, last: { script: string; timeoutMs?: number }): SetupPlan {
    const venv = join(work, name);
    const staging = `${venv}.building-1`;
    const makeVenv = `const fs = require("fs"); fs.mkdirSync(${JSON.stringify(join(staging, "bin"))}, { recursive: true }); fs.writeFileSync(${JSON.stringify(pythonIn(staging))}, "")`;
    return {
      root,
      venv,
      staging,
      workerSource: `${staging}-src`,
      torch: { spec: "torch", pipArgs: [], why: "test" },
      steps: [
        { name: "make the venv", command: node, args: ["-e", makeVenv], timeoutMs: 30_000, fix: "fix one" },
        { name: "run the last step", command: node, args: ["-e", last.script], timeoutMs: last.timeoutMs ?? 30_000, fix: "fix two" },
      ],
    };
  }

  test("moves the environment into place and leaves nothing beside it", async () => {
    const plan = fakePlan("ok", { script: `require("fs").accessSync(${JSON.stringify(join(`${join(work, "ok")}.building-1-src`, "py", "mcl_worker", "__init__.py"))})` });
    const lines: string[] = [];
    await runSetup(plan, (line) => lines.push(line));
    expect(existsSync(pythonIn(plan.venv))).toBe(true);
    expect(existsSync(plan.staging)).toBe(false);
    expect(existsSync(plan.workerSource)).toBe(false);
    expect(lines.filter((l) => l.includes("done in"))).toHaveLength(2);
  });

  test("a failing step is named with its output and its fix, and nothing is left behind", async () => {
    const plan = fakePlan("fails", { script: `console.error("no matching distribution"); process.exit(3)` });
    const failure = runSetup(plan, () => {});
    await expect(failure).rejects.toBeInstanceOf(WorkerSetupError);
    await expect(failure).rejects.toMatchObject({ code: "WORKER_SETUP_FAILED", details: { step: "run the last step" } });
    await expect(failure).rejects.toThrow(/could not run the last step: .* exited with code 3\.\nno matching distribution\n\nfix: fix two/);
    expect(existsSync(plan.venv)).toBe(false);
    expect(existsSync(plan.staging)).toBe(false);
  });

  test("a step past its deadline is killed and reported", async () => {
    const plan = fakePlan("hangs", { script: "setInterval(() => {}, 1000)", timeoutMs: 500 });
    await expect(runSetup(plan, () => {})).rejects.toThrow(/did not finish within 0.5 s/);
    expect(existsSync(plan.staging)).toBe(false);
  });

  test("an environment another process finished first is kept, unless the build replaces it", async () => {
    const plan = fakePlan("raced", { script: "" });
    mkdirSync(dirname(pythonIn(plan.venv)), { recursive: true });
    writeFileSync(pythonIn(plan.venv), "theirs");
    await runSetup(plan, () => {});
    expect(readFileSync(pythonIn(plan.venv), "utf8")).toBe("theirs");
    expect(existsSync(plan.staging)).toBe(false);
    await runSetup(fakePlan("raced", { script: "" }), () => {}, undefined, true);
    expect(readFileSync(pythonIn(plan.venv), "utf8")).not.toBe("theirs");
  });

  test("a rebuild replaces the environment that was there", async () => {
    const plan = fakePlan("again", { script: "" });
    mkdirSync(plan.venv, { recursive: true });
    writeFileSync(join(plan.venv, "stale"), "");
    await runSetup(plan, () => {});
    expect(existsSync(join(plan.venv, "stale"))).toBe(false);
    expect(existsSync(pythonIn(plan.venv))).toBe(true);
  });
});

describe("where the environment is and who builds it", () => {
  test("the user's cache, per version, unless MCL_WORKER_VENV names a folder", () => {
    if (process.platform === "linux") expect(userVenv({ XDG_CACHE_HOME: "/c" }, "1.2.3")).toBe("/c/mcl-bridge/venv-1.2.3");
    expect(userVenv({ MCL_WORKER_VENV: "/elsewhere/venv" }, "1.2.3")).toBe("/elsewhere/venv");
  });

  test("a clone is fixed by bootstrap, the installed package by mcl setup", () => {
    expect(setupHint(root)).toBe("npm run bootstrap");
    expect(setupHint(work)).toBe("npx mcl setup");
    expect(pythonFix({ path: "/x", source: "user venv" }, root)).toContain("npx mcl setup");
    expect(pythonFix({ path: "/x", source: "option" }, work)).toContain("npx mcl setup");
    expect(pythonFix({ path: "/x", source: "project venv" }, root)).toContain("npm run bootstrap");
  });

  test("doctor fixes the per-user environment with mcl setup", () => {
    const node = { node: "v20.0.0", zeromqJs: "6.8.0", libzmq: "4.3.5" };
    const user = { path: "/cache/venv/bin/python", source: "user venv" } as const;
    expect(diagnose(user, { ok: false, error: "no such file" }, node, "/pkg", "npx mcl setup").checks[0]).toMatchObject({
      status: "missing",
      fix: "npx mcl setup",
    });
    const facts: PythonFacts = {
      executable: "/cache/venv/bin/python",
      version: "3.11.7",
      torch: { ok: true, value: { version: "2.13.0+cpu", cuda: null, devices: [] } },
      worker: { ok: false, error: "ModuleNotFoundError: No module named 'mcl_worker'" },
      pyzmq: { ok: true, value: { version: "27.3.0", libzmq: "4.3.5" } },
    };
    const report = diagnose(user, { ok: true, value: facts }, node, "/pkg", "npx mcl setup");
    expect(report.checks.find((c) => c.name === "mcl_worker")?.fix).toBe("npx mcl setup --force");
    const other = { path: "/usr/bin/python3", source: "MCL_WORKER_PYTHON" } as const;
    expect(diagnose(other, { ok: false, error: "no such file" }, node, "/pkg", "npx mcl setup").checks[0]?.fix).toContain("`npx mcl setup` builds");
    const noWorker = diagnose(other, { ok: true, value: facts }, node, "/pkg", "npx mcl setup");
    expect(noWorker.checks.find((c) => c.name === "mcl_worker")?.fix).toBe("/usr/bin/python3 -m pip install /pkg");
  });
});
