import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The interpreter that runs the worker, and why that one. */
export interface PythonChoice {
  readonly path: string;
  readonly source: "option" | "MCL_WORKER_PYTHON" | "project venv" | "user venv";
}

/** Env variable naming the worker's interpreter (MCL_PYTHON is the base interpreter a new venv is made from). */
export const PYTHON_ENV = "MCL_WORKER_PYTHON";

/** Env variable naming the folder of the per-user worker environment that `mcl setup` builds. */
export const WORKER_VENV_ENV = "MCL_WORKER_VENV";

/** The project root: the nearest folder above this module holding both package.json and pyproject.toml. */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "pyproject.toml"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no project root (a folder with package.json and pyproject.toml) above ${from}`);
  }
}

/** A clone of the repository (its bootstrap script is there), as opposed to the installed npm package. */
export function isCheckout(root: string = projectRoot()): boolean {
  return existsSync(join(root, "scripts", "bootstrap.mjs"));
}

/** The command that builds the per-user worker environment. */
export const SETUP_COMMAND = "npx mcl setup";

/** The command that builds the worker's environment: bootstrap in a clone, `mcl setup` for the installed package. */
export function setupHint(root: string = projectRoot()): string {
  return isCheckout(root) ? "npm run bootstrap" : SETUP_COMMAND;
}

/** The interpreter inside a virtual environment. */
export function pythonIn(venv: string): string {
  return process.platform === "win32" ? join(venv, "Scripts", "python.exe") : join(venv, "bin", "python");
}

/** The project's .venv interpreter (what bootstrap builds in a clone). */
export function venvPython(root: string = projectRoot()): string {
  return pythonIn(join(root, ".venv"));
}

/** The package's version, from its package.json. */
export function packageVersion(root: string = projectRoot()): string {
  return (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
}

/** The per-user worker environment: $MCL_WORKER_VENV, else venv-<version> in this user's cache folder. */
export function userVenv(env: NodeJS.ProcessEnv = process.env, version: string = packageVersion()): string {
  const override = env[WORKER_VENV_ENV];
  if (override !== undefined && override !== "") return resolve(override);
  return join(cacheHome(env), "mcl-bridge", `venv-${version}`);
}

function cacheHome(env: NodeJS.ProcessEnv): string {
  if (process.platform === "win32") return env.LOCALAPPDATA || join(homedir(), "AppData", "Local");
  if (process.platform === "darwin") return join(homedir(), "Library", "Caches");
  return env.XDG_CACHE_HOME || join(homedir(), ".cache");
}

/**
 * The worker's interpreter: an explicit path, else $MCL_WORKER_PYTHON, else the project's .venv
 * when it exists, else the per-user environment. A clone with neither keeps the project venv,
 * which bootstrap builds; the installed package gets the per-user one, which `mcl setup` builds.
 */
export function choosePython(explicit?: string): PythonChoice {
  if (explicit !== undefined) return { path: explicit, source: "option" };
  const fromEnv = process.env[PYTHON_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return { path: fromEnv, source: PYTHON_ENV };
  const root = projectRoot();
  const project = venvPython(root);
  if (existsSync(project)) return { path: project, source: "project venv" };
  const user = pythonIn(userVenv(process.env, packageVersion(root)));
  if (existsSync(user) || !isCheckout(root)) return { path: user, source: "user venv" };
  return { path: project, source: "project venv" };
}

/** How to get a working interpreter for `choice`, as a sentence. */
export function pythonFix(choice: PythonChoice, root: string = projectRoot()): string {
  switch (choice.source) {
    case "project venv":
      return `run \`${setupHint(root)}\` to build the worker's environment`;
    case "user venv":
      return `run \`${SETUP_COMMAND}\` to build the worker's environment`;
    case "option":
      return `pass a Python with mcl_worker installed, or leave the python option out to use the environment \`${setupHint(root)}\` builds`;
    case PYTHON_ENV:
      return `point ${PYTHON_ENV} at a Python with mcl_worker installed, or unset it to use the environment \`${setupHint(root)}\` builds`;
  }
}

/** "mcl-bridge/<version>", the client name sent in hello. */
export function clientName(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { name: string; version: string };
  return `${pkg.name}/${pkg.version}`;
}
