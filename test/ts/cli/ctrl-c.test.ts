// Ctrl-C in `mcl run`, as a terminal delivers it (SIGINT to the CLI's whole process group): the
// run stops cleanly (the job in flight is cancelled, the worker shut down, not killed), the CLI
// says how to resume and exits 130, no worker is left, and `mcl resume` finishes the run.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, expect, test } from "vitest";
import { projectRoot } from "../../../ts/transport/index.js";
import { tinyConfig } from "../sdk/tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-cli-ctrl-c-"));
const viteNode = join(projectRoot(), "node_modules", "vite-node", "vite-node.mjs");
const main = join(projectRoot(), "ts", "cli", "main.ts");

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `mcl ...` in its own process group, as a shell runs a foreground job. */
function mcl(...args: string[]): { child: ChildProcess; output: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [viteNode, main, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const output: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => output.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output, exited };
}

/** The pids of `pid`'s worker processes (Linux /proc). */
function workerPids(pid: number): number[] {
  const tasks = join("/proc", String(pid), "task");
  return readdirSync(tasks)
    .flatMap((tid) => readFileSync(join(tasks, tid, "children"), "utf8").split(" ").filter(Boolean).map(Number))
    .filter((child) => readFileSync(`/proc/${child}/cmdline`, "utf8").includes("mcl_worker"));
}

function isAlive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  return existsSync(stat) && readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
}

async function until(what: string, check: () => boolean, output: string[] = [], timeoutMs = 120_000): Promise<void> {
  for (const start = Date.now(); !check(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; the output so far:\n${output.join("\n")}`);
  }
}

test.runIf(existsSync("/proc/self/task"))(
  "Ctrl-C mid-epoch: exit 130, the resume command, no worker left; mcl resume finishes the run",
  { timeout: 240_000 },
  async () => {
    const config = tinyConfig(root, "interrupted", {
      dataset: "synthetic:trifeature?n=128&size=16&seed=1",
      epochsPerStage: [2, 1],
      baseline: false,
    });
    const configFile = join(root, "config.json");
    writeFileSync(configFile, JSON.stringify(config));
    const runDir = join(root, "interrupted");

    const run = mcl("run", configFile);
    // Epoch 1 is committed and epoch 2's job is in flight: Ctrl-C has a job to cancel.
    await until("the first epoch", () => run.output.some((line) => line.startsWith("stage 1 epoch 1/2")), run.output);
    const workers = workerPids(run.child.pid!);
    expect(workers).toHaveLength(1);
    process.kill(-run.child.pid!, "SIGINT");

    expect(await run.exited, run.output.join("\n")).toBe(130);
    expect(run.output).toContain(`stopped; resume with: mcl resume ${runDir}`);
    expect(run.output.join("\n")).not.toMatch(/WORKER_LOST|failed/);
    await until("the worker to be gone", () => !isAlive(workers[0]!), run.output, 5_000);

    const resumed = mcl("resume", runDir);
    expect(await resumed.exited, resumed.output.join("\n")).toBe(0);
    expect(resumed.output[0]).toBe(`resuming ${runDir} (128 samples, cpu)`);
    expect(resumed.output).toContain("stage 1: 2 epochs, from epoch 2");
    expect(resumed.output.some((line) => /^done in \d+ s$/.test(line))).toBe(true);
  },
);
