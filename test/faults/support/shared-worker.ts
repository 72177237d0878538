// One long-lived worker per test file for the cases that need no process of their own: launched
// with a key of the test's own, and reached by runs as a remote worker is (worker.endpoint).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunOptions } from "../../../ts/index.js";
import { launchWorker, type WorkerHandle } from "../../../ts/transport/index.js";

export interface SharedWorker {
  readonly handle: WorkerHandle;
  /** Run options that attach a run to it. */
  readonly options: RunOptions;
  close(): Promise<void>;
}

export async function shareWorker(): Promise<SharedWorker> {
  const keyDir = mkdtempSync(join(tmpdir(), "mcl-faults-key-"));
  const keyFile = join(keyDir, "key");
  writeFileSync(keyFile, "fault-matrix shared worker key\n", { mode: 0o600 });
  const handle = await launchWorker({ keyFile, onOutput: () => {} });
  return {
    handle,
    options: { worker: { endpoint: handle.client.endpoint, connect: { keyFile } } },
    close: async () => {
      await handle.close();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}
