// One tiny run on a real worker (CPU), paused after stage 1's clustering and resumed to its end,
// checked from every side the pause and the resume touch:
// - step-by-step control: the pause ends the session resumably with stage 1's clusters on disk
//   (readClusters), Mcl.resume finishes it, and the finished run embeds raw uint8 images;
// - one writer: two starts, then two resumes, of the directory at once: exactly one proceeds and
//   the other is RUN_LOCKED naming the holder; readers work while the run holds the lock; the lock
//   goes when the run pauses or finishes; another host's lock is never broken;
// - the experiment logs of both sessions: metrics.jsonl holds every metric event once (the resumed
//   session's second probe of stage 1 is not logged again), TensorBoard reads the scalars of every
//   line from the two sessions' event files, and both sessions wrote one W&B run (offline, read
//   back with wandb's own records: test/py/oracles/test_wandb_sink.py) whose history holds exactly
//   the scalars of metrics.jsonl, each against its step metric.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { reportCommand } from "../../../ts/cli/report-command.js";
import { Mcl, RunError, type MclEvent, type MclRun, readClusters, renderReport, tensor } from "../../../ts/index.js";
import { TENSORBOARD_FOLDER } from "../../../ts/sdk/experiment-logs.js";
import { type MetricRecord, scalarsOf } from "../../../ts/sdk/metric-records.js";
import { METRICS_FILE } from "../../../ts/sdk/metrics-log.js";
import { LOCK_FILE, type LockHolder } from "../../../ts/sdk/run-lock.js";
import { stepMetricOf } from "../../../ts/sdk/wandb-sink.js";
import { readSummary } from "../../../ts/run/summary.js";
import { projectRoot } from "../../../ts/transport/python-env.js";
import { readWithTensorBoard } from "../logging/tensorboard-reader.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-paused-run-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const SAMPLES = 128;
// Stage 1 trains two epochs (each a train job), so the logs hold steps across epochs; the baseline
// trains in the resumed session.
const config = tinyConfig(root, "paused", {
  dataset: `synthetic:trifeature?n=${SAMPLES}&size=16&seed=1`,
  epochsPerStage: [2, 1],
  logging: { tensorboard: true, wandb: { project: "mcl-test", mode: "offline" } },
});
const dir = join(root, "paused");
const runs: MclRun[] = [];
let first: MclEvent[] = [];
let second: MclEvent[] = [];
let finished: MclRun | undefined;

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

async function collect(events: AsyncIterable<MclEvent>): Promise<MclEvent[]> {
  const out: MclEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof RunError ? error.code : String(error)),
  );
}

function lockOf(path: string): LockHolder | null {
  const file = join(path, LOCK_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as LockHolder) : null;
}

/** Of concurrent calls, the one run made; the others' errors. */
async function oneOf(calls: Promise<MclRun>[]): Promise<{ run: MclRun; refused: unknown[] }> {
  const outcomes = await Promise.allSettled(calls);
  const made = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
  runs.push(...made);
  expect(made).toHaveLength(1);
  return { run: made[0]!, refused: outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : [])) };
}

/** A lock of a run on another host (its pid cannot be checked from here). */
const foreignLock = (): string =>
  `${JSON.stringify({ pid: 1, host: "elsewhere.example", since: "2026-01-01T00:00:00.000Z", purpose: "resume", token: "feedface" })}\n`;

/** A line of metrics.jsonl, as the log checks read it. */
interface Line {
  readonly kind: string;
  readonly stage: number | string;
  readonly epoch: number | null;
  readonly step: number | null;
  readonly loss?: number;
  readonly lr?: number;
  readonly linear?: Record<string, number>;
}

const holderText = (purpose: string) => `is in use by another run: pid ${process.pid} on host ${hostname()} (a ${purpose}, since `;

describe("a run paused after stage 1 and resumed", () => {
  it("refuses a stage with no clustering after it before creating anything", async () => {
    await expect(Mcl.start(config, { pauseAfterStage: 2 })).rejects.toThrow(/^pauseAfterStage: expected an integer from 1 to 1 \(stages with a clustering after them\), got 2$/);
    await expect(Mcl.start(config, { pauseAfterStage: 0.5 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(readClusters(dir)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  it("two starts at once: one runs (readers work meanwhile), the other is RUN_LOCKED; it pauses after stage 1's clustering and the lock goes", { timeout: 300_000 }, async () => {
    const { run, refused } = await oneOf([Mcl.start(config, { ...quiet, pauseAfterStage: 1 }), Mcl.start(config, { ...quiet, pauseAfterStage: 1 })]);
    expect(refused).toEqual([expect.objectContaining({ code: "RUN_LOCKED", message: expect.stringContaining(`${dir} ${holderText("start")}`) })]);
    expect(lockOf(dir)).toMatchObject({ pid: process.pid, host: hostname(), purpose: "start" });

    for await (const event of run.events()) {
      first.push(event);
      if (event.type !== "cluster") continue;
      // Stage 1's clustering is committed and the run still holds the directory.
      expect(lockOf(dir)).toMatchObject({ pid: process.pid });
      expect((await readClusters(dir)).map((stage) => stage.stage)).toEqual([1]);
      expect((await renderReport(dir)).html).toContain("<html");
      const log = vi.spyOn(console, "log").mockImplementation(() => {});
      try {
        expect(await reportCommand.run([dir])).toBe(0);
        expect(log.mock.calls.flat().join("\n")).toContain(`${dir} has not finished`);
      } finally {
        log.mockRestore();
      }
    }
    expect(first.filter((e) => e.type === "run-start")).toHaveLength(1);
    expect(first.at(-1)).toEqual({ type: "paused", runDir: run.dir, stage: 1 });
    expect(first.filter((e) => e.type === "stage-start").map((e) => (e as { stage: unknown }).stage)).toEqual([1]);
    expect(first.some((e) => e.type === "cluster" && e.stage === 1 && e.k === 4)).toBe(true);
    expect(await codeOf(run.result())).toBe("PAUSED");
    expect(lockOf(dir)).toBeNull();
    await expect(run.embed("synthetic:trifeature?n=4&size=16&seed=2")).rejects.toMatchObject({ code: "INVALID_STATE" });
    expect(run.workerPid).toBeUndefined();
  });

  it("leaves stage 1's clusters on disk, and refuses to pause again where it is past", async () => {
    const clusters = await readClusters(dir);
    expect(clusters).toHaveLength(1);
    const [stage1] = clusters;
    expect(stage1).toMatchObject({ stage: 1, k: 4 });
    expect(stage1!.assignments).toHaveLength(SAMPLES);
    expect(stage1!.clusterSizes.reduce((a, b) => a + b, 0)).toBe(SAMPLES);
    for (let c = 0; c < 4; c++) expect(stage1!.clusterSizes[c]).toBe(stage1!.assignments.filter((a) => a === c).length);
    // After one clustering the composite groups are its non-empty clusters.
    const nonEmpty = [...stage1!.clusterSizes].filter((size) => size > 0).sort((a, b) => a - b);
    expect([...stage1!.composite!.sizes].sort((a, b) => a - b)).toEqual(nonEmpty);
    expect(stage1!.composite!.stats.numGroups).toBe(nonEmpty.length);

    await expect(Mcl.resume(dir, { pauseAfterStage: 1 })).rejects.toThrow(/already past stage 1's clustering/);
  });

  it("two resumes at once: one finishes the run alone from the pause, the other is RUN_LOCKED; the lock goes when it finishes", { timeout: 300_000 }, async () => {
    const { run, refused } = await oneOf([Mcl.resume(dir, quiet), Mcl.resume(dir, quiet)]);
    expect(refused).toEqual([expect.objectContaining({ code: "RUN_LOCKED", message: expect.stringContaining(`${dir} ${holderText("resume")}`) })]);
    second = await collect(run.events());
    const summary = await run.result();
    finished = run;
    expect(lockOf(dir)).toBeNull();
    // Nothing mixed: one session, which trains stage 2 and the baseline and not stage 1 again.
    expect(second.filter((e) => e.type === "run-start")).toEqual([expect.objectContaining({ resumed: true })]);
    expect(second.filter((e) => e.type === "stage-start").map((e) => (e as { stage: unknown }).stage)).toEqual([2, "baseline"]);
    expect(second.filter((e) => e.type === "epoch").map((e) => (e as { stage: unknown }).stage)).toEqual([2, "baseline", "baseline", "baseline"]);
    expect(summary.resumed).toBe(true);
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(await readSummary(dir)).toEqual(summary);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { state: { phase: string } };
    expect(manifest.state.phase).toBe("done");
  });

  it("embeds raw uint8 images [N, C, H, W] with the integrated representation", async () => {
    const pixels = new Uint8Array(3 * 3 * 16 * 16);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + (i >> 8) * 11) % 256;
    const z = await finished!.embed(tensor("uint8", [3, 3, 16, 16], pixels));
    expect([z.rows, z.dim]).toEqual([3, 2 * 256]);
    for (let row = 0; row < 3; row++) {
      const norm = Math.hypot(...z.data.subarray(row * z.dim, (row + 1) * z.dim));
      expect(norm).toBeCloseTo(1, 4); // concat-then-l2
    }
    // The same images give the same rows; the first image alone gives the first row.
    const again = await finished!.embed(tensor("uint8", [1, 3, 16, 16], pixels.slice(0, 3 * 16 * 16)));
    for (let d = 0; d < z.dim; d++) expect(again.data[d]).toBeCloseTo(z.data[d]!, 5);
    // Other sizes are resized to the run's; bad images are refused before anything is sent.
    expect((await finished!.embed(tensor("uint8", [2, 3, 24, 24], new Uint8Array(2 * 3 * 24 * 24)))).rows).toBe(2);
    await expect(finished!.embed(tensor("uint8", [1, 16, 16, 3], new Uint8Array(768)))).rejects.toThrow(/images\.shape\[1\].*channels-last/);
  });

  it("re-measures the finished run under the lock; a start of its name is RUN_EXISTS and leaves no lock", async () => {
    writeFileSync(join(dir, LOCK_FILE), foreignLock());
    await expect(finished!.evaluate()).rejects.toMatchObject({ code: "RUN_LOCKED" });
    rmSync(join(dir, LOCK_FILE));
    expect((await finished!.evaluate()).stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(lockOf(dir)).toBeNull();

    await expect(Mcl.start(config, quiet)).rejects.toMatchObject({ code: "RUN_EXISTS" });
    expect(lockOf(dir)).toBeNull();
  });

  it("another host's lock is never broken: the resume is refused and the lock kept", async () => {
    const text = foreignLock();
    writeFileSync(join(dir, LOCK_FILE), text);
    try {
      await expect(Mcl.resume(dir, quiet)).rejects.toMatchObject({
        code: "RUN_LOCKED",
        message: expect.stringContaining(`pid 1 on host elsewhere.example (a resume, since 2026-01-01T00:00:00.000Z)`),
      });
      expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(text);
    } finally {
      rmSync(join(dir, LOCK_FILE));
    }
  });

  // The log readers below run synchronously: they block this process's event loop longer than the
  // worker's heartbeat allows, so they come after the last job.
  it("logs every metric of both sessions once to metrics.jsonl, and TensorBoard reads them", { timeout: 180_000 }, () => {
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

  it("logs both sessions to one W&B run, every scalar of metrics.jsonl at its step", { timeout: 180_000 }, () => {
    expect([...first, ...second].filter((e) => e.type === "warning").map((e) => (e as { code: string }).code)).not.toContain("WANDB_LOST");
    const id = readFileSync(join(dir, "wandb-run-id"), "utf8").trim();
    const { files, rows } = readWandb(dir);
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
});

const WANDB_READER = `
import json, sys
sys.path.insert(0, "test/py/oracles")
from test_wandb_sink import history, offline_runs
runs = offline_runs(__import__("pathlib").Path(sys.argv[1]))
json.dump({"files": [path.name for path in runs], "rows": [row for path in runs for row in history(path)]}, sys.stdout)
`;

/** The run's offline W&B files and the history rows in them, as wandb's own records give them. */
function readWandb(runDir: string): { files: string[]; rows: Record<string, number>[] } {
  const python = join(projectRoot(), ".venv", "bin", "python");
  const done = spawnSync(python, ["-c", WANDB_READER, runDir], { cwd: projectRoot(), encoding: "utf8", timeout: 120_000 });
  if (done.status !== 0) throw new Error(`the W&B reader failed: ${done.stderr}`);
  return JSON.parse(done.stdout) as { files: string[]; rows: Record<string, number>[] };
}
