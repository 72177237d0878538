// checkRunFiles, the resume's check of a run directory before anything trains: every clustering
// array is read against the checksum the manifest commits with it, so a damaged one (same size,
// other bytes) is refused naming it; intact files pass.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { driveRun, type StageExecutor } from "../../../ts/run/run-driver.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { Rng } from "../../../ts/control/rng.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { checkRunFiles } from "../../../ts/sdk/run-files.js";

const N = 200;

/** Deterministic clusterings; training writes nothing (the check reads no checkpoint). */
const executor: StageExecutor = {
  trainEpoch: async (action) => ({ checkpoint: `checkpoints/stage-${action.stage}-epoch-${action.epoch + 1}.safetensors` }),
  embed: async () => {},
  cluster: async (action) => {
    const rng = new Rng(action.stage);
    return Int32Array.from({ length: N }, () => rng.below(action.k));
  },
  trainBaselineEpoch: async (action) => ({ checkpoint: `checkpoints/baseline-epoch-${action.epoch + 1}.safetensors` }),
};

/** A finished 3-stage run (two clusterings, each with its composite arrays) in a fresh directory. */
async function finishedRun(): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-run-files-")), "run");
  const config = parseConfig({ name: "run", stages: 3, clusters: [3, 4], epochsPerStage: 1, batchSize: 20, seed: 2 });
  const store = await RunStore.create(dir, { config, versions: { package: "0.1.0", protocol: 4 }, state: initialState(scheduleFromConfig(config)) });
  await driveRun(store, executor, { numSamples: N });
  return dir;
}

describe("checkRunFiles", () => {
  test("passes an intact run", async () => {
    const dir = await finishedRun();
    await expect(checkRunFiles(await RunStore.open(dir))).resolves.toBeUndefined();
  });

  const files = ["stage-1/assignments.i32", "stage-1/labels.i32", "stage-2/parents.i32", "stage-2/sizes.i32"];
  for (const file of files) {
    test(`refuses ${file} with a flipped bit or other bytes of its size, naming it and what to do`, async () => {
      const dir = await finishedRun();
      const path = join(dir, file);
      const original = await readFile(path);
      for (const damaged of [flipLastBit(original), Buffer.alloc(original.byteLength, 0x5a)]) {
        await writeFile(path, damaged);
        const store = await RunStore.open(dir); // the size is right: open passes it
        const error = await checkRunFiles(store).then(() => undefined, (e: unknown) => e as { code: string; message: string });
        expect(error?.code).toBe("CORRUPT_FILE");
        expect(error?.message).toMatch(new RegExp(`^${file}: checksum mismatch`));
        expect(error?.message).toContain(`restore ${path} from a copy of the run, or remove ${dir} and start the run again`);
      }
      await writeFile(path, original);
      await expect(checkRunFiles(await RunStore.open(dir))).resolves.toBeUndefined();
    });
  }
});

function flipLastBit(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.byteLength - 1] = copy[copy.byteLength - 1]! ^ 0x01;
  return copy;
}
