import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The interpreter that runs the worker, and why that one. */
export interface PythonChoice {
  readonly path: string;
  readonly source: "option" | "MCL_WORKER_PYTHON" | "project venv";
}

/** Env variable naming the worker's interpreter (MCL_PYTHON is bootstrap's base interpreter). */
export const PYTHON_ENV = "MCL_WORKER_PYTHON";

/** The fix for a project without its Python environment. */
export const BOOTSTRAP_HINT = "npm run bootstrap";

/** The project root: the nearest folder above this module holding both package.json and pyproject.toml. */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "pyproject.toml"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no project root (a folder with package.json and pyproject.toml) above ${from}`);
  }
}

export function venvPython(root: string = projectRoot()): string {
  return process.platform === "win32" ? join(root, ".venv", "Scripts", "python.exe") : join(root, ".venv", "bin", "python");
}

/** The worker's interpreter: an explicit path, else $MCL_WORKER_PYTHON, else the project's .venv. */
export function choosePython(explicit?: string): PythonChoice {
  if (explicit !== undefined) return { path: explicit, source: "option" };
  const fromEnv = process.env[PYTHON_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return { path: fromEnv, source: PYTHON_ENV };
  return { path: venvPython(), source: "project venv" };
}

/** "mcl-bridge/<version>", the client name sent in hello. */
export function clientName(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { name: string; version: string };
  return `${pkg.name}/${pkg.version}`;
}
