/**
 * A run's experiment logs (docs/experiment-logs.md): metrics.jsonl always, TensorBoard event
 * files in <run>/tensorboard/ when the config's `logging.tensorboard` asks, and Weights & Biases
 * through a sidecar when `logging.wandb` does, all fed from the run's events as they are pushed.
 * No file is written before the first metric (a run that fails while it starts leaves no log) but
 * the W&B run's, opened just before training; each session of a run writes a new event file.
 */

import { rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { MclConfig } from "../config/mcl-config.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import type { EventLog, MclEvent } from "./events.js";
import { MetricRecords, type MetricRecord, scalarsOf } from "./metric-records.js";
import { METRICS_FILE, MetricsLog } from "./metrics-log.js";
import { TensorBoardWriter } from "./tensorboard-writer.js";
import { lastStage, type Track } from "../run/track.js";
import { stepMetricOf, WandbSink, type WandbOptions } from "./wandb-sink.js";

export const TENSORBOARD_FOLDER = "tensorboard";
/** What the W&B sidecar writes in the run directory: its run id and wandb's own folder. */
export const WANDB_FILES = ["wandb-run-id", "wandb"] as const;

interface Sinks {
  readonly metrics: MetricsLog;
  readonly tensorboard: TensorBoardWriter | null;
}

export class ExperimentLogs {
  readonly #runDir: string;
  readonly #resumed: boolean;
  readonly #tensorboard: boolean;
  readonly #wandbOptions: WandbOptions | undefined;
  /** Started by startWandb(), before training. */
  #wandb: WandbSink | null = null;
  /** Where a lost sidecar is reported, with the track that was training. */
  #warn: (message: string) => void = () => undefined;
  #track: Track = 1;
  /** The step at which the integrated representation's and the baseline's probes are plotted. */
  readonly #lastStage: number;
  readonly #records = new MetricRecords();
  /** Opened with the first record. */
  #sinks: Promise<Sinks> | undefined;
  /** Every record so far, written in order. */
  #work: Promise<void> = Promise.resolve();
  #failure: { readonly error: unknown } | undefined;
  #closed = false;

  constructor(runDir: string, config: MclConfig, resumed: boolean) {
    this.#runDir = runDir;
    this.#resumed = resumed;
    this.#tensorboard = config.logging.tensorboard;
    const wandb = config.logging.wandb;
    this.#wandbOptions = wandb === undefined ? undefined : { ...wandb, name: wandb.name ?? config.name };
    this.#lastStage = lastStage(scheduleFromConfig(config));
  }

  /** Logs for the run in `runDir`, fed every event `log` receives from now on. */
  static attach(log: EventLog, runDir: string, config: MclConfig, resumed: boolean): ExperimentLogs {
    const logs = new ExperimentLogs(runDir, config, resumed);
    log.listen((event) => logs.record(event));
    logs.#warn = (message) => log.push({ type: "warning", stage: logs.#track, code: "WANDB_LOST", message });
    return logs;
  }

  /**
   * Starts the W&B sidecar when the config asks (`command` before its arguments, see sinkCommand);
   * RunError INVALID_INPUT naming logging.wandb and the fix when it cannot.
   */
  async startWandb(command: readonly string[]): Promise<void> {
    if (this.#wandbOptions === undefined || this.#wandb !== null) return;
    try {
      this.#wandb = await WandbSink.start(command, this.#runDir, this.#wandbOptions, (message) => this.#warn(message));
    } catch (error) {
      if (!this.#resumed) await this.#removeWandbFiles();
      throw error;
    }
  }

  /** Logs the metrics of `event` (in the background; nothing after close()). */
  record(event: MclEvent): void {
    if (this.#closed) return;
    const record = this.#records.of(event, Date.now() / 1000);
    if (record === null) return;
    this.#work = this.#work
      .then(async () => this.#write(await this.#open(), record))
      .catch((error: unknown) => {
        this.#failure ??= { error };
      });
  }

  /** Waits until every record so far is on disk; throws the first write error. */
  async flush(): Promise<void> {
    await this.#work;
    if (this.#failure !== undefined) throw this.#failure.error;
    const sinks = await this.#sinks;
    await sinks?.metrics.flush();
    await sinks?.tensorboard?.flush();
  }

  /** Flushes and closes the files; later events are not logged. */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      await this.flush();
    } finally {
      const sinks = await this.#sinks?.catch(() => undefined);
      await Promise.allSettled([sinks?.metrics.close(), sinks?.tensorboard?.close(), this.#wandb?.close()]);
    }
  }

  /**
   * Closes the logs and removes what this session wrote: a new run that is discarded before
   * anything trained leaves no log behind (see RunStore.discard).
   */
  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
    if (this.#wandb !== null && !this.#resumed) await this.#removeWandbFiles();
    if (this.#sinks === undefined) return; // nothing was written
    const sinks = await this.#sinks.catch(() => undefined);
    if (!this.#resumed) await rm(join(this.#runDir, METRICS_FILE), { force: true });
    const eventFile = sinks?.tensorboard?.path;
    if (eventFile !== undefined) await rm(eventFile, { force: true });
    await rmdir(join(this.#runDir, TENSORBOARD_FOLDER)).catch(() => undefined); // kept when it holds other files
  }

  #open(): Promise<Sinks> {
    this.#sinks ??= (async () => {
      const metrics = await MetricsLog.open(this.#runDir, this.#resumed);
      try {
        const tensorboard = this.#tensorboard ? await TensorBoardWriter.create(join(this.#runDir, TENSORBOARD_FOLDER)) : null;
        return { metrics, tensorboard };
      } catch (error) {
        await metrics.close().catch(() => undefined);
        throw error;
      }
    })();
    return this.#sinks;
  }

  async #removeWandbFiles(): Promise<void> {
    await Promise.all(WANDB_FILES.map((name) => rm(join(this.#runDir, name), { recursive: true, force: true })));
  }

  #write(sinks: Sinks, record: MetricRecord): void {
    if (!sinks.metrics.append(record)) return; // logged by an earlier session
    if (record.kind !== "probe") this.#track = record.stage;
    if (sinks.tensorboard === null && this.#wandb === null) return;
    const point = scalarsOf(record, this.#lastStage);
    if (point === null || point.scalars.length === 0) return;
    sinks.tensorboard?.addScalars(point.step, point.scalars, record.time);
    this.#wandb?.log(point, stepMetricOf(record));
  }
}
