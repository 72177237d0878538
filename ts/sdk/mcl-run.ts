/**
 * A run in progress: MCL's stages driven on a worker, the equal-compute baseline, then the
 * probes that measure what each representation learned (summary.json), and the visual report
 * (report.html; run.report() gives it as strings).
 *
 *   const run = await Mcl.start({ name: "demo", stages: 3, epochsPerStage: 3 });
 *   for await (const event of run.events()) console.log(event.type);
 *   const summary = await run.result();
 *   const z = await run.embed("synthetic:trifeature?n=100&seed=7");   // integrated representation
 *   const w = await run.embed(tensor("uint8", [n, 3, 32, 32], pixels)); // of raw images
 *   await run.stop();                                                   // releases the worker
 *
 * Work starts as soon as the run object exists. A new run is written to its directory once the
 * worker has opened the dataset and the config passed every check against it (preflight.ts); one
 * that fails before anything trained removes what it wrote. The run directory is committed after
 * every epoch and clustering, so a run stopped (stop(), Ctrl-C), paused (RunOptions.pauseAfterStage)
 * or failed (the worker died) resumes with Mcl.resume(runDir) from its last committed step.
 */

import { performance } from "node:perf_hooks";
import { type IntegrationSpec, resolveIntegrationSpec } from "../control/integration.js";
import { driveRun } from "../run/run-driver.js";
import { type CreateRunOptions, removeInterruptedWrites, RunStore } from "../run/run-store.js";
import { type Action, type SchedulerState } from "../control/stage-scheduler.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import type { MclConfig } from "../config/mcl-config.js";
import { isClipEncoder } from "../config/clip-config.js";
import { preprocessOf } from "../config/preprocess.js";
import { ClipExecutor } from "./clip-executor.js";
import type { DatasetOpenResult, Tensor } from "../wire/index.js";
import { checkImages } from "./image-input.js";
import { WorkerJobs } from "../client/index.js";
import { errorCodeOf } from "../errors.js";
import { RunError } from "../run/errors.js";
import { exportEncoders, type ExportOptions, type ExportResult } from "./export.js";
import { EventLog, type MclEvent } from "./events.js";
import { firstStage, lastStage, schedulerStage, stageNumber, stageNumbers, type Track } from "../run/track.js";
import { ExperimentLogs } from "./experiment-logs.js";
import { sinkCommand } from "./wandb-sink.js";
import { choosePython } from "../transport/python-env.js";
import { RunLock } from "./run-lock.js";
import { LossRecorder } from "../report/loss-history.js";
import { type Report, renderReport, writeReport } from "../report/report.js";
import { type Accuracies, type ProbeScores, readSummary, type Sampling, SUMMARY_FORMAT, writeSummary, type Summary } from "../run/summary.js";
import { trackSampling } from "./left-out.js";
import { checkDatasetFit, checkDevice, datasetOpenError } from "./preflight.js";
import { checkRunFiles } from "./run-files.js";
import { type ImageSource, recoverCheckpoints, EncoderExecutor, RELEASE_TIMEOUT_MS } from "./encoder-executor.js";
import type { WorkerConnection } from "../transport/open.js";

export interface EmbedResult {
  /** Row-major float32 [rows, dim]. */
  readonly data: Float32Array;
  readonly rows: number;
  readonly dim: number;
}

type Phase = "running" | "finished" | "failed" | "stopped" | "paused";

/** The run's directory: a stored run (resumed), or a new one, written once its checks pass. */
export type RunOpening = { readonly store: RunStore } | { readonly dir: string; readonly create: CreateRunOptions };

export class MclRun {
  /** The run directory (manifest, clusterings, checkpoints, probes, summary.json). */
  readonly dir: string;
  readonly config: MclConfig;
  readonly #opening: RunOpening;
  /** The stored run, or the new one once written. */
  #store: RunStore | undefined;
  /** The run directory's lock, held until the run ends (finished, stopped, paused or failed). */
  readonly #lock: RunLock;
  readonly #connect: () => Promise<WorkerConnection>;
  readonly #resumed: boolean;
  readonly #pauseAfterStage: number | undefined;
  readonly #log = new EventLog();
  readonly #abort = new AbortController();
  readonly #outcome: Promise<Summary>;
  readonly #started = performance.now();
  #phase: Phase = "running";
  #worker: WorkerConnection | undefined;
  #executor: EncoderExecutor | undefined;
  #data: DatasetOpenResult | undefined;
  #stopping: Promise<void> | undefined;
  readonly #losses: LossRecorder;
  /** metrics.jsonl, the TensorBoard event file and W&B, fed from the events. */
  readonly #logs: ExperimentLogs;
  /** The launched worker's interpreter as asked (the W&B sidecar runs in it; undefined: the default). */
  readonly #python: string | undefined;

  /** @internal use Mcl.start or Mcl.resume */
  constructor(opening: RunOpening, lock: RunLock, connect: () => Promise<WorkerConnection>, pauseAfterStage?: number, python?: string) {
    this.#opening = opening;
    this.#resumed = "store" in opening;
    this.#store = "store" in opening ? opening.store : undefined;
    this.dir = "store" in opening ? opening.store.dir : opening.dir;
    this.config = "store" in opening ? opening.store.manifest.config : opening.create.config;
    this.#lock = lock;
    this.#connect = connect;
    this.#pauseAfterStage = pauseAfterStage;
    this.#python = python;
    this.#losses = new LossRecorder(this.dir);
    this.#logs = ExperimentLogs.attach(this.#log, this.dir, this.config, this.#resumed);
    this.#outcome = this.#main();
    this.#outcome.catch(() => undefined); // reported through events() and result()
  }

  /** Every event of this session, from the first, as they happen; ends when the run ends. */
  events(): AsyncIterable<MclEvent> {
    return this.#log.iterate();
  }

  /**
   * Resolves with the summary when the run finishes; rejects with the error that ended it
   * (RunError STOPPED or PAUSED when it ended resumably).
   */
  result(): Promise<Summary> {
    return this.#outcome;
  }

  /**
   * The run's visual report, rendered from its directory (finished or not): a self-contained HTML
   * page, each chart as SVG markup and as a Vega-Lite spec, e.g. for a notebook. A finished run
   * has also written it to report.html and report-accuracy.svg.
   */
  report(): Promise<Report> {
    return renderReport(this.dir);
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
    if (this.#store?.manifest.state.phase !== "done") {
      throw new RunError("INVALID_STATE", "evaluate: the run has not finished training; wait for result() first");
    }
    // The run released its directory when it finished; this writes summary.json and the probes again.
    const lock = await RunLock.acquire(this.dir, "evaluate");
    try {
      return await this.#evaluate(executor);
    } finally {
      await lock.release();
    }
  }

  /**
   * The integrated representation of a finished run, one row per image, of either
   * - the samples of a dataset URI the worker can open (e.g. `synthetic:trifeature?n=100&seed=7`,
   *   `npz:/data/images.npz`), or
   * - raw images: a uint8 tensor [N, C, H, W] (channels first, values 0-255, C the channels of
   *   the run's dataset), e.g. `tensor("uint8", [n, 3, 32, 32], pixels)`, sent to the worker in
   *   one message (at most its max message size, 1 GiB by default).
   * Images of another height or width are resized to the run's size. Bad images are refused
   * with a RunError INVALID_INPUT naming the field before anything is sent.
   */
  async embed(input: string | Tensor): Promise<EmbedResult> {
    const executor = this.#ready("embed");
    if (this.#store?.manifest.state.phase !== "done") {
      throw new RunError("INVALID_STATE", "embed: the run has not finished training; wait for result() first");
    }
    const jobs = new WorkerJobs(this.#worker!.client);
    const options = { signal: this.#abort.signal };
    let source: ImageSource;
    if (typeof input === "string") source = { dataset: (await jobs.openDataset(input, options)).dataset };
    else source = { images: await jobs.putTensor(checkImages(input, this.#data!.image_shape[0]!), options) };
    const uploaded = "dataset" in source ? source.dataset : source.images;
    try {
      const integrated = await executor.integrated(integrationOf(this.config), source);
      try {
        const tensor: Tensor = await jobs.fetchTensor(integrated.embedding, options);
        const [rows, dim] = integrated.shape;
        return { data: tensor.data as Float32Array, rows: rows!, dim: dim! };
      } finally {
        await jobs.free(integrated.embedding).catch(() => undefined);
      }
    } finally {
      await jobs.free(uploaded).catch(() => undefined);
    }
  }

  /**
   * Writes a finished run's encoder to a file (exportRun, docs/usage.md "Taking the model out"): a
   * stage's weights in the names torchvision, timm or open_clip load (`{ stage }`), or the
   * integrated encoder as one TorchScript module that gives embed()'s output (`{ integrated: true }`).
   */
  async export(options: ExportOptions = {}): Promise<ExportResult> {
    this.#ready("export");
    if (this.#store?.manifest.state.phase !== "done") {
      throw new RunError("INVALID_STATE", "export: the run has not finished training; wait for result() first");
    }
    const jobs = new WorkerJobs(this.#worker!.client);
    return exportEncoders(jobs, this.#store, this.#data!, options, this.#abort.signal);
  }

  /**
   * Stops the run if it is still going (jobs in flight are cancelled, the run directory is left
   * at its last commit, resumable), then releases the worker (a launched one is shut down).
   * Call it when done with a finished run too. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#phase === "running") this.#abort.abort(new RunError("STOPPED", "the run was stopped"));
      await this.#outcome.catch(() => undefined);
      await this.#release();
    })();
    return this.#stopping;
  }

  async #main(): Promise<Summary> {
    try {
      if ("store" in this.#opening) await this.#prepareResume(this.#opening.store);
      const finished = this.#store?.manifest.state.phase === "done" ? await readSummary(this.dir) : null;
      this.#worker = await this.#connect();
      checkDevice(this.config, this.#worker.hello);
      const jobs = new WorkerJobs(this.#worker.client);
      const { dataset: uri, datasetArgs: args } = this.config;
      this.#data = await jobs.openDataset(args === undefined ? uri : { uri, args }, { signal: this.#abort.signal }).catch((error: unknown) => {
        throw datasetOpenError(error);
      });
      this.#checkDataset(this.#data, this.#worker.worldSize);
      const store = await this.#open();
      // After the run files exist, so that a new run refused here is discarded with what the sidecar wrote.
      if (finished === null) await this.#logs.startWandb(sinkCommand(choosePython(this.#python).path));
      const Executor = isClipEncoder(this.config.encoder) ? ClipExecutor : EncoderExecutor;
      const executor = new Executor(jobs, store, this.#data, this.#log, this.#abort.signal);
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
        await driveRun(store, executor, {
          numSamples: this.#data.size,
          worldSize: this.#worker.worldSize,
          signal: this.#abort.signal,
          beforeCommit: async (action) => {
            await this.#recordLoss(action);
            await this.#logs.flush();
          },
          onTransition: (action, state) => this.#transition(action, state),
        });
        await this.#losses.flush();
        summary = await this.#evaluate(executor);
      }
      await this.#logs.close();
      await writeReport(this.dir);
      await this.#lock.release(); // the worker stays for embed() and evaluate(), which write nothing or lock again
      this.#phase = "finished";
      this.#log.push({ type: "done", summary });
      this.#log.close();
      return summary;
    } catch (error) {
      const reason: unknown = this.#abort.signal.reason;
      const paused = reason instanceof RunError && reason.code === "PAUSED";
      const stopped = this.#abort.signal.aborted && !paused;
      this.#phase = paused ? "paused" : stopped ? "stopped" : "failed";
      try {
        await this.#losses.flush().catch(() => undefined); // the run's error is the one to report
        await this.#logs.close().catch(() => undefined);
        try {
          await this.#release(); // the worker is done with the directory before it goes
        } finally {
          if (!paused && !stopped && this.#store?.discardable === true) {
            // A new run that failed before anything trained leaves nothing behind, so that its name starts
            // again. Should that fail, the next start's RUN_EXISTS says the run never trained and what to remove.
            await this.#logs.discard().catch(() => undefined);
            await this.#store.discard().catch(() => undefined);
          }
        }
      } finally {
        // The last event comes once the directory is released, so that a resume right after it is not refused.
        await this.#lock.release();
        if (paused) this.#log.push({ type: "paused", runDir: this.dir, stage: this.#pauseAfterStage! });
        else if (stopped) this.#log.push({ type: "stopped", runDir: this.dir, resumable: this.#store !== undefined });
        else this.#log.push({ type: "error", error: { code: errorCodeOf(error), message: (error as Error).message } });
        this.#log.close();
      }
      if (paused) throw reason;
      if (!stopped) throw error;
      const next = this.#store === undefined ? "it had not begun, and nothing was written: start it again" : `resume it with Mcl.resume(${JSON.stringify(this.dir)})`;
      throw new RunError("STOPPED", `the run was stopped; ${next}`, { cause: error });
    }
  }

  /** After each committed step: a clustering's statistics once its composite groups are recorded. */
  #transition(action: Action, _state: SchedulerState): void {
    if (action.kind !== "plan") return;
    const record = this.#store?.manifest.stages.find((r) => r.stage === action.stage);
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
    if (action.stage === this.#pauseAfterStage) {
      // Between actions: nothing is in flight, and the driver checks the signal before the next one.
      const resume = `Mcl.resume(${JSON.stringify(this.dir)})`;
      this.#abort.abort(new RunError("PAUSED", `the run paused after stage ${action.stage}'s clustering, as asked; continue it with ${resume}`));
    }
  }

  async #evaluate(executor: EncoderExecutor): Promise<Summary> {
    const config = this.config;
    const schedule = scheduleFromConfig(config);
    const stages: Summary["stages"] = [];
    for (const stage of stageNumbers(schedule)) {
      const probe = await executor.stageProbe(stage);
      // The stages before the last reported theirs when they were clustered in this session.
      if (stage === lastStage(schedule) || !this.#reported(stage)) this.#log.push({ type: "probe", stage, probe });
      const extra = await executor.trackScores(stage);
      const sampling = this.#sampling(stage);
      const epochs = schedule.epochs[schedulerStage(schedule, stage) - 1]!;
      stages.push({ stage, epochs, ...summaryScores(probe), ...extra, ...sampling });
    }
    const spec = integrationOf(config);
    const integratedProbe = await executor.integratedProbe(spec);
    this.#log.push({ type: "probe", stage: "integrated", probe: integratedProbe });
    let baseline: Summary["baseline"];
    if (config.baseline) {
      const probe = await executor.probe(await executor.embedding("baseline"));
      this.#log.push({ type: "probe", stage: "baseline", probe });
      const extra = await executor.trackScores("baseline");
      baseline = { epochs: schedule.baselineEpochs, ...summaryScores(probe), ...extra, ...this.#sampling("baseline") };
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
        ...(await executor.integratedScores(spec)),
      },
      ...(baseline === undefined ? {} : { baseline }),
      seconds: (performance.now() - this.#started) / 1000,
      resumed: this.#resumed,
      finishedAt: new Date().toISOString(),
    };
    await writeSummary(this.dir, summary);
    return summary;
  }

  /**
   * Writes a trained epoch's mean loss and learning rates to losses.json, for the report, before the
   * epoch is committed: an epoch trained again after a kill overwrites its entry.
   */
  async #recordLoss(action: Action): Promise<void> {
    const [track, epoch]: [Track, number] | [] =
      action.kind === "train-epoch" ? [action.stage, action.epoch] : action.kind === "train-baseline-epoch" ? ["baseline", action.epoch] : [];
    if (track === undefined || epoch === undefined) return;
    const record = this.#executor?.epochRecord(track, epoch) ?? null;
    if (record === null) return;
    this.#losses.record(track, epoch, record.loss, record.lr);
    await this.#losses.flush();
  }

  /** summary.json's `sampling` of a track: what every epoch of it trained on (none when unknown). */
  #sampling(track: Track): { sampling?: Sampling } {
    const sampling = trackSampling(this.#store!.manifest, track, this.#worker!.worldSize);
    return sampling === null ? {} : { sampling };
  }

  #reported(stage: number): boolean {
    return this.#log.snapshot().some((event) => event.type === "probe" && event.stage === stage);
  }

  /**
   * Before anything trains on resume: the temporary files of writes a killed process interrupted
   * are removed (the lock is held: no writer is live), a damaged clustering array or side file is
   * refused, a damaged checkpoint rewinds the run.
   */
  async #prepareResume(store: RunStore): Promise<void> {
    const removed = await removeInterruptedWrites(this.dir);
    if (removed.length > 0) this.#log.push({ type: "temp-files-removed", runDir: this.dir, files: removed });
    await checkRunFiles(store);
    await recoverCheckpoints(store, this.#log);
  }

  /** The stored run, or the new run, written now that its checks passed. */
  async #open(): Promise<RunStore> {
    if ("store" in this.#opening) return this.#opening.store;
    this.#store = await RunStore.create(this.dir, this.#opening.create);
    return this.#store;
  }

  /**
   * The config fits the dataset, checked before anything trains. A new run that does not has
   * written nothing yet, so the same name starts again once the config is fixed; a resumed one
   * (its run files edited, or written without this check) says which directory to remove.
   */
  #checkDataset(data: DatasetOpenResult, worldSize: number): void {
    try {
      checkDatasetFit(this.config, this.#store?.manifest.preprocess ?? preprocessOf(this.config), data, worldSize);
    } catch (error) {
      if (!(error instanceof RunError) || !this.#resumed) throw error;
      throw new RunError(
        error.code,
        `${error.message}\nthe run cannot continue with its stored config: remove ${this.dir} and start it again with the config fixed`,
        { cause: error },
      );
    }
  }

  #ready(what: string): EncoderExecutor {
    const ended = this.#phase !== "running" && this.#phase !== "finished";
    if (this.#executor === undefined || this.#worker === undefined || ended || this.#stopping !== undefined) {
      throw new RunError("INVALID_STATE", `${what}: the run has no worker (it was stopped, paused, failed or is still starting)`);
    }
    return this.#executor;
  }

  async #release(): Promise<void> {
    const worker = this.#worker;
    const executor = this.#executor;
    this.#worker = undefined;
    this.#executor = undefined;
    // A launched worker takes its handles with it; a connected one keeps serving, so free them.
    if (worker !== undefined && !worker.launched) {
      await executor?.release();
      const dataset = this.#data?.dataset;
      if (dataset !== undefined) await new WorkerJobs(worker.client).free(dataset, { timeoutMs: RELEASE_TIMEOUT_MS }).catch(() => undefined);
    }
    await worker?.close();
  }
}

/** The integration the run's config asks for, its stages as stage numbers (track.ts). */
function integrationOf(config: MclConfig): IntegrationSpec {
  const schedule = scheduleFromConfig(config);
  return resolveIntegrationSpec(config.integration, schedule.stages, firstStage(schedule));
}

/** A probe as summary.json holds it: linear accuracies, and kNN ones when they were measured. */
function summaryScores(probe: ProbeScores): { probe: Accuracies; knn?: Accuracies } {
  return probe.knn === undefined ? { probe: probe.linear } : { probe: probe.linear, knn: probe.knn };
}
