/**
 * Transport benchmark: our protocol through the real worker against raw
 * ZeroMQ ping-pong between the same two runtimes (zeromq.js DEALER <-> pyzmq ROUTER,
 * bench/transport_peer.py), in the same run. Run with `npm run bench:transport`; it writes
 * bench/results/transport.json atomically and prints it as its last line.
 *
 * - latency: round trip of an empty job (`ping`) vs one empty frame each way; p50 and p99.
 * - throughput, for uint8 tensors of 1 KiB .. 256 MiB, as a user's data moves:
 *     up   (TS -> Py): `handle.put` of the tensor (the worker keeps it; reply: its handle; freed
 *                      after each trip, untimed, as the raw peer drops the frame it received),
 *                      vs the raw peer receiving the frame and answering an empty frame;
 *     down (Py -> TS): `handle.get` of a tensor the worker already holds,
 *                      vs the raw peer answering a tiny request with a buffer it already holds;
 *     echo (both ways, for information): `echo` (an inline job, as the handle jobs) vs the raw peer
 *                      sending the received frame back.
 *   A size's figure is payload bytes / median round-trip time.
 * Raw and ours alternate in blocks (raw, ours, raw, ours, ...) so that load on the shared machine
 * hits both alike; each block is a few reps of one side, which keeps that side's path warm, and
 * starts on a freshly collected heap (`node --expose-gc`), so that neither side pays for garbage
 * the other left.
 * Goals: latency_ratio (ours p50 / raw p50) <= 1.3; throughput_ratio_min_1mib (lowest ours / raw
 * over sizes >= 1 MiB, directions up and down) >= 0.8.
 * Wall-clock ratios move with the machine's load and with where the scheduler puts the four
 * threads of a round trip; CPU time does not. So each side also reports the CPU time per round
 * trip of the Node process and of the Python process serving it (`cpu_us_per_trip`, Linux only,
 * not for `up`, whose untimed clean-up would be counted), which says where the protocol's cost is,
 * and the V8 garbage-collection pause time of the Node process that began during that side's timed
 * trips (`gc_us_per_trip`): zeromq.js hands over each received frame as a buffer outside V8's
 * heap that it reports to V8 as external memory, and at megabytes per trip V8 answers with a full
 * collection every few trips; blocks long enough to meet several of them, each begun on a
 * collected heap, keep a side's collections mostly its own.
 */

import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Dealer } from "zeromq";
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { launchWorker, projectRoot, venvPython } from "../ts/transport/index.js";
import { tensor } from "../ts/wire/index.js";
import type { TensorHandle } from "../ts/wire/index.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const SIZES = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144].map((k) => k * KIB);
const DIRECTIONS = ["up", "down", "echo"] as const;
/** Directions the goal is about; echo is reported for information. */
const GOAL_DIRECTIONS: readonly Direction[] = ["up", "down"];
const LATENCY_BLOCKS = 30;
const LATENCY_BLOCK_REPS = 100;
/** Per size, direction and side: at least MIN_REPS, more until TIME_PER_SIZE_MS is spent (at most MAX_REPS). */
const MIN_REPS = 7;
const MAX_REPS = 600;
const TIME_PER_SIZE_MS = 2000;
const GOALS = { latency_ratio_max: 1.3, throughput_ratio_min_1mib_min: 0.8 };

type Direction = (typeof DIRECTIONS)[number];
type RoundTrip = () => Promise<void>;

interface Side {
  /** The Python process answering this side (the raw peer or the worker), for its CPU time. */
  readonly pythonPid: number;
  /** One timed round trip. */
  readonly trip: RoundTrip;
  /** Untimed clean-up after each trip (frees what it stored, as the raw peer drops its frame). */
  readonly after?: () => Promise<void>;
}

interface SizeResult {
  direction: Direction;
  bytes: number;
  reps: number;
  raw_mib_s: number;
  ours_mib_s: number;
  ratio: number;
  cpu_us_per_trip: { raw: CpuTotals; ours: CpuTotals } | null;
  gc_us_per_trip: { raw: number; ours: number };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** CPU microseconds spent so far by this process and by the Python process `pid`. */
interface CpuTotals {
  node: number;
  python: number;
}

/**
 * CPU time of the threads of process `pid` in µs (Linux: /proc/PID/task/TID/schedstat, in ns);
 * NaN where there is no /proc. A thread that ends between two readings takes its time with it;
 * the worker's and the peer's threads live as long as the process, so none does here.
 */
function processCpuUs(pid: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return Number.NaN;
  }
  let ns = 0;
  for (const task of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended after the listing
    }
  }
  return ns / 1000;
}

/** Both processes' CPU time; `pythonFirst` orders the readings so that neither scan of /proc is charged to Node. */
function cpuTotals(pythonPid: number, pythonFirst: boolean): CpuTotals {
  const nodeUs = (): number => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  if (pythonFirst) {
    const python = processCpuUs(pythonPid);
    return { node: nodeUs(), python };
  }
  const node = nodeUs();
  return { node, python: processCpuUs(pythonPid) };
}

/**
 * The Node process's garbage-collection pauses ([start, duration] in ms on performance.now()'s
 * clock), kept from the start so that each can be charged to the timed trip it began in.
 */
class GcLog {
  private readonly pauses: number[] = [];
  private readonly observer = new PerformanceObserver((list) => this.add(list.getEntries()));

  constructor() {
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** Pause ms that began inside any of `windows` ([start, end, start, end, ...], in order); both lists are in time order. */
  pausedWithin(windows: readonly number[]): number {
    this.add(this.observer.takeRecords()); // entries not yet delivered to the callback
    const pauses = this.pauses;
    let total = 0;
    let w = 0;
    for (let p = 0; p < pauses.length; p += 2) {
      const start = pauses[p] as number;
      while (w < windows.length && (windows[w + 1] as number) < start) w += 2;
      if (w < windows.length && (windows[w] as number) <= start) total += pauses[p + 1] as number;
    }
    return total;
  }

  stop(): void {
    this.observer.disconnect();
  }

  private add(entries: readonly { startTime: number; duration: number }[]): void {
    for (const entry of entries) this.pauses.push(entry.startTime, entry.duration);
  }
}

const gcLog = new GcLog();

/** One side's round trips: wall times (ms), when they ran, and, when measured, the CPU they cost. */
class Tally {
  readonly ms: number[] = [];
  /** [start, end] of each timed trip, in order: what `gcUsPerTrip` charges pauses to. */
  private readonly windows: number[] = [];
  private readonly cpu: CpuTotals = { node: 0, python: 0 };
  private cpuTrips = 0;

  /** Runs `reps` timed round trips of `side`; counts their CPU unless the side cleans up after each. */
  async run(side: Side, reps: number): Promise<void> {
    const before = side.after === undefined ? cpuTotals(side.pythonPid, true) : undefined;
    for (let i = 0; i < reps; i++) {
      const start = performance.now();
      await side.trip();
      const end = performance.now();
      this.ms.push(end - start);
      this.windows.push(start, end);
      await side.after?.();
    }
    if (before === undefined) return;
    const after = cpuTotals(side.pythonPid, false);
    this.cpu.node += after.node - before.node;
    this.cpu.python += after.python - before.python;
    this.cpuTrips += reps;
  }

  /** µs of Node garbage-collection pauses that began during this side's timed trips, per trip. */
  gcUsPerTrip(): number {
    return round((gcLog.pausedWithin(this.windows) * 1000) / this.ms.length);
  }

  /** CPU µs per round trip of the Node process and of the Python process; null when not measured. */
  cpuPerTrip(): CpuTotals | null {
    if (this.cpuTrips === 0 || Number.isNaN(this.cpu.python)) return null;
    return { node: round(this.cpu.node / this.cpuTrips), python: round(this.cpu.python / this.cpuTrips) };
  }
}

/** Both sides' CPU per trip, or null when either was not measured: one side alone compares with nothing. */
function cpuPair(raw: Tally, ours: Tally): { raw: CpuTotals; ours: CpuTotals } | null {
  const rawCpu = raw.cpuPerTrip();
  const oursCpu = ours.cpuPerTrip();
  return rawCpu === null || oursCpu === null ? null : { raw: rawCpu, ours: oursCpu };
}

/**
 * A full collection, untimed, before every block. Raw and ours share one V8 heap: without it a
 * block would start with the other side's frames still to collect, and V8 does incremental marking
 * in steps paid by whoever allocates next, so one side's trips would pay for the other's garbage.
 * Looked up once, at load: without the flag the bench stops before it starts the peer and the worker.
 */
const collectGarbage: () => void = fullCollection();

function fullCollection(): () => void {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("run this benchmark with `node --expose-gc` (npm run bench:transport does)");
  return () => void gc();
}

/**
 * Alternates blocks of `blockReps` round trips, raw then ours, until each side has at least
 * `minReps` and the budget is spent (or `maxReps`); returns each side's tally.
 */
async function alternate(raw: Side, ours: Side, blockReps: number, minReps: number, maxReps: number, budgetMs: number) {
  const rawTally = new Tally();
  const oursTally = new Tally();
  await new Tally().run(raw, 1);
  await new Tally().run(ours, 1); // warm both paths (allocations, first touch of pages)
  const start = performance.now();
  while (rawTally.ms.length < maxReps && (rawTally.ms.length < minReps || performance.now() - start < budgetMs)) {
    collectGarbage();
    await rawTally.run(raw, blockReps);
    collectGarbage();
    await oursTally.run(ours, blockReps);
  }
  return { raw: rawTally, ours: oursTally };
}

async function startPeer(): Promise<{ endpoint: string; pid: number; stop: () => void }> {
  const child = spawn(venvPython(), [join(projectRoot(), "bench", "transport_peer.py")], { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`transport_peer.py exited with ${code}`)));
  });
  return { endpoint: (JSON.parse(line) as { endpoint: string }).endpoint, pid: child.pid as number, stop: () => child.kill() };
}

function log(message: string): void {
  process.stderr.write(`[bench:transport] ${message}\n`);
}

function loadAverages(): number[] {
  return loadavg().map((l) => round(l, 2));
}

async function main(): Promise<void> {
  const loadBefore = loadAverages();
  const peer = await startPeer();
  const worker = await launchWorker();
  const client = worker.client;
  const raw = new Dealer({ linger: 0 });
  raw.connect(peer.endpoint);
  const rawCall = async (frames: (Buffer | string)[]): Promise<Buffer> => {
    await raw.send(frames);
    const [reply] = await raw.receive();
    return reply as Buffer;
  };

  try {
    // -- latency ---------------------------------------------------------------------------
    log(`latency: ${LATENCY_BLOCKS} blocks of ${LATENCY_BLOCK_REPS} round trips each side`);
    const rounds = LATENCY_BLOCKS * LATENCY_BLOCK_REPS;
    const pings = await alternate(
      { pythonPid: peer.pid, trip: () => rawCall(["ping"]).then(() => undefined) },
      { pythonPid: alivePid(worker.pid), trip: () => client.request("ping", {}).then(() => undefined) },
      LATENCY_BLOCK_REPS,
      rounds,
      rounds,
      0,
    );
    const rawSorted = pings.raw.ms.sort((a, b) => a - b);
    const oursSorted = pings.ours.ms.sort((a, b) => a - b);
    const latency = {
      rounds,
      raw_p50_us: round(quantile(rawSorted, 0.5) * 1000),
      raw_p99_us: round(quantile(rawSorted, 0.99) * 1000),
      ours_p50_us: round(quantile(oursSorted, 0.5) * 1000),
      ours_p99_us: round(quantile(oursSorted, 0.99) * 1000),
      cpu_us_per_trip: cpuPair(pings.raw, pings.ours),
      gc_us_per_trip: { raw: pings.raw.gcUsPerTrip(), ours: pings.ours.gcUsPerTrip() },
    };
    log(JSON.stringify(latency));

    // -- throughput ------------------------------------------------------------------------
    const throughput: SizeResult[] = [];
    for (const bytes of SIZES) {
      const payload = Buffer.alloc(bytes, 7);
      const sizeFrame = Buffer.alloc(8);
      sizeFrame.writeBigUInt64LE(BigInt(bytes));
      const sent = tensor("uint8", [bytes], new Uint8Array(payload.buffer, payload.byteOffset, bytes));
      const held = (await client.request("handle.put", { tensor: sent })).handle; // what "down" fetches
      const stored: TensorHandle[] = [];
      const rawPid = peer.pid;
      const workerPid = alivePid(worker.pid);
      const sides: Record<Direction, { raw: Side; ours: Side }> = {
        up: {
          raw: { pythonPid: rawPid, trip: async () => check((await rawCall(["up", payload])).byteLength, 0) },
          ours: {
            pythonPid: workerPid,
            trip: async () => {
              const put = await client.request("handle.put", { tensor: sent });
              check(put.shape[0] as number, bytes);
              stored.push(put.handle);
            },
            after: async () => {
              await Promise.all(stored.splice(0).map((handle) => client.request("handle.free", { handle })));
            },
          },
        },
        down: {
          raw: { pythonPid: rawPid, trip: async () => check((await rawCall(["down", sizeFrame])).byteLength, bytes) },
          ours: {
            pythonPid: workerPid,
            trip: async () => check((await client.request("handle.get", { handle: held })).tensor.data.byteLength, bytes),
          },
        },
        echo: {
          raw: { pythonPid: rawPid, trip: async () => check((await rawCall(["echo", payload])).byteLength, bytes) },
          ours: {
            pythonPid: workerPid,
            trip: async () => check(((await client.request("echo", { x: sent })).x as { data: Uint8Array }).data.byteLength, bytes),
          },
        },
      };
      // Blocks of about 64 MiB a side (at most 50 reps; 1 from 64 MiB up): long enough that each
      // side runs into its own garbage collections, short enough to alternate many times.
      const blockReps = Math.max(1, Math.min(50, Math.floor((64 * MIB) / bytes)));
      for (const direction of DIRECTIONS) {
        const { raw: rawSide, ours: oursSide } = sides[direction];
        const tallies = await alternate(rawSide, oursSide, blockReps, MIN_REPS, MAX_REPS, TIME_PER_SIZE_MS);
        const rawRate = bytes / MIB / (median(tallies.raw.ms) / 1000);
        const oursRate = bytes / MIB / (median(tallies.ours.ms) / 1000);
        const result = {
          direction,
          bytes,
          reps: tallies.raw.ms.length,
          raw_mib_s: round(rawRate),
          ours_mib_s: round(oursRate),
          ratio: round(oursRate / rawRate, 3),
          cpu_us_per_trip: cpuPair(tallies.raw, tallies.ours),
          gc_us_per_trip: { raw: tallies.raw.gcUsPerTrip(), ours: tallies.ours.gcUsPerTrip() },
        };
        log(JSON.stringify(result));
        throughput.push(result);
      }
      await client.request("handle.free", { handle: held });
    }

    const latencyRatio = round(latency.ours_p50_us / latency.raw_p50_us, 3);
    const minRatio = (directions: readonly Direction[]) =>
      Math.min(...throughput.filter((r) => r.bytes >= MIB && directions.includes(r.direction)).map((r) => r.ratio));
    const throughputRatioMin = minRatio(GOAL_DIRECTIONS);
    const results = {
      bench: "transport",
      latency_ratio: latencyRatio,
      throughput_ratio_min_1mib: throughputRatioMin,
      echo_ratio_min_1mib: minRatio(["echo"]),
      goals: {
        ...GOALS,
        throughput_directions: GOAL_DIRECTIONS,
        met: latencyRatio <= GOALS.latency_ratio_max && throughputRatioMin >= GOALS.throughput_ratio_min_1mib_min,
      },
      definitions: {
        latency: "round trip of an empty `ping` job vs the raw peer answering an empty frame; p50/p99 over all rounds",
        up: "TS -> Py: `handle.put` of a uint8 tensor (reply: its handle) vs the raw peer acking the frame with an empty frame",
        down: "Py -> TS: `handle.get` of a tensor the worker holds vs the raw peer answering a tiny request with a buffer it holds",
        echo: "both ways: `echo` job (inline on the I/O thread, as the handle jobs) vs the raw peer sending the frame back; not part of the goal",
        rate: "payload bytes / median round-trip time; raw and ours alternate in blocks of up to 64 MiB a side, each begun on a freshly collected heap",
        cpu_us_per_trip:
          "CPU microseconds per round trip, every thread counted, of this Node process and of the Python process answering (raw peer or worker); null for up and off Linux. Raw and ours share the Node process: a garbage collection lands on whichever side's block triggers it",
        gc_us_per_trip:
          "microseconds of V8 garbage-collection pauses of this Node process that began during the side's timed round trips, per trip (perf_hooks 'gc' entries: the pauses, not the incremental marking steps between them); raw and ours share the heap, and each block begins on a freshly collected one, so a side's figure is mostly for its own garbage",
      },
      latency,
      throughput,
      worker: { torch: worker.hello.torch_version, zmq: worker.hello.zmq_version, python: worker.hello.python_version },
      node: process.version,
      cpus: cpus().length,
      load_average: { before: loadBefore, after: loadAverages() },
    };
    const json = JSON.stringify(results);
    await writeFileAtomic(join(projectRoot(), "bench", "results", "transport.json"), `${json}\n`);
    console.log(json);
  } finally {
    raw.close();
    await worker.close();
    peer.stop();
    gcLog.stop();
  }
}

function alivePid(pid: number | undefined): number {
  if (pid === undefined) throw new Error("the worker is not running (it crashed during the benchmark)");
  return pid;
}

function check(got: number, want: number): void {
  if (got !== want) throw new Error(`a reply carried ${got} bytes, expected ${want}`);
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

await main();
