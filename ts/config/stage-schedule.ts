/**
 * The stage schedule a config asks for: per-stage epochs and cluster counts expanded, and for a
 * CLIP run its stage 0 (the initial model) put first (control/stage-scheduler.ts, which runs it).
 */

import { validateSchedule, type StageSchedule } from "../control/stage-scheduler.js";
import { clipOptionsOf, isClipEncoder } from "./clip-config.js";
import { perStage, type MclConfig } from "./mcl-config.js";

export function scheduleFromConfig(config: MclConfig): StageSchedule {
  if (isClipEncoder(config.encoder)) return clipSchedule(config);
  const epochs = perStage(config.epochsPerStage, config.stages);
  return validateSchedule({
    stages: config.stages,
    epochs,
    clusters: perStage(config.clusters, config.stages - 1),
    init: config.init,
    pretrained: config.pretrained ?? null,
    sampling: config.sampling.policy,
    baselineEpochs: config.baseline ? epochs.reduce((a, b) => a + b, 0) : 0,
  });
}

/** A CLIP run: stage 0 (the initial model) and then `config.stages` MCL stages, each clustered but the last. */
function clipSchedule(config: MclConfig): StageSchedule {
  const clip = clipOptionsOf(config);
  const epochs = perStage(config.epochsPerStage, config.stages);
  return validateSchedule({
    stages: config.stages + 1,
    epochs: [clip.stage0Epochs, ...epochs],
    clusters: perStage(config.clusters, config.stages),
    init: clip.stageInit === "previous" ? "previous" : "pretrained",
    pretrained: clip.checkpoint ?? null,
    sampling: config.sampling.policy,
    baselineEpochs: config.baseline ? epochs.reduce((a, b) => a + b, 0) : 0,
    stageZero: true,
  });
}
