import type {
  Body,
  EchoRequest,
  EchoResult,
  GenerateRequest,
  GenerateResult,
  HelloRequest,
  HelloResult,
  PingRequest,
  PingResult,
  SleepProgress,
  SleepRequest,
  SleepResult,
} from "../wire/index.js";

/**
 * Request, result and progress bodies of each job type, so that `client.request("sleep", …)` is
 * typed end to end. Modules adding compute jobs extend it by declaration merging:
 *   declare module "../transport/job-types.js" { interface JobTypes { train: {…} } }
 */
export interface JobTypes {
  hello: { request: HelloRequest; result: HelloResult; progress: never };
  ping: { request: PingRequest; result: PingResult; progress: never };
  echo: { request: EchoRequest; result: EchoResult; progress: never };
  generate: { request: GenerateRequest; result: GenerateResult; progress: never };
  sleep: { request: SleepRequest; result: SleepResult; progress: SleepProgress };
}

export type RequestOf<K extends string> = K extends keyof JobTypes ? JobTypes[K]["request"] : Body;
export type ResultOf<K extends string> = K extends keyof JobTypes ? JobTypes[K]["result"] : Body;
export type ProgressOf<K extends string> = K extends keyof JobTypes ? JobTypes[K]["progress"] : Body;
