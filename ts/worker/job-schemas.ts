/**
 * The bodies of the worker's jobs, generated from proto/protocol.json into
 * ts/wire/generated/schemas.ts (npm run gen:wire) and re-exported here for the SDK. Field names
 * are the wire's (snake_case); handles are branded strings, so that a model handle cannot be
 * passed where a dataset goes.
 */
import type {
  DatasetHandle,
  EmbeddingHandle,
  ExportResult,
  ModelHandle,
  OptimizerHandle,
  TensorHandle,
} from "../wire/generated/schemas.js";

export * from "../wire/generated/schemas.js";

// The enumerations of protocol.json under the names the configuration uses.
export {
  clipActivationValues as CLIP_ACTIVATIONS,
  exportFormatValues as EXPORT_FORMATS,
  interpolationValues as INTERPOLATIONS,
  lrScheduleValues as LR_SCHEDULES,
  optimizerNameValues as OPTIMIZERS,
  precisionValues as PRECISIONS,
} from "../wire/generated/schemas.js";

/** Any handle the worker holds. */
export type Handle = DatasetHandle | ModelHandle | OptimizerHandle | EmbeddingHandle | TensorHandle;

/** The export job's result (ExportResult is the SDK's own, ts/sdk/export.ts). */
export type ExportJobResult = ExportResult;
