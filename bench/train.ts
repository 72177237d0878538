/**
 * npm run bench:train — training throughput of the worker's train job, driven from TypeScript as
 * the SDK drives it (one job per epoch, a batch plan from the control plane's planner, progress
 * every step), against a plain PyTorch loop (bench/train_plain.py) on the same model (small-cnn),
 * data (synthetic:trifeature), batch size (256), augmentation, loss and optimizer.
 *
 * Both run in this one invocation, epochs alternating between them (ABBA order) after one warm-up
 * epoch each, so that a shared or throttled machine slows both alike. Ours is timed around the
 * whole job, wire included; the plain loop inside its own process. ratio = median samples/s of
 * ours / of the plain loop; goal >= 0.95.
 * CPU time (user + system, all threads), which a shared machine's load skews far less than wall
 * time, over the same intervals, both processes of a side summed: ours is this Node process and
 * the worker (/proc/<pid>/stat, Linux only), the plain side this Node process (waiting) and the
 * script (its time.process_time()). The synthetic dataset loads in the worker's process (no loader
 * processes), so nothing runs outside them. ours_cpu_s / plain_cpu_s: median CPU seconds an
 * epoch, per round in ours_cpu_per_round / plain_cpu_per_round; cpu_ratio = median plain CPU
 * seconds a sample / ours, oriented as ratio: bigger is better, the same goal. Where the worker's
 * CPU time cannot be read, the CPU fields of ours and cpu_ratio are null and cpu_unavailable says
 * why. Writes bench/results/train.json atomically and prints it as the last line.
 * MCL_BENCH_TRAIN_N (samples, default 2048: 8 steps an epoch, the demo's epoch size; one job per
 * epoch, as the SDK sends them) and MCL_BENCH_TRAIN_ROUNDS (default 3) size it; on a busy 2-core
 * machine a step of 256 takes seconds.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { planUniform } from "../ts/control/batch-planner.js";
import { launchWorker, projectRoot } from "../ts/transport/index.js";
import { WorkerJobs } from "../ts/client/index.js";
import { CPU_TIME_UNAVAILABLE, measureCpu, ownCpuSeconds } from "./cpu-time.js";
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
  /** CPU seconds of the side's two processes over the epoch; null where they cannot be read. */
  readonly cpuSeconds: number | null;
}

/** One epoch of the plain loop (bench/train_plain.py), shuffled by `seed`. */
async function plainEpoch(plain: PlainScript, seed: number): Promise<Epoch> {
  const node = ownCpuSeconds();
  const answer = await plain.ask({ epoch: seed });
  const cpuSeconds = ownCpuSeconds() - node + Number(answer["cpu_seconds"]);
  return { samples: Number(answer["samples"]), seconds: Number(answer["seconds"]), cpuSeconds };
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
    const cpu = measureCpu(worker.pid);
    const started = performance.now();
    const result = await jobs.train({ model, optimizer, dataset, plan, loss: { name: "nt-xent", temperature: TEMPERATURE }, seed: epoch, progress_every: 1 });
    const seconds = (performance.now() - started) / 1000;
    return { samples: result.samples, seconds, cpuSeconds: cpu() };
  };

  await ours(0); // warm-up: allocator, kernels, page cache
  await plainEpoch(plain, 0);
  const oursEpochs: Epoch[] = [];
  const plainEpochs: Epoch[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? (["ours", "plain"] as const) : (["plain", "ours"] as const);
    for (const who of order) {
      if (who === "ours") oursEpochs.push(await ours(round));
      else plainEpochs.push(await plainEpoch(plain, round));
    }
  }
  const oursRates = oursEpochs.map((e) => e.samples / e.seconds);
  const plainRates = plainEpochs.map((e) => e.samples / e.seconds);

  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  const round3 = (x: number): number => Math.round(x * 1000) / 1000;
  const ratio = median(oursRates) / median(plainRates);
  /** A side's CPU seconds of every epoch, or null if any epoch's could not be read. */
  const cpuOf = (epochs: readonly Epoch[]): number[] | null =>
    epochs.every((e) => e.cpuSeconds !== null) ? epochs.map((e) => e.cpuSeconds!) : null;
  const oursCpu = cpuOf(oursEpochs);
  const plainCpu = cpuOf(plainEpochs);
  const cpuPerSample = (cpu: readonly number[], epochs: readonly Epoch[]): number => median(cpu.map((c, i) => c / epochs[i]!.samples));
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
    ours_cpu_s: oursCpu === null ? null : round3(median(oursCpu)),
    plain_cpu_s: plainCpu === null ? null : round3(median(plainCpu)),
    cpu_ratio: oursCpu === null || plainCpu === null ? null : round3(cpuPerSample(plainCpu, plainEpochs) / cpuPerSample(oursCpu, oursEpochs)),
    ours_cpu_per_round: oursCpu?.map(round3) ?? null,
    plain_cpu_per_round: plainCpu?.map(round3) ?? null,
    ...(CPU_TIME_UNAVAILABLE === undefined ? {} : { cpu_unavailable: CPU_TIME_UNAVAILABLE }),
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
