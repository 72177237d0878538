// A CLIP run's config: defaults, the paper's setting (examples/configs) parses, and every field
// that makes no sense with (or without) a CLIP encoder is refused with its path named.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../ts/config/config-error.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { scheduleFromConfig } from "../../../ts/control/stage-scheduler.js";
import { projectRoot } from "../../../ts/transport/index.js";

function issuesOf(value: unknown): readonly string[] {
  try {
    parseConfig(value);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error("expected the config to be refused");
}

const clip = (overrides: Record<string, unknown> = {}) => ({ name: "c", encoder: "clip-tiny", ...overrides });

describe("CLIP run config", () => {
  test("a CLIP encoder takes the clip section's defaults", () => {
    const config = parseConfig(clip({ clip: {} }));
    expect(config.clip).toEqual({
      tokenizer: { kind: "words" },
      lockText: false,
      loss: { name: "clip" },
      stage0Epochs: 0,
      stageInit: "initial",
      evaluation: { mmvpPairsPerCategory: 100 },
    });
    expect(parseConfig(clip()).clip).toBeUndefined(); // left out: the same defaults apply
  });

  test("the paper's setting parses and schedules stage 0 plus 3 MCL stages", () => {
    const file = join(projectRoot(), "examples", "configs", "clip-vit-l14-cc12m.json");
    const config = parseConfig(JSON.parse(readFileSync(file, "utf8")));
    expect(config.encoder).toBe("clip-vit-l-14");
    expect(config.clip).toMatchObject({ lockText: true, imageUnlockedBlocks: 6, tokenizer: { kind: "bpe" } });
    expect(config.batchSize).toBe(8000);
    const schedule = scheduleFromConfig(config);
    expect(schedule).toMatchObject({ stages: 4, epochs: [0, 20, 20, 20], clusters: [10, 10, 10], stageZero: true });
    expect(schedule.pretrained).toBe("/models/openai/ViT-L-14.pt");
  });

  test("a CLIP run clusters after stage 0 too: clusters takes `stages` entries", () => {
    expect(scheduleFromConfig(parseConfig(clip({ stages: 2, clusters: [3, 4] }))).clusters).toEqual([3, 4]);
    expect(issuesOf(clip({ stages: 2, clusters: [3] }))).toContain(
      "clusters: expected 2 entries (one per clustering, after stages 0…1), got 1",
    );
  });

  test.each([
    [clip({ clip: { lockTxt: true } }), "clip.lockTxt: unknown key"],
    [clip({ clip: { tokenizer: { kind: "bpe" } } }), "clip.tokenizer.vocab"],
    [clip({ clip: { imageUnlockedBlocks: -1 } }), "clip.imageUnlockedBlocks"],
    [clip({ clip: { loss: { name: "infonce" } } }), "clip.loss.name"],
    [clip({ clip: { stage0Epochs: 1.5 } }), "clip.stage0Epochs"],
    [clip({ clip: { loss: { name: "clip", temperature: 0.005 } } }), "clip.loss.temperature"],
    [clip({ clip: { evaluation: { zeroShotTemplate: "a photo" } } }), "clip.evaluation.zeroShotTemplate: expected a template with {}"],
    [clip({ clip: { loss: { name: "clip", graph: "labels" } } }), "clip.loss.graph: only the xsample loss takes it"],
    [clip({ clip: { loss: { name: "xsample", graph: "labels" } } }), "clip.loss.attribute: the 'labels' graph needs the attribute"],
    [clip({ clip: { checkpoint: "w.pt" } }), "clip.tokenizer: pretrained text towers were trained with OpenAI's BPE"],
    [clip({ pretrained: "w.pt" }), "pretrained: a CLIP run loads its initial weights from clip.checkpoint"],
    [clip({ init: "previous" }), "init: a CLIP run starts every stage from stage 0's weights"],
    [clip({ loss: { name: "dcl" } }), "loss: a CLIP run takes its loss from clip.loss"],
    [clip({ integration: { stages: [1] } }), "integration.stages: a CLIP run integrates every stage"],
    [clip({ stages: 2, integration: { weights: [1, 1] } }), "integration.weights: expected 3 entries"],
    [{ name: "u", encoder: "small-cnn", clip: {} }, "clip: only a CLIP encoder"],
    [{ name: "u", encoder: "clip-vit-h-14" }, "encoder: expected one of small-cnn"],
  ])("refuses %j naming the field", (config, message) => {
    expect(issuesOf(config).some((issue) => issue.includes(message))).toBe(true);
  });
});
