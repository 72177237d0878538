/**
 * The files of a run directory besides the manifest and checkpoints, checked all at once when a
 * run resumes: every clustering array against the checksum the manifest commits with it, and the
 * JSON side files (summary.json, losses.json, the probe caches probes/*.json). A damaged one is
 * refused then, naming it, rather than after stages were trained again.
 */

import { join } from "node:path";
import { folderEntries, type RunStore } from "../run/run-store.js";
import { readLossHistory } from "../report/loss-history.js";
import { clipScoresSchema } from "./clip-executor.js";
import { readJsonFile, readProbeFile, readSummary } from "../run/summary.js";

/** Checks the arrays of `store` and reads every JSON side file through readJsonFile; throws CORRUPT_FILE naming the first damaged one. */
export async function checkRunFiles(store: RunStore): Promise<void> {
  await store.verifyArrays();
  const runDir = store.dir;
  await readSummary(runDir);
  await readLossHistory(runDir);
  const probes = join(runDir, "probes");
  for (const name of (await folderEntries(probes)).map((entry) => entry.name).sort()) {
    // The file names EncoderExecutor.stageProbe and ClipExecutor.trackScores write.
    if (/^stage-\d+\.json$/.test(name)) await readProbeFile(join(probes, name));
    else if (/^clip-stage-\d+\.json$/.test(name)) await readJsonFile(join(probes, name), clipScoresSchema);
  }
}
