// Everything that can be checked before training is checked before a new run is written: a start
// that fails (a dataset that does not open, more clusters than samples, a batch larger than the
// dataset, missing weights, an unknown attribute, a plugin not allowed) leaves no run directory,
// names the config field, and the same name starts once the config is fixed. A stored run whose
// config cannot work says which directory to remove; a name that holds a run says what to do.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Mcl, type MclConfigInput, type MclEvent, type MclRun, parseConfig, RunStore, scheduleFromConfig } from "../../../ts/index.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { LOCK_FILE } from "../../../ts/sdk/run-lock.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-fail-before-create-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const runs: MclRun[] = [];
const small = "synthetic:trifeature?n=40&size=16&seed=1";

beforeEach(() => vi.stubEnv("MCL_WORKER_PLUGINS", undefined));
afterEach(() => vi.unstubAllEnvs());
afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

/** The error a start of `config` ends with: start()'s own, or its run's result(). */
async function failure(config: MclConfigInput): Promise<Error & { code: string }> {
  let run: MclRun;
  try {
    run = await Mcl.start(config, quiet);
  } catch (error) {
    return error as Error & { code: string };
  }
  runs.push(run);
  const error = await run.result().then(
    () => null,
    (e: unknown) => e as Error & { code: string },
  );
  if (error === null) throw new Error(`${config.name} finished`);
  return error;
}

/** Starts `config` and stops it once it is written (its run-start event): nothing refused the name. */
async function startsAndStops(config: MclConfigInput): Promise<void> {
  const run = await Mcl.start(config, quiet);
  runs.push(run);
  for await (const event of run.events()) if (event.type === "run-start") void run.stop();
  await expect(run.result()).rejects.toMatchObject({ code: "STOPPED" });
  expect(existsSync(join(run.dir, "manifest.json"))).toBe(true);
}

interface Case {
  readonly bad: Partial<MclConfigInput>;
  readonly fixed: Partial<MclConfigInput>;
  readonly code: string;
  readonly message: string;
}

const missingData = join(root, "missing.npz");
const missingWeights = join(root, "missing.safetensors");
const cases: Record<string, Case> = {
  "missing-dataset-file": {
    bad: { dataset: `npz:${missingData}` },
    fixed: {},
    code: "INVALID_BODY",
    message: `dataset: ${missingData} does not exist (from 'npz:${missingData}')`,
  },
  "more-clusters-than-samples": {
    bad: { dataset: small, clusters: 50, batchSize: 8 },
    fixed: { dataset: small, clusters: 4, batchSize: 8 },
    code: "DATASET_MISMATCH",
    message: `clusters: 50 clusters need at least 50 samples; ${small} has 40`,
  },
  "batch-larger-than-dataset": {
    bad: { dataset: small, batchSize: 64, sampling: { minBatchSize: 48 } },
    fixed: { dataset: small, batchSize: 8 },
    code: "DATASET_MISMATCH",
    message:
      `batchSize: a batch of 64 does not fit in the 40 samples of ${small} (sampling.smallGroups 'balanced'), ` +
      "so no epoch would train on anything; set it to at most 40, or lower sampling.minBatchSize",
  },
  "missing-pretrained": {
    bad: { init: "pretrained", pretrained: missingWeights },
    fixed: {},
    code: "FILE_UNREADABLE",
    message: `pretrained: ${missingWeights} does not exist; give the path of a weight file`,
  },
  "unknown-probe-attribute": {
    bad: { probe: { knn: 5, attributes: ["shape", "nope"] } },
    fixed: { probe: { knn: 5, attributes: ["shape"] } },
    code: "UNKNOWN_ATTRIBUTE",
    message: `probe.attributes: ${tinyConfig(root, "").dataset} has no attribute "nope"; it has shape, color, texture, background`,
  },
  "plugin-not-allowed": {
    bad: { encoder: "py:my_plugins.encoders:depthwise_cnn" },
    fixed: {},
    code: "PLUGIN_NOT_ALLOWED",
    message: "encoder: py:my_plugins.encoders:depthwise_cnn",
  },
};

describe("a new run that fails its checks", () => {
  for (const [name, { bad, fixed, code, message }] of Object.entries(cases)) {
    it(`${name}: names the field, leaves no run directory, and the fixed config starts under the same name`, { timeout: 120_000 }, async () => {
      const error = await failure(tinyConfig(root, name, bad));
      expect({ code: error.code, message: error.message }).toEqual({ code, message: expect.stringContaining(message) });
      expect(existsSync(join(root, name))).toBe(false);
      await startsAndStops(tinyConfig(root, name, fixed));
    });
  }

  it("refuses weights that are a folder or an empty file before any worker starts", async () => {
    const folder = join(root, "weights-folder");
    const empty = join(root, "empty.safetensors");
    mkdirSync(folder);
    writeFileSync(empty, "");
    const noWorker = { worker: { launch: { python: join(root, "no-such-python") } } };
    for (const [path, problem] of [
      [folder, "is not a file"],
      [empty, "is empty"],
    ] as const) {
      const config = tinyConfig(root, "weights", { init: "previous", pretrained: path });
      await expect(Mcl.start(config, noWorker)).rejects.toMatchObject({
        code: "FILE_UNREADABLE",
        message: `pretrained: ${path} ${problem}; give the path of a weight file`,
      });
      expect(existsSync(join(root, "weights"))).toBe(false);
    }
  });

  it("weights the worker cannot read fail the first epoch, and the run removes what it wrote", { timeout: 120_000 }, async () => {
    const garbage = join(root, "garbage.pt");
    writeFileSync(garbage, "not weights");
    const error = await failure(tinyConfig(root, "garbage-weights", { init: "pretrained", pretrained: garbage }));
    expect(error.message).toContain(`pretrained: cannot read pretrained weights from ${garbage}`);
    expect(existsSync(join(root, "garbage-weights"))).toBe(false);
  });
});

/** A run directory as a start writes it, with `config` (which no check has seen). */
async function storedRun(name: string, overrides: Partial<MclConfigInput>): Promise<RunStore> {
  const config = parseConfig(tinyConfig(root, name, overrides));
  const state = initialState(scheduleFromConfig(config));
  return RunStore.create(join(root, name), { config, versions: { package: "0", protocol: 1 }, state });
}

describe("a stored run", () => {
  it("whose config cannot work: the resume says which directory to remove, and keeps it", { timeout: 120_000 }, async () => {
    const store = await storedRun("stored-clusters", { dataset: small, clusters: 50, batchSize: 8 });
    const run = await Mcl.resume(store.dir, quiet);
    runs.push(run);
    await expect(run.result()).rejects.toMatchObject({
      code: "DATASET_MISMATCH",
      message:
        `clusters: 50 clusters need at least 50 samples; ${small} has 40\n` +
        `the run cannot continue with its stored config: remove ${store.dir} and start it again with the config fixed`,
    });
    expect(existsSync(join(store.dir, "manifest.json"))).toBe(true);
  });

  it("holds its name: RUN_EXISTS says to resume or remove it, and that one that never trained loses nothing", async () => {
    const store = await storedRun("killed-start", {});
    const dir = store.dir;
    const start = Mcl.start(tinyConfig(root, "killed-start"), quiet);
    await expect(start).rejects.toMatchObject({ code: "RUN_EXISTS" });
    await expect(start).rejects.toThrow(
      `${dir} already holds a run that never trained (created ${store.manifest.createdAt}, it ended before its first epoch ` +
        `was committed, so removing it loses nothing): remove ${dir} and start again, or resume it (Mcl.resume, mcl resume ${dir})`,
    );
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    await store.commit({ state: { ...store.manifest.state, epoch: 1, checkpoints: ["checkpoints/stage-1-epoch-1.safetensors", null] } });
    await expect(Mcl.start(tinyConfig(root, "killed-start"), quiet)).rejects.toThrow(
      `${dir} already holds a run: resume it (Mcl.resume, mcl resume ${dir}), or remove ${dir} to start the name again, or choose another name`,
    );
  });
});

describe("a resumed run", () => {
  it("removes the temporary files of interrupted writes, its own and the worker's, and nothing else", { timeout: 120_000 }, async () => {
    const store = await storedRun("interrupted", {});
    const dir = store.dir;
    const write = (file: string, text = "x"): void => {
      mkdirSync(join(dir, file, ".."), { recursive: true });
      writeFileSync(join(dir, file), text);
    };
    const temporary = ["manifest.json.tmp-4242-0badc0de", "stage-1/labels.i32.tmp-17-a1b2c3d4", "probes/stage-1.json.tmp-99-deadbeef"];
    for (const file of temporary) write(file);
    // A checkpoint write of the worker (mcl_worker/checkpoint.py) that was killed before its rename.
    mkdirSync(join(dir, "checkpoints"));
    const python = join(projectRoot(), ".venv", "bin", "python");
    const mkstemp = `import tempfile; print(tempfile.mkstemp(prefix=".stage-1-epoch-1.safetensors.", suffix=".tmp", dir=${JSON.stringify(join(dir, "checkpoints"))})[1])`;
    const checkpointTemp = execFileSync(python, ["-c", mkstemp], { encoding: "utf8" }).trim().slice(dir.length + 1);
    const kept = ["notes.tmp", "data.tmp-1-xyz", "checkpoints/stage-1-epoch-1.safetensors", "other/probe.json.tmp-1-deadbeef"];
    for (const file of kept) write(file, `kept ${file}`);

    const run = await Mcl.resume(dir, quiet);
    runs.push(run);
    const events: MclEvent[] = [];
    for await (const event of run.events()) {
      events.push(event);
      if (event.type === "run-start") void run.stop();
    }
    await expect(run.result()).rejects.toMatchObject({ code: "STOPPED" });
    expect(events[0]).toMatchObject({ type: "temp-files-removed", runDir: dir });
    const removed = events[0]!.type === "temp-files-removed" ? [...events[0]!.files] : [];
    expect(removed.sort()).toEqual([...temporary, checkpointTemp].sort());
    for (const file of [...temporary, checkpointTemp]) expect(existsSync(join(dir, file)), file).toBe(false);
    for (const file of kept) expect(readFileSync(join(dir, file), "utf8")).toBe(`kept ${file}`);
    expect((await RunStore.open(dir)).manifest.name).toBe("interrupted");
    expect(readdirSync(join(dir, "checkpoints"))).toEqual(["stage-1-epoch-1.safetensors"]);
  });
});
