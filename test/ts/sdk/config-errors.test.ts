// A bad config is refused before any worker starts (no worker options are even looked at),
// with the field named.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, Mcl, parseConfig, RunStore, scheduleFromConfig } from "../../../ts/index.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-config-"));
// A python that does not exist: launching it would fail with WORKER_START_FAILED, not a config error.
const noWorker = { worker: { launch: { python: join(root, "no-such-python") } } };

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function refusal(config: unknown): Promise<Error & { code: string }> {
  const error = await Mcl.start(config as Parameters<typeof Mcl.start>[0], noWorker).then(
    () => undefined,
    (e: unknown) => e as Error & { code: string },
  );
  if (error === undefined) throw new Error("the config was accepted");
  return error;
}

describe("Mcl.start with a bad config", () => {
  it("names the field and writes nothing", async () => {
    const error = await refusal(tinyConfig(root, "bad", { stages: 0 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe("INVALID_CONFIG");
    expect(error.message).toContain("stages: expected an integer >= 1, got 0");
    expect(existsSync(join(root, "bad"))).toBe(false);
  });

  it("names a misspelt key", async () => {
    const error = await refusal({ ...tinyConfig(root, "typo"), epochsPerStag: 2 });
    expect(error.message).toContain('epochsPerStag: unknown key; did you mean "epochsPerStage"?');
  });

  it("refuses supcon without the attribute that gives its labels", async () => {
    const error = await refusal(tinyConfig(root, "supcon", { loss: { name: "supcon" } }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe("INVALID_CONFIG");
    expect(error.message).toContain("loss.attribute: supcon needs the dataset's labelled attribute");
    expect(existsSync(join(root, "supcon"))).toBe(false);
  });

  it("refuses to start over an existing run, and to resume where there is none", async () => {
    // A start whose worker cannot start has written nothing: the name is still free.
    const first = await Mcl.start(tinyConfig(root, "taken"), noWorker);
    await expect(first.result()).rejects.toMatchObject({ code: "WORKER_START_FAILED" });
    expect(existsSync(join(root, "taken"))).toBe(false);
    const config = parseConfig(tinyConfig(root, "taken"));
    const state = initialState(scheduleFromConfig(config));
    await RunStore.create(join(root, "taken"), { config, versions: { package: "0", protocol: 1 }, state });
    await expect(Mcl.start(tinyConfig(root, "taken"), noWorker)).rejects.toMatchObject({ code: "RUN_EXISTS" });
    await expect(Mcl.resume(join(root, "nothing-here"), noWorker)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });
});
