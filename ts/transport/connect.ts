import { type HelloResult, loadKeyFile } from "../wire/index.js";
import { handshake } from "./launch.js";
import { WorkerClient, type WorkerClientOptions } from "./worker-client.js";

export interface ConnectOptions extends Omit<WorkerClientOptions, "key"> {
  /** The worker's HMAC key file (what it was started with: `mcl-worker --auth KEYFILE`). */
  readonly keyFile?: string;
  /** The key itself, instead of keyFile. */
  readonly key?: Uint8Array;
  /** How long to wait for hello (default 10 s). */
  readonly timeoutMs?: number;
}

export interface ConnectedWorker {
  readonly client: WorkerClient;
  readonly hello: HelloResult;
  close(): void;
}

/**
 * Attaches to a worker started elsewhere, e.g. on a GPU box with
 * `mcl-worker --bind tcp://0.0.0.0:5555 --auth key-file`, and does the hello exchange.
 * Nothing supervises that process: if it dies, jobs reject with WORKER_LOST.
 */
export async function connectWorker(endpoint: string, options: ConnectOptions = {}): Promise<ConnectedWorker> {
  if (options.key !== undefined && options.keyFile !== undefined) {
    throw new TypeError("connectWorker: give key or keyFile, not both");
  }
  const { keyFile, key, timeoutMs, ...clientOptions } = options;
  const secret = keyFile === undefined ? key : loadKeyFile(keyFile);
  const client = new WorkerClient(endpoint, { ...clientOptions, ...(secret === undefined ? {} : { key: secret }) });
  try {
    const hello = await handshake(client, { startupTimeoutMs: timeoutMs ?? 10_000 });
    return { client, hello, close: () => client.close() };
  } catch (err) {
    client.close();
    throw err;
  }
}
