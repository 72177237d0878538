// examples/sweep.ts on tiny settings: one row per (S, K) point, S = 1 once, rows written.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sweep, sweepArgs } from "../../../examples/sweep.js";
import { tinySettings } from "./tiny.js";

const root = mkdtempSync(join(tmpdir(), "mcl-example-sweep-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the K x stages sweep", () => {
  it("parses its grid beside the shared settings", () => {
    expect(sweepArgs(["--k", "2,4", "--stages", "1,2", "--samples", "64"])).toMatchObject({
      grid: { ks: [2, 4], stages: [1, 2] },
      settings: { samples: 64 },
    });
    expect(() => sweepArgs(["--k", "2,x"])).toThrow('--k: expected integers >= 1 separated by commas, got "2,x"');
    expect(() => sweepArgs(["--epochs", "0"])).toThrow('--epochs: expected an integer >= 1, got "0"');
  });

  it("runs every point and writes its rows", { timeout: 600_000 }, async () => {
    const lines: string[] = [];
    const result = await sweep({ ks: [2], stages: [1, 2] }, tinySettings(root), (line) => lines.push(line));
    expect(result.rows.map((row) => [row.stages, row.k, row.epochs])).toEqual([
      [1, null, 1],
      [2, 2, 2],
    ]);
    for (const row of result.rows) {
      expect(Object.keys(row.integrated).sort()).toEqual(["background", "color", "shape", "texture"]);
      for (const accuracy of [...Object.values(row.integrated), ...Object.values(row.lastStage)]) {
        expect(accuracy).toBeGreaterThanOrEqual(0);
        expect(accuracy).toBeLessThanOrEqual(1);
      }
    }
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^S=2 K=2 \(2 epochs, \d+ s\): shape \d/);
    const { samples, size, epochs } = tinySettings(root);
    expect(JSON.parse(readFileSync(result.file, "utf8"))).toEqual({ settings: { samples, size, epochs, runDir: root }, rows: result.rows });
  });
});
