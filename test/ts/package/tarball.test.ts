// The npm package as a consumer gets it: `npm pack` of a copy of the project (its prepack builds
// dist/ts), installed into an empty project, compiled against under strict TypeScript with no
// `types` setting (TypeScript 6's default of none), and run: a tiny MCL run on a worker found
// through MCL_WORKER_VENV (here the repository's .venv, to skip installing torch again).
import { type ExecFileOptions, execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { projectRoot, venvPython } from "../../../ts/transport/index.js";

const root = projectRoot();
const work = mkdtempSync(join(tmpdir(), "mcl-tarball-"));
const stage = join(work, "stage");
const consumer = join(work, "consumer");
const installed = join(consumer, "node_modules", "mcl-bridge");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
let shipped: string[] = [];

/**
 * Runs a command to its end (or kills it at its deadline) and resolves with stdout; rejects with its
 * output otherwise. Asynchronous, so that vitest's worker stays responsive during minutes of npm.
 */
function run(command: string, args: readonly string[], options: ExecFileOptions & { timeout: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: "utf8", killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      if (error === null) resolve(String(stdout));
      else reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${String(stdout)}\n${String(stderr)}`));
    });
  });
}

/** The environment a consumer's commands get: the worker's env found through MCL_WORKER_VENV only. */
function consumerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MCL_WORKER_VENV: dirname(dirname(venvPython(root))), ...extra };
  delete env.MCL_WORKER_PYTHON;
  return env;
}

beforeAll(async () => {
  // The files package.json ships, copied as they are (the exclusions are npm's to apply), and no dist.
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { files: string[] };
  const entries = ["package.json", "README.md", "tsconfig.json", ...pkg.files.filter((f) => !f.startsWith("!") && !f.startsWith("dist"))];
  for (const entry of entries) if (existsSync(join(root, entry))) cpSync(join(root, entry), join(stage, entry), { recursive: true });
  // What running the worker or the plugin example leaves in a working tree, for npm to leave out.
  for (const dir of ["py/mcl_worker/__pycache__", "examples/plugins/my_plugins/__pycache__", "examples/plugins/data"]) {
    mkdirSync(join(stage, dir), { recursive: true });
    writeFileSync(join(stage, dir, "left-behind.pyc"), "");
  }
  symlinkSync(join(root, "node_modules"), join(stage, "node_modules"));
  const packed = JSON.parse(await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: stage, timeout: 240_000 })) as {
    filename: string;
    files: { path: string }[];
  }[];
  shipped = packed[0]!.files.map((f) => f.path);

  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, packed[0]!.filename)], { cwd: consumer, timeout: 240_000 });
}, 480_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the packed tarball", () => {
  test("ships the library, the worker's sources and the plugin example, and nothing of the repository's own", () => {
    for (const path of ["dist/ts/index.js", "dist/ts/index.d.ts", "dist/ts/cli/main.js", "ts/index.ts", "scripts/torch-source.mjs"]) {
      expect(shipped).toContain(path);
    }
    for (const path of ["pyproject.toml", "setup.py", "proto/protocol.json", "py/mcl_worker/__init__.py", "py/mcl_worker/py.typed"]) {
      expect(shipped).toContain(path);
    }
    expect(shipped).toContain("examples/plugins/README.md");
    expect(shipped).toContain("examples/plugins/my_plugins/encoders.py");
    const unwanted = /egg-info|__pycache__|\.pyc$|^examples\/plugins\/data\/|^dist\/(bench|examples)\/|^test\/|^bench\/|^scripts\/bootstrap|^\.venv/;
    expect(shipped.filter((path) => unwanted.test(path))).toEqual([]);
  });

  test("every source map's sources are in the package", () => {
    const maps = shipped.filter((path) => path.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(50);
    const missing = maps.flatMap((map) => {
      const { sources, sourceRoot } = JSON.parse(readFileSync(join(installed, map), "utf8")) as { sources: string[]; sourceRoot?: string };
      return sources.map((source) => resolve(dirname(join(installed, map)), sourceRoot ?? "", source)).filter((path) => !existsSync(path));
    });
    expect(missing).toEqual([]);
  });

  test("resolves for require-free tools through the default condition", async () => {
    const resolved = await run(process.execPath, ["-e", "console.log(require.resolve('mcl-bridge'))"], { cwd: consumer, timeout: 30_000 });
    expect(resolved.trim()).toBe(join(installed, "dist", "ts", "index.js"));
  });
});

describe("a consumer project", () => {
  test("compiles under strict TypeScript without naming node's types", { timeout: 240_000 }, async () => {
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        // No "types" (TypeScript 6 loads none by default) and no skipLibCheck: the package's .d.ts must stand alone.
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, types: [], outDir: "out" },
        files: ["main.ts"],
      }),
    );
    writeFileSync(
      join(consumer, "main.ts"),
      `import { Mcl, type MclConfigInput, WorkerSetupError } from "mcl-bridge";

const runDir = process.argv[2];
if (runDir === undefined) throw new Error("usage: node out/main.js RUN_DIR");
const config: MclConfigInput = {
  name: "tiny", runDir, dataset: "synthetic:trifeature?n=64&size=16&seed=1", encoder: "small-cnn",
  stages: 1, clusters: 2, epochsPerStage: 1, batchSize: 32, baseline: false,
  augmentation: { jitter: 0, grayscale: 0 }, probe: { knn: 5 },
};
const run = await Mcl.start(config, { worker: { launch: { onOutput: () => {} } } });
const summary = await run.result();
await run.stop();
console.log(JSON.stringify({ stages: summary.stages.length, code: new WorkerSetupError("step", "why").code }));
`,
    );
    await run(process.execPath, [tsc, "-p", consumer], { cwd: consumer, timeout: 240_000 });
  });

  test("runs a tiny MCL run on the worker's environment", { timeout: 300_000 }, async () => {
    const out = await run(process.execPath, [join(consumer, "out", "main.js"), join(work, "runs")], { cwd: consumer, env: consumerEnv(), timeout: 240_000 });
    expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual({ stages: 1, code: "WORKER_SETUP_FAILED" });
  });

  test("on first use builds the missing environment, and a failing step says which and how to fix it", { timeout: 120_000 }, async () => {
    const env = consumerEnv({ MCL_WORKER_VENV: join(work, "first-use-venv"), MCL_PYTHON: join(work, "no-such-python") });
    const failure = run(process.execPath, [join(consumer, "out", "main.js"), join(work, "first-use-runs")], { cwd: consumer, env, timeout: 120_000 });
    await expect(failure).rejects.toThrow(/mcl setup could not create the virtual environment: cannot run .*no-such-python[\s\S]*fix: install Python 3\.10/);
    expect(existsSync(join(work, "first-use-venv"))).toBe(false);
  });

  test("mcl doctor finds the worker's environment through MCL_WORKER_VENV and fixes with `npx mcl setup`", { timeout: 120_000 }, async () => {
    const doctor = JSON.parse((await run("npx", ["mcl", "doctor", "--json"], { cwd: consumer, env: consumerEnv(), timeout: 120_000 })).trim().split("\n").at(-1)!) as {
      ok: boolean;
      checks: { name: string; value: string; fix?: string }[];
    };
    expect(doctor.ok).toBe(true);
    expect(doctor.checks.find((c) => c.name === "python")?.value).toContain("(user venv)");
    expect(doctor.checks.find((c) => c.name === "cuda")?.fix ?? "npx mcl setup").toContain("npx mcl setup");
  });

  test("mcl setup --dry-run plans a non-editable install from the package's own files", { timeout: 60_000 }, async () => {
    const venv = join(work, "user-venv");
    const plan = await run("npx", ["mcl", "setup", "--dry-run"], { cwd: consumer, env: consumerEnv({ MCL_WORKER_VENV: venv }), timeout: 60_000 });
    expect(plan).toContain(`from ${installed} to ${venv}.building-`);
    expect(plan).toMatch(/-m pip install .*torch==/);
    expect(plan).not.toMatch(/pip install[^\n]* -e /);
    expect(existsSync(venv)).toBe(false);
  });
});
