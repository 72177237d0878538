import { EventEmitter } from "node:events";
import { type HelloResult, SUPPORTED_VERSIONS, WireError, loadKeyFile } from "../wire/index.js";
import { WorkerLostError } from "./errors.js";
import { choosePython, clientName, pythonFix } from "./python-env.js";
import { WorkerClient } from "./worker-client.js";
import { WorkerKey } from "./key-file.js";
import { ensureWorkerEnvironment } from "./setup.js";
import { type ExitInfo, WorkerProcess } from "./process.js";

export interface LaunchOptions {
  /**
   * The worker's interpreter (default: $MCL_WORKER_PYTHON, else the project's .venv/bin/python, else
   * the per-user environment of `mcl setup`, built on first use).
   */
  readonly python?: string;
  /** Endpoint the worker binds (default tcp://127.0.0.1:0: loopback, an ephemeral port; ipc://… works too). */
  readonly bind?: string;
  /**
   * HMAC key file for the worker's --auth and the client's signatures (default: a fresh random key
   * in a private temporary file, removed on close(), so that no other local user can use the worker).
   */
  readonly keyFile?: string;
  /** Jobs the worker runs at once (its --jobs). */
  readonly jobs?: number;
  /** The worker's --max-message-bytes. */
  readonly maxMessageBytes?: number;
  readonly heartbeatIntervalMs?: number;
  readonly heartbeatTimeoutMs?: number;
  /** Deadlines per job type, time without progress (see WorkerClientOptions.jobTimeoutsMs). */
  readonly jobTimeoutsMs?: Readonly<Record<string, number>>;
  /** How long to wait for the worker to listen and answer hello (default 60 s: torch imports slowly). */
  readonly startupTimeoutMs?: number;
  /** Crashes tolerated within restartWindowMs before giving up (default 3 per 60 s). */
  readonly maxRestarts?: number;
  readonly restartWindowMs?: number;
  /** Delay before the first restart, doubled for each recent crash (default 250 ms). */
  readonly restartDelayMs?: number;
  /** How long close() waits after SIGTERM before SIGKILL (default 2000 ms). */
  readonly shutdownGraceMs?: number;
  /** Where the worker's log (stderr) and first-use setup's progress go (default: this process's stderr). */
  readonly onOutput?: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export interface WorkerExit extends ExitInfo {
  readonly pid: number;
  /** The end of the worker's stderr: usually the traceback. */
  readonly stderrTail: string;
}

export type WorkerHandleEvents = {
  /** The worker process ended without being asked to (a crash, or killed after going silent). */
  exit: [WorkerExit];
  /** The worker stopped answering heartbeats; it is killed and restarted. */
  lost: [WorkerLostError];
  /** A new worker process answered hello after a crash or restart(). */
  restarted: [{ readonly pid: number; readonly hello: HelloResult }];
  /** Restarting failed or crashed too often: the handle gives up; jobs reject with WORKER_LOST. */
  failed: [Error];
};

/**
 * A worker process this Node process started and supervises. `client` stays the same object
 * across restarts. close() (or this process exiting) stops the worker.
 */
export class WorkerHandle extends EventEmitter<WorkerHandleEvents> {
  private worker: WorkerProcess | undefined;
  private currentHello: HelloResult;
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly client: WorkerClient,
    worker: WorkerProcess,
    hello: HelloResult,
    private readonly options: LaunchOptions,
    private readonly auth: WorkerAuth,
  ) {
    super();
    this.currentHello = hello;
    this.supervise(worker);
    client.on("lost", (error) => {
      if (this.closing !== undefined || !this.worker?.running) return;
      this.emit("lost", error);
      void this.worker.kill(0); // hung: its exit starts a fresh one
    });
  }

  /** @internal use launchWorker() */
  static async start(options: LaunchOptions): Promise<WorkerHandle> {
    await ensureWorkerEnvironment(choosePython(options.python), output(options));
    const auth = await workerAuth(options);
    let started: { worker: WorkerProcess; endpoint: string } | undefined;
    let client: WorkerClient | undefined;
    try {
      started = await spawnWorker(options, auth.keyFile);
      client = new WorkerClient(started.endpoint, clientOptions(options, auth.key));
      const hello = await handshake(client, options);
      return new WorkerHandle(client, started.worker, hello, options, auth);
    } catch (err) {
      client?.close();
      await started?.worker.kill(0);
      await auth.generated?.dispose();
      throw err;
    }
  }

  /** The key file the worker reads (--auth): the one given, else the generated one, removed on close(). */
  get keyFile(): string {
    return this.auth.keyFile;
  }

  get hello(): HelloResult {
    return this.currentHello;
  }

  /** The pid of the current worker process, undefined between a crash and its restart. */
  get pid(): number | undefined {
    return this.worker?.running ? this.worker.pid : undefined;
  }

  /** Replaces the worker process with a fresh one; jobs in flight reject with WORKER_LOST. */
  async restart(): Promise<void> {
    if (this.closing !== undefined) throw new Error("restart: the worker handle is closed");
    clearTimeout(this.restartTimer);
    const old = this.worker;
    this.worker = undefined; // its exit is expected now
    this.client.failInFlight(new WorkerLostError("the worker is being restarted"));
    await old?.kill(this.options.shutdownGraceMs ?? 2000);
    await this.replace();
  }

  /** Stops the worker (SIGTERM, then SIGKILL) and closes the client. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.restartTimer);
      this.client.close();
      const worker = this.worker;
      this.worker = undefined;
      try {
        await worker?.kill(this.options.shutdownGraceMs ?? 2000);
      } finally {
        await this.auth.generated?.dispose(); // the key leaves the disk even when the kill fails
      }
    })();
    return this.closing;
  }

  private supervise(worker: WorkerProcess): void {
    this.worker = worker;
    void worker.exited.then((info) => {
      if (this.worker !== worker) return; // replaced or closed: the exit was asked for
      this.worker = undefined;
      const exit: WorkerExit = { ...info, pid: worker.pid, stderrTail: worker.stderrTail };
      this.client.failInFlight(new WorkerLostError(`worker process ${worker.pid} exited with ${info.signal ?? `code ${info.code}`}`));
      this.emit("exit", exit);
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    const now = Date.now();
    const windowMs = this.options.restartWindowMs ?? 60_000;
    this.crashes = [...this.crashes.filter((t) => now - t < windowMs), now];
    const maxRestarts = this.options.maxRestarts ?? 3;
    if (this.crashes.length > maxRestarts) {
      this.emit("failed", new Error(`the worker crashed ${this.crashes.length} times within ${windowMs} ms; not restarting it`));
      return;
    }
    const delay = (this.options.restartDelayMs ?? 250) * 2 ** (this.crashes.length - 1);
    this.restartTimer = setTimeout(() => {
      this.replace().catch((err: unknown) => {
        if (this.closing !== undefined) return;
        this.emit("failed", err instanceof Error ? err : new Error(String(err)));
      });
    }, delay);
  }

  private async replace(): Promise<void> {
    const { worker, endpoint } = await spawnWorker(this.options, this.auth.keyFile);
    if (this.closing !== undefined) {
      await worker.kill(0);
      return;
    }
    this.supervise(worker);
    this.client.retarget(endpoint);
    this.currentHello = await handshake(this.client, this.options);
    this.emit("restarted", { pid: worker.pid, hello: this.currentHello });
  }
}

/**
 * Starts `python -m mcl_worker` from the project's venv on a loopback ephemeral port, waits for
 * its hello, and supervises it: a crash rejects the jobs in flight with WORKER_LOST at once and
 * restarts the worker (bounded, with backoff); a hung worker is killed after the heartbeat
 * timeout and restarted. The worker dies with this process, whatever kills it. Every message is
 * signed, with a fresh key only this user can read unless `keyFile` is given.
 */
export function launchWorker(options: LaunchOptions = {}): Promise<WorkerHandle> {
  return WorkerHandle.start(options);
}

/** The key a launched worker and its client share; `generated` when this process made it. */
interface WorkerAuth {
  readonly keyFile: string;
  readonly key: Buffer;
  readonly generated?: WorkerKey;
}

async function workerAuth(options: LaunchOptions): Promise<WorkerAuth> {
  if (options.keyFile !== undefined) return { keyFile: options.keyFile, key: loadKeyFile(options.keyFile) };
  const generated = await WorkerKey.create();
  return { keyFile: generated.path, key: generated.key, generated };
}

function spawnWorker(options: LaunchOptions, keyFile: string): Promise<{ worker: WorkerProcess; endpoint: string }> {
  // The key travels in a file: a command line is readable by every local user.
  const args = ["--bind", options.bind ?? "tcp://127.0.0.1:0", "--exit-with-parent", "--auth", keyFile];
  if (options.jobs !== undefined) args.push("--jobs", String(options.jobs));
  if (options.maxMessageBytes !== undefined) args.push("--max-message-bytes", String(options.maxMessageBytes));
  const python = choosePython(options.python);
  return WorkerProcess.spawn({
    python: python.path,
    pythonFix: pythonFix(python),
    args,
    startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
    onOutput: output(options),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
}

function output(options: LaunchOptions): (text: string) => void {
  return options.onOutput ?? ((text) => process.stderr.write(text));
}

function clientOptions(options: LaunchOptions, key: Uint8Array): ConstructorParameters<typeof WorkerClient>[1] {
  return {
    key,
    ...(options.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: options.heartbeatIntervalMs }),
    ...(options.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
    ...(options.jobTimeoutsMs === undefined ? {} : { jobTimeoutsMs: options.jobTimeoutsMs }),
  };
}

/**
 * The hello exchange: the worker must choose a protocol version this client speaks, else
 * UNSUPPORTED_VERSION naming both versions and which end to upgrade.
 */
export async function handshake(client: WorkerClient, options: { startupTimeoutMs?: number } = {}): Promise<HelloResult> {
  const hello = await client.request(
    "hello",
    { protocols: [...SUPPORTED_VERSIONS], client: clientName() },
    { timeoutMs: options.startupTimeoutMs ?? 60_000 },
  );
  if (!SUPPORTED_VERSIONS.includes(hello.protocol)) {
    const older = hello.protocol > Math.max(...SUPPORTED_VERSIONS) ? "this SDK" : "the worker";
    throw new WireError(
      "UNSUPPORTED_VERSION",
      `the worker chose protocol version ${hello.protocol} in its hello, but this client speaks ${SUPPORTED_VERSIONS.join(", ")}: ` +
        `upgrade ${older}, which is older (the SDK and the worker must speak the same protocol version)`,
      { details: { version: hello.protocol, supported: [...SUPPORTED_VERSIONS] } },
    );
  }
  return hello;
}
