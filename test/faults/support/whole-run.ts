// What "whole and not mixed" means for a run directory after faults and resumes: the manifest is
// at "done", every clustering and checkpoint it references verifies, each stage has exactly its
// epochs (in the checkpoints and in losses.json), summary.json is one run's, and no lock is left.
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { expect } from "vitest";
import { readClusters, readLossHistory, RunStore, scheduleFromConfig, type Summary } from "../../../ts/index.js";
import { LOCK_FILE } from "../../../ts/sdk/run-lock.js";
import { readSummary } from "../../../ts/run/summary.js";

/** What an interrupted run must share with an uninterrupted one of the same config. */
export function shapeOf(summary: Summary): unknown {
  return {
    dataset: summary.dataset,
    attributes: summary.attributes,
    stages: summary.stages.map((s) => ({ stage: s.stage, epochs: s.epochs, probed: Object.keys(s.probe).sort() })),
    integrated: { spec: summary.integrated.spec, probed: Object.keys(summary.integrated.probe).sort() },
    baseline: summary.baseline === undefined ? null : summary.baseline.epochs,
  };
}

/** Files under `dir` (run-relative) whose names mark an unfinished atomic write. */
export function temporaryFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.tmp(-|$)/.test(entry.name)) found.push(relative(dir, path));
    }
  };
  walk(dir);
  return found;
}

/** Asserts that the finished run in `dir` is whole, and has the shape of `reference`. */
export async function expectWholeRun(dir: string, reference: Summary): Promise<void> {
  const store = await RunStore.open(dir); // every referenced array has its committed size
  const { manifest } = store;
  const schedule = scheduleFromConfig(manifest.config);
  expect(manifest.state.phase, "manifest.json state.phase").toBe("done");

  // Every clustering is committed with its composite groups, and every array of it (parents
  // included, which readClusters does not read) verifies against its checksum.
  for (const record of manifest.stages) {
    for (const ref of [record.assignments, ...(record.composite === undefined ? [] : [record.composite.labels, record.composite.parents, record.composite.sizes])]) {
      await store.readArray(ref);
    }
  }
  const clusters = await readClusters(dir);
  expect(clusters.map((c) => [c.stage, c.composite !== null, c.assignments.length])).toEqual(
    Array.from({ length: schedule.stages - 1 }, (_, i) => [i + 1, true, manifest.numSamples]),
  );

  // One checkpoint per stage, holding exactly that stage's epochs, verified.
  expect(manifest.state.checkpoints).toHaveLength(schedule.stages);
  for (const [i, file] of manifest.state.checkpoints.entries()) {
    expect(file, `stage ${i + 1}'s checkpoint`).not.toBeNull();
    expect(manifest.checkpointFiles[file!], file!).toMatchObject({ track: i + 1, epochs: schedule.epochs[i] });
    await store.verifyCheckpoint(file!);
  }

  // Each stage's epochs recorded once: no epoch of an abandoned session mixed in.
  const losses = await readLossHistory(dir);
  for (let stage = 1; stage <= schedule.stages; stage++) {
    expect(losses?.tracks[`stage-${stage}`], `losses.json stage-${stage}`).toHaveLength(schedule.epochs[stage - 1]!);
    expect(losses?.tracks[`stage-${stage}`]?.every((loss) => loss !== null && Number.isFinite(loss))).toBe(true);
  }

  const summary = await readSummary(dir);
  expect(summary, "summary.json").not.toBeNull();
  expect(shapeOf(summary!)).toEqual(shapeOf(reference));

  // No file the manifest trusts is a leftover of an interrupted write, and no writer holds the run.
  const referenced = [...manifest.state.checkpoints, ...Object.keys(manifest.checkpointFiles)];
  for (const temporary of temporaryFiles(dir)) expect(referenced).not.toContain(temporary);
  expect(existsSync(join(dir, LOCK_FILE)), LOCK_FILE).toBe(false);
}
