// Shared by the stage-scheduler tests (plain and CLIP): the event that confirms an action.
import type { Action, Event } from "../../../ts/control/stage-scheduler.js";

/** The event that confirms `action` (checkpoint names encode stage and epoch). */
export function answer(action: Action): Event {
  switch (action.kind) {
    case "train-epoch":
      return { kind: "epoch-trained", stage: action.stage, epoch: action.epoch, checkpoint: `s${action.stage}e${action.epoch}` };
    case "save-initial":
      return { kind: "initial-saved", stage: action.stage, checkpoint: `s${action.stage}init` };
    case "embed":
      return { kind: "embedded", stage: action.stage };
    case "cluster":
      return { kind: "clustered", stage: action.stage };
    case "plan":
      return { kind: "planned", stage: action.stage };
    case "train-baseline-epoch":
      return { kind: "baseline-epoch-trained", epoch: action.epoch, checkpoint: `b${action.epoch}` };
    case "done":
      throw new Error("nothing to answer");
  }
}
