export { type ConnectOptions, type ConnectedWorker, connectWorker } from "./connect.js";
export { CancelledError, JobTimeoutError, type JobRef, RemoteJobError, WorkerError, WorkerLostError } from "./errors.js";
export type { JobTypes, ProgressOf, RequestOf, ResultOf } from "./job-types.js";
export { type LaunchOptions, WorkerHandle, type WorkerExit, type WorkerHandleEvents, handshake, launchWorker } from "./launch.js";
export { BOOTSTRAP_HINT, PYTHON_ENV, type PythonChoice, choosePython, projectRoot, venvPython } from "./python-env.js";
export {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_JOB_TIMEOUTS_MS,
  type JobEvent,
  type RequestOptions,
  WorkerClient,
  type WorkerClientEvents,
  type WorkerClientOptions,
} from "./worker-client.js";
export { type ExitInfo, WorkerStartError } from "./worker-process.js";
