// launchWorker's supervision: a worker killed or hung mid-job rejects every call in flight with
// WorkerLostError and comes back; close(), SIGTERM or SIGKILL of the control plane leave no worker.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type WorkerHandle,
  WorkerLostError,
  WorkerStartError,
  connectWorker,
  launchWorker,
  projectRoot,
} from "../../../ts/transport/index.js";
import { PROTOCOL_VERSION } from "../../../ts/wire/index.js";

const quiet = { onOutput: () => {} };

/** Whether a process exists and is not a zombie waiting for a parent that may never reap it. */
function isAlive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (existsSync("/proc")) {
    if (!existsSync(stat)) return false;
    return readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !isAlive(pid);
}

function nextEvent<T>(emit: (listener: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve) => emit(resolve));
}

describe("a supervised worker", () => {
  let worker: WorkerHandle;

  beforeAll(async () => {
    worker = await launchWorker({ ...quiet, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1000, restartDelayMs: 50 });
  });

  afterAll(async () => {
    await worker?.close();
  });

  test("killed mid-job: every call in flight rejects with WorkerLostError, then it is restarted", async () => {
    const pid = worker.pid as number;
    const order: string[] = [];
    const restarted = nextEvent<{ pid: number }>((r) => worker.once("restarted", r)).then((e) => (order.push("restarted"), e));
    const exited = nextEvent<{ signal: string | null }>((r) => worker.once("exit", r));
    let started!: () => void;
    const progressed = new Promise<void>((r) => (started = r));
    const jobs = [
      worker.client.request("sleep", { seconds: 60, steps: 600 }, { onProgress: () => started() }),
      worker.client.request("sleep", { seconds: 60, steps: 1 }),
      worker.client.request("sleep", { seconds: 60, steps: 1 }),
    ].map((job) => job.catch((err: unknown) => (order.push("rejected"), err)));
    await progressed;
    process.kill(pid, "SIGKILL");

    const errors = await Promise.all(jobs);
    for (const err of errors) {
      expect(err).toBeInstanceOf(WorkerLostError);
      expect(err).toMatchObject({ code: "WORKER_LOST" });
    }
    expect((await exited).signal).toBe("SIGKILL");
    const { pid: newPid } = await restarted;
    expect(order).toEqual(["rejected", "rejected", "rejected", "restarted"]); // not held until the restart
    expect(newPid).not.toBe(pid);
    expect(worker.pid).toBe(newPid);
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
  });

  test("hung (SIGSTOP): the heartbeat rejects calls in flight, and the worker is replaced", async () => {
    const pid = worker.pid as number;
    const lost = nextEvent<WorkerLostError>((r) => worker.once("lost", r));
    const restarted = nextEvent<{ pid: number }>((r) => worker.once("restarted", r));
    const job = worker.client.request("sleep", { seconds: 60, steps: 1 });
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
    process.kill(pid, "SIGSTOP");

    const err = await job.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerLostError);
    expect((err as WorkerLostError).reason).toMatch(/no message from .* for \d+ ms/);
    expect((await lost).code).toBe("WORKER_LOST");
    expect((await restarted).pid).not.toBe(pid);
    expect(await waitUntilGone(pid)).toBe(true);
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
  });

  test("close() stops the worker process and rejects nothing late", async () => {
    const pid = worker.pid as number;
    const job = worker.client.request("sleep", { seconds: 60, steps: 1 }).catch((err: unknown) => err);
    await worker.close();
    expect(await job).toMatchObject({ code: "CANCELLED" });
    expect(await waitUntilGone(pid)).toBe(true);
    expect(worker.client.isClosed).toBe(true);
  });
});

describe("authentication", () => {
  let dir: string;
  let worker: WorkerHandle;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcl-auth-"));
    writeFileSync(join(dir, "key"), "correct horse battery staple\n");
    writeFileSync(join(dir, "wrong"), "something else\n");
    worker = await launchWorker({ ...quiet, keyFile: join(dir, "key") });
  });

  afterAll(async () => {
    await worker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a launched worker with a key serves signed requests", async () => {
    expect(worker.keyFile).toBe(join(dir, "key"));
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
  });

  test("connectWorker with the same key file attaches and does hello", async () => {
    const remote = await connectWorker(worker.client.endpoint, { keyFile: join(dir, "key") });
    try {
      expect(remote.hello.protocol).toBe(PROTOCOL_VERSION);
      await expect(remote.client.request("ping", {})).resolves.toEqual({});
    } finally {
      remote.close();
    }
  });

  test.each<[string, { keyFile?: string }]>([
    ["without a key", {}],
    ["with the wrong key", { keyFile: "wrong" }],
  ])("connectWorker %s is refused with AUTH_FAILED", async (_, { keyFile }) => {
    const attempt = connectWorker(worker.client.endpoint, keyFile === undefined ? {} : { keyFile: join(dir, keyFile) });
    await expect(attempt).rejects.toMatchObject({ code: "AUTH_FAILED" });
    await expect(worker.client.request("ping", {})).resolves.toEqual({});
  });
  test("close() leaves a key file it was given", async () => {
    await worker.close();
    expect(readFileSync(join(dir, "key"), "utf8")).toBe("correct horse battery staple\n");
  });
});

describe("no orphan workers", () => {
  function launchInChild(): { child: ChildProcess; launched: Promise<{ workerPid: number; keyFile: string }> } {
    const viteNode = join(projectRoot(), "node_modules", "vite-node", "vite-node.mjs");
    const script = join(projectRoot(), "test", "ts", "transport", "fixtures", "launch-and-wait.ts");
    const child = spawn(process.execPath, [viteNode, script], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! });
    const launched = new Promise<{ workerPid: number; keyFile: string }>((resolve, reject) => {
      lines.once("line", (line) => resolve(JSON.parse(line) as { workerPid: number; keyFile: string }));
      child.once("exit", (code) => reject(new Error(`the launcher exited with ${code} before printing the worker pid`)));
    });
    return { child, launched };
  }

  test.concurrent.each(["SIGINT", "SIGTERM", "SIGKILL"] as const)("%s to the control plane takes its worker down", async (signal) => {
    const { child, launched } = launchInChild();
    const { workerPid: pid, keyFile } = await launched;
    expect(isAlive(pid)).toBe(true);
    expect(existsSync(keyFile)).toBe(true);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_, s) => r(s)));
    child.kill(signal);
    expect(await exited).toBe(signal); // the default action of the signal still ends the process
    expect(await waitUntilGone(pid)).toBe(true);
    // Its key file goes with it, but for SIGKILL, which runs nothing.
    expect(existsSync(dirname(keyFile))).toBe(signal === "SIGKILL");
    rmSync(dirname(keyFile), { recursive: true, force: true });
  });
});

test("a missing interpreter fails with the command that fixes it", async () => {
  const attempt = launchWorker({ ...quiet, python: "/nonexistent/python" });
  await expect(attempt).rejects.toBeInstanceOf(WorkerStartError);
  await expect(attempt).rejects.toThrow(/npm run bootstrap/);
});
