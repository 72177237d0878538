/**
 * The Weights & Biases sidecar of a run whose config sets `logging.wandb`: `python -m
 * mcl_worker.wandb_sink` in the worker's Python, fed one JSON line per metric record. It is a
 * bystander: a sidecar that dies mid-run is reported once (onLost) and the run goes on; at the end
 * its exit is awaited for a bounded time, then it is killed.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { MclConfig } from "../config/mcl-config.js";
import { RunError } from "../run/errors.js";
import { trackName } from "../run/track.js";
import { reapOnExit } from "../transport/child-reaper.js";
import type { MetricRecord, ScalarPoint } from "./metric-records.js";

export type WandbOptions = NonNullable<MclConfig["logging"]["wandb"]>;

/** What the sidecar prints once wandb.init has returned, and its exit status when wandb cannot be imported. */
const READY = "mcl-wandb-sink ready";
const NO_WANDB = 3;
const STDERR_KEPT = 2000;
export const WANDB_START_TIMEOUT_MS = 120_000;
export const WANDB_FINISH_TIMEOUT_MS = 120_000;

/** The sidecar's command line in `python` (run directory and options are appended). */
export function sinkCommand(python: string): readonly string[] {
  return [python, "-m", "mcl_worker.wandb_sink"];
}

/** The metric a record's scalars are plotted against in W&B: the track's step, or the probed stage. */
export function stepMetricOf(record: MetricRecord): string {
  if (record.kind !== "probe") return `${trackName(record.stage)}/step`;
  return typeof record.stage === "number" ? "probe/stage" : `${record.stage}/probe/stage`;
}

export class WandbSink {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  readonly #onLost: (message: string) => void;
  #stderr = "";
  #closing = false;
  /** Set once onLost has been called. */
  #lost = false;

  private constructor(child: ChildProcess, onLost: (message: string) => void) {
    this.#child = child;
    this.#onLost = onLost;
    this.#exited = new Promise((resolve) => child.once("close", (status) => resolve(status)));
    child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_KEPT);
    });
    child.stdin!.on("error", () => undefined); // a sidecar gone mid-write is reported by its exit
  }

  /**
   * Starts the sidecar (`command` then the run directory and the options) and waits until its W&B
   * run is open; RunError INVALID_INPUT naming logging.wandb and the fix when it cannot be.
   */
  static async start(
    command: readonly string[],
    runDir: string,
    options: WandbOptions,
    onLost: (message: string) => void,
    timeoutMs: number = WANDB_START_TIMEOUT_MS,
  ): Promise<WandbSink> {
    const [program, ...args] = command as [string, ...string[]];
    const child = spawn(program, [...args, runDir, JSON.stringify(options)], {
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // its own process group: Ctrl-C stops the run, which then finishes the sidecar
      env: { ...process.env, WANDB_SILENT: "true" },
    });
    reapOnExit(child);
    const sink = new WandbSink(child, onLost);
    await sink.#ready(program, timeoutMs);
    void sink.#exited.then((status) => {
      if (sink.#closing) return;
      sink.#lost = true;
      onLost(`the W&B sidecar exited (status ${status}) during the run; the run goes on without W&B logging${sink.#tail()}`);
    });
    return sink;
  }

  /** Sends the scalars of one record (nothing once the sidecar is gone). */
  log(point: ScalarPoint, stepMetric: string): void {
    if (this.#closing || this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    // Python's json reads NaN and ±Infinity, which JSON.stringify would turn into null.
    const scalars = point.scalars.map(([tag, value]) => `${JSON.stringify(tag)}:${Number.isFinite(value) ? JSON.stringify(value) : String(value)}`);
    this.#child.stdin!.write(`{"step":${point.step},"stepMetric":${JSON.stringify(stepMetric)},"scalars":{${scalars.join(",")}}}\n`);
  }

  /** Ends the input so that the sidecar finishes its W&B run; kills it after `timeoutMs`. Never rejects. */
  async close(timeoutMs: number = WANDB_FINISH_TIMEOUT_MS): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#child.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
    const outcome = await Promise.race([this.#exited, late]);
    clearTimeout(timer);
    if (this.#lost) return;
    if (outcome === "late") {
      this.#kill();
      this.#onLost(`the W&B sidecar did not finish its W&B run within ${timeoutMs / 1000} s and was killed; what it had not sent is lost${this.#tail()}`);
    } else if (outcome !== 0) {
      this.#onLost(`the W&B sidecar ended with status ${outcome}; W&B may miss the end of the run${this.#tail()}`);
    }
  }

  async #ready(program: string, timeoutMs: number): Promise<void> {
    const lines = createInterface({ input: this.#child.stdout! });
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (message: string) => reject(new RunError("INVALID_INPUT", `logging.wandb: ${message}`));
        lines.on("line", (line) => {
          if (line === READY) resolve();
        });
        this.#child.once("error", (error) =>
          fail(`cannot start the W&B sidecar with ${program} (${error.message}); set up the worker's Python environment, or remove logging.wandb`),
        );
        void this.#exited.then((status) =>
          fail(
            status === NO_WANDB
              ? `the worker's Python (${program}) cannot import wandb; install it there with \`${program} -m pip install wandb\`, or remove logging.wandb`
              : `wandb.init failed (exit status ${status})${this.#tail()}; check logging.wandb's project and entity and \`wandb login\`, or set logging.wandb.mode to "offline"`,
          ),
        );
        timer = setTimeout(() => {
          this.#kill();
          fail(`wandb.init did not return within ${timeoutMs / 1000} s${this.#tail()}; check the network, or set logging.wandb.mode to "offline"`);
        }, timeoutMs);
      });
    } finally {
      clearTimeout(timer);
      lines.removeAllListeners("line"); // later output is drained and ignored
    }
  }

  #tail(): string {
    const text = this.#stderr.trim();
    return text === "" ? "" : `: ${text.split("\n").slice(-5).join("\n")}`;
  }

  #kill(): void {
    try {
      process.kill(-this.#child.pid!, "SIGKILL");
    } catch {
      this.#child.kill("SIGKILL");
    }
  }
}
