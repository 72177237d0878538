// The exit code of each kind of failure, from the one map in ts/cli/failure.ts: a command refused
// as given exits 2, any other error 1, and the line on stderr ends with the error's code.
import { afterEach, describe, expect, test, vi } from "vitest";
import { CommandUsageError } from "../../../ts/cli/args.js";
import { EXIT_FAILURE, EXIT_USAGE, exitCodeOf, reportFailure } from "../../../ts/cli/failure.js";
import { ConfigError } from "../../../ts/config/config-error.js";
import { PlanError, RunStoreError } from "../../../ts/control/errors.js";
import { RunError } from "../../../ts/run/errors.js";
import { WorkerLostError } from "../../../ts/transport/errors.js";

afterEach(() => vi.restoreAllMocks());

describe("exitCodeOf", () => {
  test.each([
    ["a bad command line", new CommandUsageError("unknown option --x"), EXIT_USAGE],
    ["a run directory that holds a run", new RunStoreError("RUN_EXISTS", "runs/x holds a run"), EXIT_USAGE],
    ["a run directory another process writes", new RunError("RUN_LOCKED", "runs/x is locked"), EXIT_USAGE],
    ["a malformed --set", new ConfigError("INVALID_OVERRIDE", "--set x: no value"), EXIT_USAGE],
    ["an invalid config", new ConfigError("INVALID_CONFIG", "invalid config", [{ path: "stages", message: "expected an integer >= 1, got 0" }]), EXIT_FAILURE],
    ["a corrupt run file", new RunStoreError("CORRUPT_FILE", "manifest.json: not JSON"), EXIT_FAILURE],
    ["an infeasible plan", new PlanError("PLAN_INFEASIBLE", "batch size"), EXIT_FAILURE],
    ["a lost worker", new WorkerLostError("it exited"), EXIT_FAILURE],
    ["an error of no package class", new Error("boom"), EXIT_FAILURE],
    ["a look-alike with a refusing code", Object.assign(new Error("not ours"), { code: "RUN_EXISTS" }), EXIT_FAILURE],
    ["a thrown string", "boom", EXIT_FAILURE],
  ])("%s", (_what, error, code) => {
    expect(exitCodeOf(error)).toBe(code);
  });
});

describe("reportFailure", () => {
  function reported(error: unknown): { code: number; line: string } {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((text: unknown) => void lines.push(String(text)));
    const code = reportFailure("run", error);
    return { code, line: lines.join("\n") };
  }

  test("names the command, the message and the code, and gives the mapped exit code", () => {
    expect(reported(new RunError("RUN_LOCKED", "runs/x is locked by pid 7"))).toEqual({ code: EXIT_USAGE, line: "mcl run: runs/x is locked by pid 7 (RUN_LOCKED)" });
    expect(reported(new Error("boom"))).toEqual({ code: EXIT_FAILURE, line: "mcl run: boom (UNKNOWN)" });
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'c.yaml'"), { code: "ENOENT" });
    expect(reported(missing)).toEqual({ code: EXIT_FAILURE, line: "mcl run: ENOENT: no such file or directory, open 'c.yaml' (ENOENT)" });
  });

  test("points a bad command line at --help", () => {
    expect(reported(new CommandUsageError("unknown option --x"))).toEqual({ code: EXIT_USAGE, line: "mcl run: unknown option --x (mcl run --help shows the usage)" });
  });
});
