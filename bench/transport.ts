/**
 * Transport benchmark (issue 2, item 10): our protocol through the real worker against raw
 * ZeroMQ ping-pong between the same two runtimes (zeromq.js DEALER <-> pyzmq ROUTER,
 * bench/transport_peer.py), in the same run. Run with `npm run bench:transport`; it writes
 * bench/results/transport.json atomically and prints it as its last line.
 *
 * - latency: round trip of an empty job (`ping`) vs one empty frame each way; p50 and p99.
 * - throughput, for uint8 tensors of 1 KiB .. 256 MiB:
 *     echo (TS -> Py -> TS): `echo` of a tensor, vs the raw peer sending the frame back;
 *     down (Py -> TS): `generate` of a tensor, vs the raw peer sending a ready buffer.
 *   Raw and ours alternate rep by rep so that load on the shared machine hits both alike; a
 *   size's figure is payload bytes / median round-trip time.
 * Goals: latency_ratio (ours p50 / raw p50) <= 1.3; throughput_ratio_min_1mib (lowest ours / raw
 * over sizes >= 1 MiB, both directions) >= 0.8.
 */

import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Dealer } from "zeromq";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { launchWorker, projectRoot, venvPython } from "../ts/transport/index.js";
import { tensor } from "../ts/wire/index.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const SIZES = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144].map((k) => k * KIB);
const LATENCY_ROUNDS = 3000;
/** Per size and side: at least MIN_REPS, and more until TIME_PER_SIZE_MS is spent (at most MAX_REPS). */
const MIN_REPS = 7;
const MAX_REPS = 400;
const TIME_PER_SIZE_MS = 1500;
const GOALS = { latency_ratio_max: 1.3, throughput_ratio_min_1mib_min: 0.8 };

type RoundTrip = () => Promise<void>;

interface SizeResult {
  direction: "echo" | "down";
  bytes: number;
  reps: number;
  raw_mib_s: number;
  ours_mib_s: number;
  ratio: number;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

async function timed(fn: RoundTrip): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Alternates raw and ours rep by rep; returns each side's round-trip times in ms. */
async function alternate(raw: RoundTrip, ours: RoundTrip, minReps: number, maxReps: number, budgetMs: number) {
  const rawMs: number[] = [];
  const oursMs: number[] = [];
  await raw();
  await ours(); // warm both paths (allocations, first-touch of pages)
  const start = performance.now();
  while (rawMs.length < maxReps && (rawMs.length < minReps || performance.now() - start < budgetMs)) {
    rawMs.push(await timed(raw));
    oursMs.push(await timed(ours));
  }
  return { rawMs, oursMs };
}

async function startPeer(): Promise<{ endpoint: string; stop: () => void }> {
  const child = spawn(venvPython(), [join(projectRoot(), "bench", "transport_peer.py")], { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`transport_peer.py exited with ${code}`)));
  });
  return { endpoint: (JSON.parse(line) as { endpoint: string }).endpoint, stop: () => child.kill() };
}

function log(message: string): void {
  process.stderr.write(`[bench:transport] ${message}\n`);
}

async function main(): Promise<void> {
  const peer = await startPeer();
  const worker = await launchWorker();
  const raw = new Dealer({ linger: 0 });
  raw.connect(peer.endpoint);
  const rawCall = async (frames: (Buffer | string)[]): Promise<Buffer[]> => {
    await raw.send(frames);
    const [reply] = await raw.receive();
    return [reply as Buffer];
  };

  try {
    // -- latency ---------------------------------------------------------------------------
    log(`latency: ${LATENCY_ROUNDS} round trips each`);
    const { rawMs, oursMs } = await alternate(
      () => rawCall(["ping"]).then(() => undefined),
      () => worker.client.request("ping", {}).then(() => undefined),
      LATENCY_ROUNDS,
      LATENCY_ROUNDS,
      0,
    );
    const rawSorted = rawMs.sort((a, b) => a - b);
    const oursSorted = oursMs.sort((a, b) => a - b);
    const latency = {
      rounds: LATENCY_ROUNDS,
      raw_p50_us: round(quantile(rawSorted, 0.5) * 1000),
      raw_p99_us: round(quantile(rawSorted, 0.99) * 1000),
      ours_p50_us: round(quantile(oursSorted, 0.5) * 1000),
      ours_p99_us: round(quantile(oursSorted, 0.99) * 1000),
    };
    log(JSON.stringify(latency));

    // -- throughput ------------------------------------------------------------------------
    const throughput: SizeResult[] = [];
    for (const bytes of SIZES) {
      const payload = Buffer.alloc(bytes, 7);
      const sizeFrame = Buffer.alloc(8);
      sizeFrame.writeBigUInt64LE(BigInt(bytes));
      const sent = tensor("uint8", [bytes], new Uint8Array(payload.buffer, payload.byteOffset, bytes));
      const cases = {
        echo: {
          raw: async () => check((await rawCall(["echo", payload]))[0]!.byteLength, bytes),
          ours: async () => check(((await worker.client.request("echo", { x: sent })).x as { data: Uint8Array }).data.byteLength, bytes),
        },
        down: {
          raw: async () => check((await rawCall(["down", sizeFrame]))[0]!.byteLength, bytes),
          ours: async () =>
            check((await worker.client.request("generate", { dtype: "uint8", shape: [bytes] })).tensor.data.byteLength, bytes),
        },
      };
      for (const direction of ["echo", "down"] as const) {
        const { raw: rawTrip, ours: oursTrip } = cases[direction];
        const times = await alternate(rawTrip, oursTrip, MIN_REPS, MAX_REPS, TIME_PER_SIZE_MS);
        const rawRate = bytes / MIB / (median(times.rawMs) / 1000);
        const oursRate = bytes / MIB / (median(times.oursMs) / 1000);
        const result = { direction, bytes, reps: times.rawMs.length, raw_mib_s: round(rawRate), ours_mib_s: round(oursRate), ratio: round(oursRate / rawRate, 3) };
        log(JSON.stringify(result));
        throughput.push(result);
      }
    }

    const latencyRatio = round(latency.ours_p50_us / latency.raw_p50_us, 3);
    const throughputRatioMin = Math.min(...throughput.filter((r) => r.bytes >= MIB).map((r) => r.ratio));
    const results = {
      bench: "transport",
      latency_ratio: latencyRatio,
      throughput_ratio_min_1mib: throughputRatioMin,
      goals: { ...GOALS, met: latencyRatio <= GOALS.latency_ratio_max && throughputRatioMin >= GOALS.throughput_ratio_min_1mib_min },
      latency,
      throughput,
      worker: { torch: worker.hello.torch_version, zmq: worker.hello.zmq_version, python: worker.hello.python_version },
      node: process.version,
      cpus: cpus().length,
      load_average: round(loadavg()[0] as number),
    };
    const json = JSON.stringify(results);
    await writeFileAtomic(join(projectRoot(), "bench", "results", "transport.json"), `${json}\n`);
    console.log(json);
  } finally {
    raw.close();
    await worker.close();
    peer.stop();
  }
}

function check(got: number, want: number): void {
  if (got !== want) throw new Error(`a reply carried ${got} bytes, expected ${want}`);
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

await main();
