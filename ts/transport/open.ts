/**
 * Where a run's worker comes from: launched by this process (the default) or attached to with
 * connectWorker(endpoint). Either way the run sees a client, a device name and close().
 */

import type { HelloResult } from "../wire/index.js";
import { type ConnectOptions, connectWorker } from "./connect.js";
import { type LaunchOptions, launchWorker } from "./launch.js";
import type { WorkerClient } from "./worker-client.js";

/** Where a run's worker comes from: launched by this process (the default), or reached at `endpoint`. */
export interface WorkerOptions {
  /** Attach to a worker already running there (e.g. on a GPU box) instead of launching one. */
  readonly endpoint?: string;
  /** Options of connectWorker, with `endpoint`. */
  readonly connect?: ConnectOptions;
  /** Options of launchWorker, without `endpoint`. */
  readonly launch?: LaunchOptions;
}

export interface WorkerConnection {
  readonly client: WorkerClient;
  /** Device of the worker's compute, e.g. "cpu" or "cuda:0 (NVIDIA H100)". */
  readonly device: string;
  /** Data-parallel ranks behind the worker (hello.world_size; > 1 under torchrun). */
  readonly worldSize: number;
  /** The worker's hello (its devices, torch version, …). */
  readonly hello: HelloResult;
  /** True when this process launched the worker (it ends with close()). */
  readonly launched: boolean;
  /** The process id of a launched worker; undefined for a connected one (or between a crash and its restart). */
  readonly pid: number | undefined;
  /** Shuts a launched worker down; detaches from a connected one. */
  close(): Promise<void>;
}

/** Starts (or attaches to) the worker `options` describe. */
export async function openWorker(options: WorkerOptions = {}): Promise<WorkerConnection> {
  if (options.endpoint !== undefined) {
    if (options.launch !== undefined) throw new TypeError("worker options: give endpoint (connect) or launch, not both");
    const connected = await connectWorker(options.endpoint, options.connect ?? {});
    return {
      client: connected.client,
      device: deviceName(connected.hello),
      worldSize: connected.hello.world_size,
      hello: connected.hello,
      launched: false,
      pid: undefined,
      close: async () => connected.close(),
    };
  }
  if (options.connect !== undefined) throw new TypeError("worker options: connect options need an endpoint");
  const handle = await launchWorker(options.launch ?? {});
  return {
    client: handle.client,
    device: deviceName(handle.hello),
    worldSize: handle.hello.world_size,
    get hello() {
      return handle.hello;
    },
    launched: true,
    get pid() {
      return handle.pid;
    },
    close: () => handle.close(),
  };
}

/** The device the worker computes on by default (compute.device auto): its first accelerator, else the CPU. */
export function deviceName(hello: HelloResult): string {
  const device = hello.devices.find((d) => d.type !== "cpu") ?? hello.devices[0];
  if (device === undefined) return "unknown";
  return device.type === "cpu" ? "cpu" : `${device.type}:${device.index} (${device.name})`;
}
