// `npm run bench:gpu` as users run it (node dist/bench/gpu.js): its smoke mode runs every part on
// the CPU at tiny sizes and writes a report whose figures are all numbers; without a CUDA device
// and without the smoke mode it refuses in one line and writes nothing.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { choosePython, projectRoot } from "../../../ts/transport/index.js";
import { assertBuildCurrent, type Outcome } from "../support/cli-binary.js";

const root = projectRoot();
const script = join(root, "dist", "bench", "gpu.js");
const result = join(root, "bench", "results", "gpu.json");
const dir = mkdtempSync(join(tmpdir(), "mcl-bench-gpu-test-"));
const hasCuda =
  spawnSync(choosePython().path, ["-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"], { timeout: 120_000 }).status === 0;

/** Runs the benchmark with `env` over the test's environment; killed after `timeoutMs`. */
function bench(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node dist/bench/gpu.js ran past ${timeoutMs} ms; its stderr:\n${stderr}`));
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The results file's state, to show a run left it alone. */
function resultState(): string {
  return existsSync(result) ? `present, modified ${statSync(result).mtimeMs}` : "absent";
}

/** Paths of the report's null leaves (JSON writes NaN and infinities as null too). */
function nullPaths(value: unknown, path = ""): string[] {
  if (value === null) return [path];
  if (typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, v]) => nullPaths(v, path === "" ? key : `${path}.${key}`));
}

beforeAll(assertBuildCurrent);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("node dist/bench/gpu.js", () => {
  it("MCL_BENCH_GPU_SMOKE=1 runs every part on the CPU and writes the report only to MCL_BENCH_GPU_OUT", { timeout: 300_000 }, async () => {
    const out = join(dir, "smoke.json");
    const before = resultState();
    const { code, stdout, stderr } = await bench({ MCL_BENCH_GPU_SMOKE: "1", MCL_BENCH_GPU_OUT: out }, 280_000);
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    const report = JSON.parse(readFileSync(out, "utf8")) as Record<string, Record<string, unknown>>;
    expect(JSON.parse(stdout.trim().split("\n").at(-1)!)).toEqual(report);
    expect(resultState()).toBe(before);

    expect(report).toMatchObject({ bench: "gpu", smoke: true, device: "cpu", card: "cpu" });
    // Null only where a CPU has nothing to say (no CUDA, no peak FLOP/s) or a figure has no goal.
    expect(nullPaths(report).sort()).toEqual(
      [
        "clip_train.batch_search.memory_fraction", "cuda", "demo.goal", "embed.goal", "memory_bytes",
        "mfu.goal_met", "mfu.peak_flops", "mfu.plain", "mfu.value",
      ].sort(),
    );
    const positive = (x: unknown) => expect(typeof x === "number" && Number.isFinite(x) && x > 0, String(x)).toBe(true);
    const clip = report["clip_train"]!;
    expect(clip).toMatchObject({ model: "clip-tiny", batch: 16, steps_per_job: 2, rounds: 2 });
    for (const side of ["ours_samples_per_s", "plain_samples_per_s"]) {
      const rates = clip[side] as { median: number; runs: number[] };
      expect(rates.runs).toHaveLength(2);
      rates.runs.forEach(positive);
    }
    positive(clip["ratio"]);
    expect(report["mfu"]!["reason"]).toMatch(/cpu/);
    positive(report["mfu"]!["flops_per_step"]);
    expect(report["mfu"]!["flops_per_sample"]).toBe((report["mfu"]!["flops_per_step"] as number) / 16);
    positive((report["embed"]!["images_per_s"] as { median: number }).median);
    const kmeans = report["kmeans"]!;
    positive(kmeans["time_ratio_vs_minibatch"]);
    // The same yardstick on the same data: both clusterings of a 50-blob mixture land close.
    expect(kmeans["inertia_ratio_vs_minibatch"]).toBeGreaterThan(0.9);
    expect(kmeans["inertia_ratio_vs_minibatch"]).toBeLessThan(1.1);
    for (const name of ["data_wait_fraction", "data_wait_fraction_sync"]) {
      const wait = report["data"]![name] as { median: number };
      expect(wait.median).toBeGreaterThanOrEqual(0);
      expect(wait.median).toBeLessThan(1);
    }
    expect(report["demo"]).toMatchObject({ device: "cpu", stages: 2 });
    positive(report["demo"]!["seconds"]);
  });

  it("refuses a smoke run without MCL_BENCH_GPU_OUT before starting anything", async () => {
    const before = resultState();
    const { code, stdout, stderr } = await bench({ MCL_BENCH_GPU_SMOKE: "1", MCL_BENCH_GPU_OUT: "" }, 60_000);
    expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
    expect(stderr.trim()).toBe("MCL_BENCH_GPU_SMOKE=1: set MCL_BENCH_GPU_OUT to the smoke run's JSON file (not bench/results/gpu.json)");
    expect(resultState()).toBe(before);
  });

  it.skipIf(hasCuda)("without a CUDA device exits 1 with one line and writes nothing", { timeout: 120_000 }, async () => {
    const out = join(dir, "refused.json");
    const before = resultState();
    const { code, stdout, stderr } = await bench({ MCL_BENCH_GPU_SMOKE: "", MCL_BENCH_GPU_OUT: out }, 110_000);
    expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
    expect(stderr.trim()).toMatch(
      /^bench:gpu needs a CUDA device: torch \S+ sees none on this machine\. On a GPU machine, install a CUDA build of torch .*then run npm run bench:gpu\.$/,
    );
    expect(existsSync(out)).toBe(false);
    expect(resultState()).toBe(before);
  });
});
