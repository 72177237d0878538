// A damaged run directory: each file of a finished run and of a run paused after its first
// clustering, truncated, overwritten with garbage, deleted or with one bit flipped. Resuming (or
// reading its clusterings) either refuses naming the damaged file before anything trains, or
// recovers: a damaged checkpoint rewinds its stage (CHECKPOINT_DAMAGED, naming it) and the run
// ends whole; a side file that is only a cache is made again.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Mcl, type MclEvent, type MclRun, readClusters, type Summary } from "../../ts/index.js";
import { LOCK_FILE } from "../../ts/sdk/run-lock.js";
import { readSummary } from "../../ts/run/summary.js";
import { DAMAGES, type Damage, damage } from "./support/damage.js";
import { type SharedWorker, shareWorker } from "./support/shared-worker.js";
import { faultConfig } from "./support/tiny.js";
import { expectWholeRun, shapeOf } from "./support/whole-run.js";

const root = mkdtempSync(join(tmpdir(), "mcl-faults-run-state-"));
const runs: MclRun[] = [];
let worker: SharedWorker;
let finished: string;
let paused: string;
let reference: Summary;
let copies = 0;

beforeAll(async () => {
  worker = await shareWorker();
  const whole = await Mcl.start(faultConfig(root, "finished"), worker.options);
  runs.push(whole);
  reference = await whole.result();
  finished = whole.dir;
  const half = await Mcl.start(faultConfig(root, "paused"), { ...worker.options, pauseAfterStage: 1 });
  runs.push(half);
  await expect(half.result()).rejects.toMatchObject({ code: "PAUSED" });
  paused = half.dir;
}, 600_000);

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  await worker?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh copy of `source` with `file` damaged. */
function damagedCopy(source: string, file: string, how: Damage): string {
  const dir = join(root, `copy-${++copies}`);
  cpSync(source, dir, { recursive: true });
  damage(join(dir, file), how);
  return dir;
}

interface Outcome {
  readonly events: MclEvent[];
  readonly error: { code?: string; message?: string } | undefined;
}

/** Resumes `dir` on the shared worker to its end; an error from resume() itself counts as the outcome. */
async function resume(dir: string): Promise<Outcome> {
  let run: MclRun;
  try {
    run = await Mcl.resume(dir, worker.options);
  } catch (error) {
    return { events: [], error: error as Outcome["error"] };
  }
  runs.push(run);
  const events: MclEvent[] = [];
  for await (const event of run.events()) events.push(event);
  const error = await run.result().then(
    () => undefined,
    (e: unknown) => e as Outcome["error"],
  );
  await run.stop();
  return { events, error };
}

/** The refusal expected of damage that cannot be recovered from: `code`, naming `file`, nothing trained. */
function expectRefused({ events, error }: Outcome, code: string, file: string): void {
  expect(error, "the resume went on").toBeDefined();
  expect(error).toMatchObject({ code, message: expect.stringContaining(file) });
  expect(events.filter((e) => e.type === "epoch")).toEqual([]);
}

function trainedEpochs(events: MclEvent[]): [unknown, number][] {
  return events.flatMap((e) => (e.type === "epoch" ? [[e.stage, e.epoch] as [unknown, number]] : []));
}

describe("a finished run", () => {
  // The manifest is the commit record: without it there is no run; damaged, it is refused.
  for (const how of DAMAGES) {
    test(`run-state: manifest.json ${how}`, { timeout: 60_000 }, async () => {
      const outcome = await resume(damagedCopy(finished, "manifest.json", how));
      expectRefused(outcome, how === "deleted" ? "RUN_NOT_FOUND" : "CORRUPT_FILE", "manifest.json");
    });
  }

  // JSON side files: damaged ones are refused naming them; a deleted one is made again, but for
  // the loss history, which only training writes: the run reports without it (as older runs).
  for (const file of ["summary.json", "losses.json", "probes/stage-1.json", "probes/stage-2.json"]) {
    for (const how of DAMAGES) {
      test(`run-state: ${file} ${how}`, { timeout: 240_000 }, async () => {
        const dir = damagedCopy(finished, file, how);
        const outcome = await resume(dir);
        if (how !== "deleted") return expectRefused(outcome, "CORRUPT_FILE", file);
        expect(outcome.error, JSON.stringify(outcome.events.at(-1))).toBeUndefined();
        if (file === "losses.json") expect(shapeOf((await readSummary(dir))!)).toEqual(shapeOf(reference));
        else await expectWholeRun(dir, reference);
      });
    }
  }

  // The last checkpoint of stage 2 (2 epochs): the stage goes back to its first epoch's checkpoint.
  for (const how of DAMAGES) {
    test(`run-state: checkpoints/stage-2-epoch-2.safetensors ${how}`, { timeout: 240_000 }, async () => {
      const file = "checkpoints/stage-2-epoch-2.safetensors";
      const dir = damagedCopy(finished, file, how);
      const { events, error } = await resume(dir);
      expect(error, JSON.stringify(events.at(-1))).toBeUndefined();
      expect(events.find((e) => e.type === "warning")).toMatchObject({ code: "CHECKPOINT_DAMAGED", stage: 2, message: expect.stringContaining(file) });
      expect(trainedEpochs(events)).toEqual([[2, 1]]);
      await expectWholeRun(dir, reference);
    });
  }

  test("run-state: checkpoints/stage-1-epoch-1.safetensors bit-flipped (no earlier one): every stage trains again", { timeout: 240_000 }, async () => {
    const file = "checkpoints/stage-1-epoch-1.safetensors";
    const dir = damagedCopy(finished, file, "bit-flipped");
    const { events, error } = await resume(dir);
    expect(error, JSON.stringify(events.at(-1))).toBeUndefined();
    expect(events.find((e) => e.type === "warning")).toMatchObject({ code: "CHECKPOINT_DAMAGED", stage: 1, message: expect.stringContaining(file) });
    expect(trainedEpochs(events)).toEqual([[1, 0], [2, 0], [2, 1]]);
    await expectWholeRun(dir, reference);
  });

  // readClusters checks each array it reads against the checksum committed with it.
  for (const [file, how] of [["stage-1/assignments.i32", "garbage"], ["stage-1/labels.i32", "bit-flipped"], ["stage-1/sizes.i32", "garbage"]] as const) {
    test(`run-state: readClusters with ${file} ${how}`, { timeout: 30_000 }, async () => {
      const dir = damagedCopy(finished, file, how);
      await expect(readClusters(dir)).rejects.toMatchObject({ code: "CORRUPT_FILE", message: expect.stringContaining(file) });
    });
  }

  test(`run-state: ${LOCK_FILE} garbage: refused naming the lock file`, { timeout: 30_000 }, async () => {
    const dir = join(root, `copy-${++copies}`);
    cpSync(finished, dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE), "\u0000\u0013garbage");
    expectRefused(await resume(dir), "RUN_LOCKED", join(dir, LOCK_FILE));
  });
});

describe("a run paused after stage 1's clustering", () => {
  // Stage 2 trains from stage 1's clustering: a damaged file of it is named before anything
  // trains, or the run makes what it needs again and ends whole (every committed array verifies).
  for (const file of ["stage-1/assignments.i32", "stage-1/labels.i32", "stage-1/parents.i32", "stage-1/sizes.i32"]) {
    for (const how of DAMAGES) {
      test(`run-state: mid-run ${file} ${how}`, { timeout: 240_000 }, async () => {
        const dir = damagedCopy(paused, file, how);
        const outcome = await resume(dir);
        if (outcome.error !== undefined || outcome.events.some((e) => e.type === "error")) expectRefused(outcome, "CORRUPT_FILE", file);
        else await expectWholeRun(dir, reference);
      });
    }
  }

  test("run-state: mid-run checkpoints/stage-1-epoch-1.safetensors deleted: stage 1 trains again, the run ends whole", { timeout: 240_000 }, async () => {
    const file = "checkpoints/stage-1-epoch-1.safetensors";
    const dir = damagedCopy(paused, file, "deleted");
    const { events, error } = await resume(dir);
    expect(error, JSON.stringify(events.at(-1))).toBeUndefined();
    expect(events.find((e) => e.type === "warning")).toMatchObject({ code: "CHECKPOINT_DAMAGED", stage: 1, message: expect.stringContaining(file) });
    expect(trainedEpochs(events)).toEqual([[1, 0], [2, 0], [2, 1]]);
    await expectWholeRun(dir, reference);
  });

  test("run-state: mid-run losses.json garbage: refused naming it", { timeout: 60_000 }, async () => {
    expectRefused(await resume(damagedCopy(paused, "losses.json", "garbage")), "CORRUPT_FILE", "losses.json");
  });

  test("run-state: mid-run probes/stage-1.json deleted: measured again, the run ends whole", { timeout: 240_000 }, async () => {
    const dir = damagedCopy(paused, "probes/stage-1.json", "deleted");
    const { events, error } = await resume(dir);
    expect(error, JSON.stringify(events.at(-1))).toBeUndefined();
    await expectWholeRun(dir, reference);
  });
});
