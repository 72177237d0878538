// `mcl run … | head -1` with the built binary: once the reader of its stdout is gone, the CLI stops
// the run as Ctrl-C does, says so and how to resume on stderr, with no stack trace, and exits 141
// (a shell's code for a writer ended by SIGPIPE); the run directory resumes to a finished run.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { tinyConfig } from "../sdk/tiny-config.js";
import { assertBuildCurrent, binary, run } from "../support/cli-binary.js";

const dir = mkdtempSync(join(tmpdir(), "mcl-closed-stdout-"));

beforeAll(assertBuildCurrent);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

it("mcl run | head -1: exit 141, no stack trace, the resume command on stderr; the run resumes to its end", { timeout: 300_000 }, async () => {
  const runDir = join(dir, "runs", "piped");
  const configFile = join(dir, "piped.json");
  writeFileSync(configFile, JSON.stringify(tinyConfig(join(dir, "runs"), "piped", { baseline: false, probe: { knn: 0 } })));

  const piped = await mclUntilFirstLine(["run", configFile]);
  expect(piped.firstLine).toBe(`starting ${runDir} (256 samples, cpu)`);
  expect({ code: piped.code, stderr: piped.stderr }).toEqual({
    code: 141,
    stderr: `mcl: standard output was closed (EPIPE); stopping at the last committed step. Resume with: mcl resume ${runDir}\n`,
  });
  expect(existsSync(join(runDir, "summary.json"))).toBe(false);

  const resumed = await run(process.execPath, [binary, "resume", runDir], dir);
  expect({ code: resumed.code, stderr: resumed.stderr }).toEqual({ code: 0, stderr: "" });
  expect(resumed.stdout).toMatch(new RegExp(`^resuming ${runDir} `));
  expect(existsSync(join(runDir, "summary.json"))).toBe(true);
});
