import { expect, test } from "vitest";
import { WorkerProcess, WorkerStartError } from "../../../ts/transport/process.js";

test("a Python that cannot be spawned is named, with the spawn error as the cause and its code in the message", async () => {
  const attempt = WorkerProcess.spawn({
    python: "/nonexistent/python",
    pythonFix: "point MCL_WORKER_PYTHON at a Python",
    args: [],
    startupTimeoutMs: 5_000,
    onOutput: () => {},
  });
  const error = await attempt.then(
    () => expect.unreachable("the spawn succeeded"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkerStartError);
  const started = error as WorkerStartError;
  expect(started.code).toBe("WORKER_START_FAILED");
  expect(started.message).toMatch(/^cannot run the worker's Python \/nonexistent\/python: .*ENOENT.*; point MCL_WORKER_PYTHON at a Python$/);
  expect((started.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
});
