// The experiment logs of a real run (CPU worker), paused after stage 1 and resumed: metrics.jsonl
// holds every metric event of both sessions once (the resumed session's second probe of stage 1
// is not logged again), complete when result() settles, and TensorBoard reads the scalars of
// every logged line from the two sessions' event files.
import { readdirSync, readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun } from "../../../ts/index.js";
import { TENSORBOARD_FOLDER } from "../../../ts/sdk/experiment-logs.js";
import { METRICS_FILE } from "../../../ts/sdk/metrics-log.js";
import { tinyConfig } from "../sdk/tiny-config.js";
import { readWithTensorBoard } from "./tensorboard-reader.js";

const root = mkdtempSync(join(tmpdir(), "mcl-run-logs-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const runs: MclRun[] = [];

afterAll(async () => {
  for (const run of runs) await run.stop();
  rmSync(root, { recursive: true, force: true });
});

async function session(run: MclRun): Promise<MclEvent[]> {
  runs.push(run);
  const events: MclEvent[] = [];
  for await (const event of run.events()) events.push(event);
  await run.result().catch(() => undefined);
  return events;
}

interface Line {
  readonly kind: string;
  readonly stage: number | string;
  readonly epoch: number | null;
  readonly step: number | null;
  readonly loss?: number;
  readonly lr?: number;
  readonly linear?: Record<string, number>;
}

describe("a run's experiment logs", () => {
  it("hold every metric of a paused and resumed run once, and TensorBoard reads them", { timeout: 240_000 }, async () => {
    const config = tinyConfig(root, "logged", { epochsPerStage: [2, 1] });
    const first = await session(await Mcl.start(config, { ...quiet, pauseAfterStage: 1 }));
    expect(first.at(-1)?.type).toBe("paused");
    const dir = join(root, "logged");
    const second = await session(await Mcl.resume(dir, quiet));
    expect(second.at(-1)?.type).toBe("done");

    const lines = readFileSync(join(dir, METRICS_FILE), "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as Line);
    const metricEvents = [...first, ...second].filter((e) => e.type === "train-progress" || e.type === "epoch" || e.type === "probe");
    // Stage 1 is probed when it is clustered, and again by the resumed session's evaluation: logged once, the first.
    const stage1Probes = metricEvents.filter((e) => e.type === "probe" && e.stage === 1);
    expect(stage1Probes).toHaveLength(2);
    const expected = metricEvents.filter((e) => e !== stage1Probes[1]);
    expect(lines.map((l) => [l.kind, l.stage, l.epoch])).toEqual(
      expected.map((e) => [e.type === "train-progress" ? "train" : e.type, e.stage, e.type === "probe" ? null : e.epoch]),
    );
    expect(lines.map((l) => l.loss ?? l.linear)).toEqual(
      expected.map((e) => (e.type === "probe" ? e.probe.linear : Number.isFinite(e.loss) ? e.loss : null)),
    );
    // Global steps rise within each track and end each epoch at (epoch + 1) × its steps.
    for (const track of [1, 2, "baseline"]) {
      const train = lines.filter((l) => l.kind === "train" && l.stage === track);
      expect(train.length).toBeGreaterThan(0);
      expect(train.map((l) => l.step)).toEqual([...train.map((l) => l.step!)].sort((a, b) => a - b));
      for (const end of lines.filter((l) => l.kind === "epoch" && l.stage === track)) {
        expect(end.step).toBe(train.filter((l) => l.epoch === end.epoch).at(-1)!.step);
      }
    }

    const folder = join(dir, TENSORBOARD_FOLDER);
    expect(readdirSync(folder)).toHaveLength(2);
    const { scalars } = readWithTensorBoard(folder);
    for (const track of [1, 2, "baseline"]) {
      const prefix = track === "baseline" ? "baseline" : `stage-${track}`;
      const train = lines.filter((l) => l.kind === "train" && l.stage === track);
      expect(scalars[`${prefix}/train/loss`]?.map(([step, value]) => [step, value])).toEqual(train.map((l) => [l.step, Math.fround(l.loss!)]));
      expect(scalars[`${prefix}/train/lr`]?.map(([step, value]) => [step, value])).toEqual(train.map((l) => [l.step, Math.fround(l.lr!)]));
    }
    const probes = lines.filter((l) => l.kind === "probe" && typeof l.stage === "number");
    expect(scalars["probe/linear/shape"]?.map(([step, value]) => [step, value])).toEqual(probes.map((l) => [l.stage, Math.fround(l.linear!["shape"]!)]));
    expect(Object.keys(scalars)).toContain("integrated/probe/knn/color");
  });
});
