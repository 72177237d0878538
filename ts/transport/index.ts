export { type ConnectOptions, type ConnectedWorker, connectWorker } from "./connect.js";
export { CancelledError, JobTimeoutError, type JobRef, RemoteJobError, WorkerError, WorkerLostError } from "./errors.js";
export type { JobTypes, ProgressOf, RequestOf, ResultOf } from "./job-types.js";
export { type LaunchOptions, WorkerHandle, type WorkerExit, type WorkerHandleEvents, handshake, launchWorker } from "./launch.js";
export {
  PYTHON_ENV,
  type PythonChoice,
  SETUP_COMMAND,
  WORKER_VENV_ENV,
  choosePython,
  isCheckout,
  projectRoot,
  pythonFix,
  pythonIn,
  setupHint,
  userVenv,
  venvPython,
} from "./python-env.js";
export {
  type SetUpOptions,
  type SetUpResult,
  type SetupPlan,
  type SetupStep,
  type TorchSource,
  type UserSetupOptions,
  WorkerSetupError,
  chooseTorch,
  planSetup,
  planUserSetup,
  setUpWorkerEnvironment,
} from "./setup.js";
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
export { type WorkerConnection, type WorkerOptions, openWorker } from "./open.js";
export { type ExitInfo, WorkerStartError } from "./process.js";
