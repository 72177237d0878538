// A tiny run through the SDK on a real worker (CPU) with a warm-up, a cosine schedule and the
// supcon loss on the dataset's `shape` labels: every stage and the baseline warm up from their own
// step 0 and follow one curve across their epochs (each epoch a train job), the train-progress
// events carry the rate of every step, and losses.json records each epoch's first and last rate.
// The rates' exact values are checked against open_clip's own functions in
// test/py/oracles/test_lr_schedule.py; here the curve is the formula's, to the float's rounding.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun, readLossHistory } from "../../../ts/index.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-schedule-"));
const LR = 2e-3;
const WARMUP = 5;
const worker = { worker: { launch: { onOutput: () => {} } } };
let run: MclRun | undefined;

afterAll(async () => {
  await run?.stop();
  rmSync(root, { recursive: true, force: true });
});

type Progress = Extract<MclEvent, { type: "train-progress" }>;

/** open_clip's cosine_lr: linear warm-up, then a half cosine down to 0 at `total`. */
function cosine(step: number, total: number): number {
  if (step < WARMUP) return (LR * (step + 1)) / WARMUP;
  return 0.5 * (1 + Math.cos((Math.PI * (step - WARMUP)) / (total - WARMUP))) * LR;
}

describe("a run with a warm-up, a cosine schedule and supcon", () => {
  it("follows each stage's curve from its own step 0 and records it", { timeout: 180_000 }, async () => {
    run = await Mcl.start(
      tinyConfig(root, "warm", {
        epochsPerStage: [2, 1],
        loss: { name: "supcon", attribute: "shape" },
        optimizer: { lr: LR, warmupSteps: WARMUP, schedule: "cosine" },
      }),
      worker,
    );
    const events: MclEvent[] = [];
    for await (const event of run.events()) events.push(event);
    await run.result();

    const history = await readLossHistory(run.dir);
    const tracks = [
      [1, 2],
      [2, 1],
      ["baseline", 3],
    ] as const;
    for (const [track, epochs] of tracks) {
      const progress = events.filter((e): e is Progress => e.type === "train-progress" && e.stage === track);
      const steps = progress[0]!.steps;
      // Every step is reported (an epoch has fewer steps than PROGRESS_PER_EPOCH), epoch by epoch.
      expect(progress.map((p) => [p.epoch, p.step, p.steps])).toEqual(
        Array.from({ length: epochs * steps }, (_, i) => [Math.floor(i / steps), (i % steps) + 1, steps]),
      );
      const total = epochs * steps;
      expect(total).toBeGreaterThan(WARMUP);
      progress.forEach((p, i) => expect(Math.abs(p.lr - cosine(i, total))).toBeLessThanOrEqual(1e-15));
      expect(progress[0]!.lr).toBe(LR / WARMUP);
      expect(progress[WARMUP - 1]!.lr).toBe(LR);

      const name = track === "baseline" ? "baseline" : `stage-${track}`;
      expect(history!.lr![name]).toEqual(
        Array.from({ length: epochs }, (_, e) => ({ first: progress[e * steps]!.lr, last: progress[e * steps + steps - 1]!.lr })),
      );
      const losses = events.flatMap((e) => (e.type === "epoch" && e.stage === track ? [e.loss] : []));
      expect(history!.tracks[name]).toEqual(losses);
      for (const loss of losses) expect(Number.isFinite(loss)).toBe(true);
    }
  });

  it("refuses an attribute the dataset does not label before anything trains, leaving no run behind", { timeout: 60_000 }, async () => {
    const refused = await Mcl.start(tinyConfig(root, "unlabelled", { loss: { name: "supcon", attribute: "size" } }), worker);
    const events: MclEvent[] = [];
    for await (const event of refused.events()) events.push(event);
    await expect(refused.result()).rejects.toMatchObject({
      code: "UNKNOWN_ATTRIBUTE",
      message: expect.stringMatching(/^loss\.attribute: synthetic:trifeature\S* has no attribute "size" to take supcon's labels from; it has shape, color, texture, background$/),
    });
    await refused.stop();
    expect(events.some((e) => e.type === "train-progress" || e.type === "stage-start")).toBe(false);
    expect(existsSync(refused.dir)).toBe(false);
  });
});
