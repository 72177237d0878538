// Builds the per-user worker environment (`mcl setup`, and the SDK on first use): a venv with torch
// and the bundled worker installed from the package's own py/ folder, not editable. It is built
// beside its final place and renamed there only once everything imports, so a half-built
// environment is never found and two processes building at once cannot break each other's.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, renameSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { MclError } from "../errors.js";
import { type PythonChoice, SETUP_COMMAND, WORKER_VENV_ENV, packageVersion, projectRoot, pythonIn, userVenv } from "./python-env.js";

/** The torch build to install; scripts/torch-source.mjs decides it, for bootstrap too. */
export interface TorchSource {
  readonly spec: string;
  /** pip's index arguments, e.g. ["--index-url", "https://download.pytorch.org/whl/cu128"]. */
  readonly pipArgs: readonly string[];
  readonly why: string;
}

/** One command of the setup, its deadline, and what to do when it fails. */
export interface SetupStep {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
  readonly fix: string;
}

export interface SetupPlan {
  /** The package the worker is installed from. */
  readonly root: string;
  /** Where the environment ends up. */
  readonly venv: string;
  /** Where it is built, renamed to `venv` once every step passed. */
  readonly staging: string;
  /** The worker's build inputs, copied out of the package first so that pip never writes into it. */
  readonly workerSource: string;
  readonly torch: TorchSource;
  readonly steps: readonly SetupStep[];
}

export interface PlanOptions {
  /** The package folder: pyproject.toml, setup.py, py/mcl_worker, proto/protocol.json. */
  readonly root: string;
  readonly venv: string;
  /** The interpreter the venv is made from. */
  readonly basePython: string;
  readonly torch: TorchSource;
  /** Makes the staging folders' names unique to this process (a shared home may serve several hosts). */
  readonly tag: string;
}

/** A setup step failed; `details.step` names it and the message ends with its fix. */
export class WorkerSetupError extends MclError<"WORKER_SETUP_FAILED", { readonly step: string }> {
  constructor(step: string, message: string) {
    super("WORKER_SETUP_FAILED", message, { details: { step } });
  }
}

const MINUTE = 60_000;
const PIP = ["-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--progress-bar", "off"];
const CHECK = "import torch, zmq, mcl_worker; from mcl_worker.wire.protocol import load_protocol; load_protocol(); print(torch.__version__)";
const WORKER_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", join("proto", "protocol.json"), join("py", "mcl_worker")];
const OUTPUT_TAIL_CHARS = 3000;
const HEARTBEAT_MS = 30_000;

/** The commands that build the environment. Pure: nothing runs. */
export function planSetup(options: PlanOptions): SetupPlan {
  const staging = `${options.venv}.building-${options.tag}`;
  const workerSource = `${staging}-src`;
  const python = pythonIn(staging);
  const network = "check the network connection (pip reads its configured index, PyPI by default)";
  return {
    root: options.root,
    venv: options.venv,
    staging,
    workerSource,
    torch: options.torch,
    steps: [
      {
        name: "create the virtual environment",
        command: options.basePython,
        args: ["-m", "venv", staging],
        timeoutMs: 2 * MINUTE,
        fix: "install Python 3.10 or later with its venv module (Debian and Ubuntu: apt install python3-venv), or name one with MCL_PYTHON=/path/to/python3 (mcl setup --python PATH)",
      },
      {
        name: `install ${options.torch.spec}`,
        command: python,
        args: [...PIP, ...options.torch.pipArgs, options.torch.spec],
        timeoutMs: 45 * MINUTE,
        fix: `${network}; MCL_TORCH_SPEC names another torch (e.g. 'torch==2.5.1'), MCL_TORCH_INDEX_URL another wheel index (e.g. https://download.pytorch.org/whl/cpu)`,
      },
      {
        name: "install the worker (mcl_worker)",
        command: python,
        args: [...PIP, workerSource],
        timeoutMs: 20 * MINUTE,
        fix: `${network}: the worker's dependencies (numpy, pyzmq, …) come from it; the worker needs Python 3.10 or later (MCL_PYTHON picks the one the venv is made from)`,
      },
      checkStep(python),
    ],
  };
}

/** Imports what the worker needs from `python`, the wire contract included (a wheel carries its own copy). */
export function checkStep(python: string): SetupStep {
  return {
    name: "check that the worker imports",
    command: python,
    args: ["-c", CHECK],
    timeoutMs: 2 * MINUTE,
    fix: "the packages installed but do not import: run `npx mcl setup --force`, and report its output if it fails again",
  };
}

/**
 * Runs a plan: copies the worker's sources, runs each step, then moves the environment into place,
 * replacing one that is there only when `replace` (a forced or broken environment).
 */
export async function runSetup(plan: SetupPlan, log: (line: string) => void, onOutput?: (text: string) => void, replace = false): Promise<void> {
  const cleanUp = (): void => {
    rmSync(plan.workerSource, { recursive: true, force: true });
    rmSync(plan.staging, { recursive: true, force: true });
  };
  cleanUp();
  try {
    copyWorkerSource(plan.root, plan.workerSource);
    for (const [index, step] of plan.steps.entries()) {
      log(`[mcl setup] ${index + 1}/${plan.steps.length} ${step.name}: ${step.command} ${step.args.join(" ")}`);
      const started = Date.now();
      await runStep(step, log, onOutput);
      log(`[mcl setup]   done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    moveIntoPlace(plan, replace);
    log(`[mcl setup] the worker's environment is ready: ${plan.venv}`);
  } finally {
    cleanUp();
  }
}

/** Copies what building the worker needs out of the package at `root` (no caches, no egg-info). */
export function copyWorkerSource(root: string, to: string): void {
  for (const file of WORKER_FILES) {
    const from = join(root, file);
    if (!existsSync(from)) {
      throw new WorkerSetupError("copy the worker's sources", `${from} is missing from the package: reinstall mcl-bridge (npm install mcl-bridge)`);
    }
    cpSync(from, join(to, file), {
      recursive: true,
      filter: (path) => !path.split(sep).some((part) => part === "__pycache__" || part.endsWith(".egg-info")),
    });
  }
}

/**
 * Swaps the built environment in. Unless `replace`, an environment another process finished
 * first is kept (a worker may be running from it); a swap that fails puts the old one back.
 */
function moveIntoPlace(plan: SetupPlan, replace: boolean): void {
  if (!replace && existsSync(pythonIn(plan.venv))) return;
  const old = `${plan.staging}-old`;
  const hadOld = existsSync(plan.venv);
  if (hadOld) renameSync(plan.venv, old);
  try {
    renameSync(plan.staging, plan.venv);
  } catch (err) {
    if (hadOld) renameSync(old, plan.venv);
    throw err;
  }
  rmSync(old, { recursive: true, force: true });
}

function runStep(step: SetupStep, log: (line: string) => void, onOutput?: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let tail = "";
    let timedOut = false;
    const child: ChildProcess = spawn(step.command, step.args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString("utf8");
      tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
      onOutput?.(text);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const heartbeat = setInterval(() => log(`[mcl setup]   still working (${Math.round((Date.now() - started) / 1000)} s)`), HEARTBEAT_MS);
    const deadline = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      // A grandchild may hold the pipes open after the kill: stop waiting for them to close.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        clearInterval(heartbeat);
        fail(`'${step.command} ${step.args.join(" ")}' did not finish within ${step.timeoutMs / 1000} s`);
      }, 10_000).unref();
    }, step.timeoutMs);
    const fail = (why: string): void => {
      const output = tail.trim() === "" ? "" : `\n${tail.trimEnd()}\n`;
      reject(new WorkerSetupError(step.name, `mcl setup could not ${step.name}: ${why}.${output}\nfix: ${step.fix}`));
    };
    child.once("error", (err) => {
      clearInterval(heartbeat);
      clearTimeout(deadline);
      fail(`cannot run ${step.command} (${err.message})`);
    });
    child.once("close", (code, signal) => {
      clearInterval(heartbeat);
      clearTimeout(deadline);
      if (code === 0) resolve();
      else if (timedOut) fail(`'${step.command} ${step.args.join(" ")}' did not finish within ${step.timeoutMs / 1000} s`);
      else fail(`'${step.command} ${step.args.join(" ")}' exited with ${signal ?? `code ${code}`}`);
    });
  });
}

interface TorchSourceModule {
  torchSource(env: NodeJS.ProcessEnv): TorchSource;
}

/** The torch build for this machine, decided by the script bootstrap uses too. */
export async function chooseTorch(env: NodeJS.ProcessEnv = process.env, root: string = projectRoot()): Promise<TorchSource> {
  const module = (await import(pathToFileURL(join(root, "scripts", "torch-source.mjs")).href)) as TorchSourceModule;
  return module.torchSource(env);
}

export interface UserSetupOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** The interpreter the venv is made from (default: $MCL_PYTHON, else python3). */
  readonly basePython?: string;
}

/** The plan for the per-user environment on this machine. */
export async function planUserSetup(options: UserSetupOptions = {}): Promise<SetupPlan> {
  const env = options.env ?? process.env;
  const root = projectRoot();
  return planSetup({
    root,
    venv: userVenv(env, packageVersion(root)),
    basePython: options.basePython ?? (env.MCL_PYTHON || defaultBasePython()),
    torch: await chooseTorch(env, root),
    tag: `${hostname()}-${process.pid}`,
  });
}

function defaultBasePython(): string {
  return process.platform === "win32" ? "python" : "python3";
}

export interface SetUpOptions extends UserSetupOptions {
  /** Rebuild even when an environment that imports is there. */
  readonly force?: boolean;
  /** Progress lines. */
  readonly log: (line: string) => void;
  /** The commands' own output, as it comes (else only its end, in an error). */
  readonly onOutput?: (text: string) => void;
}

export interface SetUpResult {
  readonly venv: string;
  readonly python: string;
  /** False when a working environment was already there. */
  readonly built: boolean;
}

/** The per-user environment, built unless one that imports is already there (or `force`). */
export async function setUpWorkerEnvironment(options: SetUpOptions): Promise<SetUpResult> {
  const venv = userVenv(options.env ?? process.env);
  const python = pythonIn(venv);
  if (options.force !== true && existsSync(python)) {
    try {
      await runStep(checkStep(python), options.log);
      return { venv, python, built: false };
    } catch {
      options.log(`[mcl setup] ${venv} does not import the worker: building it again`);
    }
  }
  const plan = await planUserSetup(options);
  options.log(`[mcl setup] building the worker's environment in ${venv} (${WORKER_VENV_ENV} moves it); torch: ${plan.torch.spec}, ${plan.torch.why}`);
  await runSetup(plan, options.log, options.onOutput, existsSync(python));
  return { venv, python, built: true };
}

const building = new Map<string, Promise<SetUpResult>>();

/** Before a worker starts: builds the per-user environment when that is the choice and it is not there yet. */
export async function ensureWorkerEnvironment(choice: PythonChoice, log: (line: string) => void): Promise<void> {
  if (choice.source !== "user venv" || existsSync(choice.path)) return;
  // Runs started together in one process share one build.
  let build = building.get(choice.path);
  if (build === undefined) {
    log(`[mcl] first use: the worker's Python environment is missing, building it now (once; \`${SETUP_COMMAND}\` does the same)\n`);
    build = setUpWorkerEnvironment({ log: (line) => log(`${line}\n`) });
    building.set(choice.path, build);
    void build.finally(() => building.delete(choice.path)).catch(() => undefined);
  }
  await build;
}
