import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { loadConfigFile, parseConfig } from "../../../ts/config/load-config.js";
import { mclConfigSchema, perStage, type MclConfigInput } from "../../../ts/config/mcl-config.js";
import { issuesOf } from "../support/config-issues.js";

describe("run config", () => {
  test("defaults are explicit and complete", () => {
    const config = parseConfig({ name: "demo" });
    expect(config).toEqual({
      name: "demo",
      dataset: "synthetic:trifeature",
      encoder: "small-cnn",
      stages: 3,
      clusters: 10,
      epochsPerStage: 20,
      batchSize: 256,
      init: "scratch",
      sampling: { policy: "mcl", smallGroups: "balanced", minBatchSize: 32 },
      loss: { name: "nt-xent", temperature: 0.2 },
      optimizer: { name: "adamw", lr: 1e-3, weightDecay: 1e-4, momentum: 0.9, warmupSteps: 0, schedule: "constant" },
      augmentation: { cropScale: [0.2, 1], flip: true, jitter: 0.4, grayscale: 0.2, blur: 0 },
      preprocess: {},
      data: { workers: "auto", prefetch: 2 },
      integration: { normalize: "concat-then-l2" },
      seed: 0,
      baseline: true,
      probe: { attributes: "all", knn: 20 },
      compute: { device: "auto", precision: "auto", compile: false, gradCheckpointing: false, channelsLast: false },
      logging: { tensorboard: true },
      runDir: "runs",
    });
  });

  test("the default sampling.minBatchSize is 32, capped at batchSize; a larger explicit one is refused", () => {
    expect(parseConfig({ name: "x", batchSize: 16 }).sampling.minBatchSize).toBe(16);
    expect(parseConfig({ name: "x", batchSize: 64, sampling: { minBatchSize: 8 } }).sampling.minBatchSize).toBe(8);
    expect(issuesOf({ name: "x", batchSize: 16, sampling: { minBatchSize: 32 } })).toEqual([
      "sampling.minBatchSize: expected at most batchSize (16), got 32",
    ]);
  });

  test("a full config round-trips", () => {
    const input: MclConfigInput = {
      name: "cc12m.vit-l",
      dataset: "folder:/data/cc12m",
      encoder: "py:my_models.vit:build",
      encoderArgs: { depth: 24, widths: [64, 128], pool: "cls", extra: null },
      stages: 4,
      clusters: [10, 12, 8],
      epochsPerStage: [20, 20, 10, 10],
      batchSize: 1000,
      init: "pretrained",
      pretrained: "openai/ViT-L-14",
      sampling: { policy: "mcl", smallGroups: "shrink", minBatchSize: 8 },
      integration: { stages: [2, 3, 4], weights: [1, 0.5, 0.5], normalize: "per-stage-l2" },
    };
    const config = parseConfig(input);
    expect(parseConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    expect(perStage(config.clusters, 3)).toEqual([10, 12, 8]);
    expect(perStage(config.epochsPerStage, 4)).toEqual([20, 20, 10, 10]);
    expect(perStage(5, 2)).toEqual([5, 5]);
  });

  test("errors are one readable line per problem", () => {
    expect(issuesOf({ name: "x", stages: 0 })).toEqual(["stages: expected an integer >= 1, got 0"]);
    expect(issuesOf({ name: "x", stages: 2.5 })).toEqual(["stages: expected an integer, got 2.5"]);
    expect(issuesOf({ name: "x", loss: { temperature: 0 } })).toEqual(["loss.temperature: expected a number > 0, got 0"]);
    expect(issuesOf({})).toEqual(["name: required, expected a string"]);
    expect(issuesOf({ name: "x", init: "fresh" })).toEqual([
      'init: expected one of "scratch", "pretrained", "previous", got "fresh"',
    ]);
    expect(issuesOf({ name: "x", clusters: [10, 1] })).toEqual(["clusters[1]: expected an integer >= 2, got 1"]);
    expect(issuesOf({ name: "x", batchSize: "256" })).toEqual(['batchSize: expected an integer, got "256"']);
    expect(issuesOf({ name: "my run" })[0]).toMatch(/^name: expected letters, digits.*got "my run"$/);
    expect(issuesOf({ name: "x", clusters: "ten" })).toEqual([
      'clusters: expected an integer >= 2 or an array of them (one per clustering, after stages 1…S-1), got "ten"',
    ]);
    expect(issuesOf({ name: "x", encoder: "resnet19" })[0]).toMatch(/^encoder: expected one of small-cnn, resnet18,.*got "resnet19"; did you mean "resnet18"\?$/);
  });

  test("unknown keys are named, with the likely intended key", () => {
    expect(issuesOf({ name: "x", stagse: 3 })).toEqual(['stagse: unknown key; did you mean "stages"?']);
    expect(issuesOf({ name: "x", sampling: { smallgroups: "drop" } })).toEqual([
      'sampling.smallgroups: unknown key; did you mean "smallGroups"?',
    ]);
    expect(issuesOf({ name: "x", zzz: 1 })[0]).toMatch(/^zzz: unknown key; expected one of name, dataset, datasetArgs, encoder, encoderArgs, /);
  });

  test("fields that depend on each other are checked together", () => {
    expect(issuesOf({ name: "x", init: "pretrained" })).toEqual([
      "pretrained: required when init is 'pretrained' (a path or model name)",
    ]);
    expect(issuesOf({ name: "x", stages: 3, clusters: [10, 10, 10] })).toEqual([
      "clusters: expected 2 entries (one per clustering, after stages 1…2), got 3",
    ]);
    expect(issuesOf({ name: "x", stages: 2, epochsPerStage: [5] })).toEqual([
      "epochsPerStage: expected 2 entries (one per stage), got 1",
    ]);
    expect(issuesOf({ name: "x", stages: 2, integration: { stages: [1, 3], weights: [1] } })).toEqual([
      "integration.stages[1]: expected a stage in [1, 2], got 3",
      "integration.weights: expected 2 entries (one per integrated stage), got 1",
    ]);
    expect(issuesOf({ name: "x", augmentation: { cropScale: [0.9, 0.5] } })).toEqual([
      "augmentation.cropScale: expected [min, max] with min <= max, got [0.9, 0.5]",
    ]);
  });

  test("every field is documented", () => {
    const undocumented: string[] = [];
    const visit = (shape: Record<string, { description?: string; _zod: { def: unknown } }>, prefix: string) => {
      for (const [key, field] of Object.entries(shape)) {
        if (field.description === undefined) undocumented.push(prefix + key);
        let def = field._zod.def as { innerType?: { _zod: { def: unknown } }; shape?: typeof shape };
        while (def.innerType !== undefined) def = def.innerType._zod.def as typeof def;
        if (def.shape !== undefined) visit(def.shape, `${prefix}${key}.`);
      }
    };
    visit(mclConfigSchema.shape as never, "");
    expect(undocumented).toEqual([]);
  });
});

describe("loadConfigFile", () => {
  test("reads a JSON file; a syntax error gives line and column", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mcl-config-"));
    const good = join(dir, "good.json");
    await writeFile(good, JSON.stringify({ name: "demo", stages: 2 }));
    expect((await loadConfigFile(good)).stages).toBe(2);

    const bad = join(dir, "bad.json");
    await writeFile(bad, '{\n  "name": "demo",\n  "stages": 3,,\n}\n');
    await expect(loadConfigFile(bad)).rejects.toThrow(/bad\.json:3:15: invalid JSON/);
    await expect(loadConfigFile(bad)).rejects.toMatchObject({ code: "CONFIG_SYNTAX" });

    const invalid = join(dir, "invalid.json");
    await writeFile(invalid, JSON.stringify({ name: "demo", stages: 0 }));
    await expect(loadConfigFile(invalid)).rejects.toThrow(/invalid .*invalid\.json:\n  stages: expected an integer >= 1, got 0/);
    await expect(loadConfigFile(join(dir, "missing.json"))).rejects.toMatchObject({ code: "CONFIG_UNREADABLE" });
  });
});
