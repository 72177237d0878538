// Ctrl-C in `mcl run`, as a terminal delivers it (SIGINT to the CLI's whole process group): the
// run stops cleanly (the job in flight is cancelled, the worker shut down, not killed), the CLI
// says how to resume and exits 130, no worker is left, and `mcl resume` finishes the run.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { tinyConfig } from "../sdk/tiny-config.js";
import { isAlive, until, workerPids } from "../support/processes.js";
import { hasProc, killLeftovers, mcl } from "./cli-process.js";

const root = mkdtempSync(join(tmpdir(), "mcl-cli-ctrl-c-"));

afterAll(() => {
  killLeftovers();
  rmSync(root, { recursive: true, force: true });
});

test.runIf(hasProc)(
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
