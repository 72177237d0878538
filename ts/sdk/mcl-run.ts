/**
 * A run in progress: MCL's stages driven on a worker, the equal-compute baseline, then the
 * probes that measure what each representation learned (summary.json).
 *
 *   const run = await Mcl.start({ name: "demo", stages: 3, epochsPerStage: 3 });
 *   for await (const event of run.events()) console.log(event.type);
 *   const summary = await run.result();
 *   const z = await run.embed("synthetic:trifeature?n=100&seed=7");   // integrated representation
 *   await run.stop();                                                   // releases the worker
 *
 * Work starts as soon as the run object exists. The run directory is committed after every
 * epoch and clustering, so a run stopped (stop(), Ctrl-C) or failed (the worker died) resumes
 * with Mcl.resume(runDir) from its last committed step.
 */

import { performance } from "node:perf_hooks";
import { resolveIntegrationSpec } from "../control/integration.js";
import { driveRun } from "../control/run-driver.js";
import type { RunStore } from "../control/run-store.js";
import type { Action, SchedulerState } from "../control/stage-scheduler.js";
import { perStage, type MclConfig } from "../config/mcl-config.js";
import type { Tensor } from "../wire/index.js";
import { type DatasetOpenResult, WorkerJobs } from "../worker/index.js";
import { errorCode, MclError } from "./errors.js";
import { EventLog, type MclEvent } from "./events.js";
import { type Accuracies, type ProbeScores, readSummary, SUMMARY_FORMAT, writeSummary, type Summary } from "./summary.js";
import { WorkerExecutor } from "./worker-executor.js";
import type { WorkerConnection } from "./worker-connection.js";

export interface EmbedResult {
  /** Row-major float32 [rows, dim]. */
  readonly data: Float32Array;
  readonly rows: number;
  readonly dim: number;
}

type Phase = "running" | "finished" | "failed" | "stopped";

export class MclRun {
  /** The run directory (manifest, clusterings, checkpoints, probes, summary.json). */
  readonly dir: string;
  readonly config: MclConfig;
  readonly #store: RunStore;
  readonly #connect: () => Promise<WorkerConnection>;
  readonly #resumed: boolean;
  readonly #log = new EventLog();
  readonly #abort = new AbortController();
  readonly #outcome: Promise<Summary>;
  readonly #started = performance.now();
  #phase: Phase = "running";
  #worker: WorkerConnection | undefined;
  #executor: WorkerExecutor | undefined;
  #data: DatasetOpenResult | undefined;
  #stopping: Promise<void> | undefined;

  /** @internal use Mcl.start or Mcl.resume */
  constructor(store: RunStore, connect: () => Promise<WorkerConnection>, resumed: boolean) {
    this.#store = store;
    this.dir = store.dir;
    this.config = store.manifest.config;
    this.#connect = connect;
    this.#resumed = resumed;
    this.#outcome = this.#main();
    this.#outcome.catch(() => undefined); // reported through events() and result()
  }

  /** Every event of this session, from the first, as they happen; ends when the run ends. */
  events(): AsyncIterable<MclEvent> {
    return this.#log.iterate();
  }

  /** Resolves with the summary when the run finishes; rejects with the error that ended it. */
  result(): Promise<Summary> {
    return this.#outcome;
  }

  /** The pid of the worker process this run launched (undefined for a connected worker, or after stop()). */
  get workerPid(): number | undefined {
    return this.#worker?.pid;
  }

  /**
   * Measures every stage, the integrated representation and the baseline with the per-attribute
   * probes, writes summary.json and returns it. The run does this itself when training ends;
   * call it again on a finished run to re-measure.
   */
  async evaluate(): Promise<Summary> {
    const executor = this.#ready("evaluate");
    if (this.#store.manifest.state.phase !== "done") {
      throw new MclError("INVALID_STATE", "evaluate: the run has not finished training; wait for result() first");
    }
    return this.#evaluate(executor);
  }

  /**
   * The integrated representation of a finished run for the samples of a dataset URI the worker
   * can open (e.g. `synthetic:trifeature?n=100&seed=7`, `npz:/data/images.npz`), images resized to
   * the run's size. Raw images cannot be sent yet: the worker has no job that takes them.
   */
  async embed(input: string): Promise<EmbedResult> {
    const executor = this.#ready("embed");
    if (this.#store.manifest.state.phase !== "done") {
      throw new MclError("INVALID_STATE", "embed: the run has not finished training; wait for result() first");
    }
    const jobs = new WorkerJobs(this.#worker!.client);
    const opened = await jobs.openDataset(input, { signal: this.#abort.signal });
    try {
      const spec = resolveIntegrationSpec(this.config.integration, this.config.stages);
      const integrated = await executor.integrated(spec, opened.dataset);
      try {
        const tensor: Tensor = await jobs.fetchTensor(integrated.embedding, { signal: this.#abort.signal });
        const [rows, dim] = integrated.shape;
        return { data: tensor.data as Float32Array, rows: rows!, dim: dim! };
      } finally {
        await jobs.free(integrated.embedding).catch(() => undefined);
      }
    } finally {
      await jobs.free(opened.dataset).catch(() => undefined);
    }
  }

  /**
   * Stops the run if it is still going (jobs in flight are cancelled, the run directory is left
   * at its last commit, resumable), then releases the worker (a launched one is shut down).
   * Call it when done with a finished run too. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#phase === "running") this.#abort.abort(new MclError("STOPPED", "the run was stopped"));
      await this.#outcome.catch(() => undefined);
      await this.#release();
    })();
    return this.#stopping;
  }

  async #main(): Promise<Summary> {
    try {
      const finished = this.#store.manifest.state.phase === "done" ? await readSummary(this.dir) : null;
      this.#worker = await this.#connect();
      const jobs = new WorkerJobs(this.#worker.client);
      this.#data = await jobs.openDataset(this.config.dataset, { signal: this.#abort.signal });
      this.#checkAttributes(this.#data);
      const executor = new WorkerExecutor(jobs, this.#store, this.#data, this.#log, this.#abort.signal);
      this.#executor = executor;
      this.#log.push({
        type: "run-start",
        runDir: this.dir,
        resumed: this.#resumed,
        numSamples: this.#data.size,
        device: this.#worker.device,
      });
      let summary = finished;
      if (summary === null) {
        await driveRun(this.#store, executor, {
          numSamples: this.#data.size,
          signal: this.#abort.signal,
          onTransition: (action, state) => this.#transition(action, state),
        });
        summary = await this.#evaluate(executor);
      }
      this.#phase = "finished";
      this.#log.push({ type: "done", summary });
      this.#log.close();
      return summary;
    } catch (error) {
      const stopped = this.#abort.signal.aborted;
      this.#phase = stopped ? "stopped" : "failed";
      if (stopped) this.#log.push({ type: "stopped", runDir: this.dir });
      else this.#log.push({ type: "error", error: { code: errorCode(error), message: (error as Error).message } });
      this.#log.close();
      await this.#release();
      throw stopped ? new MclError("STOPPED", `the run was stopped; resume it with Mcl.resume(${JSON.stringify(this.dir)})`, { cause: error }) : error;
    }
  }

  /** After each committed step: a clustering's statistics once its composite groups are recorded. */
  #transition(action: Action, _state: SchedulerState): void {
    if (action.kind !== "plan") return;
    const record = this.#store.manifest.stages[action.stage - 1];
    const composite = record?.composite;
    if (record === undefined || composite === undefined) return;
    const leftOut = composite.plan?.["leftOut"];
    this.#log.push({
      type: "cluster",
      stage: action.stage,
      k: record.k,
      stats: {
        kmeans: this.#executor?.kmeansOutcome(action.stage) ?? null,
        groups: composite.stats,
        leftOut: typeof leftOut === "number" ? leftOut : null,
      },
    });
  }

  async #evaluate(executor: WorkerExecutor): Promise<Summary> {
    const config = this.config;
    const epochs = perStage(config.epochsPerStage, config.stages);
    const stages: Summary["stages"] = [];
    for (let stage = 1; stage <= config.stages; stage++) {
      const probe = await executor.stageProbe(stage);
      // Stages 1…S-1 reported theirs when they were clustered in this session.
      if (stage === config.stages || !this.#reported(stage)) this.#log.push({ type: "probe", stage, probe });
      stages.push({ stage, epochs: epochs[stage - 1]!, ...summaryScores(probe) });
    }
    const spec = resolveIntegrationSpec(config.integration, config.stages);
    const integrated = await executor.integrated(spec);
    const integratedProbe = await executor.probe(integrated.embedding);
    this.#log.push({ type: "probe", stage: "integrated", probe: integratedProbe });
    let baseline: Summary["baseline"];
    if (config.baseline) {
      const probe = await executor.probe(await executor.embedding("baseline"));
      this.#log.push({ type: "probe", stage: "baseline", probe });
      baseline = { epochs: epochs.reduce((a, b) => a + b, 0), ...summaryScores(probe) };
    }
    const summary: Summary = {
      format: SUMMARY_FORMAT,
      name: config.name,
      dataset: { uri: config.dataset, samples: this.#data!.size },
      encoder: config.encoder,
      attributes: Object.keys(stages[0]?.probe ?? {}),
      stages,
      integrated: {
        spec: { stages: [...spec.stages], weights: [...spec.weights], normalize: spec.normalize },
        ...summaryScores(integratedProbe),
      },
      ...(baseline === undefined ? {} : { baseline }),
      seconds: (performance.now() - this.#started) / 1000,
      resumed: this.#resumed,
      finishedAt: new Date().toISOString(),
    };
    await writeSummary(this.dir, summary);
    return summary;
  }

  #reported(stage: number): boolean {
    return this.#log.snapshot().some((event) => event.type === "probe" && event.stage === stage);
  }

  #checkAttributes(data: DatasetOpenResult): void {
    const wanted = this.config.probe.attributes;
    if (wanted === "all") return;
    const known = data.attributes.map((a) => a.name);
    const missing = wanted.filter((name) => !known.includes(name));
    if (missing.length > 0) {
      throw new MclError(
        "UNKNOWN_ATTRIBUTE",
        `probe.attributes: ${this.config.dataset} has no attribute ${missing.map((m) => JSON.stringify(m)).join(", ")}; it has ${known.join(", ") || "none"}`,
      );
    }
  }

  #ready(what: string): WorkerExecutor {
    if (this.#executor === undefined || this.#worker === undefined || this.#phase === "failed" || this.#phase === "stopped" || this.#stopping !== undefined) {
      throw new MclError("INVALID_STATE", `${what}: the run has no worker (it was stopped, failed or is still starting)`);
    }
    return this.#executor;
  }

  async #release(): Promise<void> {
    const worker = this.#worker;
    const executor = this.#executor;
    this.#worker = undefined;
    this.#executor = undefined;
    // A launched worker takes its handles with it; a connected one keeps serving, so free them.
    if (worker !== undefined && !worker.launched) await executor?.release();
    await worker?.close();
  }
}

/** A probe as summary.json holds it: linear accuracies, and kNN ones when they were measured. */
function summaryScores(probe: ProbeScores): { probe: Accuracies; knn?: Accuracies } {
  return probe.knn === undefined ? { probe: probe.linear } : { probe: probe.linear, knn: probe.knn };
}
