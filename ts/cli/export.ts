// `mcl export <runDir>`: writes a finished run's encoder to a file (ts/sdk/export.ts) and says what
// loads it: a stage's weights in torchvision's, timm's or open_clip's names, or our own format where
// no peer library has the architecture; the integrated encoder as one TorchScript module.
import { EXPORT_FORMATS, type ExportFormat } from "../worker/index.js";
import { allowPluginsArg } from "../plugins/plugin-consent.js";
import { exportRun, type ExportResult, type ExportedStage } from "../sdk/export.js";
import { CommandUsageError, parseArgs, reportStartFailure, workerArgs } from "./run-session.js";

export const exportCommand = {
  usage: "mcl export <runDir> [--stage N|--integrated] [--format safetensors|torchscript] [--out FILE]",
  summary:
    "write a finished run's encoder to a file: a stage's weights as torchvision / timm / open_clip load them, or the integrated" +
    " encoder as TorchScript (--allow-plugins, --endpoint, --key-file as for resume)",
  async run(args: readonly string[]): Promise<number> {
    try {
      const { positional, values, set } = parseArgs(
        "export",
        args,
        ["--stage", "--format", "--out", "--allow-plugins", "--endpoint", "--key-file"],
        ["--integrated"],
      );
      if (positional.length !== 1) throw new CommandUsageError(`export: expected one run directory, got ${positional.length}`);
      const stageText = values.get("--stage");
      if (stageText !== undefined && set.has("--integrated")) throw new CommandUsageError("export: give --stage N or --integrated, not both");
      if (stageText !== undefined && !/^\d+$/.test(stageText)) {
        throw new CommandUsageError(`export: --stage takes a stage number, as the run's summary.json numbers them; got ${JSON.stringify(stageText)}`);
      }
      const format = values.get("--format");
      if (format !== undefined && !isFormat(format)) {
        throw new CommandUsageError(`export: --format takes ${EXPORT_FORMATS.join(" or ")}, got ${JSON.stringify(format)}`);
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
      return reportStartFailure("export", error);
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
