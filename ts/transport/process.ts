import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { MclError } from "../errors.js";
import { reapOnExit } from "./child-reaper.js";
import { PYTHON_ENV, setupHint } from "./python-env.js";

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnWorkerOptions {
  readonly python: string;
  /** How to get a working interpreter, as a sentence (default: build the environment, or name one). */
  readonly pythonFix?: string;
  /** Arguments after `-m mcl_worker`. */
  readonly args: readonly string[];
  readonly startupTimeoutMs: number;
  /** Receives the worker's stderr (its log) and any stdout after the listening line. */
  readonly onOutput: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** The worker could not be started; `message` holds the end of its stderr and the fix when known, `cause` the spawn error. */
export class WorkerStartError extends MclError<"WORKER_START_FAILED"> {
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super("WORKER_START_FAILED", message, options);
  }
}

const STDERR_TAIL_CHARS = 4000;

/** A running `python -m mcl_worker`, past its listening line. */
export class WorkerProcess {
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  private tail = "";

  private constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    private readonly onOutput: (text: string) => void,
    private readonly pythonFix: string,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.stderr?.setEncoding("utf8").on("data", (text: string) => this.output(text));
  }

  /** Spawns the worker and resolves once it announces its endpoint. */
  static async spawn(options: SpawnWorkerOptions): Promise<{ worker: WorkerProcess; endpoint: string }> {
    const child = spawn(options.python, ["-m", "mcl_worker", ...options.args], {
      // stdin stays open: the worker exits when it closes, i.e. when this process dies.
      stdio: ["pipe", "pipe", "pipe"],
      // Its own process group: a Ctrl-C in the terminal reaches this process, which decides how
      // to stop (finish the step, cancel the job, close the worker); see child-reaper.ts.
      detached: true,
      env: options.env ?? process.env,
    });
    const fix = options.pythonFix ?? `run \`${setupHint()}\`, or point ${PYTHON_ENV} at a Python with mcl_worker installed`;
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", resolve);
    });
    if (spawned !== undefined || child.pid === undefined) {
      const why = spawned === undefined ? "the system gave it no process id" : spawnFailure(spawned);
      throw new WorkerStartError(`cannot run the worker's Python ${options.python}: ${why}; ${fix}`, { cause: spawned });
    }
    reapOnExit(child);
    const worker = new WorkerProcess(child, child.pid, options.onOutput, fix);
    try {
      const endpoint = await worker.awaitListening(options.startupTimeoutMs);
      return { worker, endpoint };
    } catch (err) {
      await worker.kill(0);
      throw err;
    }
  }

  get stderrTail(): string {
    return this.tail;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async kill(graceMs: number): Promise<ExitInfo> {
    if (this.running) {
      this.child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
      if (graceMs > 0) {
        const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
        await this.exited;
        clearTimeout(timer);
      }
    }
    this.child.stdin?.destroy();
    return this.exited;
  }

  private output(text: string): void {
    this.tail = (this.tail + text).slice(-STDERR_TAIL_CHARS);
    this.onOutput(text);
  }

  private awaitListening(timeoutMs: number): Promise<string> {
    const lines = createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    return new Promise<string>((resolve, reject) => {
      let announced = false;
      const fail = (why: string): void => {
        lines.close();
        reject(new WorkerStartError(`the worker (pid ${this.pid}) ${why}${this.tail === "" ? "" : `; its stderr ends with:\n${this.tail}`}`));
      };
      const timer = setTimeout(() => fail(`did not announce its endpoint within ${timeoutMs} ms`), timeoutMs);
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (announced) return;
        const missing = this.tail.includes("ModuleNotFoundError") ? ` (a module is missing: ${this.pythonFix})` : "";
        fail(`exited with ${signal ?? `code ${code}`} before listening${missing}`);
      });
      lines.on("line", (line) => {
        if (announced) return this.output(`${line}\n`); // a job printing to stdout: keep it visible
        const event = parseListening(line);
        if (event === undefined) return this.output(`${line}\n`);
        announced = true;
        clearTimeout(timer);
        resolve(event);
      });
    });
  }
}

/** A spawn error as a message names it: Node's message, and its code (ENOENT, EACCES) when the message lacks it. */
function spawnFailure(error: NodeJS.ErrnoException): string {
  return error.code === undefined || error.message.includes(error.code) ? error.message : `${error.message} (${error.code})`;
}

function parseListening(line: string): string | undefined {
  try {
    const event = JSON.parse(line) as { event?: unknown; endpoint?: unknown };
    return event.event === "listening" && typeof event.endpoint === "string" ? event.endpoint : undefined;
  } catch {
    return undefined;
  }
}
