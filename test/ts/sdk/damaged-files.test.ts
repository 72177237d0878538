// A damaged run directory is caught when the run resumes: a checkpoint that differs from the
// checksum committed with it (zeroed, random bytes, truncated, one bit flipped) is named at the
// resume's start, and the run goes back to the newest intact checkpoint of its stage (or the
// stage's start) and finishes with the result of an undamaged run; a damaged JSON side file or
// clustering array is refused before anything trains.
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun, type Summary } from "../../../ts/index.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { recoverCheckpoints } from "../../../ts/sdk/encoder-executor.js";
import { EventLog } from "../../../ts/sdk/events.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-damaged-"));
const quiet = { worker: { launch: { onOutput: () => {}, maxRestarts: 0 } } };
const runs: MclRun[] = [];
let reference: string;
let referenceSummary: Summary;

interface Manifest {
  state: { checkpoints: string[] };
  checkpointFiles?: Record<string, { track: number | "baseline"; epochs: number; bytes: number; sha256: string }>;
}

function manifestOf(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
}

/** What a run measured, without the fields of the session that finished it. */
function results(summary: Summary): unknown {
  return { stages: summary.stages, integrated: summary.integrated, baseline: summary.baseline };
}

async function resume(dir: string): Promise<{ events: MclEvent[]; outcome: Promise<Summary> }> {
  const run = await Mcl.resume(dir, quiet);
  runs.push(run);
  const events: MclEvent[] = [];
  for await (const event of run.events()) events.push(event);
  return { events, outcome: run.result() };
}

function trainedEpochs(events: MclEvent[]): [number | string, number][] {
  return events.flatMap((e) => (e.type === "epoch" ? [[e.stage, e.epoch] as [number | string, number]] : []));
}

/** A copy of the finished reference run. */
function copyOfReference(name: string): string {
  const dir = join(root, name);
  cpSync(reference, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  // Stage 2 trains 3 epochs: its last checkpoint has an earlier one to fall back to.
  const run = await Mcl.start(tinyConfig(root, "reference", { epochsPerStage: [1, 3], baseline: false }), quiet);
  runs.push(run);
  referenceSummary = await run.result();
  reference = run.dir;
}, 300_000);

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

const damages: Record<string, (path: string) => void> = {
  zeroed: (path) => writeFileSync(path, Buffer.alloc(readFileSync(path).byteLength)),
  "random bytes": (path) => {
    const bytes = readFileSync(path);
    for (let i = 0; i < bytes.byteLength; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(path, bytes);
  },
  truncated: (path) => truncateSync(path, Math.floor(readFileSync(path).byteLength / 2)),
  "a flipped bit": (path) => {
    const bytes = readFileSync(path);
    const at = bytes.byteLength - 17;
    bytes[at] = bytes[at]! ^ 0x10;
    writeFileSync(path, bytes);
  },
};

describe("a damaged checkpoint", () => {
  it("is recorded with its checksum, and the one before it in its stage", () => {
    const manifest = manifestOf(reference);
    const last = manifest.state.checkpoints[1]!;
    const records = manifest.checkpointFiles ?? {};
    expect(records[last]).toMatchObject({ track: 2, epochs: 3, bytes: readFileSync(join(reference, last)).byteLength });
    expect(Object.values(records).filter((r) => r.track === 2).map((r) => r.epochs).sort()).toEqual([2, 3]);
  });

  for (const [kind, damage] of Object.entries(damages)) {
    // What the resume does first (recoverCheckpoints), on the run directory alone: every kind of
    // damage takes the same way from there, which the resume below follows to the end.
    it(`(${kind}) is named, and stage 2 is rewound to the checkpoint before it`, async () => {
      const dir = copyOfReference(`found-${kind.replaceAll(" ", "-")}`);
      const [, last] = manifestOf(dir).state.checkpoints;
      const [previous] = Object.entries(manifestOf(dir).checkpointFiles ?? {}).filter(([, r]) => r.track === 2 && r.epochs === 2).map(([file]) => file);
      damage(join(dir, last!));
      const store = await RunStore.open(dir);
      const log = new EventLog();
      await recoverCheckpoints(store, log);
      const warnings = log.snapshot();
      expect(warnings).toEqual([expect.objectContaining({ type: "warning", stage: 2, code: "CHECKPOINT_DAMAGED" })]);
      expect((warnings[0] as { message: string }).message).toContain(last);
      expect(store.manifest.state).toMatchObject({ stage: 2, phase: "train", epoch: 2, checkpoints: [expect.any(String), previous] });
    });
  }

  it("(a flipped bit) is named, and the stage continues from the checkpoint before it to the undamaged run's result", { timeout: 300_000 }, async () => {
    const dir = copyOfReference("damaged-a-flipped-bit");
    const last = manifestOf(dir).state.checkpoints[1]!;
    damages["a flipped bit"]!(join(dir, last));
    const { events, outcome } = await resume(dir);
    const summary = await outcome;
    const warning = events.find((e) => e.type === "warning");
    expect(warning).toMatchObject({ type: "warning", stage: 2, code: "CHECKPOINT_DAMAGED" });
    expect((warning as { message: string }).message).toContain(last);
    expect(trainedEpochs(events)).toEqual([[2, 2]]);
    expect(results(summary)).toEqual(results(referenceSummary));
  });

  it("with no intact earlier checkpoint retrains its stage from the start", { timeout: 300_000 }, async () => {
    const dir = copyOfReference("damaged-both");
    const manifest = manifestOf(dir);
    for (const [file, record] of Object.entries(manifest.checkpointFiles ?? {})) {
      if (record.track === 2) damages["a flipped bit"]!(join(dir, file));
    }
    const { events, outcome } = await resume(dir);
    const summary = await outcome;
    expect(events.find((e) => e.type === "warning")).toMatchObject({ code: "CHECKPOINT_DAMAGED", stage: 2 });
    expect(trainedEpochs(events)).toEqual([[2, 0], [2, 1], [2, 2]]);
    expect(results(summary)).toEqual(results(referenceSummary));
  });

  it("of a run made before checkpoints were checksummed is not checked: the run resumes", { timeout: 300_000 }, async () => {
    const dir = copyOfReference("unrecorded");
    const { checkpointFiles: _, ...manifest } = manifestOf(dir);
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
    const { events, outcome } = await resume(dir);
    expect(results(await outcome)).toEqual(results(referenceSummary));
    expect(events.some((e) => e.type === "warning")).toBe(false);
  });
});

describe("a damaged JSON side file", () => {
  const files = ["losses.json", "probes/stage-1.json", "summary.json"];
  for (const file of files) {
    for (const [kind, text] of [["garbage", "{\"linear\": {\"shape\": 0.4"], ["of the wrong shape", "{\"format\": 3}"]] as const) {
      it(`(${file}, ${kind}) is refused at the start of the resume, naming the file`, { timeout: 120_000 }, async () => {
        const dir = copyOfReference(`side-${file.replaceAll("/", "-")}-${kind.replaceAll(" ", "-")}`);
        writeFileSync(join(dir, file), text);
        const { events, outcome } = await resume(dir);
        await expect(outcome).rejects.toMatchObject({ code: "CORRUPT_FILE", message: expect.stringContaining(join(dir, file)) as unknown });
        expect(events.some((e) => e.type === "run-start")).toBe(false);
      });
    }
  }
});

describe("a damaged clustering array", () => {
  // Same size, other bytes: only its checksum tells; a resume reads every array the manifest commits.
  for (const file of ["stage-1/assignments.i32", "stage-1/labels.i32", "stage-1/parents.i32", "stage-1/sizes.i32"]) {
    it(`(${file}, a flipped bit) is refused at the start of the resume, naming the file`, { timeout: 120_000 }, async () => {
      const dir = copyOfReference(`array-${file.replaceAll("/", "-")}`);
      const path = join(dir, file);
      const bytes = readFileSync(path); // parents and sizes hold a few groups: flip in the last byte
      bytes[bytes.byteLength - 1] = bytes[bytes.byteLength - 1]! ^ 0x10;
      writeFileSync(path, bytes);
      const { events, outcome } = await resume(dir);
      await expect(outcome).rejects.toMatchObject({ code: "CORRUPT_FILE", message: expect.stringContaining(`${file}: checksum mismatch`) as unknown });
      expect(events.some((e) => e.type === "run-start")).toBe(false);
    });
  }
});
