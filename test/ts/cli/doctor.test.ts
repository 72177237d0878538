// `mcl doctor`: the pure diagnosis of what was found, and the real command against the project venv.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { type DoctorReport, type PythonFacts, diagnose } from "../../../ts/cli/doctor.js";
import { projectRoot, venvPython } from "../../../ts/transport/index.js";

const node = { node: "v20.0.0", zeromqJs: "6.8.0", libzmq: "4.3.5" };
const venv = { path: "/p/.venv/bin/python", source: "project venv" } as const;
const healthy: PythonFacts = {
  executable: "/p/.venv/bin/python",
  version: "3.11.7",
  torch: { ok: true, value: { version: "2.13.0+cpu", cuda: null, devices: [] } },
  worker: { ok: true, value: "0.1.0" },
  pyzmq: { ok: true, value: { version: "27.3.0", libzmq: "4.3.5" } },
};
const missing = (error: string) => ({ ok: false, error }) as const;

function check(report: DoctorReport, name: string) {
  return report.checks.find((c) => c.name === name);
}

describe("diagnose", () => {
  test("a complete environment is ok; a CPU-only torch is a note, not a fault", () => {
    const report = diagnose(venv, { ok: true, value: healthy }, node, "/p");
    expect(report.ok).toBe(true);
    expect(check(report, "cuda")?.status).toBe("info");
    expect(check(report, "zeromq.js")?.value).toBe("6.8.0 (libzmq 4.3.5)");
  });

  test("CUDA devices are listed by index", () => {
    const torch = { ok: true, value: { version: "2.5.0+cu124", cuda: "12.4", devices: ["H100", "H100"] } } as const;
    const report = diagnose(venv, { ok: true, value: { ...healthy, torch } }, node, "/p");
    expect(check(report, "cuda")).toMatchObject({ status: "ok", value: "CUDA 12.4: cuda:0 H100, cuda:1 H100" });
  });

  test("missing packages in the project venv are fixed by bootstrap", () => {
    const facts = { ...healthy, torch: missing("ModuleNotFoundError: No module named 'torch'"), worker: missing("x") };
    const report = diagnose(venv, { ok: true, value: facts }, node, "/p");
    expect(report.ok).toBe(false);
    expect(check(report, "torch")).toMatchObject({ status: "missing", fix: "npm run bootstrap" });
    expect(check(report, "mcl_worker")).toMatchObject({ status: "missing", fix: "npm run bootstrap" });
  });

  test("another interpreter gets the package installed into it", () => {
    const other = { path: "/usr/bin/python3", source: "MCL_WORKER_PYTHON" } as const;
    const report = diagnose(other, { ok: true, value: { ...healthy, pyzmq: missing("no zmq") } }, node, "/p");
    expect(check(report, "pyzmq")?.fix).toBe("/usr/bin/python3 -m pip install -e /p");
  });

  test("no interpreter at all says how to get one", () => {
    const report = diagnose(venv, missing("no such file"), node, "/p");
    expect(report.ok).toBe(false);
    expect(check(report, "python")).toMatchObject({ status: "missing", fix: "npm run bootstrap" });
    expect(check(report, "torch")).toBeUndefined();
  });
});

describe("the mcl command", () => {
  const viteNode = join(projectRoot(), "node_modules", "vite-node", "vite-node.mjs");
  const mcl = (...args: string[]) =>
    spawnSync(process.execPath, [viteNode, join(projectRoot(), "ts", "cli", "main.ts"), ...args], { encoding: "utf8", timeout: 120_000 });

  test("doctor --json reports the project venv as it is, and exits", () => {
    const torch = spawnSync(venvPython(), ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" }).stdout.trim();
    const run = mcl("doctor", "--json");
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout.trim().split("\n").at(-1) as string) as DoctorReport;
    expect(report.ok).toBe(true);
    expect(check(report, "torch")?.value).toBe(torch);
    expect(check(report, "python")?.value).toContain(venvPython());
  });

  test("doctor with a missing interpreter exits 1 and names the fix", () => {
    const run = mcl("doctor", "--python", "/nonexistent/python");
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/MISSING\s+python/);
    expect(run.stdout).toContain("fix:");
  });

  test.each([{ args: ["frob"] }, { args: [] }])("mcl $args prints usage and exits 2", ({ args }) => {
    const run = mcl(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("usage: mcl <command>");
  });

  test("mcl doctor --frob names the option and where the usage is, and exits 2", () => {
    const run = mcl("doctor", "--frob");
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe("mcl doctor: unknown option --frob (mcl doctor --help shows the usage)");
  });
});
