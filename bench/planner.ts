/**
 * Planner benchmark: composite labels for 3 stages and one epoch's MCL batch plan at
 * CC12M scale (N = 12,000,000, K = 10, batch 1000). Run with `npm run bench:planner`
 * (node --expose-gc). Writes bench/results/planner.json atomically and prints it as the last
 * line. Goals on a 2-core machine: seconds <= 2, bytes_per_sample <= 16.
 *
 * seconds: wall time of composing the 3 stages' labels + planning one epoch (merge-to-parent, the policy
 * with the most work); cpu_seconds: the CPU time of the same work (on a shared machine,
 * wall time includes waiting for a core). load_average: the 1-minute load when the run ended.
 * bytes_per_sample: memory still held afterwards (plan, per-group arrays)
 * beyond the label arrays (the 3 assignment inputs and the 3 composite label arrays), measured
 * as arrayBuffers + heapUsed after gc. peak_bytes_per_sample: the high-water mark of resident
 * memory during the measured work, beyond the same label arrays (temporaries included).
 */

import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { planMcl, type SmallGroupPolicy } from "../ts/control/batch-planner.js";
import { ClusterBook } from "../ts/control/cluster-book.js";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { Rng } from "../ts/control/rng.js";

const N = 12_000_000;
const K = 10;
const STAGES = 3;
const BATCH = 1000;
const SEED = 20240217;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc (npm run bench:planner does)");

function heldBytes(): number {
  gc!();
  gc!(); // array buffers are released by the second pass
  const usage = process.memoryUsage();
  return usage.arrayBuffers + usage.heapUsed;
}

// k-means-like assignments: every stage clusters independently, uniformly over K clusters.
const rng = new Rng(SEED);
const assignments = Array.from({ length: STAGES }, () => {
  const a = new Int32Array(N);
  for (let i = 0; i < N; i++) a[i] = rng.below(K);
  return a;
});

const heldBefore = heldBytes();
const rssBefore = process.memoryUsage().rss;
const cpuBefore = process.cpuUsage();
const start = performance.now();
const book = new ClusterBook(N);
for (const a of assignments) book.addStage(a, K);
const composedAt = performance.now();
const plan = planMcl(book.hierarchy(), {
  batchSize: BATCH,
  smallGroups: "merge-to-parent",
  seed: SEED,
  epoch: 0,
  stage: STAGES + 1,
});
const end = performance.now();
const cpu = process.cpuUsage(cpuBefore);
const peakRss = process.resourceUsage().maxRSS * 1024;
const labelBytes = book.stages.reduce((sum, s) => sum + s.labels.byteLength, 0);
const retained = heldBytes() - heldBefore - labelBytes;
const peak = Math.max(0, peakRss - rssBefore - labelBytes);

// The other policies, timed alone on the same labels (not part of `seconds`).
const planSecondsByPolicy: Record<string, number> = {};
for (const smallGroups of ["drop", "shrink", "merge-to-parent"] satisfies SmallGroupPolicy[]) {
  const t0 = performance.now();
  planMcl(book.hierarchy(), { batchSize: BATCH, smallGroups, seed: SEED, epoch: 1, stage: STAGES + 1 });
  planSecondsByPolicy[smallGroups] = round((performance.now() - t0) / 1000);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const result = {
  bench: "planner",
  samples: N,
  clusters: K,
  stages: STAGES,
  batch_size: BATCH,
  policy: "mcl/merge-to-parent",
  seconds: round((end - start) / 1000),
  cpu_seconds: round((cpu.user + cpu.system) / 1e6),
  compose_seconds: round((composedAt - start) / 1000),
  plan_seconds: round((end - composedAt) / 1000),
  plan_seconds_by_policy: planSecondsByPolicy,
  bytes_per_sample: round(retained / N),
  peak_bytes_per_sample: round(peak / N),
  label_bytes_per_sample: round(labelBytes / N),
  groups: book.stage(STAGES).numGroups,
  steps: plan.accounting.steps,
  planned: plan.accounting.planned,
  left_out: plan.accounting.leftOut,
  consecutive_repeats: plan.accounting.consecutiveRepeats,
  goals: { seconds: 2, bytes_per_sample: 16 },
  load_average: round(loadavg()[0]!),
  cpus: cpus().length,
  node: process.version,
};
const line = JSON.stringify(result);
await writeFileAtomic(join("bench", "results", "planner.json"), `${line}\n`);
console.log(line);
