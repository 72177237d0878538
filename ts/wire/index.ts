export { DTYPES, type DType, type TensorData, type TypedArrayOf, isDType, itemsize } from "./dtype.js";
export { type Tensor, isTensor, numel, tensor } from "./tensor.js";
export {
  CLIENT_ERROR_CODES,
  ERROR_CODES,
  type ErrorCode,
  WireError,
  type WireErrorCode,
  type WireErrorOptions,
  isErrorCode,
} from "./errors.js";
export {
  type Header,
  MAX_REQUEST_ID,
  MESSAGE_KINDS,
  type MessageKind,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  checkHeader,
  isMessageKind,
} from "./header.js";
export {
  type Body,
  type BodyValue,
  type DecodeOptions,
  type EncodeOptions,
  type WireMessage,
  decodeMessage,
  encodeMessage,
} from "./codec.js";
export { REPLAY_WINDOW_MS, ReplayGuard, type ReplayGuardOptions } from "./replay.js";
export {
  AUTH_BYTES,
  type AuthTag,
  MAC_BYTES,
  NONCE_BYTES,
  TIMESTAMP_BYTES,
  authFrame,
  loadKeyFile,
  newAuthTag,
  signFrames,
  verifyAuth,
} from "./signing.js";
export { JOB_TYPES } from "./generated/constants.js";
export * from "./schemas.js";
