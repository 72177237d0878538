// Here rather than beside openWorker (sdk/worker-connection.ts): the plugin checks, below the SDK,
// read from them the interpreter and environment a run's worker will have.
import type { ConnectOptions } from "./connect.js";
import type { LaunchOptions } from "./launch.js";

/** Where a run's worker comes from: launched by this process (the default), or reached at `endpoint`. */
export interface WorkerOptions {
  /** Attach to a worker already running there (e.g. on a GPU box) instead of launching one. */
  readonly endpoint?: string;
  /** Options of connectWorker, with `endpoint`. */
  readonly connect?: ConnectOptions;
  /** Options of launchWorker, without `endpoint`. */
  readonly launch?: LaunchOptions;
}
