// SIGTERM to the built `mcl run`, as `kill PID` or a process manager sends it: the run stops as on
// the first Ctrl-C (exit 143, the resume command, no worker left, `mcl resume` finishes it). A
// second SIGTERM or a Ctrl-C while it stops quits at once with that signal's code, and the run
// still resumes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { tinyConfig } from "../sdk/tiny-config.js";
import { assertBuildCurrent } from "../support/cli-binary.js";
import { isAlive, until, workerPids } from "../support/processes.js";
import { builtMcl, hasProc, killLeftovers, type MclProcess } from "./cli-process.js";

const root = mkdtempSync(join(tmpdir(), "mcl-cli-sigterm-"));

beforeAll(assertBuildCurrent);

afterAll(() => {
  killLeftovers();
  rmSync(root, { recursive: true, force: true });
});

const SHUTDOWN_GRACE_MS = 2000; // launchWorker's default shutdownGraceMs
const STOPPING = "SIGTERM: stopping at the last committed step (Ctrl-C again to quit at once)…";

/** `mcl run` of a two-epoch first stage, once its first epoch is committed: a job is in flight. */
async function runToSecondEpoch(name: string): Promise<{ run: MclProcess; runDir: string; worker: number }> {
  const config = tinyConfig(root, name, { dataset: "synthetic:trifeature?n=128&size=16&seed=1", epochsPerStage: [2, 1], baseline: false });
  const configFile = join(root, `${name}.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const run = builtMcl("run", configFile);
  await until("the first epoch", () => {
    if (run.child.exitCode !== null) throw new Error(`mcl run exited (${run.child.exitCode}):\n${run.output.join("\n")}`);
    return run.output.some((line) => line.startsWith("stage 1 epoch 1/2"));
  }, run.output);
  const workers = workerPids(run.child.pid!);
  expect(workers).toHaveLength(1);
  return { run, runDir: join(root, name), worker: workers[0]! };
}

async function expectResumeFinishes(runDir: string): Promise<void> {
  const resumed = builtMcl("resume", runDir);
  expect(await resumed.exited, resumed.output.join("\n")).toBe(0);
  // A quit at once may have cut a checkpoint's write short: the resume removes its temporary file first.
  const cleaned = /^removed \d+ temporary files? of interrupted writes in /.test(resumed.output[0] ?? "") ? 1 : 0;
  expect(resumed.output[cleaned]).toBe(`resuming ${runDir} (128 samples, cpu)`);
  expect(resumed.output.some((line) => /^done in \d+ s$/.test(line))).toBe(true);
}

describe.runIf(hasProc)("SIGTERM", () => {
  test("mid-epoch: exit 143, the resume command, no worker left; mcl resume finishes the run", { timeout: 300_000 }, async () => {
    const { run, runDir, worker } = await runToSecondEpoch("terminated");
    process.kill(run.child.pid!, "SIGTERM");

    expect(await run.exited, run.output.join("\n")).toBe(143);
    expect(run.output).toContain(STOPPING);
    expect(run.output).toContain(`stopped; resume with: mcl resume ${runDir}`);
    expect(run.output.join("\n")).not.toMatch(/WORKER_LOST|failed/);
    await until("the worker to be gone", () => !isAlive(worker), run.output, 5_000);
    await expectResumeFinishes(runDir);
  });

  // The worker is frozen (SIGSTOP): the first stop then waits SHUTDOWN_GRACE_MS for it to exit
  // before killing it, which is when the second signal comes, and what quitting at once skips.
  for (const [second, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    const title = `then ${second} while stopping: quits at once with ${code}, no worker left${second === "SIGINT" ? "; the run resumes" : ""}`;
    test(title, { timeout: 300_000 }, async () => {
      const { run, runDir, worker } = await runToSecondEpoch(`twice-${second}`);
      process.kill(worker, "SIGSTOP");
      try {
        process.kill(run.child.pid!, "SIGTERM");
        await until("the stopping line", () => run.output.includes(STOPPING), run.output, 30_000);
        const sent = Date.now();
        process.kill(run.child.pid!, second);
        expect(await run.exited, run.output.join("\n")).toBe(code);
        expect(Date.now() - sent).toBeLessThan(SHUTDOWN_GRACE_MS / 2);
      } finally {
        if (isAlive(worker)) process.kill(worker, "SIGCONT");
      }
      await until("the worker to be gone", () => !isAlive(worker), run.output, 5_000);
      if (second === "SIGINT") await expectResumeFinishes(runDir);
    });
  }
});
