/**
 * The SDK's entry points:
 *
 *   const run = await Mcl.start({ name: "trifeature", stages: 3, clusters: 10, epochsPerStage: 3 });
 *   const run = await Mcl.resume("runs/trifeature");
 *
 * start() validates the config (a ConfigError names every bad field) and checks that this
 * version can run it before any worker starts, then creates the run directory
 * <config.runDir>/<config.name> (refused when it already holds a run: resume it instead).
 * resume() reopens a run directory at its last commit and continues it with the config stored
 * there. Both launch a local worker unless `worker.endpoint` names one to connect to.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RunStore } from "../control/run-store.js";
import { initialState, scheduleFromConfig } from "../control/stage-scheduler.js";
import { parseConfig } from "../config/load-config.js";
import type { MclConfig, MclConfigInput } from "../config/mcl-config.js";
import { projectRoot } from "../transport/index.js";
import { PROTOCOL_VERSION } from "../wire/index.js";
import { MclRun } from "./mcl-run.js";
import { openWorker, type WorkerOptions } from "./worker-connection.js";
import { requireSupported } from "./worker-requests.js";

export interface RunOptions {
  /** The worker: launched locally by default. */
  readonly worker?: WorkerOptions;
}

export const Mcl = {
  /** Starts a new run of `config` (an object as written, or an already parsed config). */
  async start(config: MclConfigInput | MclConfig, options: RunOptions = {}): Promise<MclRun> {
    const parsed = parseConfig(config);
    requireSupported(parsed);
    const dir = join(parsed.runDir, parsed.name);
    const store = await RunStore.create(dir, {
      config: parsed,
      versions: { package: packageVersion(), protocol: PROTOCOL_VERSION },
      state: initialState(scheduleFromConfig(parsed)),
    });
    return new MclRun(store, () => openWorker(options.worker), false);
  },

  /** Continues the run in `runDir` from its last commit (a finished run only reports its summary). */
  async resume(runDir: string, options: RunOptions = {}): Promise<MclRun> {
    const store = await RunStore.open(runDir);
    requireSupported(store.manifest.config);
    return new MclRun(store, () => openWorker(options.worker), true);
  },
} as const;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}
