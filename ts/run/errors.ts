/**
 * Errors of a run as the SDK drives it (config, control-plane, transport and worker errors have
 * their own classes). Here, below the SDK, because reading the run's files (summary.json) raises
 * them too, and the report reads those files without the SDK.
 */

import { MclError } from "../errors.js";

export type RunErrorCode =
  /** The run was stopped by stop() (or Ctrl-C) before it finished; it can be resumed. */
  | "STOPPED"
  /** The run paused where `pauseAfterStage` asked; Mcl.resume continues it. */
  | "PAUSED"
  /** An argument of an SDK call is invalid (e.g. images of the wrong dtype); the message names it. */
  | "INVALID_INPUT"
  /** A run file the SDK writes (summary.json, probe caches) is unreadable or invalid. */
  | "CORRUPT_FILE"
  /** The run object cannot do that in its current state (e.g. embed() before the run finished). */
  | "INVALID_STATE"
  /** The dataset's labelled attributes do not include one the config names (to probe, or as the labels of supcon). */
  | "UNKNOWN_ATTRIBUTE"
  /**
   * The config does not fit the dataset it names (e.g. 3 normalisation values for 1-channel images,
   * a CLIP run on images without captions); the message names the field and the fix.
   */
  | "DATASET_MISMATCH"
  /**
   * A file the config names (pretrained, clip.checkpoint) does not exist, is not a file, cannot be
   * read or is empty; the message names the field and the path.
   */
  | "FILE_UNREADABLE"
  /**
   * An epoch of a stage plans another number of steps than the stage's earlier ones, which the
   * learning-rate schedule (spanning epochs × steps) cannot follow; the batch planner never makes one.
   */
  | "UNEQUAL_EPOCHS"
  /**
   * Another process holds the run directory's lock (run.lock: one writer per run); the message
   * names its pid, host and since when, and what to do.
   */
  | "RUN_LOCKED";

export class RunError extends MclError<RunErrorCode> {}
