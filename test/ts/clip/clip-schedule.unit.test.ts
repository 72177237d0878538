// The stage scheduler on a CLIP run (stageZero): stage 0 is the initial model, saved as it is when
// it trains 0 epochs, clustered like any stage; every later stage and the baseline start from its
// weights (or the previous stage's); a run stopped anywhere resumes from the persisted state.
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import {
  advance,
  initialState,
  nextAction,
  schedulerStateSchema,
  type Action,
  type SchedulerState,
  type StageSchedule,
} from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { answer } from "../control/scheduler-answer.js";
import { SchedulerError } from "../../../ts/control/errors.js";

const from = (start: { kind: string; path?: string }) => (start.kind === "scratch" ? "scratch" : `${start.kind}:${start.path}`);

function brief(action: Action): string {
  switch (action.kind) {
    case "save-initial":
      return `save-initial ${action.stage} from ${from(action.start)}`;
    case "train-epoch":
      return `train ${action.stage}.${action.epoch} from ${from(action.start)} ${action.sampling.policy === "mcl" ? `mcl@${action.sampling.labelsStage}` : "uniform"}`;
    case "train-baseline-epoch":
      return `baseline ${action.epoch}/${action.epochs} from ${from(action.start)}`;
    case "cluster":
      return `cluster ${action.stage} k=${action.k}`;
    case "done":
      return "done";
    default:
      return `${action.kind} ${action.stage}`;
  }
}

/** Every action until done, the state round-tripped through JSON as the run store persists it. */
function walk(schedule: StageSchedule, start: SchedulerState = initialState(schedule)): string[] {
  const actions: string[] = [];
  let state = start;
  for (;;) {
    const action = nextAction(schedule, state);
    actions.push(brief(action));
    if (action.kind === "done") return actions;
    state = schedulerStateSchema.parse(JSON.parse(JSON.stringify(advance(schedule, state, answer(action)))));
  }
}

const clipSchedule = (overrides: Record<string, unknown>, clip: Record<string, unknown> = {}) =>
  scheduleFromConfig(parseConfig({ name: "c", encoder: "clip-tiny", stages: 2, clusters: [3, 4], epochsPerStage: 1, clip, ...overrides }));

describe("stage 0 of a CLIP run", () => {
  test("the pretrained model as it is: saved, clustered, and the start of every later stage and the baseline", () => {
    const schedule = clipSchedule({ epochsPerStage: [1, 2] }, { checkpoint: "w.pt", tokenizer: { kind: "bpe", vocab: "v" } });
    expect(walk(schedule)).toEqual([
      "save-initial 1 from pretrained:w.pt",
      "embed 1",
      "cluster 1 k=3",
      "plan 1",
      "train 2.0 from checkpoint:s1init mcl@1",
      "embed 2",
      "cluster 2 k=4",
      "plan 2",
      "train 3.0 from checkpoint:s1init mcl@2",
      "train 3.1 from checkpoint:s3e0 mcl@2",
      "baseline 0/3 from checkpoint:s1init",
      "baseline 1/3 from checkpoint:b0",
      "baseline 2/3 from checkpoint:b1",
      "done",
    ]);
  });

  test("trained from random weights when stage0Epochs > 0; stageInit 'previous' chains the stages", () => {
    const schedule = clipSchedule({ baseline: false }, { stage0Epochs: 2, stageInit: "previous" });
    expect(walk(schedule)).toEqual([
      "train 1.0 from scratch uniform",
      "train 1.1 from checkpoint:s1e0 uniform",
      "embed 1",
      "cluster 1 k=3",
      "plan 1",
      "train 2.0 from checkpoint:s1e1 mcl@1",
      "embed 2",
      "cluster 2 k=4",
      "plan 2",
      "train 3.0 from checkpoint:s2e0 mcl@2",
      "done",
    ]);
  });

  test("a run stopped after any commit resumes with the remaining actions", () => {
    const schedule = clipSchedule({});
    const all = walk(schedule);
    let state = initialState(schedule);
    for (let done = 0; done < all.length - 1; done++) {
      expect(walk(schedule, state)).toEqual(all.slice(done));
      state = schedulerStateSchema.parse(JSON.parse(JSON.stringify(advance(schedule, state, answer(nextAction(schedule, state))))));
    }
  });

  test("save-initial is answered only by initial-saved for its stage", () => {
    const schedule = clipSchedule({});
    const state = initialState(schedule);
    expect(() => advance(schedule, state, { kind: "epoch-trained", stage: 1, epoch: 0, checkpoint: "x" })).toThrow(SchedulerError);
    expect(() => advance(schedule, state, { kind: "initial-saved", stage: 2, checkpoint: "x" })).toThrow(SchedulerError);
  });

  test("only stage 0 of a stageZero schedule may train 0 epochs", () => {
    expect(() => scheduleFromConfig({ ...parseConfig({ name: "u" }), epochsPerStage: [0, 1, 1] })).toThrow(/epochs\[0\] must be an integer >= 1/);
    expect(() => scheduleFromConfig({ ...parseConfig({ name: "c", encoder: "clip-tiny", stages: 2 }), epochsPerStage: [0, 1] })).toThrow(
      /epochs\[1\] must be an integer >= 1/,
    );
  });
});
