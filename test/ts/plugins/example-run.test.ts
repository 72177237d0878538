// The example plugin package (examples/plugins) run end to end through the SDK on tiny settings:
// its CSV + image-folder dataset, depthwise CNN and alignment-uniformity loss pass the checks,
// train 2 stages and the baseline on a real worker, and the probes read the dataset's labels, once the user allows
// my_plugins. A broken plugin stops `mcl run` (Mcl.start) before the run directory or a worker exists.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runCommand } from "../../../ts/cli/run-command.js";
import { Mcl, type MclConfigInput, type MclEvent, type MclRun } from "../../../ts/index.js";
import { projectRoot, venvPython } from "../../../ts/transport/python-env.js";

const root = projectRoot(dirname(fileURLToPath(import.meta.url)));
const example = join(root, "examples", "plugins");
const work = mkdtempSync(join(tmpdir(), "mcl-plugins-"));
const worker = { launch: { onOutput: () => {}, env: { ...process.env, PYTHONPATH: example } } };
let run: MclRun | undefined;

afterAll(async () => {
  await run?.stop();
  rmSync(work, { recursive: true, force: true });
});

function exampleConfig(): MclConfigInput {
  const config = JSON.parse(readFileSync(join(example, "config.json"), "utf8")) as MclConfigInput & {
    datasetArgs: Record<string, unknown>;
  };
  return { ...config, runDir: join(work, "runs"), datasetArgs: { ...config.datasetArgs, csv_path: join(work, "data", "labels.csv") } };
}

describe("the example plugins", () => {
  it("train 2 stages and the baseline through Mcl.start", { timeout: 180_000 }, async () => {
    const made = spawnSync(venvPython(root), [join(example, "make_data.py"), join(work, "data"), "--n", "64", "--size", "16"], {
      encoding: "utf8",
    });
    expect(made.status, made.stderr).toBe(0);

    run = await Mcl.start(exampleConfig(), { worker, allowPlugins: ["my_plugins"] });
    const events: MclEvent[] = [];
    for await (const event of run.events()) events.push(event);
    const summary = await run.result();

    expect(events[0]).toMatchObject({ type: "run-start", numSamples: 64 });
    expect(events.filter((e) => e.type === "stage-start").map((e) => (e as { stage: unknown }).stage)).toEqual([1, 2, "baseline"]);
    const epochLosses = events.flatMap((e) => (e.type === "epoch" ? [e.loss] : []));
    expect(epochLosses).toHaveLength(4); // the plugin loss, 1 + 1 epochs of MCL and 2 of the baseline
    for (const loss of epochLosses) expect(Number.isFinite(loss)).toBe(true);
    expect(summary.attributes).toEqual(["label"]);
    for (const probe of [...summary.stages.map((s) => s.probe), summary.integrated.probe]) {
      expect(probe.label).toBeGreaterThanOrEqual(0);
      expect(probe.label).toBeLessThanOrEqual(1);
    }
    const manifest = JSON.parse(readFileSync(join(run.dir, "manifest.json"), "utf8")) as { config: { encoder: string } };
    expect(manifest.config.encoder).toBe("py:my_plugins.encoders:depthwise_cnn");
  });

  it("stop `mcl run` (Mcl.start) before anything exists when one fails its checks, naming each", { timeout: 120_000 }, async () => {
    const file = join(work, "cli.json");
    const broken = { dataset: "py:my_plugins.data:NoSuchDataset", encoderArgs: { widths: [16, 32], no_such_option: 1 } };
    writeFileSync(file, JSON.stringify({ ...exampleConfig(), name: "cli", ...broken }));
    vi.stubEnv("PYTHONPATH", example); // the CLI's worker and check take this process's environment
    const errors: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((text: unknown) => void errors.push(String(text)));
    try {
      expect(await runCommand.run([file, "--allow-plugins", "my_plugins"])).not.toBe(0);
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
    }
    const stderr = errors.join("\n");
    expect(stderr).toContain("dataset plugin py:my_plugins.data:NoSuchDataset: the 'attribute' check expected my_plugins.data to define 'NoSuchDataset'");
    expect(stderr).toContain("encoder plugin py:my_plugins.encoders:depthwise_cnn: the 'build' check expected depthwise_cnn(**{");
    expect(stderr).toContain("got TypeError: depthwise_cnn() got an unexpected keyword argument 'no_such_option'");
    expect(stderr).toContain("(PLUGIN_CHECK_FAILED)");
    expect(existsSync(join(work, "runs", "cli"))).toBe(false);
  });
});
