// `mcl export <runDir>`: writes a finished run's encoder to a file (ts/sdk/export.ts) and says what
// loads it: a stage's weights in torchvision's, timm's or open_clip's names, or our own format where
// no peer library has the architecture; the integrated encoder as one TorchScript module.
import { didYouMean } from "../config/suggest.js";
import { EXPORT_FORMATS, type ExportFormat } from "../wire/index.js";
import { allowPluginsArg } from "../plugins/plugin-consent.js";
import { exportRun, type ExportResult, type ExportedStage } from "../sdk/export.js";
import { CommandUsageError, type OptionSpec, parseArgs } from "./args.js";
import { reportFailure } from "./failure.js";
import { ALLOW_PLUGINS_OPTION, WORKER_OPTIONS, workerArgs } from "./run-session.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "--stage", value: "N", help: "export stage N's encoder, numbered as the run's summary.json numbers its stages" },
  { name: "--integrated", help: "export the integrated encoder of every stage as one TorchScript module (the default)" },
  { name: "--format", value: EXPORT_FORMATS.join("|"), help: "the file's format (default: safetensors for a stage, torchscript for --integrated)" },
  { name: "--out", value: "FILE", help: "where to write it (default: <runDir>/export/stage-<N>.safetensors or integrated.pt)" },
  ALLOW_PLUGINS_OPTION,
  ...WORKER_OPTIONS,
];

export const exportCommand = {
  usage: "mcl export <runDir> [options]",
  summary:
    "write a finished run's encoder to a file: a stage's weights as torchvision / timm / open_clip load them, or the integrated" +
    " encoder as TorchScript",
  options: OPTIONS,
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, values, flags } = parseArgs(args, OPTIONS);
      if (positional.length !== 1) throw new CommandUsageError(`expected one run directory, got ${positional.length}`);
      const stageText = values.get("--stage");
      if (stageText !== undefined && flags.has("--integrated")) throw new CommandUsageError("give --stage N or --integrated, not both");
      if (stageText !== undefined && !/^\d+$/.test(stageText)) {
        throw new CommandUsageError(`--stage takes a stage number, as the run's summary.json numbers them; got ${JSON.stringify(stageText)}`);
      }
      const format = values.get("--format");
      if (format !== undefined && !isFormat(format)) {
        throw new CommandUsageError(`--format takes ${EXPORT_FORMATS.join(" or ")}, got ${JSON.stringify(format)}${didYouMean(format, EXPORT_FORMATS)}`);
      }
      const out = values.get("--out");
      const result = await exportRun(positional[0]!, {
        ...(stageText === undefined ? { integrated: true } : { stage: Number(stageText) }),
        ...(format === undefined ? {} : { format }),
        ...(out === undefined ? {} : { out }),
        worker: workerArgs(values),
        ...allowPluginsArg(values),
      });
      console.log(formatExport(result));
      return 0;
    } catch (error) {
      return reportFailure("export", error);
    }
  },
};

function isFormat(text: string): text is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(text);
}

/** What was written and what loads it, for a person. */
export function formatExport(result: ExportResult): string {
  const size = `${(result.bytes / 1e6).toFixed(1)} MB`;
  const what =
    result.kind === "stage"
      ? `stage ${result.stages[0]!.stage}`
      : `the integrated encoder of stages ${result.stages.map((s) => s.stage).join(", ")}`;
  const lines = [`wrote ${result.path} (${size}): ${what}, ${result.format === "torchscript" ? "as TorchScript" : "as safetensors"}`];
  if (result.format === "torchscript") {
    lines.push(`  module(images) -> [B, ${result.dim}]: images uint8 [B, C, H, W] (0-255) or float (0-1), transformed as the run does`);
  } else {
    for (const stage of result.stages) lines.push(`  ${describeStage(stage)}`);
  }
  lines.push(`  load (Python, path = the file): ${result.load}`);
  lines.push(`  config hash ${result.configHash}; the file's metadata says the rest (docs/usage.md, "Taking the model out")`);
  return lines.join("\n");
}

function describeStage(stage: ExportedStage): string {
  const stem = stage.stem === undefined ? "" : ` (${stage.stem} stem)`;
  const head = `stage ${stage.stage}: ${stage.architecture}${stem}`;
  if (stage.library === "mcl") return `${head} in our own format, no peer library loads it (${stage.noPeer}); mcl_worker.load_encoder reads it`;
  const absent = stage.absentKeys.length === 0 ? "" : `; ${stage.name}'s ${stage.absentKeys.join(", ")} (its classifier) are not in the file`;
  return `${head} in ${stage.library}'s names (${stage.name})${absent}`;
}
