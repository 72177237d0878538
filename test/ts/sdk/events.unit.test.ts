// The event log (every iterator sees the whole session, however late it starts) and the CLI's
// rendering of events on a TTY and in CI.
import { describe, expect, it } from "vitest";
import { ProgressPrinter } from "../../../ts/cli/progress.js";
import { EventLog, type MclEvent } from "../../../ts/sdk/events.js";

const stageStart: MclEvent = { type: "stage-start", stage: 1, epochs: 2, fromEpoch: 0 };
const progress: MclEvent = { type: "train-progress", stage: 1, epoch: 0, step: 3, steps: 6, loss: 2.5, lr: 1e-3, samplesPerSec: 410 };
const epoch: MclEvent = { type: "epoch", stage: 1, epoch: 0, epochs: 2, loss: 2.25, samplesPerSec: 400, seconds: 3.5, samples: 1024, leftOut: 0, leftOutFraction: 0 };

async function collect(iterable: AsyncIterable<MclEvent>): Promise<MclEvent[]> {
  const out: MclEvent[] = [];
  for await (const event of iterable) out.push(event);
  return out;
}

describe("EventLog", () => {
  it("replays everything to an iterator that starts late, and follows new events", async () => {
    const log = new EventLog();
    log.push(stageStart);
    const early = collect(log.iterate());
    log.push(progress);
    await new Promise((resolve) => setImmediate(resolve));
    const late = collect(log.iterate());
    log.push(epoch);
    log.close();
    log.push({ type: "stage-end", stage: 1 }); // after close: dropped
    expect(await early).toEqual([stageStart, progress, epoch]);
    expect(await late).toEqual([stageStart, progress, epoch]);
    expect(await collect(log.iterate())).toEqual([stageStart, progress, epoch]);
  });
});

function output(isTTY: boolean): { write(text: string): boolean; isTTY: boolean; columns: number; text: string } {
  return {
    isTTY,
    columns: 120,
    text: "",
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

describe("ProgressPrinter", () => {
  it("prints plain lines without progress bars when not on a TTY", () => {
    const out = output(false);
    const printer = new ProgressPrinter(out);
    for (const event of [stageStart, progress, epoch]) printer.show(event);
    printer.finish();
    expect(out.text).toBe("stage 1: 2 epochs\nstage 1 epoch 1/2: loss 2.250, 400 samples/s, 3.5 s\n");
  });

  it("draws a progress bar on a TTY and clears it before lasting lines", () => {
    const out = output(true);
    const printer = new ProgressPrinter(out);
    printer.show(progress);
    expect(out.text).toContain("[############------------] 3/6 loss 2.500 lr 1.00e-3 410 samples/s");
    printer.show(epoch);
    expect(out.text).toContain("\r\x1b[2Kstage 1 epoch 1/2: loss 2.250");
    printer.finish();
    expect(out.text.endsWith("\r\x1b[2K")).toBe(true);
  });
});
