// The worker as a Python wheel, built from what `mcl setup` copies out of the package (no
// dependencies fetched, the venv's setuptools): it holds every module of py/mcl_worker and the wire
// contract it reads, no tests, egg-info or caches, and pip installs it on its own.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { projectRoot, venvPython } from "../../../ts/transport/index.js";
import { copyWorkerSource } from "../../../ts/transport/setup.js";

const root = projectRoot();
const python = venvPython(root);
const work = mkdtempSync(join(tmpdir(), "mcl-wheel-"));
let wheel = "";
let names: string[] = [];

function py(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(python, args, { encoding: "utf8", timeout: 240_000, killSignal: "SIGKILL", env, cwd: work });
  if (result.status !== 0) throw new Error(`python ${args.join(" ")} exited with ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "__pycache__") return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? modules(path) : entry.name.endsWith(".py") ? [path] : [];
  });
}

beforeAll(() => {
  copyWorkerSource(root, join(work, "src"));
  py(["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-input", "--disable-pip-version-check", join(work, "src"), "-w", join(work, "dist")]);
  const built = readdirSync(join(work, "dist")).filter((f) => f.endsWith(".whl"));
  expect(built).toHaveLength(1);
  wheel = join(work, "dist", built[0]!);
  names = JSON.parse(py(["-c", "import json, sys, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))", wheel])) as string[];
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the worker's wheel", () => {
  test("holds every module of py/mcl_worker, its type marker and the wire contract", () => {
    const sources = modules(join(root, "py", "mcl_worker")).map((path) => relative(join(root, "py"), path).split(sep).join("/"));
    expect(sources.length).toBeGreaterThan(30);
    expect(sources.filter((path) => !names.includes(path))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(["mcl_worker/protocol.json", "mcl_worker/py.typed"]));
  });

  test("holds no tests, egg-info or caches, and declares its entry point and torch", () => {
    expect(names.filter((name) => /(^|\/)tests?\/|test_|egg-info|__pycache__|\.pyc$/.test(name))).toEqual([]);
    const read = (suffix: string): string => py(["-c", `import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read(next(n for n in z.namelist() if n.endswith("${suffix}"))).decode())`, wheel]);
    expect(read(".dist-info/entry_points.txt")).toMatch(/mcl-worker = mcl_worker\.__main__:main/);
    expect(read(".dist-info/METADATA")).toMatch(/^Requires-Dist: torch>=/m);
  });

  test("installs on its own and reads its own copy of the contract, which is proto/protocol.json's", () => {
    const target = join(work, "target");
    py(["-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check", "--target", target, wheel]);
    const script = "import mcl_worker; from mcl_worker.wire.protocol import load_protocol, protocol_path; load_protocol(); print(mcl_worker.__file__); print(protocol_path())";
    const [module, contract] = py(["-c", script], { ...process.env, PYTHONPATH: target }).trim().split("\n");
    expect(module).toBe(join(target, "mcl_worker", "__init__.py"));
    expect(contract).toBe(join(target, "mcl_worker", "protocol.json"));
    expect(readFileSync(contract!).equals(readFileSync(join(root, "proto", "protocol.json")))).toBe(true);
  });
});
