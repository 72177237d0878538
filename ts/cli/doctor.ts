import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { version as libzmqVersion } from "zeromq";
import { PYTHON_ENV, type PythonChoice, SETUP_COMMAND, choosePython, projectRoot, setupHint } from "../transport/python-env.js";
import { pythonError } from "../transport/python-error.js";

/** ok: present; missing: the worker cannot run until `fix` is done; info: worth knowing, not a fault. */
export type CheckStatus = "ok" | "missing" | "info";

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly value: string;
  readonly fix?: string;
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

/** A Python module's version, or why it could not be imported. */
export type Probed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** What the interpreter says about itself, gathered through pythonia. */
export interface PythonFacts {
  readonly executable: string;
  readonly version: string;
  readonly torch: Probed<{ readonly version: string; readonly cuda: string | null; readonly devices: readonly string[] }>;
  readonly worker: Probed<string>;
  readonly pyzmq: Probed<{ readonly version: string; readonly libzmq: string }>;
}

export interface NodeFacts {
  readonly node: string;
  readonly zeromqJs: string;
  readonly libzmq: string;
}

export function nodeFacts(): NodeFacts {
  const require = createRequire(import.meta.url);
  return {
    node: process.version,
    zeromqJs: (require("zeromq/package.json") as { version: string }).version,
    libzmq: libzmqVersion,
  };
}

/**
 * Asks `python` about itself through pythonia (its bridge process runs that interpreter).
 * Each import is tried on its own, so one missing package does not hide the others.
 */
export async function probePython(python: string): Promise<PythonFacts> {
  // pythonia starts its interpreter when first imported, from $PYTHON_BIN.
  process.env.PYTHON_BIN = python;
  const bridge = (await import("pythonia")).default;
  const builtins = (await bridge.python("builtins")) as PyModule;
  const str = async (value: unknown): Promise<string> => String(await builtins.str(await value));
  const probe = async <T>(name: string, read: (module: PyModule) => Promise<T>): Promise<Probed<T>> => {
    try {
      return { ok: true, value: await read((await bridge.python(name)) as PyModule) };
    } catch (err) {
      return { ok: false, error: pythonError(err) };
    }
  };
  try {
    const sys = (await bridge.python("sys")) as PyModule;
    const platform = (await bridge.python("platform")) as PyModule;
    return {
      executable: await str(sys.executable),
      version: await str(platform.python_version()),
      torch: await probe("torch", async (torch) => {
        const cuda = torch.cuda as PyModule;
        const count = Number(await cuda.device_count());
        const devices: string[] = [];
        for (let i = 0; i < count; i++) devices.push(await str(cuda.get_device_name(i)));
        const cudaBuild = await (torch.version as PyModule).cuda;
        return { version: await str(torch.__version__), cuda: cudaBuild === null ? null : await str(cudaBuild), devices };
      }),
      worker: await probe("mcl_worker", (worker) => str(worker.__version__)),
      pyzmq: await probe("zmq", async (zmq) => ({ version: await str(zmq.__version__), libzmq: await str(zmq.zmq_version()) })),
    };
  } finally {
    bridge.python.exit();
  }
}

const BOOTSTRAP = "npm run bootstrap";

/** A Python object seen through pythonia: any attribute or call, awaited. Dynamic by nature, so untyped. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PyModule = any;

/**
 * Turns what was found into checks, each missing piece with the command that fixes it. Pure.
 * `setup` builds the default environment where `root` is: bootstrap in a clone, `mcl setup` for the package.
 */
export function diagnose(
  python: PythonChoice,
  facts: Probed<PythonFacts>,
  node: NodeFacts,
  root: string,
  setup: string = BOOTSTRAP,
): DoctorReport {
  const checks: Check[] = [];
  // The project venv is bootstrap's to fix, the per-user one setup's; another interpreter gets the
  // worker installed into it: editable from a clone, a plain copy from the installed package.
  const rebuild = { "project venv": BOOTSTRAP, "user venv": `${SETUP_COMMAND} --force` };
  const pipInstall = `${python.path} -m pip install ${setup === BOOTSTRAP ? "-e " : ""}${root}`;
  const install = python.source === "project venv" || python.source === "user venv" ? rebuild[python.source] : pipInstall;
  if (!facts.ok) {
    const fix = {
      "project venv": BOOTSTRAP,
      "user venv": SETUP_COMMAND,
      option: `pass --python the path of a Python 3.10+ with mcl_worker installed, or leave it out to use the environment \`${setup}\` builds`,
      [PYTHON_ENV]: `point ${PYTHON_ENV} at a Python 3.10+ with mcl_worker installed, or unset it to use the environment \`${setup}\` builds`,
    }[python.source];
    checks.push({ name: "python", status: "missing", value: `${python.path} (${python.source}): ${facts.error}`, fix });
  } else {
    const py = facts.value;
    checks.push({ name: "python", status: "ok", value: `${py.version}  ${py.executable} (${python.source})` });
    if (py.torch.ok) {
      const { version, cuda, devices } = py.torch.value;
      checks.push({ name: "torch", status: "ok", value: version });
      checks.push(
        devices.length > 0
          ? { name: "cuda", status: "ok", value: `CUDA ${cuda ?? "?"}: ${devices.map((d, i) => `cuda:${i} ${d}`).join(", ")}` }
          : {
              name: "cuda",
              status: "info",
              value: cuda === null ? "none: a CPU build of torch (the worker runs on the CPU)" : `CUDA ${cuda} build, but no device visible`,
              fix: `on a GPU box, install a CUDA build of torch: MCL_TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 ${python.source === "user venv" ? rebuild["user venv"] : BOOTSTRAP}`,
            },
      );
    } else {
      checks.push({ name: "torch", status: "missing", value: py.torch.error, fix: install });
    }
    checks.push(
      py.worker.ok
        ? { name: "mcl_worker", status: "ok", value: py.worker.value }
        : { name: "mcl_worker", status: "missing", value: py.worker.error, fix: install },
    );
    checks.push(
      py.pyzmq.ok
        ? { name: "pyzmq", status: "ok", value: `${py.pyzmq.value.version} (libzmq ${py.pyzmq.value.libzmq})` }
        : { name: "pyzmq", status: "missing", value: py.pyzmq.error, fix: install },
    );
  }
  checks.push({ name: "node", status: "ok", value: node.node });
  checks.push({ name: "zeromq.js", status: "ok", value: `${node.zeromqJs} (libzmq ${node.libzmq})` });
  return { ok: checks.every((c) => c.status !== "missing"), checks };
}

export function formatReport(report: DoctorReport): string {
  const mark: Record<CheckStatus, string> = { ok: "ok", missing: "MISSING", info: "note" };
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.flatMap((c) => {
    const line = `  ${mark[c.status].padEnd(7)} ${c.name.padEnd(width)}  ${c.value}`;
    return c.fix === undefined ? [line] : [line, `  ${"".padEnd(7)} ${"".padEnd(width)}  fix: ${c.fix}`];
  });
  const verdict = report.ok ? "everything the worker needs is in place" : "the worker cannot start until the MISSING items are fixed";
  return ["mcl doctor", ...lines, verdict].join("\n");
}

/** Finds the worker's interpreter and asks it about itself; never throws for a broken setup. */
export async function runDoctor(explicitPython?: string): Promise<DoctorReport> {
  const python = choosePython(explicitPython);
  let facts: Probed<PythonFacts>;
  if (!existsSync(python.path)) {
    facts = { ok: false, error: "no such file" };
  } else {
    try {
      facts = { ok: true, value: await probePython(python.path) };
    } catch (err) {
      facts = { ok: false, error: pythonError(err) };
    }
  }
  const root = projectRoot();
  return diagnose(python, facts, nodeFacts(), root, setupHint(root));
}
