// Process faults: the worker or the CLI killed (SIGKILL), hung (SIGSTOP), interrupted (SIGINT
// once and twice, SIGTERM) at chosen and at seeded random moments, during checkpoint and manifest
// writes. Every case ends within its deadline, the interrupted run resumes to the end, and the
// directory it leaves is whole: the shape of an uninterrupted run, each stage's epochs once.
import { existsSync, type FSWatcher, mkdtempSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Mcl, type MclEvent, type MclRun, type Summary } from "../../ts/index.js";
import { assertBuildCurrent } from "../ts/support/cli-binary.js";
import { isAlive, until, workerPids } from "../ts/support/processes.js";
import { killStarted, mcl, seeded } from "./support/processes.js";
import { faultConfig, quietLaunch } from "./support/tiny.js";
import { expectWholeRun } from "./support/whole-run.js";

/** How long a case waits for the run to reach stage 2's first epoch. */
const FIRST_EPOCH_MS = 60_000;

const root = mkdtempSync(join(tmpdir(), "mcl-faults-process-"));
const runs: MclRun[] = [];
const watchers: FSWatcher[] = [];
// Stage 2 has 2 epochs: a kill after its first lands inside a stage.
const config = (name: string) => faultConfig(root, name);
let reference: Summary;

beforeAll(async () => {
  assertBuildCurrent();
  const run = await Mcl.start(config("reference"), { worker: { launch: quietLaunch } });
  runs.push(run);
  reference = await run.result();
}, 600_000);

afterAll(async () => {
  for (const watcher of watchers) watcher.close();
  killStarted();
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

/** Starts (or resumes) a run through the SDK and follows it, calling `at` on each event. */
async function follow(run: MclRun, at: (event: MclEvent) => void = () => {}): Promise<{ events: MclEvent[]; error: { code?: string; message?: string } | undefined }> {
  runs.push(run);
  const events: MclEvent[] = [];
  for await (const event of run.events()) {
    events.push(event);
    at(event);
  }
  const error = await run.result().then(
    () => undefined,
    (e: unknown) => e as { code?: string; message?: string },
  );
  return { events, error };
}

/** Resumes `dir` to the end through the SDK and checks the directory is whole. */
async function resumeToEnd(dir: string): Promise<MclEvent[]> {
  const { events, error } = await follow(await Mcl.resume(dir, { worker: { launch: quietLaunch } }));
  expect(error, JSON.stringify(events.at(-1))).toBeUndefined();
  expect(events.find((e) => e.type === "run-start")).toMatchObject({ resumed: true });
  await expectWholeRun(dir, reference);
  return events;
}

/** Calls `then` once, as soon as a file whose name matches `pattern` appears in `dir`. */
function onceFileAppears(dir: string, pattern: RegExp, then: (name: string) => void): void {
  let fired = false;
  const watcher = watch(dir, { recursive: false }, (_, name) => {
    if (fired || name === null || !pattern.test(name)) return;
    fired = true;
    watcher.close();
    then(name);
  });
  watchers.push(watcher);
}

test("process: SIGKILL of the worker mid-stage (no restart): WORKER_LOST, then resume finishes whole", { timeout: 240_000 }, async () => {
  const run = await Mcl.start(config("worker-killed"), { worker: { launch: quietLaunch } });
  const { events, error } = await follow(run, (event) => {
    if (event.type === "train-progress" && event.stage === 2 && event.epoch === 1) process.kill(run.workerPid!, "SIGKILL");
  });
  expect(error?.code).toBe("WORKER_LOST");
  expect(events.at(-1)).toMatchObject({ type: "error", error: { code: "WORKER_LOST" } });
  const after = await resumeToEnd(run.dir);
  expect(after.find((e) => e.type === "stage-start")).toMatchObject({ stage: 2, fromEpoch: 1 });
});

test("process: SIGKILL of the worker mid-stage with restarts allowed: the run fails resumably or goes on; it ends whole", { timeout: 240_000 }, async () => {
  const run = await Mcl.start(config("worker-restarted"), { worker: { launch: { onOutput: () => {}, restartDelayMs: 50 } } });
  let killed = false;
  const { error } = await follow(run, (event) => {
    if (!killed && event.type === "train-progress" && event.stage === 2 && event.epoch === 1) {
      killed = true;
      process.kill(run.workerPid!, "SIGKILL");
    }
  });
  expect(killed).toBe(true);
  if (error !== undefined) {
    expect(error.code).toBe("WORKER_LOST");
    await resumeToEnd(run.dir);
  } else await expectWholeRun(run.dir, reference);
});

test("process: SIGSTOP of the worker mid-stage (hung, still connected): WORKER_LOST at the heartbeat deadline, then resume", { timeout: 240_000 }, async () => {
  const launch = { ...quietLaunch, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 2000 };
  const run = await Mcl.start(config("worker-hung"), { worker: { launch } });
  let stoppedAt = 0;
  const { error } = await follow(run, (event) => {
    if (stoppedAt === 0 && event.type === "train-progress" && event.stage === 2) {
      stoppedAt = performance.now();
      process.kill(run.workerPid!, "SIGSTOP");
    }
  });
  expect(error).toMatchObject({ code: "WORKER_LOST", message: expect.stringMatching(/no message from .* for \d+ ms/) });
  expect(performance.now() - stoppedAt).toBeLessThan(15_000);
  await resumeToEnd(run.dir);
});

test("process: SIGKILL of the worker during clustering: WORKER_LOST, then resume finishes whole", { timeout: 240_000 }, async () => {
  const run = await Mcl.start(config("killed-clustering"), { worker: { launch: quietLaunch } });
  const { error } = await follow(run, (event) => {
    if (event.type === "embed" && event.stage === 1) process.kill(run.workerPid!, "SIGKILL");
  });
  expect(error?.code).toBe("WORKER_LOST");
  await resumeToEnd(run.dir);
});

test("process: SIGKILL of the worker during a checkpoint write: the half-written file is not trusted, resume finishes whole", { timeout: 240_000 }, async () => {
  const run = await Mcl.start(config("killed-checkpoint"), { worker: { launch: quietLaunch } });
  let killedFor = "";
  const { error } = await follow(run, (event) => {
    // Stage 2's last epoch is training: its checkpoint is written next.
    if (event.type === "train-progress" && event.stage === 2 && event.epoch === 1 && killedFor === "") {
      killedFor = "armed";
      onceFileAppears(join(run.dir, "checkpoints"), /\.tmp$/, (name) => {
        killedFor = name;
        process.kill(run.workerPid!, "SIGKILL");
      });
    }
  });
  expect(killedFor).toMatch(/^\.stage-2-epoch-2\.safetensors\..*\.tmp$/);
  expect(error?.code).toBe("WORKER_LOST");
  await resumeToEnd(run.dir);
});

test("process: run.stop() during the final probes: STOPPED, then resume finishes whole", { timeout: 240_000 }, async () => {
  const run = await Mcl.start(config("stopped-probing"), { worker: { launch: quietLaunch } });
  const { events, error } = await follow(run, (event) => {
    if (event.type === "embed" && event.stage === 2) void run.stop();
  });
  expect(error?.code).toBe("STOPPED");
  expect(events.at(-1)).toMatchObject({ type: "stopped" });
  await resumeToEnd(run.dir);
});

test("process: SIGKILL of the worker at 4 seeded random moments, each followed by a resume: the run ends whole", { timeout: 480_000 }, async () => {
  const dir = join(root, "random-worker-kills");
  const random = seeded(7_2024);
  const moments: string[] = [];
  let finished = false;
  for (let kill = 0; kill < 4 && !finished; kill++) {
    // Killed before its first commit, a new run leaves nothing to resume: it starts again.
    const run = existsSync(join(dir, "manifest.json"))
      ? await Mcl.resume(dir, { worker: { launch: quietLaunch } })
      : await Mcl.start(config("random-worker-kills"), { worker: { launch: quietLaunch } });
    // Anywhere in the 4 s after the worker is up: training, checkpoint writes, clustering, probes.
    const delay = Math.floor(random() * 4000);
    let last = "";
    let timer: NodeJS.Timeout | undefined;
    const { error } = await follow(run, (event) => {
      last = event.type;
      if (event.type === "run-start") timer = setTimeout(() => process.kill(run.workerPid!, "SIGKILL"), delay);
    });
    clearTimeout(timer);
    moments.push(`${delay} ms: ${error?.code ?? "finished"} after ${last}`);
    if (error === undefined) finished = true;
    else expect(error.code, moments.join("\n")).toBe("WORKER_LOST");
  }
  expect(moments.filter((m) => m.includes("WORKER_LOST")).length, moments.join("\n")).toBeGreaterThanOrEqual(2);
  if (finished) await expectWholeRun(dir, reference);
  else if (existsSync(join(dir, "manifest.json"))) await resumeToEnd(dir);
  else {
    // Every kill came before the first commit: the run starts again from nothing.
    const { error } = await follow(await Mcl.start(config("random-worker-kills"), { worker: { launch: quietLaunch } }));
    expect(error).toBeUndefined();
    await expectWholeRun(dir, reference);
  }
});

/** Writes the config of `name` for the CLI and gives the file and the run directory. */
function cliConfig(name: string): { file: string; dir: string } {
  const file = join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify(config(name)));
  return { file, dir: join(root, name) };
}

/**
 * `mcl resume dir` to the end: exit 0, and the directory whole. After a CLI that was killed (it
 * could not release its lock), the resume takes the lock over, saying so.
 */
async function cliResumeToEnd(dir: string, { staleLock = false } = {}): Promise<string[]> {
  const resumed = mcl("resume", dir);
  const { code } = await resumed.exited;
  const output = resumed.output.join("\n");
  expect(code, output).toBe(0);
  expect(resumed.output.some((line) => line.startsWith(`resuming ${dir} `)), output).toBe(true);
  if (staleLock) expect(output).toMatch(/MCL_STALE_LOCK.*took over the lock of pid \d+/);
  await expectWholeRun(dir, reference);
  return resumed.output;
}

async function workerGone(workers: number[], output: string[]): Promise<void> {
  await until("the worker to be gone", () => workers.every((pid) => !isAlive(pid)), output, 10_000);
}

test("process: SIGKILL of the CLI mid-stage: its worker goes too; mcl resume takes the lock over and finishes whole", { timeout: 300_000 }, async () => {
  const { file, dir } = cliConfig("cli-killed");
  const run = mcl("run", file);
  await until("stage 2's first epoch", () => run.output.some((line) => line.startsWith("stage 2 epoch 1/2")), run.output, FIRST_EPOCH_MS);
  const workers = workerPids(run.child.pid!);
  expect(workers).toHaveLength(1);
  run.child.kill("SIGKILL");
  expect((await run.exited).signal).toBe("SIGKILL");
  await workerGone(workers, run.output);
  const output = await cliResumeToEnd(dir, { staleLock: true });
  // The epoch's line comes before its commit: a kill between the two trains that epoch again.
  expect(output.some((line) => /^stage 2: 2 epochs(, from epoch 2)?$/.test(line)), output.join("\n")).toBe(true);
});

test("process: SIGKILL of the CLI during a manifest write: the previous commit holds, mcl resume finishes whole", { timeout: 300_000 }, async () => {
  const { file, dir } = cliConfig("cli-killed-manifest");
  const run = mcl("run", file);
  await until("stage 2's first epoch", () => run.output.some((line) => line.startsWith("stage 2 epoch 1/2")), run.output, FIRST_EPOCH_MS);
  let caught = "";
  onceFileAppears(dir, /^manifest\.json\.tmp-/, (name) => {
    caught = name;
    run.child.kill("SIGKILL");
  });
  const { signal } = await run.exited;
  expect(signal, `the run ended before a manifest write was caught:\n${run.output.join("\n")}`).toBe("SIGKILL");
  expect(caught).toMatch(/^manifest\.json\.tmp-/);
  await cliResumeToEnd(dir, { staleLock: true });
});

test("process: SIGINT once mid-epoch: exit 130 with the resume command, no worker left; mcl resume finishes whole", { timeout: 300_000 }, async () => {
  const { file, dir } = cliConfig("sigint-once");
  const run = mcl("run", file);
  await until("stage 2's first epoch", () => run.output.some((line) => line.startsWith("stage 2 epoch 1/2")), run.output, FIRST_EPOCH_MS);
  const workers = workerPids(run.child.pid!);
  process.kill(-run.child.pid!, "SIGINT");
  expect((await run.exited).code, run.output.join("\n")).toBe(130);
  expect(run.output).toContain(`stopped; resume with: mcl resume ${dir}`);
  await workerGone(workers, run.output);
  await cliResumeToEnd(dir);
});

test("process: SIGINT twice: quits at once (130), no worker and no lock left; mcl resume finishes whole", { timeout: 300_000 }, async () => {
  const { file, dir } = cliConfig("sigint-twice");
  const run = mcl("run", file);
  await until("stage 2's first epoch", () => run.output.some((line) => line.startsWith("stage 2 epoch 1/2")), run.output, FIRST_EPOCH_MS);
  const workers = workerPids(run.child.pid!);
  process.kill(-run.child.pid!, "SIGINT");
  await until("the first Ctrl-C to be seen", () => run.output.some((line) => line.startsWith("stopping")), run.output, 5_000);
  process.kill(-run.child.pid!, "SIGINT");
  const started = performance.now();
  expect((await run.exited).code, run.output.join("\n")).toBe(130);
  expect(performance.now() - started).toBeLessThan(3_000);
  await workerGone(workers, run.output);
  await cliResumeToEnd(dir);
});

test("process: SIGTERM mid-epoch: a resumable stop with the resume command, no worker left; mcl resume finishes whole", { timeout: 300_000 }, async () => {
  const { file, dir } = cliConfig("sigterm");
  const run = mcl("run", file);
  await until("stage 2's first epoch", () => run.output.some((line) => line.startsWith("stage 2 epoch 1/2")), run.output, FIRST_EPOCH_MS);
  const workers = workerPids(run.child.pid!);
  run.child.kill("SIGTERM");
  const { code, signal } = await run.exited;
  expect({ signal, stoppedWith130or143: code === 130 || code === 143 }, run.output.join("\n")).toEqual({ signal: null, stoppedWith130or143: true });
  expect(run.output).toContain(`stopped; resume with: mcl resume ${dir}`);
  await workerGone(workers, run.output);
  await cliResumeToEnd(dir);
});

test("process: SIGKILL of the CLI at 5 seeded random moments, each followed by mcl resume: the run ends whole", { timeout: 480_000 }, async () => {
  const { file, dir } = cliConfig("random-kills");
  const random = seeded(20_240_601);
  const moments: string[] = [];
  for (let kill = 0; kill < 5; kill++) {
    // Killed before its manifest was first written, a run is started again rather than resumed.
    const cli = existsSync(join(dir, "manifest.json")) ? mcl("resume", dir) : mcl("run", file);
    // After start-up (the worker answers within ~2 s): anywhere from there to a few seconds in.
    const delay = 1500 + Math.floor(random() * 4000);
    let workers: number[] = [];
    const timer = setTimeout(() => {
      workers = workerPids(cli.child.pid!);
      cli.child.kill("SIGKILL");
    }, delay);
    const { code, signal } = await cli.exited;
    clearTimeout(timer);
    moments.push(`${delay} ms: ${signal ?? `exit ${code}`} after "${cli.output.at(-1) ?? ""}"`);
    // A session that ended on its own before its kill finished the run; any other end is a failure.
    expect(signal === "SIGKILL" || code === 0, moments.join("\n")).toBe(true);
    await workerGone(workers, cli.output);
    if (code === 0) break;
  }
  if (existsSync(join(dir, "manifest.json"))) await cliResumeToEnd(dir);
  else {
    // The last kill came before the run was first written: it starts again, taking the lock over.
    const fresh = mcl("run", file);
    expect((await fresh.exited).code, fresh.output.join("\n")).toBe(0);
    await expectWholeRun(dir, reference);
  }
});
