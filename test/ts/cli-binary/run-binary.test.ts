// The compiled `mcl` binary (dist/ts/cli/main.js, what `npm i` users run): a tiny config runs to
// its summary; bad configs exit non-zero naming the field, before any worker is launched (the
// worker's interpreter is replaced by a script that leaves a mark if it is ever started).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

describe("node dist/ts/cli/main.js run", () => {
  it("runs a tiny config to its summary and exits 0", { timeout: 240_000 }, async () => {
    const config = tinyConfig(join(dir, "runs"), "tiny", { baseline: false, probe: { knn: 0 } });
    const { code, stdout, stderr } = await mcl(["run", configFile("tiny", config)]);
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toContain(`linear-probe accuracy per attribute (held-out split), ${join(dir, "runs", "tiny")}/summary.json`);
    const summary = JSON.parse(readFileSync(join(dir, "runs", "tiny", "summary.json"), "utf8")) as Summary;
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    for (const name of summary.attributes) expect(stdout).toContain(name);
    expect(stdout.trimEnd().split("\n").at(-1)).toBe(`report: ${join(dir, "runs", "tiny", "report.html")}`);
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
