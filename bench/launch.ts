/**
 * Worker launch settings of the benchmarks. On a machine loaded with other work torch imports
 * slowly and the worker's heartbeats can stall for seconds: they wait longer than the transport's
 * defaults (a minute to start, 4 s of silence).
 */

/** For the timed benchmarks: a worker silent for a minute is lost. */
export const PATIENT_LAUNCH = { startupTimeoutMs: 300_000, heartbeatTimeoutMs: 60_000 } as const;

/**
 * For the quality runs, which take hours: a shared machine may pause niced processes (SIGSTOP)
 * for minutes while something else is timed, and a run paused with its worker must not count the
 * pause as a lost worker, so silence is tolerated for an hour.
 */
export const PAUSABLE_LAUNCH = { ...PATIENT_LAUNCH, heartbeatTimeoutMs: 3_600_000 } as const;
