// # MCL, step by step
//
// Open the data, run stage 1, inspect its clusters, run the next stages, chart the probes: one
// step per cell, each top-level code with top-level awaits.
//
// Tiny settings for a quick look: MCL_EXAMPLE_SAMPLES=256 MCL_EXAMPLE_SIZE=16 MCL_EXAMPLE_EPOCHS=1
// MCL_EXAMPLE_STAGES=2, set before the script or the notebook server starts. The run goes to
// runs/notebook (MCL_EXAMPLE_RUN_DIR=runs, relative to the working folder); delete it to start over.

// This module is the source: it runs as a script (npm run build && node dist/examples/notebook.js),
// and examples/notebook.ipynb, for Jupyter with the tslab TypeScript kernel, is made from it by
// `node scripts/notebook-ipynb.mjs`: the first comment block above is its introduction, lines
// that start with `//>` are its own code.

// %% 1. Settings
// One worker serves every step: launched here, reached by its endpoint.
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ACCURACY_SVG_FILE,
  Mcl,
  type MclConfigInput,
  type MclEvent,
  WorkerJobs,
  formatProbeTable,
  launchWorker,
  readClusters,
} from "../ts/index.js";
import { batchSize, datasetUri, exampleSettings } from "./settings.js";
//> import * as tslab from "tslab";

const settings = exampleSettings();
const endpoint = `ipc://${join(tmpdir(), `mcl-notebook-${process.pid}.sock`)}`;
const worker = await launchWorker({ bind: endpoint });
// The launched worker is keyed (a fresh key in a private file): the runs reach it with that key.
const reach = { endpoint, connect: { keyFile: worker.keyFile } };
const dataset = datasetUri(settings);
const config: MclConfigInput = {
  name: "notebook",
  runDir: settings.runDir,
  dataset,
  encoder: "small-cnn",
  stages: settings.stages,
  clusters: 8,
  epochsPerStage: settings.epochs,
  batchSize: batchSize(settings),
  baseline: true,
};
const show = (event: MclEvent): void => {
  if (event.type === "epoch") console.log(`  ${event.stage === "baseline" ? "baseline" : `stage ${event.stage}`} epoch ${event.epoch + 1}: loss ${event.loss.toFixed(3)}`);
  if (event.type === "probe") console.log(`  probe ${event.stage}: ${JSON.stringify(event.probe.linear)}`);
  if (event.type === "paused") console.log(`  paused after stage ${event.stage}`);
};

// %% 2. Open the data
// What the worker sees: its size, the image shape, the labelled attributes.
const jobs = new WorkerJobs(worker.client);
const data = await jobs.openDataset(dataset);
console.log(`dataset ${data.uri}: ${data.size} images of ${data.image_shape.join("x")}`);
console.table(data.attributes.map((a) => ({ attribute: a.name, classes: a.num_classes })));
await jobs.free(data.dataset);

// %% 3. Run stage 1
// The run pauses once stage 1 has committed its clustering.
const first = await Mcl.start(config, { worker: reach, pauseAfterStage: 1 });
for await (const event of first.events()) show(event);

// %% 4. Inspect the clusters
// What stage 1 found: the sizes of its k-means clusters and the composite groups.
const [stage1] = await readClusters(first.dir);
if (stage1 === undefined) throw new Error(`${first.dir} holds no clustering`);
console.log(`stage 1: k=${stage1.k}, cluster sizes ${[...stage1.clusterSizes].join(", ")}`);
console.log(`composite groups: ${JSON.stringify(stage1.composite?.stats)}`);

// %% 5. Run the next stages
// Stages 2…S, the baseline and the probes.
const rest = await Mcl.resume(first.dir, { worker: reach });
for await (const event of rest.events()) show(event);
const summary = await rest.result();
console.log(formatProbeTable(summary));

// %% 6. Chart the probes
// The accuracy on every attribute of every stage, the integrated representation and the
// baseline. The finished run wrote the chart (report-accuracy.svg) and a self-contained page
// (report.html) into its directory; run.report() gives them as strings, and the notebook shows
// the chart.
const report = await rest.report();
console.log(`accuracy chart: ${report.charts.accuracy.length} bytes of SVG, also in ${join(rest.dir, ACCURACY_SVG_FILE)}`);
//> tslab.display.html(report.charts.accuracy);

// %% 7. Done
// Release the worker.
await rest.stop();
await worker.close();
