// The compiled `mcl` binary (dist/ts/cli/main.js, what `npm i` users run). `mcl run … | head -1`:
// once the reader of its stdout is gone, the CLI stops the run as Ctrl-C does, says so and how to
// resume on stderr, with no stack trace, and exits 141 (a shell's code for a writer ended by
// SIGPIPE); `mcl resume` then runs it to its summary and exits 0. Bad configs exit non-zero naming
// the field, before any worker is launched (the worker's interpreter is replaced by a script that
// leaves a mark if it is ever started).
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../../ts/index.js";
import { tinyConfig } from "../sdk/tiny-config.js";
import { assertBuildCurrent, binary, run, type Outcome } from "../support/cli-binary.js";

const dir = mkdtempSync(join(tmpdir(), "mcl-binary-"));

beforeAll(assertBuildCurrent);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mcl(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Outcome> {
  return run(process.execPath, [binary, ...args], dir, env);
}

function configFile(name: string, config: unknown): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** `mcl args` whose stdout is read up to its first line, then closed. */
function mclUntilFirstLine(args: readonly string[]): Promise<{ code: number | null; firstLine: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binary, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    const killer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    let firstLine = "";
    let stderr = "";
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      firstLine = line;
      lines.close();
      child.stdout.destroy(); // the reader goes away, as `head -1` does
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, firstLine, stderr });
    });
  });
}

describe("node dist/ts/cli/main.js run", () => {
  it("mcl run | head -1: exit 141, no stack trace, the resume command on stderr; mcl resume runs it to its summary and exits 0", { timeout: 300_000 }, async () => {
    const runDir = join(dir, "runs", "tiny");
    const config = tinyConfig(join(dir, "runs"), "tiny", { dataset: "synthetic:trifeature?n=128&size=16&seed=1", baseline: false, probe: { knn: 0 } });
    const piped = await mclUntilFirstLine(["run", configFile("tiny", config)]);
    expect(piped.firstLine).toBe(`starting ${runDir} (128 samples, cpu)`);
    expect({ code: piped.code, stderr: piped.stderr }).toEqual({
      code: 141,
      stderr: `mcl: standard output was closed (EPIPE); stopping at the last committed step. Resume with: mcl resume ${runDir}\n`,
    });
    expect(existsSync(join(runDir, "summary.json"))).toBe(false);

    const { code, stdout, stderr } = await mcl(["resume", runDir]);
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(new RegExp(`^resuming ${runDir} `));
    expect(stdout).toContain(`linear-probe accuracy per attribute (held-out split), ${runDir}/summary.json`);
    const summary = JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8")) as Summary;
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    for (const name of summary.attributes) expect(stdout).toContain(name);
    expect(stdout.trimEnd().split("\n").at(-1)).toBe(`report: ${join(runDir, "report.html")}`);
  });

  describe("refuses a bad config before any worker starts", () => {
    const mark = join(dir, "worker-started");
    const fakePython = join(dir, "fake-python");
    beforeAll(() => {
      writeFileSync(fakePython, `#!/bin/sh\ntouch '${mark}'\nexit 1\n`);
      chmodSync(fakePython, 0o755);
    });
    const cases = [
      { name: "invalid", config: { name: "bad", stages: 0 }, field: /stages: expected an integer >= 1/, code: /INVALID_CONFIG/ },
      { name: "unknown", config: { name: "bad", stagez: 2 }, field: /stagez/, code: /INVALID_CONFIG/ },
      { name: "unlabelled", config: { name: "bad", loss: { name: "supcon" } }, field: /loss\.attribute: supcon needs/, code: /INVALID_CONFIG/ },
    ];
    for (const { name, config, field, code } of cases) {
      it(`${name}: exit 1, the field named`, async () => {
        const runs = join(dir, `runs-${name}`);
        const outcome = await mcl(["run", configFile(name, { ...config, runDir: runs })], { ...process.env, MCL_WORKER_PYTHON: fakePython });
        expect(outcome.code).toBe(1);
        expect(outcome.stderr).toMatch(/^mcl run: /);
        expect(outcome.stderr).toMatch(field);
        expect(outcome.stderr).toMatch(code);
        expect(existsSync(mark)).toBe(false);
        expect(existsSync(runs)).toBe(false);
      });
    }

    it("(the mark works: a valid config does start the stand-in interpreter, which fails)", async () => {
      const config = tinyConfig(join(dir, "runs-valid"), "valid");
      const outcome = await mcl(["run", configFile("valid", config)], { ...process.env, MCL_WORKER_PYTHON: fakePython });
      expect(outcome.code).not.toBe(0);
      expect(existsSync(mark)).toBe(true);
    });
  });
});
