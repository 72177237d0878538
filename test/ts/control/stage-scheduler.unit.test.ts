import fc from "fast-check";
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
import { answer } from "./scheduler-answer.js";

/** Every action until done; `persist` round-trips the state as the run store would. */
function walk(schedule: StageSchedule, persist: boolean): Action[] {
  const actions: Action[] = [];
  let state: SchedulerState = initialState(schedule);
  for (;;) {
    const action = nextAction(schedule, state);
    actions.push(action);
    if (action.kind === "done") return actions;
    state = advance(schedule, state, answer(action));
    if (persist) state = schedulerStateSchema.parse(JSON.parse(JSON.stringify(state)));
  }
}

function brief(action: Action): string {
  switch (action.kind) {
    case "train-epoch":
      return `train ${action.stage}.${action.epoch} from ${action.start.kind === "checkpoint" ? action.start.path : action.start.kind} ${action.sampling.policy === "mcl" ? `mcl@${action.sampling.labelsStage}` : "uniform"}`;
    case "cluster":
      return `cluster ${action.stage} k=${action.k}`;
    case "train-baseline-epoch":
      return `baseline ${action.epoch}/${action.epochs} from ${action.start.kind === "checkpoint" ? action.start.path : action.start.kind}`;
    case "done":
      return "done";
    default:
      return `${action.kind} ${action.stage}`;
  }
}

describe("stage scheduler", () => {
  test("walks train → embed → cluster → plan per stage, then the baseline", () => {
    const config = parseConfig({ name: "x", stages: 3, clusters: [4, 5], epochsPerStage: [2, 1, 1], init: "previous" });
    expect(walk(scheduleFromConfig(config), false).map(brief)).toEqual([
      "train 1.0 from scratch uniform",
      "train 1.1 from s1e0 uniform",
      "embed 1",
      "cluster 1 k=4",
      "plan 1",
      "train 2.0 from s1e1 mcl@1",
      "embed 2",
      "cluster 2 k=5",
      "plan 2",
      "train 3.0 from s2e0 mcl@2",
      "baseline 0/4 from scratch",
      "baseline 1/4 from b0",
      "baseline 2/4 from b1",
      "baseline 3/4 from b2",
      "done",
    ]);
  });

  test("stage initialisation: scratch, pretrained, previous", () => {
    const starts = (init: string, pretrained?: string) => {
      const config = parseConfig({ name: "x", stages: 2, epochsPerStage: 1, baseline: false, init, pretrained });
      return walk(scheduleFromConfig(config), false)
        .filter((a) => a.kind === "train-epoch")
        .map((a) => (a.kind === "train-epoch" ? JSON.stringify(a.start) : ""));
    };
    expect(starts("scratch")).toEqual(['{"kind":"scratch"}', '{"kind":"scratch"}']);
    expect(starts("pretrained", "vit")).toEqual(['{"kind":"pretrained","path":"vit"}', '{"kind":"pretrained","path":"vit"}']);
    expect(starts("previous")).toEqual(['{"kind":"scratch"}', '{"kind":"checkpoint","path":"s1e0"}']);
    expect(starts("previous", "vit")).toEqual(['{"kind":"pretrained","path":"vit"}', '{"kind":"checkpoint","path":"s1e0"}']);
  });

  test("uniform sampling and a single stage", () => {
    const uniform = scheduleFromConfig(parseConfig({ name: "x", stages: 2, epochsPerStage: 1, sampling: { policy: "uniform" }, baseline: false }));
    expect(walk(uniform, false).map(brief)).toContain("train 2.0 from scratch uniform");
    const single = scheduleFromConfig(parseConfig({ name: "x", stages: 1, epochsPerStage: 2, baseline: false }));
    expect(walk(single, false).map(brief)).toEqual(["train 1.0 from scratch uniform", "train 1.1 from s1e0 uniform", "done"]);
  });

  test("property: persisting the state after every transition changes nothing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((stages) =>
          fc.record({
            stages: fc.constant(stages),
            epochs: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: stages, maxLength: stages }),
            clusters: fc.array(fc.integer({ min: 2, max: 9 }), { minLength: stages - 1, maxLength: stages - 1 }),
            init: fc.constantFrom("scratch" as const, "pretrained" as const, "previous" as const),
            baselineEpochs: fc.integer({ min: 0, max: 3 }),
          }),
        ),
        (s) => {
          const schedule: StageSchedule = { ...s, pretrained: "w", sampling: "mcl" };
          const direct = walk(schedule, false);
          expect(walk(schedule, true)).toEqual(direct);
          const trained = direct.filter((a) => a.kind === "train-epoch").length;
          expect(trained).toBe(s.epochs.reduce((a, b) => a + b, 0));
          expect(direct.filter((a) => a.kind === "cluster").map((a) => (a.kind === "cluster" ? a.k : 0))).toEqual(s.clusters);
          expect(direct.filter((a) => a.kind === "train-baseline-epoch")).toHaveLength(s.baselineEpochs);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("an event that does not answer the pending action is refused", () => {
    const schedule = scheduleFromConfig(parseConfig({ name: "x", stages: 2, epochsPerStage: 1 }));
    const state = initialState(schedule);
    expect(() => advance(schedule, state, { kind: "embedded", stage: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_TRANSITION" }),
    );
    expect(() => advance(schedule, state, { kind: "epoch-trained", stage: 1, epoch: 3, checkpoint: "c" })).toThrow(
      /does not answer the pending action/,
    );
    const done: SchedulerState = { ...state, stage: 2, phase: "done" };
    expect(() => advance(schedule, done, { kind: "planned", stage: 2 })).toThrow(/pending action \{"kind":"done"\}/);
  });
});
