// A tiny run with logging.wandb offline, paused after stage 1 and resumed: read back with wandb's
// own records (test/py/oracles/test_wandb_sink.py's reader), both sessions wrote the same W&B run,
// and its history holds exactly the scalars of metrics.jsonl, each against its step metric.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { MclError } from "../../../ts/run/errors.js";
import { Mcl } from "../../../ts/sdk/mcl.js";
import { type MetricRecord, scalarsOf } from "../../../ts/sdk/metric-records.js";
import { METRICS_FILE } from "../../../ts/sdk/metrics-log.js";
import { stepMetricOf } from "../../../ts/sdk/wandb-sink.js";
import { projectRoot } from "../../../ts/transport/python-env.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-wandb-run-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const READER = `
import json, sys
sys.path.insert(0, "test/py/oracles")
from test_wandb_sink import history, offline_runs
runs = offline_runs(__import__("pathlib").Path(sys.argv[1]))
json.dump({"files": [path.name for path in runs], "rows": [row for path in runs for row in history(path)]}, sys.stdout)
`;

function readBack(dir: string): { files: string[]; rows: Record<string, number>[] } {
  const python = join(projectRoot(), ".venv", "bin", "python");
  const done = spawnSync(python, ["-c", READER, dir], { cwd: projectRoot(), encoding: "utf8", timeout: 120_000 });
  if (done.status !== 0) throw new Error(`the W&B reader failed: ${done.stderr}`);
  return JSON.parse(done.stdout) as { files: string[]; rows: Record<string, number>[] };
}

it("logs both sessions of a resumed run to one W&B run, every scalar of metrics.jsonl at its step", { timeout: 600_000 }, async () => {
  const config = tinyConfig(root, "wandb", {
    dataset: "synthetic:trifeature?n=128&size=16&seed=1",
    probe: { knn: 0 },
    logging: { tensorboard: false, wandb: { project: "mcl-test", mode: "offline" } },
  });
  const first = await Mcl.start(config, { pauseAfterStage: 1 });
  await expect(first.result()).rejects.toSatisfy((error) => error instanceof MclError && error.code === "PAUSED");
  const dir = first.dir;
  const again = await Mcl.resume(dir);
  const warnings: string[] = [];
  for await (const event of again.events()) if (event.type === "warning") warnings.push(event.code);
  await again.result();
  expect(warnings).not.toContain("WANDB_LOST");

  const id = readFileSync(join(dir, "wandb-run-id"), "utf8").trim();
  const { files, rows } = readBack(dir);
  expect(files).toEqual([`run-${id}.wandb`, `run-${id}.wandb`]);
  const records = readFileSync(join(dir, METRICS_FILE), "utf8")
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as MetricRecord);
  const expected = records.flatMap((record) => {
    const point = scalarsOf(record, 2);
    return point === null || point.scalars.length === 0 ? [] : [{ ...Object.fromEntries(point.scalars), [stepMetricOf(record)]: point.step }];
  });
  expect(expected.length).toBeGreaterThan(10);
  expect(rows.map((row) => Object.fromEntries(Object.entries(row).filter(([key]) => !key.startsWith("_"))))).toEqual(expected);
});
