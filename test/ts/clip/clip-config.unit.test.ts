// A CLIP run's config: defaults, the paper's setting (examples/configs) parses, integration.stages
// numbers the stages from 0, and every field
// that makes no sense with (or without) a CLIP encoder is refused with its path named; runs stored
// with the retired clip.imageUnlockedBlocks read as open_clip's lock groups.
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { MANIFEST_FILE, type RunManifest, RunStore } from "../../../ts/run/run-store.js";
import { planExport } from "../../../ts/sdk/export-plan.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { issuesOf } from "../support/config-issues.js";

const clip = (overrides: Record<string, unknown> = {}) => ({ name: "c", encoder: "clip-tiny", ...overrides });

describe("CLIP run config", () => {
  test("a CLIP encoder takes the clip section's defaults", () => {
    const config = parseConfig(clip({ clip: {} }));
    expect(config.clip).toEqual({
      tokenizer: { kind: "words" },
      lockImage: false,
      lockText: false,
      loss: { name: "clip" },
      stage0Epochs: 0,
      stageInit: "initial",
      evaluation: { mmvpPairsPerCategory: 100 },
    });
    expect(parseConfig(clip()).clip).toBeUndefined(); // left out: the same defaults apply
  });

  test("xsample takes the tokens or the labels graph, and leaves it to the worker's default (tokens) when left out", () => {
    for (const loss of [{ name: "xsample" }, { name: "xsample", graph: "tokens" }, { name: "xsample", graph: "labels", attribute: "shape" }]) {
      expect(parseConfig(clip({ clip: { loss } })).clip?.loss).toEqual(loss);
    }
  });

  test("the paper's setting parses and schedules stage 0 plus 3 MCL stages", () => {
    const file = join(projectRoot(), "examples", "configs", "clip-vit-l14-cc12m.json");
    const config = parseConfig(JSON.parse(readFileSync(file, "utf8")));
    expect(config.encoder).toBe("clip-vit-l-14");
    // open_clip's --lock-image --lock-image-unlocked-groups 6 --lock-text, on OpenAI's QuickGELU weights.
    expect(config.clip).toMatchObject({
      activation: "quick_gelu",
      lockImage: true,
      lockImageUnlockedGroups: 6,
      lockText: true,
      tokenizer: { kind: "bpe" },
    });
    expect(config.batchSize).toBe(8000);
    const schedule = scheduleFromConfig(config);
    expect(schedule).toMatchObject({ stages: 4, epochs: [0, 20, 20, 20], clusters: [10, 10, 10], stageZero: true });
    expect(schedule.pretrained).toBe("/models/openai/ViT-L-14.pt");
  });

  test("a fixed temperature is taken as it is, below 1/100 too; a ResNet may be locked whole", () => {
    expect(parseConfig(clip({ clip: { loss: { name: "clip", temperature: 0.005 } } })).clip?.loss.temperature).toBe(0.005);
    const resnet = parseConfig(clip({ encoder: "clip-rn50", clip: { activation: "gelu", lockImage: true, lockImageUnlockedGroups: 0 } }));
    expect(resnet.clip).toMatchObject({ activation: "gelu", lockImage: true, lockImageUnlockedGroups: 0 });
  });

  test("0 unlocked groups without lockImage is accepted, as open_clip ignores it; more is refused", () => {
    expect(parseConfig(clip({ clip: { lockImageUnlockedGroups: 0 } })).clip).toMatchObject({ lockImage: false, lockImageUnlockedGroups: 0 });
    expect(issuesOf(clip({ clip: { lockImageUnlockedGroups: 1 } }))).toEqual([
      "clip.lockImageUnlockedGroups: only applies to a locked image tower: set clip.lockImage to true, or remove it",
    ]);
  });

  test("the retired imageUnlockedBlocks names the fields that replaced it", () => {
    expect(issuesOf(clip({ clip: { imageUnlockedBlocks: 6 } }))).toEqual([
      "clip.imageUnlockedBlocks: replaced by clip.lockImage and clip.lockImageUnlockedGroups (open_clip's groups): for a ViT" +
        " encoder, N unlocked blocks are lockImage true with lockImageUnlockedGroups N + 1 (N = 0: 0); the clip-rn50 tower" +
        " locks only whole (lockImage true) or trains whole (false)",
    ]);
  });

  test("a CLIP run clusters after stage 0 too: clusters takes `stages` entries", () => {
    expect(scheduleFromConfig(parseConfig(clip({ stages: 2, clusters: [3, 4] }))).clusters).toEqual([3, 4]);
    expect(issuesOf(clip({ stages: 2, clusters: [3] }))).toContain(
      "clusters: expected 2 entries (one per clustering, after stages 0…1), got 1",
    );
  });

  test("integration.stages picks stages by number, stage 0 included, for the run and its export", () => {
    const config = parseConfig(clip({ stages: 2, clusters: [3, 4], integration: { stages: [0, 2], weights: [1, 0.5] } }));
    const manifest = { config, state: { ...initialState(scheduleFromConfig(config)), phase: "done", checkpoints: ["s0", "s1", "s2"] } };
    const plan = planExport("/run", manifest as unknown as RunManifest, {});
    expect(plan.stages).toEqual([
      { index: 1, stage: 0, checkpoint: "s0" },
      { index: 3, stage: 2, checkpoint: "s2" },
    ]);
    expect(plan.weights).toEqual([1, 0.5]);
  });

  test.each([
    [clip({ clip: { lockTxt: true } }), "clip.lockTxt: unknown key"],
    [clip({ clip: { tokenizer: { kind: "bpe" } } }), "clip.tokenizer.vocab"],
    [clip({ clip: { lockImage: true, lockImageUnlockedGroups: -1 } }), "clip.lockImageUnlockedGroups"],
    [clip({ clip: { lockImageUnlockedGroups: 2 } }), "clip.lockImageUnlockedGroups: only applies to a locked image tower"],
    [clip({ encoder: "clip-rn50", clip: { lockImage: true, lockImageUnlockedGroups: 1 } }), "clip.lockImageUnlockedGroups: the clip-rn50 image tower"],
    [clip({ clip: { activation: "relu" } }), "clip.activation"],
    [clip({ clip: { loss: { name: "clip", temperature: 0 } } }), "clip.loss.temperature"],
    [clip({ clip: { loss: { name: "infonce" } } }), "clip.loss.name"],
    [clip({ clip: { stage0Epochs: 1.5 } }), "clip.stage0Epochs"],
    [clip({ clip: { evaluation: { zeroShotTemplate: "a photo" } } }), "clip.evaluation.zeroShotTemplate: expected a template with {}"],
    [clip({ clip: { loss: { name: "clip", graph: "labels" } } }), "clip.loss.graph: only the xsample loss takes it"],
    [clip({ clip: { loss: { name: "xsample", graph: "labels" } } }), "clip.loss.attribute: the 'labels' graph needs the attribute"],
    [clip({ clip: { loss: { name: "xsample", graph: "captions" } } }), 'clip.loss.graph: expected one of "tokens", "labels", got "captions"'],
    [clip({ clip: { loss: { name: "xsample", graph: "tokens", attribute: "shape" } } }), "clip.loss.attribute: only the 'labels' graph takes an attribute"],
    [clip({ clip: { checkpoint: "w.pt" } }), "clip.tokenizer: pretrained text towers were trained with OpenAI's BPE"],
    [clip({ pretrained: "w.pt" }), "pretrained: a CLIP run loads its initial weights from clip.checkpoint"],
    [clip({ init: "previous" }), "init: a CLIP run starts every stage from stage 0's weights"],
    [clip({ loss: { name: "dcl" } }), "loss: a CLIP run takes its loss from clip.loss"],
    [clip({ stages: 2, integration: { stages: [0, 3] } }), "integration.stages[1]: expected a stage in [0, 2], got 3"],
    [clip({ stages: 2, integration: { weights: [1, 1] } }), "integration.weights: expected 3 entries"],
    [{ name: "u", encoder: "small-cnn", clip: {} }, "clip: only a CLIP encoder"],
    [{ name: "u", encoder: "clip-vit-h-14" }, "encoder: expected one of small-cnn"],
  ])("refuses %j naming the field", (config, message) => {
    expect(issuesOf(config).some((issue) => issue.includes(message))).toBe(true);
  });
});

describe("a run stored with the retired clip.imageUnlockedBlocks", () => {
  /** A run directory whose manifest's config locks the image tower as earlier versions wrote it. */
  async function oldRun(encoder: string, blocks: number): Promise<string> {
    const config = parseConfig(clip({ encoder, stages: 1, clip: {} }));
    const dir = await mkdtemp(join(tmpdir(), "mcl-old-clip-run-"));
    await RunStore.create(dir, { config, versions: { package: "0", protocol: 2 }, state: initialState(scheduleFromConfig(config)) });
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as { config: { clip: Record<string, unknown> } };
    const { lockImage: _lockImage, ...rest } = manifest.config.clip;
    manifest.config.clip = { ...rest, imageUnlockedBlocks: blocks };
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    return dir;
  }

  // A ViT's groups, last first: the projection, the last block with ln_post, each earlier block.
  test.each([
    ["clip-vit-b-32", 0, 0],
    ["clip-vit-b-32", 1, 2],
    ["clip-vit-l-14", 5, 6],
    ["clip-tiny", 2, 3],
    ["clip-rn50", 0, 0],
  ])("%s with %i unlocked blocks resumes as lockImage with %i groups", async (encoder, blocks, groups) => {
    const dir = await oldRun(encoder, blocks);
    const { config } = (await RunStore.open(dir)).manifest;
    expect(config.clip).toMatchObject({ lockImage: true, lockImageUnlockedGroups: groups });
    expect(config.clip).not.toHaveProperty("imageUnlockedBlocks");
    // The same run named with the current fields (`mcl run` of the updated config) is the stored one.
    const today = parseConfig(clip({ encoder, stages: 1, clip: { lockImage: true, lockImageUnlockedGroups: groups } }));
    await expect(RunStore.open(dir, { config: today })).resolves.toBeInstanceOf(RunStore);
  });

  test("clip-rn50 with unlocked blocks has no equivalent and says so", async () => {
    const dir = await oldRun("clip-rn50", 2);
    await expect(RunStore.open(dir)).rejects.toMatchObject({
      code: "RUN_INCOMPATIBLE",
      message:
        `${join(dir, MANIFEST_FILE)}: config.clip.imageUnlockedBlocks 2 trained the last 2 bottleneck blocks of the clip-rn50 image` +
        " tower, which has no equivalent now (its tower locks only whole: clip.lockImage); this run cannot be resumed: start a new" +
        " one with clip.lockImage true (the tower frozen) or false (all of it trains)",
    });
  });
});
