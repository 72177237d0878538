/**
 * Errors of the control plane. Every error carries a stable `code` that callers switch on;
 * the message says what was wrong and how to fix it.
 */

import { MclError } from "../errors.js";

/** Codes raised by the control plane (never sent on the wire). */
export type ControlErrorCode =
  /** An argument is out of range or inconsistent (the message names it). */
  | "INVALID_ARGUMENT"
  /** No batch plan satisfies the request (e.g. batch size not divisible by the world size). */
  | "PLAN_INFEASIBLE"
  /** A scheduler event does not match the action the scheduler asked for. */
  | "INVALID_TRANSITION"
  /** Resuming a run with a config that differs from the stored one. */
  | "CONFIG_CHANGED"
  /** A run file is missing, truncated or fails its checksum. */
  | "CORRUPT_FILE"
  /** `create` was asked for a run directory that already holds a run. */
  | "RUN_EXISTS"
  /** `open` was asked for a run directory that holds no run. */
  | "RUN_NOT_FOUND"
  /** The run was made with a setting this version has no equivalent of, so it cannot be resumed. */
  | "RUN_INCOMPATIBLE"
  /** A run file could not be written: no space left on its disk (ENOSPC) or quota (EDQUOT); the message names it. */
  | "DISK_FULL"
  /** A run file could not be written for another reason (permissions, a read-only or failing disk); the message names it. */
  | "WRITE_FAILED";

/** Base class of every control-plane error. */
export class ControlError extends MclError<ControlErrorCode> {}

/** Bad input to the cluster book (wrong length, label out of range, stage out of order). */
export class ClusterBookError extends ControlError {}

/** The batch planner cannot build the requested plan. */
export class PlanError extends ControlError {}

/** An event that the stage scheduler cannot accept in its current state. */
export class SchedulerError extends ControlError {}

/** A bad integration spec or embedding blocks that do not match it. */
export class IntegrationError extends ControlError {}

/** Run directory problems: corrupt files, changed config, missing run. */
export class RunStoreError extends ControlError {}
