/**
 * npm run bench:gpu — the project on one CUDA device, each figure beside its goal:
 *
 * - clip_train: the worker's clip.train job on clip-vit-b-16 (bf16 autocast), driven from
 *   TypeScript as the SDK drives it (one job of MCL_BENCH_GPU_STEPS uniform batches, progress as
 *   the SDK asks for it), against a plain PyTorch loop (bench/gpu_plain.py) on the same model,
 *   data (synthetic:trifeature at 224 px with captions), augmentation, tokenizer, batch, clip loss
 *   and fused AdamW. One warm-up job each, then MCL_BENCH_GPU_ROUNDS rounds in ABBA order; ours is
 *   timed around the job (wire included), the plain loop inside its process. ratio = median
 *   samples/s of ours / of the plain loop; goal >= 0.95. The batch is the plain side's search:
 *   from a guess, halved on torch.cuda.OutOfMemoryError, within MEMORY_FRACTION of the card, as
 *   the worker and the plain process hold their CUDA memory side by side (the caching allocator
 *   keeps a process's blocks between its steps).
 * - mfu: FLOPs of one step counted by FlopCounterMode in the plain loop, over the step time, over
 *   the card's peak dense bf16 FLOP/s (a table in bench/gpu_plain.py; unknown card: null and why);
 *   goal >= 0.35.
 * - embed: images/s of the worker's embed job (the CLIP image tower, its eval transform, no
 *   autocast) over the same dataset, timed around the job.
 * - kmeans: mcl_worker.kmeans on 1 M × 768 float32 on the device against scikit-learn's
 *   MiniBatchKMeans on the CPU, inertia of both measured alike (bench/kmeans.py's full_inertia).
 * - data: data_wait_fraction of train_steps feeding a ResNet-50 at 224 px from generated JPEGs
 *   (bench/data.py's JPEGs and measurement), prefetching loader at its defaults vs synchronous.
 * - demo: wall time of `Mcl.start` on the demo's config with compute.device cuda, launch to summary.
 *
 * Without a CUDA device in the worker's hello it exits 1 with one line and writes nothing.
 * MCL_BENCH_GPU_SMOKE=1 runs every part on the CPU at tiny sizes (clip-tiny, a 2,000 × 16
 * k-means, a ResNet-18 on a few JPEGs at 32 px, a 2-stage demo) and writes "smoke": true to
 * MCL_BENCH_GPU_OUT, which it then requires; otherwise the result goes to MCL_BENCH_GPU_OUT or
 * bench/results/gpu.json. Either is written atomically and printed as the last line.
 * MCL_BENCH_GPU_STEPS (default 20) and MCL_BENCH_GPU_ROUNDS (default 4) size clip_train.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { planUniform } from "../ts/control/batch-planner.js";
import type { MclConfigInput } from "../ts/config/mcl-config.js";
import { DEMO_CONFIG } from "../ts/sdk/demo-config.js";
import { PROGRESS_PER_EPOCH } from "../ts/sdk/events.js";
import { Mcl } from "../ts/sdk/mcl.js";
import { launchWorker, projectRoot } from "../ts/transport/index.js";
import { type TrainPlan, WorkerJobs } from "../ts/client/index.js";
import { PlainScript } from "./plain-script.js";
import { PATIENT_LAUNCH } from "./launch.js";

const RESULT = join(projectRoot(), "bench", "results", "gpu.json");
/** The share of the card's memory the batch search allows a side: the two sides together stay within it twice. */
const MEMORY_FRACTION = 0.45;

type BenchGpuErrorCode = "NO_CUDA" | "BAD_OPTION";

/** Why the benchmark does not run; its message is the one line it prints. */
class BenchGpuError extends Error {
  override name = "BenchGpuError";
  constructor(
    readonly code: BenchGpuErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Settings {
  readonly smoke: boolean;
  readonly device: "cuda" | "cpu";
  readonly out: string;
  readonly clip: {
    readonly config: "clip-vit-b-16" | "clip-tiny";
    readonly samples: number;
    readonly size: number;
    readonly batchGuess: number;
    readonly precision: "bf16" | "fp32";
    readonly steps: number;
    readonly rounds: number;
    readonly embedBatch: number;
    readonly embedRounds: number;
  };
  readonly kmeans: { readonly n: number; readonly d: number; readonly ks: readonly number[]; readonly seed: number };
  readonly data: {
    readonly arch: "resnet50" | "resnet18";
    readonly images: number;
    readonly size: number;
    readonly batch: number;
    readonly steps: number;
    readonly rounds: number;
  };
}

/** The settings the environment asks for (BAD_OPTION names the variable). */
function readSettings(env: NodeJS.ProcessEnv): Settings {
  const smoke = env["MCL_BENCH_GPU_SMOKE"] === "1";
  const outText = env["MCL_BENCH_GPU_OUT"];
  const out = outText === undefined || outText === "" ? RESULT : resolve(outText);
  if (smoke && out === RESULT) {
    throw new BenchGpuError("BAD_OPTION", "MCL_BENCH_GPU_SMOKE=1: set MCL_BENCH_GPU_OUT to the smoke run's JSON file (not bench/results/gpu.json)");
  }
  if (smoke) {
    return {
      smoke,
      device: "cpu",
      out,
      clip: { config: "clip-tiny", samples: 64, size: 32, batchGuess: 16, precision: "fp32", steps: 2, rounds: 2, embedBatch: 32, embedRounds: 1 },
      kmeans: { n: 2000, d: 16, ks: [10], seed: 0 },
      data: { arch: "resnet18", images: 8, size: 32, batch: 2, steps: 2, rounds: 1 },
    };
  }
  return {
    smoke,
    device: "cuda",
    out,
    clip: {
      config: "clip-vit-b-16",
      samples: 2048,
      size: 224,
      batchGuess: 1024,
      precision: "bf16",
      steps: positive(env, "MCL_BENCH_GPU_STEPS", 20),
      rounds: positive(env, "MCL_BENCH_GPU_ROUNDS", 4),
      embedBatch: 512,
      embedRounds: 3,
    },
    kmeans: { n: 1_000_000, d: 768, ks: [10, 100], seed: 0 },
    data: { arch: "resnet50", images: 3000, size: 224, batch: 256, steps: 30, rounds: 3 },
  };
}

/** The demo's config on the bench's device; in a smoke run, 2 stages of 1 epoch on 96 images of 16 px. */
function demoConfig(settings: Settings, runDir: string): MclConfigInput {
  if (!settings.smoke) return { ...DEMO_CONFIG, name: "bench-gpu-demo", runDir, compute: { device: "cuda" } };
  return {
    ...DEMO_CONFIG,
    name: "bench-gpu-smoke-demo",
    runDir,
    dataset: "synthetic:trifeature?n=96&size=16&seed=0&rotation=0",
    stages: 2,
    epochsPerStage: [1, 1],
    clusters: 2,
    batchSize: 16,
    baseline: false,
    probe: { attributes: ["shape", "color"], knn: 0 },
    compute: { device: "cpu" },
  };
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new BenchGpuError("BAD_OPTION", `${name}: expected an integer >= 1, got ${JSON.stringify(text)}`);
  return value;
}

function refusal(torchVersion: string): string {
  return (
    `bench:gpu needs a CUDA device: torch ${torchVersion} sees none on this machine. On a GPU machine, install a CUDA build` +
    " of torch (MCL_TORCH_SPEC=<its pip spec> npm run bootstrap; PyPI's Linux torch wheels are CUDA builds), then run npm run bench:gpu."
  );
}

interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
}

function spread(values: readonly number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  const round = (x: number) => Number(x.toPrecision(5));
  return { median: round(median), min: round(s[0]!), max: round(s.at(-1)!), runs: values.map(round) };
}

/** `steps` uniform batches: the planner's epochs over the dataset, one after another (seeded by `job`). */
function clipPlan(samples: number, batch: number, steps: number, job: number): TrainPlan {
  const indices = new Int32Array(steps * batch);
  for (let epoch = 0, done = 0; done < steps; epoch++) {
    const plan = planUniform(samples, { batchSize: batch, smallGroups: "drop", seed: job, epoch });
    const take = Math.min(plan.offsets.length - 1, steps - done);
    indices.set(plan.indices.subarray(0, plan.offsets[take]!), done * batch);
    done += take;
  }
  return { indices, offsets: Int32Array.from({ length: steps + 1 }, (_, t) => t * batch) };
}

interface Epoch {
  readonly samples: number;
  readonly seconds: number;
}

/** The CUDA check and the parts that need the bench's own worker: clip_train, mfu, embed. */
async function workerParts(settings: Settings, plain: () => Promise<{ plain: PlainScript; ready: Record<string, unknown> }>) {
  const worker = await launchWorker(PATIENT_LAUNCH);
  try {
    if (!settings.smoke && !worker.hello.devices.some((d) => d.type === "cuda")) {
      throw new BenchGpuError("NO_CUDA", refusal(worker.hello.torch_version));
    }
    const { clip } = settings;
    const uri = `synthetic:trifeature?n=${clip.samples}&size=${clip.size}&seed=0`;
    const started = await plain();
    const jobs = new WorkerJobs(worker.client);
    const [fit, { dataset }] = await Promise.all([
      started.plain.ask({
        op: "clip_setup", uri, config: clip.config, precision: clip.precision, batch_guess: clip.batchGuess,
        memory_fraction: MEMORY_FRACTION, seed: 0,
      }),
      jobs.openDataset(uri),
    ]);
    const batch = Number(fit["batch"]);
    const device = settings.device;
    const { model } = await jobs.createClip({ config: clip.config, seed: 0, tokenizer: { kind: "words", dataset }, device });
    const { optimizer } = await jobs.createOptimizer({ model, name: "adamw", lr: 1e-4, weight_decay: 0 });
    const progressEvery = Math.max(1, Math.ceil(clip.steps / PROGRESS_PER_EPOCH));

    const ours = async (plan: TrainPlan, seed: number): Promise<Epoch> => {
      const t0 = performance.now();
      const result = await jobs.trainClip({
        model, optimizer, dataset, plan, loss: { name: "clip" }, seed, precision: clip.precision, progress_every: progressEvery,
      });
      return { samples: result.samples, seconds: (performance.now() - t0) / 1000 };
    };
    const plainEpoch = async (plan: TrainPlan, seed: number): Promise<Epoch> => {
      const answer = await started.plain.ask({ op: "clip_train", indices: Array.from(plan.indices), offsets: Array.from(plan.offsets), seed });
      return { samples: Number(answer["samples"]), seconds: Number(answer["seconds"]) };
    };
    const warmUp = clipPlan(clip.samples, batch, clip.steps, 0);
    await ours(warmUp, 0); // allocator, kernels
    await plainEpoch(warmUp, 0);
    const rates = { ours: [] as number[], plain: [] as number[] };
    for (let round = 1; round <= clip.rounds; round++) {
      const plan = clipPlan(clip.samples, batch, clip.steps, round);
      const order = round % 2 === 1 ? (["ours", "plain"] as const) : (["plain", "ours"] as const);
      for (const who of order) {
        const epoch = who === "ours" ? await ours(plan, round) : await plainEpoch(plan, round);
        rates[who].push(epoch.samples / epoch.seconds);
        console.error(`clip.train round ${round} ${who}: ${(epoch.samples / epoch.seconds).toFixed(1)} samples/s`);
      }
    }
    const flops = await started.plain.ask({ op: "clip_flops", batch });

    const embedRates: number[] = [];
    for (let round = 0; round <= clip.embedRounds; round++) {
      const t0 = performance.now();
      const { embedding, shape } = await jobs.embed({ model, dataset, batch_size: clip.embedBatch });
      const seconds = (performance.now() - t0) / 1000;
      await jobs.free(embedding);
      if (round > 0) embedRates.push(shape[0]! / seconds); // round 0 warms up
    }
    await started.plain.ask({ op: "clip_release" });
    return { plain: started, uri, batch, fit, rates, flops, embedRates, progressEvery };
  } finally {
    await worker.close();
  }
}

/** The demo's config through the SDK, launch to summary: its wall seconds and the device it reported. */
async function demoPart(config: MclConfigInput) {
  const t0 = performance.now();
  const run = await Mcl.start(config, { worker: { launch: { ...PATIENT_LAUNCH, onOutput: () => {} } } });
  try {
    const summary = await run.result();
    const seconds = (performance.now() - t0) / 1000;
    let device = "";
    for await (const event of run.events()) if (event.type === "run-start") device = event.device;
    return { seconds, device, stages: summary.stages.length };
  } finally {
    await run.stop();
  }
}

function finite(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? null : x;
}

async function benchGpu(settings: Settings): Promise<Record<string, unknown>> {
  const started = performance.now();
  const demoRoot = await mkdtemp(join(tmpdir(), "mcl-bench-gpu-"));
  try {
    let plainScript: PlainScript | undefined;
    const startPlain = async () => {
      const result = await PlainScript.start("gpu_plain.py", ["--device", settings.device]);
      plainScript = result.plain;
      return result;
    };
    try {
      const w = await workerParts(settings, startPlain);
      const plain = w.plain.plain;
      const ready = w.plain.ready;
      const kmeans = await plain.ask({ op: "kmeans", ...settings.kmeans });
      const data = await plain.ask({ op: "data", ...settings.data });
      plain.close();
      plainScript = undefined;
      const demo = await demoPart(demoConfig(settings, demoRoot));

      const ours = spread(w.rates.ours);
      const plainRate = spread(w.rates.plain);
      const ratio = ours.median / plainRate.median;
      const flopsPerSample = Number(w.flops["flops_per_step"]) / w.batch;
      const peak = w.flops["peak_flops"] === null ? null : Number(w.flops["peak_flops"]);
      const mfu = peak === null ? null : (flopsPerSample * ours.median) / peak;
      const kmeansResults = kmeans["results"] as Record<string, { time_ratio_vs_minibatch: number; inertia_ratio_vs_minibatch: number }>;
      const worstTime = Math.max(...Object.values(kmeansResults).map((r) => r.time_ratio_vs_minibatch));
      const worstInertia = Math.max(...Object.values(kmeansResults).map((r) => r.inertia_ratio_vs_minibatch));
      const wait = data["data_wait_fraction"] as Spread;
      const { clip } = settings;
      return {
        bench: "gpu",
        smoke: settings.smoke,
        device: settings.device,
        card: ready["card"],
        memory_bytes: ready["memory_bytes"],
        torch: ready["torch"],
        cuda: ready["cuda"],
        clip_train: {
          model: clip.config,
          dataset: w.uri,
          precision: clip.precision,
          batch: w.batch,
          batch_search: { ...w.fit, rule: "from the guess, halved on torch.cuda.OutOfMemoryError over two steps" },
          steps_per_job: clip.steps,
          progress_every: w.progressEvery,
          rounds: clip.rounds,
          order: "one warm-up job each, then ABBA",
          ours_samples_per_s: ours,
          plain_samples_per_s: plainRate,
          ratio: Number(ratio.toFixed(4)),
          goal: ">= 0.95",
          goal_met: ratio >= 0.95,
        },
        mfu: {
          value: finite(mfu),
          plain: peak === null ? null : finite((flopsPerSample * plainRate.median) / peak),
          reason: peak === null ? w.flops["peak_source"] : null,
          flops_per_step: w.flops["flops_per_step"],
          flops_per_sample: flopsPerSample,
          peak_flops: peak,
          peak_source: w.flops["peak_source"],
          counted: w.flops["counted"],
          goal: ">= 0.35",
          goal_met: mfu === null ? null : mfu >= 0.35,
        },
        embed: {
          via: "the worker's embed job on the CLIP image tower (eval transform, no autocast), timed around the job",
          images: clip.samples,
          batch: clip.embedBatch,
          images_per_s: spread(w.embedRates),
          goal: null,
        },
        kmeans: {
          data: `${settings.kmeans.n} x ${settings.kmeans.d} float32, L2-normalised mixture of Gaussian blobs (bench/kmeans.py's recipe)`,
          ours: `mcl_worker.kmeans on ${settings.device}, data already there; timed to torch.cuda.synchronize on CUDA`,
          baseline: "scikit-learn MiniBatchKMeans defaults on the CPU, every core",
          inertia: "sum of squared distances to the nearest returned centroid over all rows, float64 (bench/kmeans.py full_inertia)",
          ...kmeans,
          time_ratio_vs_minibatch: worstTime,
          inertia_ratio_vs_minibatch: worstInertia,
          goal: "time_ratio_vs_minibatch <= 1 and inertia_ratio_vs_minibatch <= 1 (worst over K)",
          goal_met: worstTime <= 1 && worstInertia <= 1,
        },
        data: { ...data, goal: "data_wait_fraction <= 0.05", goal_met: wait.median <= 0.05 },
        demo: {
          config: settings.smoke ? "a 2-stage, 1-epoch demo on 96 images of 16 px" : "DEMO_CONFIG (ts/sdk/demo-config.ts) with compute.device cuda",
          ...demo,
          goal: null,
        },
        bench_seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
        load_average: Math.round(loadavg()[0]! * 100) / 100,
        cpus: cpus().length,
        node: process.version,
      };
    } finally {
      plainScript?.close();
    }
  } finally {
    await rm(demoRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  try {
    const settings = readSettings(process.env);
    const report = await benchGpu(settings);
    await writeFileAtomic(settings.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(JSON.stringify(report));
  } catch (error) {
    if (!(error instanceof BenchGpuError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
