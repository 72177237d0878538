/**
 * Wire fuzzer: `npm run fuzz [-- --messages N] [--seed S] [--signed|--unsigned|--both] [--json out.json]`.
 * Sends N (default 1,000,000) mutated and random messages to real workers, half unsigned and half
 * signed by default, prints the table of replies, crashes, hangs and unanswered messages, and
 * exits 1 unless those three, and the replies the client cannot decode, are 0.
 */
import { writeFileAtomic } from "../ts/control/atomic-file.js";
import { type Sides, formatReport, runFuzz } from "./fuzz/engine.js";

class UsageError extends Error {
  override name = "UsageError";
  readonly code = "USAGE";
}

interface Args {
  messages: number;
  seed: number;
  sides: Sides;
  json?: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { messages: 1_000_000, seed: 1, sides: "both" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === "--messages") args.messages = wholeNumber(arg, value());
    else if (arg === "--seed") args.seed = wholeNumber(arg, value());
    else if (arg === "--signed" || arg === "--unsigned" || arg === "--both") args.sides = arg.slice(2) as Sides;
    else if (arg === "--json") args.json = value();
    else throw new UsageError(`unknown argument ${arg}; use --messages N, --seed S, --signed, --unsigned, --both, --json FILE`);
  }
  return args;
}

function wholeNumber(flag: string, text: string): number {
  const n = Number(text.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag}: expected a whole number >= 0, got ${text}`);
  return n;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let last = 0;
  const report = await runFuzz({
    messages: args.messages,
    seed: args.seed,
    sides: args.sides,
    onProgress: (sent) => {
      if (sent - last < 100_000) return;
      last = sent;
      process.stderr.write(`[fuzz] ${sent} messages sent\n`);
    },
  });
  console.log(formatReport(report));
  const samples = report.targets.flatMap((t) => t.samples.map((s) => ({ side: t.name, ...s })));
  if (samples.length > 0) {
    console.log("samples (first few of each kind):");
    for (const s of samples) console.log(`  [${s.side}] ${s.what}${s.frames ? `\n    frames: ${s.frames.join(" | ")}` : ""}`);
  }
  if (args.json !== undefined) await writeFileAtomic(args.json, `${JSON.stringify(report, null, 2)}\n`);
  const { crashes, hangs, unanswered } = report.totals;
  // A reply the client cannot decode leaves its request as unanswered as no reply does.
  const undecodable = report.targets.reduce((n, t) => n + t.undecodableReplies, 0);
  if (crashes + hangs + unanswered + undecodable > 0) {
    console.error(`[fuzz] FAILED: ${crashes} crashes, ${hangs} hangs, ${unanswered} unanswered, ${undecodable} undecodable replies (goal 0 each)`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof UsageError ? `fuzz: ${err.message}` : err);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
