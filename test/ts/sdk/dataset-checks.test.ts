// What only the dataset can tell (its channels here) is checked on a real worker before anything
// trains. A new run that fails leaves no run directory behind, so the same name starts again once
// the config is fixed; a stored run that fails (an earlier version did not check) says what to remove.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mcl, type MclEvent, type MclRun, parseConfig, RunStore, scheduleFromConfig } from "../../../ts/index.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-dataset-checks-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const runs: MclRun[] = [];

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

/** A 1-channel npz dataset of 16 images 16×16 with one labelled attribute. */
function grayDataset(): string {
  const npz = join(root, "gray.npz");
  const python = join(projectRoot(), ".venv", "bin", "python");
  const make = "import numpy as np; rng = np.random.default_rng(0)";
  const arrays = "images=rng.integers(0, 256, (16, 16, 16, 1), dtype=np.uint8), attr_parity=np.arange(16) % 2";
  execFileSync(python, ["-c", `${make}; np.savez(${JSON.stringify(npz)}, ${arrays})`]);
  return `npz:${npz}`;
}

const MISMATCH = "preprocess.mean: 3 values for a dataset of 1 channel; set it to 1 value";

describe("a config that does not fit its dataset", () => {
  const dataset = grayDataset();
  const config = (name: string) => tinyConfig(root, name, { dataset, clusters: 2, batchSize: 4, preprocess: { mean: [0.5, 0.5, 0.5] } });

  it("is refused before anything trains and leaves no run directory", { timeout: 120_000 }, async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      // The second start of the same name meets the same refusal, not RUN_EXISTS.
      const run = await Mcl.start(config("three-means"), quiet);
      runs.push(run);
      const events: MclEvent[] = [];
      for await (const event of run.events()) events.push(event);
      await expect(run.result()).rejects.toMatchObject({ code: "DATASET_MISMATCH", message: MISMATCH });
      expect(events.map((e) => e.type)).toEqual(["error"]);
      expect(existsSync(run.dir)).toBe(false);
    }
  });

  it("stored by an earlier version: the resume says which directory to remove, and keeps it", { timeout: 120_000 }, async () => {
    const parsed = parseConfig(config("stored"));
    const dir = join(root, "stored");
    await RunStore.create(dir, {
      config: parsed,
      versions: { package: "0", protocol: 1 },
      state: initialState(scheduleFromConfig(parsed)),
    });
    const run = await Mcl.resume(dir, quiet);
    runs.push(run);
    await expect(run.result()).rejects.toMatchObject({
      code: "DATASET_MISMATCH",
      message: `${MISMATCH}\nthe run cannot continue with its stored config: remove ${dir} and start it again with the config fixed`,
    });
    expect((await RunStore.open(dir)).manifest.stages).toEqual([]);
  });
});
