/**
 * npm run bench:train — training throughput of the worker's train job, driven from TypeScript as
 * the SDK drives it (one job per epoch, a batch plan from the control plane's planner, progress
 * every step), against a plain PyTorch loop (bench/train_plain.py) on the same model (small-cnn),
 * data (synthetic:trifeature), batch size (256), augmentation, loss and optimizer.
 *
 * Both run in this one invocation, epochs alternating between them (ABBA order) after one warm-up
 * epoch each, so that a shared or throttled machine slows both alike. Ours is timed around the
 * whole job, wire included; the plain loop inside its own process. ratio = median samples/s of
 * ours / of the plain loop; goal >= 0.95. Writes bench/results/train.json atomically and prints
 * it as the last line. MCL_BENCH_TRAIN_N (samples, default 2048: 8 steps an epoch, the demo's
 * epoch size; one job per epoch, as the SDK sends them) and
 * MCL_BENCH_TRAIN_ROUNDS (default 3) size it; on a busy 2-core machine a step of 256 takes seconds.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { planUniform } from "../ts/control/batch-planner.js";
import { launchWorker, projectRoot } from "../ts/transport/index.js";
import { WorkerJobs } from "../ts/worker/index.js";
import { PlainScript } from "./plain-script.js";

const N = Number(process.env.MCL_BENCH_TRAIN_N ?? 2048);
const ROUNDS = Number(process.env.MCL_BENCH_TRAIN_ROUNDS ?? 3);
const BATCH_SIZE = 256;
const SIZE = 32;
const URI = `synthetic:trifeature?n=${N}&size=${SIZE}&seed=0`;
const LR = 1e-3;
const TEMPERATURE = 0.2;
const GOAL = 0.95;

interface Epoch {
  readonly samples: number;
  readonly seconds: number;
}

/** One epoch of the plain loop (bench/train_plain.py), shuffled by `seed`. */
async function plainEpoch(plain: PlainScript, seed: number): Promise<Epoch> {
  return (await plain.ask({ epoch: seed })) as unknown as Epoch;
}

const worker = await launchWorker();
const { plain } = await PlainScript.start("train_plain.py", [
  "--uri", URI, "--batch-size", String(BATCH_SIZE), "--lr", String(LR), "--temperature", String(TEMPERATURE),
]);
try {
  const jobs = new WorkerJobs(worker.client);
  const { dataset } = await jobs.openDataset(URI);
  const { model } = await jobs.createModel({ arch: "small-cnn", image_size: SIZE, seed: 0 });
  const { optimizer } = await jobs.createOptimizer({ model, name: "adamw", lr: LR, weight_decay: 0 });

  const ours = async (epoch: number): Promise<Epoch> => {
    const plan = planUniform(N, { batchSize: BATCH_SIZE, smallGroups: "drop", seed: 0, epoch });
    const started = performance.now();
    const result = await jobs.train({ model, optimizer, dataset, plan, loss: { name: "nt-xent", temperature: TEMPERATURE }, seed: epoch, progress_every: 1 });
    return { samples: result.samples, seconds: (performance.now() - started) / 1000 };
  };

  await ours(0); // warm-up: allocator, kernels, page cache
  await plainEpoch(plain, 0);
  const oursRates: number[] = [];
  const plainRates: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? (["ours", "plain"] as const) : (["plain", "ours"] as const);
    for (const who of order) {
      const epoch = who === "ours" ? await ours(round) : await plainEpoch(plain, round);
      (who === "ours" ? oursRates : plainRates).push(epoch.samples / epoch.seconds);
    }
  }

  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  const ratio = median(oursRates) / median(plainRates);
  const line = JSON.stringify({
    bench: "train",
    model: "small-cnn",
    dataset: URI,
    batch_size: BATCH_SIZE,
    steps_per_epoch: Math.floor(N / BATCH_SIZE),
    rounds: ROUNDS,
    device: worker.hello.devices.some((d) => d.type === "cuda") ? "cuda" : "cpu",
    ours_samples_per_s: round1(median(oursRates)),
    plain_samples_per_s: round1(median(plainRates)),
    ratio: Math.round(ratio * 1000) / 1000,
    goal: GOAL,
    ours_per_round: oursRates.map(round1),
    plain_per_round: plainRates.map(round1),
    load_average: Math.round(loadavg()[0]! * 100) / 100,
    cpus: cpus().length,
    node: process.version,
  });
  await writeFileAtomic(join(projectRoot(), "bench", "results", "train.json"), `${line}\n`);
  console.log(line);
} finally {
  plain.close();
  await worker.close();
}
