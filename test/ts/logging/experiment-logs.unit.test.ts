// metrics.jsonl fed from a run's events (no worker, no reader): what each line holds, a resumed
// run's log continued without a step twice, a torn last line cut off, a new run's log started
// afresh, no event file when TensorBoard is off, a discarded run's logs removed, and a failed write
// reported. What TensorBoard reads of the event files: tensorboard-oracle.test.ts.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EventLog } from "../../../ts/sdk/events.js";
import { ExperimentLogs, TENSORBOARD_FOLDER } from "../../../ts/sdk/experiment-logs.js";
import { METRICS_FILE } from "../../../ts/sdk/metrics-log.js";
import { config, epochEnd, FIRST_SESSION, logSession, runDir, probe, progress } from "./sessions.js";

const root = mkdtempSync(join(tmpdir(), "mcl-logs-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function lines(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, METRICS_FILE), "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("metrics.jsonl", () => {
  it("holds one line per progress, epoch and probe event, with the track's global step", async () => {
    const dir = runDir(root);
    await logSession(dir, [...FIRST_SESSION, probe(1, 0.75), probe("integrated", 0.5)]);
    const logged = lines(dir);
    for (const line of logged) expect(line["time"]).toBeCloseTo(Date.now() / 1000, -2);
    expect(logged.map(({ time: _, ...rest }) => rest)).toEqual([
      { kind: "train", stage: 1, epoch: 0, step: 2, loss: 5.5, lr: 0.002, samplesPerSec: 102 },
      { kind: "train", stage: 1, epoch: 0, step: 4, loss: null, lr: 0.004, samplesPerSec: 104 }, // NaN: null
      { kind: "epoch", stage: 1, epoch: 0, step: 4, loss: 5.25, samplesPerSec: 120, seconds: 1.5, samples: 240, leftOut: 16, leftOutFraction: 0.0625 },
      { kind: "train", stage: 1, epoch: 1, step: 6, loss: 4.5, lr: 0.002, samplesPerSec: 102 },
      { kind: "probe", stage: 1, epoch: null, step: null, linear: { shape: 0.75, color: 0.5 }, knn: { shape: 0.375, color: 0.25 } },
      { kind: "probe", stage: "integrated", epoch: null, step: null, linear: { shape: 0.5, color: 0.5 }, knn: { shape: 0.25, color: 0.25 } },
    ]);
  });

  it("of a resumed run cuts off a torn last line and skips what the file holds already", async () => {
    const dir = runDir(root);
    await logSession(dir, FIRST_SESSION);
    const before = readFileSync(join(dir, METRICS_FILE), "utf8");
    writeFileSync(join(dir, METRICS_FILE), `${before}{"time":17650000,"kind":"train","sta`); // killed mid-line
    // The resumed session trains epoch 1 of stage 1 again (it was not committed), then goes on.
    await logSession(dir, [progress(1, 1, 2, 4.4), progress(1, 1, 4, 4.0), epochEnd(1, 1, 4.2), probe(1, 0.8), probe(1, 0.9)], {
      resumed: true,
    });
    const text = readFileSync(join(dir, METRICS_FILE), "utf8");
    expect(text.startsWith(before)).toBe(true);
    const added = text.slice(before.length).trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(added.map((line) => [line["kind"], line["step"], line["loss"] ?? line["linear"]])).toEqual([
      ["train", 8, 4.0],
      ["epoch", 8, 4.2],
      ["probe", null, { shape: 0.8, color: 0.5 }],
    ]);
  });

  it("of a new run starts afresh over what a discarded run of that name left", async () => {
    const dir = runDir(root);
    await logSession(dir, FIRST_SESSION);
    await logSession(dir, [progress(1, 0, 2, 3.0)]);
    expect(lines(dir).map((line) => line["loss"])).toEqual([3.0]);
  });

  it("is not written before the first metric", async () => {
    const dir = runDir(root);
    await logSession(dir, FIRST_SESSION.slice(0, 2));
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("the logs", () => {
  it("hold no event file when the config turns TensorBoard off", async () => {
    const dir = runDir(root);
    await logSession(dir, FIRST_SESSION, { tensorboard: false });
    expect(readdirSync(dir)).toEqual([METRICS_FILE]);
  });

  it("of a discarded new run are removed, its folder with them", async () => {
    const dir = runDir(root);
    const log = new EventLog();
    const logs = ExperimentLogs.attach(log, dir, config(), false);
    for (const event of FIRST_SESSION) log.push(event);
    await logs.flush();
    expect(readdirSync(dir).sort()).toEqual([METRICS_FILE, TENSORBOARD_FOLDER]);
    await logs.discard();
    expect(readdirSync(dir)).toEqual([]);
    log.push(progress(1, 1, 4, 1)); // after close: not logged
    await logs.flush();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("report a failed write naming the file", async () => {
    const file = join(root, "not-a-folder");
    writeFileSync(file, "");
    const log = new EventLog();
    const logs = ExperimentLogs.attach(log, file, config(), false);
    log.push(progress(1, 0, 2, 1));
    await expect(logs.close()).rejects.toMatchObject({ code: "WRITE_FAILED", message: expect.stringContaining(join(file, METRICS_FILE)) });
  });
});
