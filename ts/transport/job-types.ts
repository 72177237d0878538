import type { Body, JobBodies } from "../wire/index.js";

/**
 * Request, result and progress bodies of each job type of proto/protocol.json (generated into
 * ts/wire/generated/schemas.ts), so that `client.request("sleep", …)` is typed end to end.
 */
export type JobTypes = JobBodies;

export type RequestOf<K extends string> = K extends keyof JobTypes ? JobTypes[K]["request"] : Body;
export type ResultOf<K extends string> = K extends keyof JobTypes ? JobTypes[K]["result"] : Body;
export type ProgressOf<K extends string> = K extends keyof JobTypes ? JobTypes[K]["progress"] : Body;
