// The W&B sidecar's wiring with a fake sidecar (a Node script speaking its protocol; the real one
// against wandb: test/py/oracles/test_wandb_sink.py): what the run's logs send it, the options it
// gets, a missing wandb refused naming logging.wandb and the fix, a sidecar that dies mid-run
// reported as a WANDB_LOST warning while the logs go on, and every wait bounded (start, finish).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mclConfigSchema } from "../../../ts/config/mcl-config.js";
import { RunError } from "../../../ts/run/errors.js";
import { EventLog, type MclEvent } from "../../../ts/sdk/events.js";
import { ExperimentLogs } from "../../../ts/sdk/experiment-logs.js";
import { METRICS_FILE } from "../../../ts/sdk/metrics-log.js";
import { WandbSink } from "../../../ts/sdk/wandb-sink.js";
import { epochEnd, FIRST_SESSION, probe, progress, runDir } from "../logging/sessions.js";

const root = mkdtempSync(join(tmpdir(), "mcl-wandb-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Behaves as the project name says: "ok" logs each line to <run>/received.jsonl; "no-wandb" exits
// as when wandb cannot be imported; "die" exits after its first line; "hang" never finishes;
// "slow" never gets its W&B run open.
const FAKE = join(root, "fake-sink.mjs");
writeFileSync(
  FAKE,
  `import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
const [runDir, json] = process.argv.slice(2);
const options = JSON.parse(json);
writeFileSync(join(runDir, "wandb-run-id"), "fake\\n");
writeFileSync(join(runDir, "options.json"), json);
if (options.project === "no-wandb") { process.stderr.write("cannot import wandb\\n"); process.exit(3); }
if (options.project === "slow" || options.project === "hang") setInterval(() => undefined, 1000);
if (options.project !== "slow") console.log("mcl-wandb-sink ready");
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  appendFileSync(join(runDir, "received.jsonl"), line + "\\n");
  if (options.project === "die") { process.stderr.write("wandb: network error\\n"); process.exit(1); }
});
lines.on("close", () => { if (options.project !== "hang") process.exit(0); });
`,
);
const COMMAND = [process.execPath, FAKE];

function wandbConfig(project: string) {
  return mclConfigSchema.parse({ name: "logs", stages: 2, epochsPerStage: 2, logging: { tensorboard: false, wandb: { project, mode: "offline" } } });
}

function received(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, "received.jsonl"), "utf8")
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line.replace(/:NaN/g, ":null")) as Record<string, unknown>);
}

async function session(dir: string, project: string, events: readonly MclEvent[]): Promise<MclEvent[]> {
  const log = new EventLog();
  const logs = ExperimentLogs.attach(log, dir, wandbConfig(project), false);
  await logs.startWandb(COMMAND);
  for (const event of events) {
    log.push(event);
    await logs.flush();
  }
  await logs.close();
  const seen: MclEvent[] = [];
  log.close();
  for await (const event of log.iterate()) seen.push(event);
  return seen;
}

describe("logging.wandb", () => {
  it("sends the sidecar every record's scalars against its step metric, with the config's name as the run name", async () => {
    const dir = runDir(root);
    await session(dir, "ok", [...FIRST_SESSION, probe(1, 0.75), probe("integrated", 0.5), progress("baseline", 0, 4, 2.5)]);
    expect(JSON.parse(readFileSync(join(dir, "options.json"), "utf8"))).toEqual({ project: "ok", mode: "offline", name: "logs" });
    const raw = readFileSync(join(dir, "received.jsonl"), "utf8");
    expect(raw).toContain('"stage-1/train/loss":NaN'); // Python's json reads it back as NaN
    expect(received(dir)).toEqual([
      { step: 2, stepMetric: "stage-1/step", scalars: { "stage-1/train/loss": 5.5, "stage-1/train/lr": 0.002, "stage-1/train/samples_per_sec": 102 } },
      { step: 4, stepMetric: "stage-1/step", scalars: { "stage-1/train/loss": null, "stage-1/train/lr": 0.004, "stage-1/train/samples_per_sec": 104 } },
      {
        step: 4,
        stepMetric: "stage-1/step",
        scalars: { "stage-1/epoch/loss": 5.25, "stage-1/epoch/samples_per_sec": 120, "stage-1/epoch/left_out_fraction": 0.0625 },
      },
      { step: 6, stepMetric: "stage-1/step", scalars: { "stage-1/train/loss": 4.5, "stage-1/train/lr": 0.002, "stage-1/train/samples_per_sec": 102 } },
      { step: 1, stepMetric: "probe/stage", scalars: { "probe/linear/shape": 0.75, "probe/linear/color": 0.5, "probe/knn/shape": 0.375, "probe/knn/color": 0.25 } },
      {
        step: 2,
        stepMetric: "integrated/probe/stage",
        scalars: { "integrated/probe/linear/shape": 0.5, "integrated/probe/linear/color": 0.5, "integrated/probe/knn/shape": 0.25, "integrated/probe/knn/color": 0.25 },
      },
      { step: 4, stepMetric: "baseline/step", scalars: { "baseline/train/loss": 2.5, "baseline/train/lr": 0.004, "baseline/train/samples_per_sec": 104 } },
    ]);
  });

  it("is refused before training when the worker's Python cannot import wandb, naming the field and the fix", async () => {
    const dir = runDir(root);
    const logs = new ExperimentLogs(dir, wandbConfig("no-wandb"), false);
    const error = await logs.startWandb(COMMAND).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).code).toBe("INVALID_INPUT");
    expect((error as RunError).message).toMatch(/^logging\.wandb: the worker's Python .* cannot import wandb; install it there with `.* -m pip install wandb`/);
    expect(existsSync(join(dir, "wandb-run-id"))).toBe(false); // a new run that never started leaves nothing
  });

  it("goes on without the sidecar when it dies mid-run, with one WANDB_LOST warning", async () => {
    const dir = runDir(root);
    const events = await session(dir, "die", [progress(1, 0, 2, 5.5), progress(1, 0, 4, 5.0), epochEnd(1, 0, 5.25)]);
    const warnings = events.filter((event) => event.type === "warning");
    expect(warnings).toEqual([{ type: "warning", stage: 1, code: "WANDB_LOST", message: expect.stringContaining("wandb: network error") as string }]);
    expect(readFileSync(join(dir, METRICS_FILE), "utf8").trimEnd().split("\n")).toHaveLength(3);
    expect(received(dir)).toHaveLength(1);
  });

  it("kills a sidecar that does not open its W&B run in time", async () => {
    const dir = runDir(root);
    const options = { project: "slow", mode: "offline" as const };
    const started = performance.now();
    await expect(WandbSink.start(COMMAND, dir, options, () => undefined, 1000)).rejects.toThrow(/^logging\.wandb: wandb\.init did not return within 1 s/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("kills a sidecar that does not finish in time, and says so", async () => {
    const dir = runDir(root);
    const lost: string[] = [];
    const sink = await WandbSink.start(COMMAND, dir, { project: "hang", mode: "offline" }, (message) => lost.push(message));
    const started = performance.now();
    await sink.close(1000);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(lost).toEqual([expect.stringMatching(/^the W&B sidecar did not finish its W&B run within 1 s and was killed/)]);
  });
});
