// The wire fuzzer (bench/fuzz, `npm run fuzz`) at a small count against real workers, an
// unsigned one and one with a key: every mutated, random or golden-invalid message gets exactly
// one final reply, the workers neither crash nor hang, and what must be refused for its
// signature is.
import { beforeAll, describe, expect, test } from "vitest";
import { type FuzzReport, runFuzz } from "../../../bench/fuzz/engine.js";
import type { TargetReport } from "../../../bench/fuzz/target.js";

const MESSAGES = 20_000;
let report: FuzzReport;

function side(name: "signed" | "unsigned"): TargetReport {
  const found = report.targets.find((t) => t.name === name);
  if (found === undefined) throw new Error(`no ${name} side in the report`);
  return found;
}

/** Replies to the messages labelled `label` (how they were signed), by code. */
function repliesOf(target: TargetReport, label: string): Record<string, number> {
  return target.replies[label] ?? {};
}

describe("wire fuzzer", () => {
  beforeAll(async () => {
    report = await runFuzz({ messages: MESSAGES, seed: 7, sides: "both" });
  }, 120_000);

  test("every message is answered once: no crash, no hang, nothing unanswered or answered twice", () => {
    expect(report.totals).toMatchObject({ messages: MESSAGES, crashes: 0, hangs: 0, unanswered: 0 });
    for (const target of report.targets) {
      expect(target, target.name).toMatchObject({ extraReplies: 0, strayReplies: 0, undecodableReplies: 0, decoderThrew: 0, lateReplies: 0 });
      expect(target.markers.answered, `${target.name}: marker pings answered`).toBe(target.sent);
      const answered = Object.values(target.replies).flatMap((byCode) => Object.values(byCode)).reduce((a, b) => a + b, 0);
      // Each message: one final reply, or none for a cancel the worker took as valid.
      expect(answered + target.cancels, target.name).toBeGreaterThanOrEqual(target.sent);
      expect(answered, target.name).toBeLessThanOrEqual(target.sent);
    }
  });

  test("the messages reach every refusal of the decoder, and some run", () => {
    const codes = new Set(report.targets.flatMap((t) => Object.values(t.replies).flatMap((byCode) => Object.keys(byCode))));
    for (const code of ["MALFORMED", "TENSOR_MISMATCH", "UNSUPPORTED_VERSION", "UNKNOWN_JOB", "INVALID_BODY", "MESSAGE_TOO_LARGE", "AUTH_FAILED", "result", "heartbeat"]) {
      expect(codes, code).toContain(code);
    }
    for (const target of report.targets) {
      expect(Object.keys(target.byOrigin).sort(), target.name).toEqual(["corpus", "golden", "msgpack", "mutated", "random"]);
    }
  });

  test("replays of accepted messages are refused AUTH_FAILED", () => {
    const replays = repliesOf(side("signed"), "replay");
    expect(replays.AUTH_FAILED ?? 0).toBeGreaterThan(50);
    expect(Object.keys(replays)).toEqual(["AUTH_FAILED"]);
  });

  test("unsigned messages and those signed with another key are refused AUTH_FAILED (or, first, for their size)", () => {
    for (const label of ["unsigned", "wrong key"]) {
      const replies = repliesOf(side("signed"), label);
      expect(replies.AUTH_FAILED ?? 0, label).toBeGreaterThan(50);
      expect(Object.keys(replies).filter((code) => code !== "AUTH_FAILED" && code !== "MESSAGE_TOO_LARGE"), label).toEqual([]);
    }
  });

  test("signed messages reach the decoder behind the signature check", () => {
    const signed = repliesOf(side("signed"), "signed");
    expect(signed.MALFORMED ?? 0).toBeGreaterThan(1000);
    expect(signed.result ?? 0).toBeGreaterThan(100);
    expect(signed.AUTH_FAILED ?? 0).toBe(0);
  });
});
