// The package's public API: the SDK, the run config, the control plane's types, the worker
// transport and every error class (each extends MclError: a `code` and `details`).
// Node's types are part of this API (Buffer, NodeJS.ProcessEnv, EventEmitter): the reference keeps
// them in the emitted index.d.ts, so a consumer compiles whatever its `types` setting says.
/// <reference types="node" preserve="true" />

// The root of every error class below
export { type ErrorDetails, MclError } from "./errors.js";

// SDK
export { Mcl, type RunOptions } from "./sdk/mcl.js";
export { MclRun, type EmbedResult } from "./sdk/mcl-run.js";
export {
  type ExportedStage,
  type ExportFormat,
  type ExportOptions,
  type ExportResult,
  type RunExportOptions,
  exportRun,
} from "./sdk/export.js";
export { configHash } from "./sdk/export-plan.js";
export { type StageClusters, readClusters } from "./sdk/run-clusters.js";
export { type ClusterStats, type MclEvent, type MclEventType, type ProbeSubject, type WarningCode } from "./sdk/events.js";
export { type Track } from "./run/track.js";
export {
  type Accuracies,
  type ProbeScores,
  type Sampling,
  type Summary,
  SUMMARY_FILE,
  formatProbeTable,
  readSummary,
  summarySchema,
} from "./run/summary.js";
export { LEFT_OUT_WARNING_FRACTION } from "./run/sampling.js";
export { type WorkerConnection, type WorkerOptions, openWorker } from "./transport/open.js";
export { RunError, type RunErrorCode } from "./run/errors.js";
export { DEMO_CONFIG } from "./sdk/demo-config.js";
export { CLIP_DEMO_CONFIG } from "./sdk/clip-demo-config.js";
export { type ClipScores, ClipExecutor, requireCaptions } from "./sdk/clip-executor.js";
export { formatClipTables } from "./sdk/clip-summary.js";

// Report: report.html, the charts as SVG strings and Vega-Lite specs
export { ACCURACY_SVG_FILE, REPORT_FILE, type Report, renderReport, writeReport } from "./report/report.js";
export { type EpochLr, LOSS_FILE, type LossHistory, readLossHistory } from "./report/loss-history.js";

// Experiment logs: metrics.jsonl and TensorBoard event files (docs/experiment-logs.md)
export { METRICS_FILE } from "./sdk/metrics-log.js";
export { type MetricRecord } from "./sdk/metric-records.js";
export { TENSORBOARD_FOLDER } from "./sdk/experiment-logs.js";

// Python plugins (py:<module>:<attr>) and the checks they pass before a run starts
export { PLUGIN_REF, type PluginKind, type PluginRef, isPluginRef, parsePluginRef } from "./config/plugin-ref.js";
export {
  type PluginCheck,
  PluginCheckError,
  type PluginCheckOptions,
  type PluginReport,
  checkPlugins,
} from "./plugins/plugin-check.js";
export { PluginConsentError } from "./plugins/plugin-consent.js";

// Config
export {
  ENCODERS,
  LOSSES,
  LR_SCHEDULES,
  OPTIMIZERS,
  SAMPLING_POLICIES,
  SMALL_GROUP_POLICIES,
  STAGE_INITS,
  type MclConfig,
  type MclConfigInput,
  mclConfigSchema,
} from "./config/mcl-config.js";
export { loadConfigFile, parseConfig } from "./config/load-config.js";
export {
  CLIP_ACTIVATIONS,
  CLIP_ENCODERS,
  CLIP_LOSSES,
  CLIP_STAGE_INITS,
  type ClipEncoder,
  type ClipOptions,
  clipSchema,
  isClipEncoder,
} from "./config/clip-config.js";
export { INTERPOLATIONS, type Interpolation, type Preprocess } from "./config/preprocess.js";
export { ConfigError, type ConfigErrorCode, type ConfigIssue } from "./config/config-error.js";

// Control plane (pure): the pieces a custom driver or executor builds on
export { type BatchPlan, type PlanAccounting, type PlanOptions, planMcl, planUniform } from "./control/batch-planner.js";
export { ClusterBook, type GroupStats } from "./control/cluster-book.js";
export { type IntegrationSpec, type Normalization, resolveIntegrationSpec } from "./control/integration.js";
export { type DriveOptions, type EpochCheckpoint, type StageExecutor, driveRun } from "./run/run-driver.js";
export { type RunManifest, RunStore } from "./run/run-store.js";
export { type Action, type SchedulerState, type StageSchedule } from "./control/stage-scheduler.js";
export { scheduleFromConfig } from "./config/stage-schedule.js";
export {
  ClusterBookError,
  ControlError,
  type ControlErrorCode,
  IntegrationError,
  PlanError,
  RunStoreError,
  SchedulerError,
} from "./control/errors.js";

// Transport and the worker's compute jobs
export {
  CancelledError,
  type ConnectOptions,
  type ConnectedWorker,
  JobTimeoutError,
  type LaunchOptions,
  RemoteJobError,
  type SetUpOptions,
  type SetUpResult,
  WorkerClient,
  WorkerError,
  WorkerHandle,
  WorkerLostError,
  WorkerSetupError,
  WorkerStartError,
  connectWorker,
  launchWorker,
  setUpWorkerEnvironment,
} from "./transport/index.js";
export { WorkerJobs } from "./client/index.js";
export { type Tensor, WireError, tensor } from "./wire/index.js";
