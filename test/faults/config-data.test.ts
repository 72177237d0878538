// Bad configs and bad data: every top-level config field with a bad value is refused before any
// worker starts, naming the field; every dataset kind with a missing file, a wrong shape or dtype
// is refused naming the field or the file; K > N, a batch larger than the dataset and missing
// pretrained weights are refused naming the field, and leave no run directory behind; of two
// starts into one directory at once, one is RUN_LOCKED naming the holder and the other ends whole.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError, Mcl, type MclConfigInput, type MclRun } from "../../ts/index.js";
import { readSummary } from "../../ts/run/summary.js";
import { projectRoot } from "../../ts/transport/index.js";
import { assertBuildCurrent } from "../ts/support/cli-binary.js";
import { killStarted, mcl } from "./support/processes.js";
import { type SharedWorker, shareWorker } from "./support/shared-worker.js";
import { faultConfig, quietLaunch } from "./support/tiny.js";
import { expectWholeRun } from "./support/whole-run.js";

const root = mkdtempSync(join(tmpdir(), "mcl-faults-config-data-"));
const runs: MclRun[] = [];
let worker: SharedWorker;

beforeAll(async () => {
  worker = await shareWorker();
}, 120_000);

afterAll(async () => {
  killStarted();
  await Promise.all(runs.map((run) => run.stop()));
  await worker?.close();
  rmSync(root, { recursive: true, force: true });
});

// A python that does not exist: a config refused after a worker started would fail differently.
const noWorker = { worker: { launch: { python: join(root, "no-such-python") } } };

/** One bad value per top-level field, and the text its refusal must hold. */
const badFields: [string, Partial<MclConfigInput> & Record<string, unknown>, string][] = [
  ["name", { name: "../escape" }, "name: expected letters, digits"],
  ["dataset", { dataset: "not a uri" }, "dataset: expected a dataset URI"],
  ["datasetArgs", { datasetArgs: { n: 1 } }, "datasetArgs: only a plugin"],
  ["encoder", { encoder: "resnet9000" }, "encoder: expected one of"],
  ["encoderArgs", { encoderArgs: { widths: [8] } }, "encoderArgs: only a plugin"],
  ["clip", { clip: { activation: "relu" } as never }, "clip.activation"],
  ["stages", { stages: 0 }, "stages: expected an integer >= 1"],
  ["clusters", { clusters: 1 }, "clusters: expected an integer >= 2"],
  ["epochsPerStage", { epochsPerStage: [1, 2, 3] }, "epochsPerStage: expected 2 entries"],
  ["batchSize", { batchSize: 1 }, "batchSize: "],
  ["init", { init: "warm" as never }, "init: "],
  ["pretrained", { pretrained: "" }, "pretrained: "],
  ["sampling", { sampling: { policy: "random" as never } }, "sampling.policy: "],
  ["loss", { loss: { temperature: -1 } }, "loss.temperature: "],
  ["optimizer", { optimizer: { lr: 0 } }, "optimizer.lr: "],
  ["augmentation", { augmentation: { cropScale: [0.9, 0.1] } }, "augmentation.cropScale: "],
  ["preprocess", { preprocess: { mean: "grey" as never } }, "preprocess.mean: "],
  ["integration", { integration: { stages: [5] } }, "integration.stages"],
  ["seed", { seed: -1 }, "seed: "],
  ["baseline", { baseline: "yes" as never }, "baseline: "],
  ["probe", { probe: { knn: -3 } }, "probe.knn: "],
  ["runDir", { runDir: "" }, "runDir: "],
  ["a misspelt key", { stagse: 2 }, 'stagse: unknown key; did you mean "stages"?'],
];

describe("a bad config field", () => {
  for (const [field, bad, text] of badFields) {
    test(`config-data: ${field} with a bad value is refused naming it, and writes nothing`, { timeout: 30_000 }, async () => {
      const config = { ...faultConfig(root, `bad-${field.replaceAll(" ", "-")}`), ...bad };
      const error = await Mcl.start(config as MclConfigInput, noWorker).then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ code: "INVALID_CONFIG", message: expect.stringContaining(text) });
      expect(existsSync(join(root, `bad-${field.replaceAll(" ", "-")}`))).toBe(false);
    });
  }
});

/** Writes an .npz whose arrays are made by the given Python expression (numpy as np, rng). */
function npz(name: string, arrays: string): string {
  const path = join(root, `${name}.npz`);
  const python = join(projectRoot(), ".venv", "bin", "python");
  execFileSync(python, ["-c", `import numpy as np; rng = np.random.default_rng(0); np.savez(${JSON.stringify(path)}, ${arrays})`]);
  return path;
}

/** Starts `config` on the shared worker and gives the error its run ends with (it must not succeed). */
async function refusal(config: MclConfigInput, options = worker.options): Promise<{ code?: string; message?: string }> {
  let run: MclRun;
  try {
    run = await Mcl.start(config, options);
  } catch (error) {
    return error as { code?: string; message?: string };
  }
  runs.push(run);
  const error = await run.result().then(
    () => undefined,
    (e: unknown) => e as { code?: string; message?: string },
  );
  await run.stop();
  if (error === undefined) throw new Error("the run succeeded");
  return error;
}

/** A dataset that cannot be used: the error names `text`, and no run directory is left. */
async function expectDatasetRefused(name: string, dataset: string, code: string, text: string, overrides: Partial<MclConfigInput> = {}): Promise<void> {
  const error = await refusal(faultConfig(root, name, { dataset, clusters: 2, batchSize: 4, ...overrides }));
  expect(error).toMatchObject({ code, message: expect.stringContaining(text) });
  expect(existsSync(join(root, name)), `${name}'s run directory`).toBe(false);
}

describe("a dataset that cannot be used", () => {
  test("config-data: synthetic: an unknown generator names the dataset", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("synthetic-unknown", "synthetic:nosuch", "INVALID_BODY", "dataset: ");
  });

  test("config-data: synthetic: a parameter that is not a number names it", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("synthetic-param", "synthetic:trifeature?n=many", "INVALID_BODY", "n");
  });

  test("config-data: digits: a parameter out of range names it", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("digits-param", "digits:colored?repeat=-1", "INVALID_BODY", "repeat");
  });

  test("config-data: an unknown dataset scheme names the dataset", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("scheme", "csv:/data/x.csv", "INVALID_BODY", "dataset: ");
  });

  test("config-data: npz: a missing file is named", { timeout: 60_000 }, async () => {
    const path = join(root, "missing.npz");
    await expectDatasetRefused("npz-missing", `npz:${path}`, "INVALID_BODY", path);
  });

  test("config-data: npz: a file that is not an archive is named", { timeout: 60_000 }, async () => {
    const path = join(root, "garbage.npz");
    writeFileSync(path, "not a zip archive");
    await expectDatasetRefused("npz-garbage", `npz:${path}`, "INVALID_BODY", path);
  });

  test("config-data: npz: images of the wrong rank are named", { timeout: 60_000 }, async () => {
    const path = npz("rank", "images=rng.integers(0, 256, (16, 16, 16), dtype=np.uint8)");
    await expectDatasetRefused("npz-rank", `npz:${path}`, "INVALID_BODY", "images");
  });

  test("config-data: npz: images of the wrong dtype (float32) are named", { timeout: 60_000 }, async () => {
    const path = npz("dtype", "images=rng.random((16, 16, 16, 3), dtype=np.float32)");
    await expectDatasetRefused("npz-dtype", `npz:${path}`, "INVALID_BODY", "images");
  });

  test("config-data: npz: an archive without images is named", { timeout: 60_000 }, async () => {
    const path = npz("no-images", "pixels=rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)");
    await expectDatasetRefused("npz-no-images", `npz:${path}`, "INVALID_BODY", "images");
  });

  test("config-data: npz: a label array of the wrong length is named", { timeout: 60_000 }, async () => {
    const path = npz("labels", "images=rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8), attr_parity=np.arange(15) % 2");
    await expectDatasetRefused("npz-labels", `npz:${path}`, "INVALID_BODY", "attr_parity");
  });

  test("config-data: folder: a missing directory is named", { timeout: 60_000 }, async () => {
    const path = join(root, "no-such-folder");
    await expectDatasetRefused("folder-missing", `folder:${path}?size=16`, "INVALID_BODY", path);
  });

  test("config-data: folder: a directory without images is named", { timeout: 60_000 }, async () => {
    const path = join(root, "empty-folder");
    mkdirSync(path);
    writeFileSync(join(path, "readme.txt"), "no images here");
    await expectDatasetRefused("folder-empty", `folder:${path}?size=16`, "INVALID_BODY", path);
  });

  test("config-data: folder: an image that does not decode is named", { timeout: 240_000 }, async () => {
    const path = join(root, "broken-folder");
    mkdirSync(path);
    for (let i = 0; i < 8; i++) writeFileSync(join(path, `${i}.jpg`), "not a jpeg");
    const error = await refusal(faultConfig(root, "folder-broken", { dataset: `folder:${path}?size=16`, clusters: 2, batchSize: 4, probe: { knn: 0 } }));
    expect(error).toMatchObject({ message: expect.stringMatching(new RegExp(`${path}/\\d\\.jpg: cannot decode the image`)) });
  });

  test("config-data: a plugin dataset that is not allowed is refused naming the field, before any worker starts", { timeout: 60_000 }, async () => {
    const error = await refusal(faultConfig(root, "plugin", { dataset: "py:not_allowed.data:Images" }), noWorker);
    expect(error).toMatchObject({ code: "PLUGIN_NOT_ALLOWED", message: expect.stringContaining("dataset") });
    expect(existsSync(join(root, "plugin"))).toBe(false);
  });

  test("config-data: a plugin dataset a remote worker does not allow is refused by it, naming the field", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("plugin-remote", "py:not_allowed.data:Images", "INVALID_BODY", "dataset: ");
  });
});

describe("a config that does not fit its data", () => {
  test("config-data: more clusters than samples (K > N) is refused naming clusters, and no run directory is left", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("k-over-n", "synthetic:trifeature?n=32&size=16&seed=1", "DATASET_MISMATCH", "clusters", { clusters: 40 });
  });

  test("config-data: a batch larger than the dataset is refused naming batchSize, and no run directory is left", { timeout: 60_000 }, async () => {
    await expectDatasetRefused("batch-over-n", "synthetic:trifeature?n=32&size=16&seed=1", "DATASET_MISMATCH", "batchSize", { batchSize: 64 });
  });

  test("config-data: missing pretrained weights are refused naming pretrained, before a worker starts, and no run directory is left", { timeout: 60_000 }, async () => {
    const missing = join(root, "no-such-weights.safetensors");
    const config = faultConfig(root, "no-weights", { init: "pretrained", pretrained: missing });
    const error = await refusal(config, { worker: { launch: { ...quietLaunch, python: join(root, "no-such-python") } } });
    expect(error).toMatchObject({ code: "FILE_UNREADABLE", message: expect.stringContaining(`pretrained: ${missing} does not exist`) });
    expect(existsSync(join(root, "no-weights"))).toBe(false);
  });

  test("config-data: missing pretrained weights on a remote worker are refused naming pretrained, and no run directory is left", { timeout: 60_000 }, async () => {
    const missing = join(root, "no-such-weights.safetensors");
    const error = await refusal(faultConfig(root, "no-weights-remote", { init: "pretrained", pretrained: missing }));
    expect(error).toMatchObject({ message: expect.stringContaining("pretrained") });
    expect(error.message).toContain(missing);
    expect(existsSync(join(root, "no-weights-remote"))).toBe(false);
  });
});

describe("concurrent writers", () => {
  test("config-data: two Mcl.start into one directory at once: one is RUN_LOCKED naming the holder, the other ends whole", { timeout: 240_000 }, async () => {
    const config = faultConfig(root, "twice");
    const outcomes = await Promise.allSettled([Mcl.start(config, worker.options), Mcl.start(config, worker.options)]);
    const made = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    runs.push(...made);
    expect(made).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === "rejected")?.reason as { code: string; message: string };
    expect(refused).toMatchObject({ code: "RUN_LOCKED", message: expect.stringContaining(`pid ${process.pid} on host ${hostname()}`) });
    const summary = await made[0]!.result();
    await expectWholeRun(made[0]!.dir, summary);
  });

  test("config-data: two `mcl run` processes into one directory at once: one exits RUN_LOCKED naming the other's pid, the other ends whole", { timeout: 300_000 }, async () => {
    assertBuildCurrent();
    const file = join(root, "two-clis.json");
    writeFileSync(file, JSON.stringify(faultConfig(root, "two-clis")));
    const clis = [mcl("run", file), mcl("run", file)];
    const codes = (await Promise.all(clis.map((cli) => cli.exited))).map((e) => e.code);
    expect([...codes].sort()).toEqual([0, 1]);
    const loser = clis[codes.indexOf(1)]!;
    const winner = clis[codes.indexOf(0)]!;
    expect(loser.output.join("\n")).toMatch(new RegExp(`is in use by another run: pid ${winner.child.pid} on host .*\\(RUN_LOCKED\\)`));
    const dir = join(root, "two-clis");
    await expectWholeRun(dir, (await readSummary(dir))!);
  });
});
