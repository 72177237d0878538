/**
 * The JSON files a run directory keeps besides the manifest (summary.json, losses.json, the probe
 * caches probes/*.json), checked all at once when a run resumes: a damaged one is refused then,
 * naming it, rather than after stages were trained again.
 */

import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { readLossHistory } from "../report/loss-history.js";
import { clipScoresSchema } from "./clip-executor.js";
import { readJsonFile, readProbeFile, readSummary } from "./summary.js";

/** Reads every JSON side file of `runDir` through readJsonFile; throws CORRUPT_FILE naming the first damaged one. */
export async function checkRunFiles(runDir: string): Promise<void> {
  await readSummary(runDir);
  await readLossHistory(runDir);
  const probes = join(runDir, "probes");
  let names: string[];
  try {
    names = await readdir(probes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  for (const name of names.sort()) {
    // The file names WorkerExecutor.stageProbe and ClipExecutor.trackScores write.
    if (/^stage-\d+\.json$/.test(name)) await readProbeFile(join(probes, name));
    else if (/^clip-stage-\d+\.json$/.test(name)) await readJsonFile(join(probes, name), clipScoresSchema);
  }
}
