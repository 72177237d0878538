/**
 * The wire fuzzer: mutated and random messages to real workers, an unsigned one and one with a
 * key, side by side, every reply accounted for. `npm run fuzz` (bench/fuzz.ts) runs a million;
 * test/ts/wire/fuzz.unit.test.ts a smaller count.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deriveSeed } from "../../ts/control/rng.js";
import { projectRoot } from "../../ts/transport/index.js";
import { FuzzTarget, type TargetReport } from "./target.js";

export type Sides = "signed" | "unsigned" | "both";

export interface FuzzOptions {
  readonly messages: number;
  readonly seed: number;
  readonly sides: Sides;
  readonly window?: number;
  readonly deadlineMs?: number;
  /** The workers' --max-message-bytes: small, so that random large frames meet the limit. */
  readonly maxMessageBytes?: number;
  /** Called as messages go out (count so far, all sides). */
  readonly onProgress?: (sent: number) => void;
}

export interface FuzzTotals {
  readonly messages: number;
  readonly crashes: number;
  readonly hangs: number;
  readonly unanswered: number;
  readonly durationS: number;
  readonly messagesPerSecond: number;
}

export interface FuzzReport {
  readonly options: { messages: number; seed: number; sides: Sides; window: number; deadline_ms: number; max_message_bytes: number };
  readonly totals: FuzzTotals;
  readonly targets: readonly TargetReport[];
}

/** The key of the signed worker: fixed, for a reproducible run (this key guards nothing). */
const FUZZ_KEY = "mcl-fuzz-key: not a secret";

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const window = options.window ?? 64;
  const deadlineMs = options.deadlineMs ?? 10_000;
  const maxMessageBytes = options.maxMessageBytes ?? 256 * 1024;
  const jobs = new Set(Object.keys((JSON.parse(readFileSync(join(projectRoot(), "proto", "protocol.json"), "utf8")) as { jobs: object }).jobs));
  const dir = mkdtempSync(join(tmpdir(), "mcl-fuzz-"));
  const keyFile = join(dir, "key");
  writeFileSync(keyFile, FUZZ_KEY);
  const sides = options.sides === "both" ? (["unsigned", "signed"] as const) : [options.sides];
  const sent = new Map<string, number>();
  const start = performance.now();
  try {
    const targets = sides.map(
      (side, i) =>
        new FuzzTarget({
          name: side,
          ...(side === "signed" && { auth: { key: Buffer.from(FUZZ_KEY), file: keyFile } }),
          // The first side takes the odd message when the count does not split evenly.
          messages: Math.floor(options.messages / sides.length) + (i < options.messages % sides.length ? 1 : 0),
          seed: deriveSeed(options.seed, i),
          window,
          deadlineMs,
          maxMessageBytes,
          jobs,
        }),
    );
    const reports = await Promise.all(
      targets.map((target, i) =>
        target.run((n) => {
          sent.set(sides[i] as string, n);
          options.onProgress?.([...sent.values()].reduce((a, b) => a + b, 0));
        }),
      ),
    );
    const durationS = (performance.now() - start) / 1000;
    const total = (f: (r: TargetReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
    const messages = total((r) => r.sent);
    return {
      options: { messages: options.messages, seed: options.seed, sides: options.sides, window, deadline_ms: deadlineMs, max_message_bytes: maxMessageBytes },
      totals: {
        messages,
        crashes: total((r) => r.crashes),
        hangs: total((r) => r.hangs),
        unanswered: total((r) => r.unanswered),
        durationS,
        messagesPerSecond: messages / durationS,
      },
      targets: reports,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The report as a table for the terminal (and the README). */
export function formatReport(report: FuzzReport): string {
  const { totals, targets } = report;
  const rows: [string, ...string[]][] = [["", ...targets.map((t) => t.name), "total"]];
  const row = (name: string, f: (t: TargetReport) => number): void => {
    const values = targets.map(f);
    rows.push([name, ...values.map(String), String(values.reduce((a, b) => a + b, 0))]);
  };
  row("messages sent", (t) => t.sent);
  for (const origin of unique(targets.flatMap((t) => Object.keys(t.byOrigin)))) row(`  from ${origin}`, (t) => t.byOrigin[origin] ?? 0);
  const codes = unique(targets.flatMap((t) => Object.values(t.replies).flatMap((byCode) => Object.keys(byCode))));
  for (const code of codes) row(`replies ${code}`, (t) => sum(Object.values(t.replies).map((byCode) => byCode[code] ?? 0)));
  row("progress messages", (t) => t.progress);
  row("valid cancels (no reply owed)", (t) => t.cancels);
  for (const why of unique(targets.flatMap((t) => Object.keys(t.skipped)))) row(`not sent: ${why}`, (t) => t.skipped[why] ?? 0);
  row("marker pings sent", (t) => t.markers.sent);
  row("marker pings answered", (t) => t.markers.answered);
  row("crashes", (t) => t.crashes);
  row("hangs (no reply within deadline)", (t) => t.hangs);
  row("unanswered", (t) => t.unanswered);
  row("id disagreements with TS decoder", (t) => t.idDisagreements);
  row("code disagreements with TS decoder", (t) => sum(Object.values(t.codeDisagreements)));
  row("client sockets replaced (stalled)", (t) => t.reconnects);
  row("  messages dropped with them", (t) => t.lostInReconnects);
  row("extra replies", (t) => t.extraReplies);
  row("stray replies", (t) => t.strayReplies);
  row("undecodable replies", (t) => t.undecodableReplies);
  row("worker log errors", (t) => t.logErrors);
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join("  "));
  const perSide = targets.map((t) => {
    const byLabel = Object.entries(t.replies).map(([label, byCode]) => `    ${label}: ${Object.entries(byCode).map(([c, n]) => `${c} ${n}`).join(", ")}`);
    return [`  ${t.name} (${t.durationS.toFixed(1)} s)`, ...byLabel].join("\n");
  });
  return [
    ...lines,
    `duration ${totals.durationS.toFixed(1)} s, ${Math.round(totals.messagesPerSecond)} messages/s`,
    "replies by how the message was signed:",
    ...perSide,
  ].join("\n");
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
