/**
 * The plain SDK call: start a 3-stage MCL run, follow its events, print what the probes measured.
 *
 *   npm run build && node dist/examples/quick-start.js                      (a few minutes on a CPU)
 *   node dist/examples/quick-start.js --samples 256 --size 16 --epochs 1    (seconds)
 *
 * The run directory (runs/quick-start) keeps everything; a second start with the same name is
 * refused: resume it with `mcl resume runs/quick-start`, or pass --run-dir elsewhere.
 */

import { pathToFileURL } from "node:url";
import { Mcl, type MclEvent, type Summary, formatProbeTable } from "../ts/index.js";
import { batchSize, datasetUri, type ExampleSettings, exampleSettings } from "./settings.js";

export async function quickStart(settings: ExampleSettings, log: (line: string) => void = console.log): Promise<Summary> {
  const run = await Mcl.start({
    name: "quick-start",
    runDir: settings.runDir,
    dataset: datasetUri(settings),
    encoder: "small-cnn",
    stages: settings.stages,
    clusters: 8,
    epochsPerStage: settings.epochs,
    batchSize: batchSize(settings),
    baseline: true,
  });
  try {
    for await (const event of run.events()) {
      const line = describe(event);
      if (line !== null) log(line);
    }
    const summary = await run.result();
    log(formatProbeTable(summary));
    return summary;
  } finally {
    await run.stop(); // releases the worker
  }
}

/** One line for the events worth a line (train progress is left to a progress bar). */
function describe(event: MclEvent): string | null {
  switch (event.type) {
    case "run-start":
      return `${event.runDir}: ${event.numSamples} samples on ${event.device}`;
    case "epoch":
      return `${event.stage === "baseline" ? "baseline" : `stage ${event.stage}`} epoch ${event.epoch + 1}/${event.epochs}: loss ${event.loss.toFixed(3)}, ${Math.round(event.samplesPerSec)} samples/s`;
    case "cluster":
      return `stage ${event.stage}: k=${event.k}, ${event.stats.groups.numGroups} groups of ${event.stats.groups.smallest}…${event.stats.groups.largest} samples`;
    default:
      return null;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await quickStart(exampleSettings(process.argv.slice(2)));
}
