/**
 * npm run bench:overhead — what driving a stage through the SDK costs over a plain PyTorch
 * script.
 *
 * SDK side: `Mcl.start` of a 2-stage run (the demo's settings on synthetic:trifeature, stage 1 one
 * epoch, stage 2 MCL_BENCH_OVERHEAD_EPOCHS epochs, fresh weights at every stage, no baseline).
 * Stage 2 is timed from its stage-start event to its stage-end event: model and optimizer
 * creation, the control plane's per-epoch batch plans, the plans on the wire, the train jobs with
 * their progress, the per-epoch checkpoint and the run directory's commits: everything the SDK
 * does for a stage. The run is stopped there (stage 1, the clustering and the probes are not part
 * of the comparison).
 * Plain side: bench/overhead_plain.py trains the same model (architecture and initial seed) on
 * the same data with the very batch plans stage 2 trained on (rebuilt from the run's committed
 * clustering, as the run driver builds them), the same augmentation and view seeds, loss,
 * optimizer and torch thread count (OMP_NUM_THREADS for the worker, torch.set_num_threads for the
 * script), timed around the whole stage inside its process.
 *
 * One warm-up round each, then MCL_BENCH_OVERHEAD_ROUNDS rounds in ABBA order, so that a shared
 * machine slows both sides alike. Each round's ratio is its SDK stage seconds / its plain seconds
 * (the two ran back to back, under the same load); ratio = the median of the rounds' ratios, goal
 * <= 1.05, with ratio_per_round and ratio_spread [min, max] beside it. sdk_in_train_jobs_s is the
 * part of the SDK's stage that its train jobs took, as the worker timed them (the epoch events'
 * seconds), sdk_outside_train_jobs_s the rest: model and optimizer creation, plans, round trips,
 * the last checkpoint's write and the commits.
 * CPU time (user + system, all threads), which a shared machine's load skews far less than wall
 * time, over the same intervals, both processes of a side summed: the SDK side is this Node
 * process and the worker the run launched (its workerPid; /proc/<pid>/stat, Linux only), the
 * plain side this Node process (waiting) and the script (its time.process_time()). The synthetic
 * dataset loads in the worker's process (no loader processes), so nothing runs outside them.
 * sdk_cpu_s / plain_cpu_s: median CPU seconds of the stage, per round in sdk_cpu_per_round /
 * plain_cpu_per_round; cpu_ratio = the median of the rounds' SDK / plain CPU seconds, oriented as
 * ratio: smaller is better, the same goal. Where the worker's CPU time cannot be read, the SDK side's CPU
 * fields and cpu_ratio are null and cpu_unavailable says why.
 * Writes bench/results/overhead.json atomically and prints it as the last line.
 * MCL_BENCH_OVERHEAD_N (samples, default 2048), MCL_BENCH_OVERHEAD_EPOCHS (default 3),
 * MCL_BENCH_OVERHEAD_ROUNDS (default 5) and MCL_BENCH_OVERHEAD_THREADS (default: the cores) size it.
 * The load average before and after is in the result: the goal is for an idle machine.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { writeFileAtomic, bytesOf } from "../ts/control/atomic-file.js";
import { planMcl, type BatchPlan } from "../ts/control/batch-planner.js";
import { ClusterBook } from "../ts/control/cluster-book.js";
import { deriveSeed } from "../ts/control/rng.js";
import { RunStore } from "../ts/run/run-store.js";
import { parseConfig } from "../ts/config/load-config.js";
import type { MclConfig } from "../ts/config/mcl-config.js";
import { preprocessOf } from "../ts/config/preprocess.js";
import { DEMO_CONFIG } from "../ts/sdk/demo-config.js";
import { Mcl } from "../ts/sdk/mcl.js";
import { augmentOf } from "../ts/sdk/job-requests.js";
import { PlainScript } from "./plain-script.js";
import { projectRoot } from "../ts/transport/index.js";
import { CPU_TIME_UNAVAILABLE, measureCpu, ownCpuSeconds } from "./cpu-time.js";
import { PATIENT_LAUNCH } from "./launch.js";

const N = positive("MCL_BENCH_OVERHEAD_N", 2048);
const EPOCHS = positive("MCL_BENCH_OVERHEAD_EPOCHS", 3);
const ROUNDS = positive("MCL_BENCH_OVERHEAD_ROUNDS", 5);
const THREADS = positive("MCL_BENCH_OVERHEAD_THREADS", cpus().length);
const SIZE = 32;
const STAGE = 2;
const GOAL = 1.05;

function positive(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: expected an integer >= 1, got ${JSON.stringify(text)}`);
  return value;
}

const config: MclConfig = parseConfig({
  ...DEMO_CONFIG,
  name: "overhead",
  dataset: `synthetic:trifeature?n=${N}&size=${SIZE}&seed=0`,
  stages: 2,
  epochsPerStage: [1, EPOCHS],
  init: "scratch",
  baseline: false,
});
const env = { ...process.env, OMP_NUM_THREADS: String(THREADS) };

interface StageTiming {
  /** Wall seconds of the stage. */
  readonly seconds: number;
  /** Of those, the seconds its train jobs took as the worker timed them (the SDK side only). */
  readonly trainJobSeconds?: number;
  /** Samples trained on over the stage's epochs. */
  readonly samples: number;
  /** CPU seconds of the side's two processes over the stage; null where they cannot be read. */
  readonly cpuSeconds: number | null;
}

/** One SDK run up to the end of stage 2: its timing and the plans it trained on. */
async function sdkStage(runDir: string, round: number): Promise<StageTiming & { plans: BatchPlan[] }> {
  const run = await Mcl.start({ ...config, name: `round-${round}`, runDir }, { worker: { launch: { env, ...PATIENT_LAUNCH, onOutput: () => {} } } });
  let started = Number.NaN;
  let seconds = Number.NaN;
  let samples = 0;
  let trainJobSeconds = 0;
  let workerPid: number | undefined;
  let cpu = (): number | null => null;
  let cpuSeconds: number | null = null;
  try {
    for await (const event of run.events()) {
      if (event.type === "stage-start" && event.stage === STAGE) {
        workerPid = run.workerPid;
        cpu = measureCpu(workerPid);
        started = performance.now();
      }
      if (event.type === "epoch" && event.stage === STAGE) {
        samples += event.samples;
        trainJobSeconds += event.seconds;
      }
      if (event.type === "stage-end" && event.stage === STAGE) {
        seconds = (performance.now() - started) / 1000;
        if (run.workerPid !== workerPid) throw new Error(`the worker restarted during stage ${STAGE} (pid ${workerPid} became ${run.workerPid}): its CPU time is lost; rerun`);
        cpuSeconds = cpu();
        break;
      }
      if (event.type === "error") throw new Error(`the SDK run failed: ${event.error.code}: ${event.error.message}`);
    }
  } finally {
    await run.stop();
  }
  if (Number.isNaN(seconds)) throw new Error(`the SDK run ended before stage ${STAGE} did`);
  return { seconds, trainJobSeconds, samples, cpuSeconds, plans: await stagePlans(run.dir) };
}

/** Stage 2's batch plans, rebuilt from the run's committed stage-1 clustering as the run driver builds them. */
async function stagePlans(runDir: string): Promise<BatchPlan[]> {
  const store = await RunStore.open(runDir);
  const record = store.manifest.stages[0];
  if (record === undefined) throw new Error(`${runDir}: stage 1 has no committed clustering`);
  const book = new ClusterBook(N);
  book.addStage(await store.readArray(record.assignments), record.k);
  return Array.from({ length: EPOCHS }, (_, epoch) =>
    planMcl(book.hierarchy(1), {
      batchSize: config.batchSize,
      smallGroups: config.sampling.smallGroups,
      minBatchSize: config.sampling.minBatchSize,
      seed: config.seed,
      stage: STAGE,
      epoch,
    }),
  );
}

/** Starts bench/overhead_plain.py on the run's dataset, model, views, loss and optimizer. */
async function startPlain(): Promise<{ plain: PlainScript; threads: number }> {
  const args = [
    ...["--uri", config.dataset, "--arch", config.encoder, "--threads", String(THREADS)],
    ...["--augment", JSON.stringify(augmentOf(config, SIZE, preprocessOf(config)))],
    ...["--loss", config.loss.name, "--temperature", String(config.loss.temperature)],
    ...["--lr", String(config.optimizer.lr), "--weight-decay", String(config.optimizer.weightDecay)],
  ];
  const { plain, ready } = await PlainScript.start("overhead_plain.py", args, env);
  return { plain, threads: Number(ready["threads"]) };
}

/** The plain script trains the stage on the plans in `folder`, with the seeds the SDK derives. */
async function plainStage(plain: PlainScript, folder: string): Promise<StageTiming> {
  const seeds = Array.from({ length: EPOCHS }, (_, epoch) => deriveSeed(config.seed, STAGE, epoch) & 0x7fffffff);
  const modelSeed = deriveSeed(config.seed, STAGE) & 0x7fffffff;
  const node = ownCpuSeconds();
  const answer = await plain.ask({ plans: folder, epochs: EPOCHS, seeds, model_seed: modelSeed });
  const cpuSeconds = ownCpuSeconds() - node + Number(answer["cpu_seconds"]);
  return { seconds: Number(answer["seconds"]), samples: Number(answer["samples"]), cpuSeconds };
}

async function writePlans(folder: string, plans: readonly BatchPlan[]): Promise<void> {
  await Promise.all(
    plans.flatMap((plan, epoch) => [
      writeFile(join(folder, `epoch-${epoch}.indices.i32`), bytesOf(plan.indices)),
      writeFile(join(folder, `epoch-${epoch}.offsets.i32`), bytesOf(plan.offsets)),
    ]),
  );
}

function samePlans(a: readonly BatchPlan[], b: readonly BatchPlan[]): boolean {
  const same = (x: Int32Array, y: Int32Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.length === b.length && a.every((p, e) => same(p.indices, b[e]!.indices) && same(p.offsets, b[e]!.offsets));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The values, or null if any is null (a side's CPU time was not read in every round). */
function allNumbers(xs: readonly (number | null)[]): readonly number[] | null {
  return xs.every((x): x is number => x !== null) ? xs : null;
}

function medianOrNull(xs: readonly (number | null)[]): number | null {
  const values = allNumbers(xs);
  return values === null ? null : median(values);
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Each round's a / b, or null if any CPU time is missing. */
function ratios(a: readonly (number | null)[], b: readonly (number | null)[]): readonly number[] | null {
  const [x, y] = [allNumbers(a), allNumbers(b)];
  return x === null || y === null ? null : x.map((v, i) => v / y[i]!);
}

const loadBefore = loadavg()[0]!;

const work = await mkdtemp(join(tmpdir(), "mcl-bench-overhead-"));
const { plain, threads } = await startPlain();
try {
  // Warm-up: page cache, allocator; the warm-up run's plans are the reference.
  const warm = await sdkStage(join(work, "runs"), 0);
  const plans = warm.plans;
  const planFolder = await mkdtemp(join(work, "plans-"));
  await writePlans(planFolder, plans);
  const planned = plans.reduce((sum, p) => sum + p.offsets[p.offsets.length - 1]!, 0);
  if (warm.samples !== planned) throw new Error(`the rebuilt plans hold ${planned} samples, the SDK trained on ${warm.samples}`);
  await plainStage(plain, planFolder);

  const sdkSeconds: number[] = [];
  const sdkTrainJobSeconds: number[] = [];
  const plainSeconds: number[] = [];
  const sdkCpu: (number | null)[] = [];
  const plainCpu: (number | null)[] = [];
  let plansMatch = true;
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? (["sdk", "plain"] as const) : (["plain", "sdk"] as const);
    for (const who of order) {
      if (who === "sdk") {
        const timing = await sdkStage(join(work, "runs"), round);
        plansMatch &&= samePlans(timing.plans, plans);
        sdkSeconds.push(timing.seconds);
        sdkTrainJobSeconds.push(timing.trainJobSeconds!);
        sdkCpu.push(timing.cpuSeconds);
      } else {
        const timing = await plainStage(plain, planFolder);
        if (timing.samples !== planned) throw new Error(`the plain stage trained on ${timing.samples} samples, expected ${planned}`);
        plainSeconds.push(timing.seconds);
        plainCpu.push(timing.cpuSeconds);
      }
    }
  }

  const sdkCpuS = medianOrNull(sdkCpu);
  const plainCpuS = medianOrNull(plainCpu);
  const roundRatios = ratios(sdkSeconds, plainSeconds)!;
  const cpuRatios = ratios(sdkCpu, plainCpu);
  const line = JSON.stringify({
    bench: "overhead",
    model: config.encoder,
    dataset: config.dataset,
    stage: STAGE,
    epochs: EPOCHS,
    batch_size: config.batchSize,
    samples_per_stage: planned,
    steps_per_stage: plans.reduce((sum, p) => sum + p.offsets.length - 1, 0),
    torch_threads: threads,
    rounds: ROUNDS,
    sdk_seconds: round3(median(sdkSeconds)),
    plain_seconds: round3(median(plainSeconds)),
    ratio: round3(median(roundRatios)),
    goal: GOAL,
    ratio_per_round: roundRatios.map(round3),
    ratio_spread: [round3(Math.min(...roundRatios)), round3(Math.max(...roundRatios))],
    sdk_per_round: sdkSeconds.map(round3),
    plain_per_round: plainSeconds.map(round3),
    sdk_in_train_jobs_s: round3(median(sdkTrainJobSeconds)),
    sdk_outside_train_jobs_s: round3(median(sdkSeconds.map((s, i) => s - sdkTrainJobSeconds[i]!))),
    sdk_cpu_s: sdkCpuS === null ? null : round3(sdkCpuS),
    plain_cpu_s: plainCpuS === null ? null : round3(plainCpuS),
    cpu_ratio: cpuRatios === null ? null : round3(median(cpuRatios)),
    cpu_ratio_per_round: cpuRatios?.map(round3) ?? null,
    sdk_cpu_per_round: allNumbers(sdkCpu)?.map(round3) ?? null,
    plain_cpu_per_round: allNumbers(plainCpu)?.map(round3) ?? null,
    ...(CPU_TIME_UNAVAILABLE === undefined ? {} : { cpu_unavailable: CPU_TIME_UNAVAILABLE }),
    // False if a round's clustering (hence its plans) differed from the warm-up's: the plain side then trained other batches of the same sizes.
    plans_match: plansMatch,
    load_average_before: Math.round(loadBefore * 100) / 100,
    load_average_after: Math.round(loadavg()[0]! * 100) / 100,
    cpus: cpus().length,
    node: process.version,
  });
  await writeFileAtomic(join(projectRoot(), "bench", "results", "overhead.json"), `${line}\n`);
  console.log(line);
} finally {
  plain.close();
  await rm(work, { recursive: true, force: true });
}
