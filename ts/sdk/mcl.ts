/**
 * The SDK's entry points:
 *
 *   const run = await Mcl.start({ name: "trifeature", stages: 3, clusters: 10, epochsPerStage: 3 });
 *   const run = await Mcl.resume("runs/trifeature");
 *
 * start() validates the config (a ConfigError names every bad field), checks that this version
 * can run it and that the weights it starts from are a readable file, before any worker starts,
 * and refuses a run directory <config.runDir>/<config.name> that already holds a run (resume it
 * instead). What only the dataset can tell (its attributes, channels, captions, its size against
 * the clusters and the batch size) is checked once the worker has opened it (preflight.ts); only
 * then is the run written in its directory. A new run that fails before anything trained leaves no
 * run directory behind, so that the same name starts again once the config is fixed.
 * resume() reopens a run directory at its last commit and continues it with the config stored
 * there. Both launch a local worker unless `worker.endpoint` names one to connect to, and both
 * hold the run directory's lock (run-lock.ts) until the run ends: a second start or resume of the
 * same directory meanwhile is refused with RunError RUN_LOCKED, naming the process that holds it.
 *
 * Step by step (a notebook): pause after a stage's clustering, look at it, then go on:
 *
 *   const first = await Mcl.start({ ...config, stages: 3 }, { pauseAfterStage: 1 });
 *   for await (const event of first.events()) show(event);      // ends with { type: "paused" }
 *   const clusters = await readClusters(first.dir);             // k-means and composite groups
 *   const rest = await Mcl.resume(first.dir);                   // stages 2 and 3, probes
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type CreateRunOptions, RunStore } from "../run/run-store.js";
import { initialState, type StageSchedule } from "../control/stage-scheduler.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import { firstStage, lastStage } from "../run/track.js";
import { parseConfig } from "../config/load-config.js";
import type { MclConfig, MclConfigInput } from "../config/mcl-config.js";
import { type WorkerOptions, openWorker, projectRoot } from "../transport/index.js";
import { PROTOCOL_VERSION } from "../wire/index.js";
import { MANIFEST_FILE, type RunManifest } from "../run/run-store.js";
import { RunError } from "../run/errors.js";
import { MclRun } from "./mcl-run.js";
import { checkWeightFiles } from "./preflight.js";
import { type LockPurpose, RunLock } from "./run-lock.js";
import { checkRunPlugins } from "../plugins/plugin-check.js";

export interface RunOptions {
  /** The worker: launched locally by default. */
  readonly worker?: WorkerOptions;
  /**
   * Pause once stage k's clustering is committed (k a stage with a clustering after it: 1…S-1, a
   * CLIP run's 0…S-1, numbered as everywhere else): the session ends resumably
   * with a `paused` event, result() rejects with RunError PAUSED, Mcl.resume(dir) continues.
   */
  readonly pauseAfterStage?: number;
  /**
   * The modules or packages the config's plugins (py:…) may come from, e.g. ["my_plugins"]: a
   * config naming a plugin is refused unless this option or the worker environment's
   * MCL_WORKER_PLUGINS allows it (a shared config or run directory must not run code by itself).
   */
  readonly allowPlugins?: readonly string[];
}

export const Mcl = {
  /** Starts a new run of `config` (an object as written, or an already parsed config). */
  async start(config: MclConfigInput | MclConfig, options: RunOptions = {}): Promise<MclRun> {
    const parsed = parseConfig(config);
    const schedule = scheduleFromConfig(parsed);
    checkPause(options.pauseAfterStage, schedule, null);
    await checkWeightFiles(parsed, options.worker);
    // plugins (py:…) are allowed by the user and pass their checks before anything starts
    const worker = await checkRunPlugins(parsed, options.worker, { allowPlugins: options.allowPlugins, entry: "start" });
    const dir = join(parsed.runDir, parsed.name);
    return underLock(dir, "start", async (lock) => {
      await RunStore.requireNew(dir);
      const create: CreateRunOptions = {
        config: parsed,
        versions: { package: packageVersion(), protocol: PROTOCOL_VERSION },
        state: initialState(schedule),
      };
      return new MclRun({ dir, create }, lock, () => openWorker(worker), options.pauseAfterStage, options.worker?.launch?.python);
    });
  },

  /** Continues the run in `runDir` from its last commit (a finished run only reports its summary). */
  async resume(runDir: string, options: RunOptions = {}): Promise<MclRun> {
    // Opened under the lock: the state a run that held it last committed.
    return underLock(runDir, "resume", async (lock) => {
      const store = await RunStore.open(runDir);
      checkPause(options.pauseAfterStage, scheduleFromConfig(store.manifest.config), store.manifest);
      const worker = await checkRunPlugins(store.manifest.config, options.worker, {
        allowPlugins: options.allowPlugins,
        entry: "resume",
        source: join(runDir, MANIFEST_FILE),
      });
      return new MclRun({ store }, lock, () => openWorker(worker), options.pauseAfterStage, options.worker?.launch?.python);
    });
  },
} as const;

/**
 * Makes a run under the lock of its directory (RunError RUN_LOCKED while another process writes
 * there): the run holds the lock until it ends; a run that cannot be made releases it at once,
 * which removes the directory when the lock made it.
 */
async function underLock(dir: string, purpose: LockPurpose, make: (lock: RunLock) => Promise<MclRun>): Promise<MclRun> {
  const lock = await RunLock.acquire(dir, purpose);
  try {
    return await make(lock);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/** pauseAfterStage names a clustering still ahead of the run (INVALID_INPUT otherwise). */
function checkPause(stage: number | undefined, schedule: StageSchedule, manifest: RunManifest | null): void {
  if (stage === undefined) return;
  const [first, last] = [firstStage(schedule), lastStage(schedule)];
  if (!Number.isInteger(stage) || stage < first || stage >= last) {
    const expected =
      last > first ? `expected an integer from ${first} to ${last - 1} (stages with a clustering after them)` : "a 1-stage run has no clustering to pause after; leave it out";
    throw new RunError("INVALID_INPUT", `pauseAfterStage: ${expected}, got ${stage}`);
  }
  if (manifest?.stages.find((record) => record.stage === stage)?.composite !== undefined) {
    throw new RunError("INVALID_INPUT", `pauseAfterStage: the run is already past stage ${stage}'s clustering; leave it out or name a later stage`);
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}
