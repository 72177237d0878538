/**
 * A scripted benchmark: MCL over a grid of K (clusters per clustering) and S (stages), one run per
 * point, every run on one worker launched here and reached by its endpoint. Each row holds the
 * integrated representation's linear-probe accuracy per attribute; S = 1 (plain contrastive
 * learning, no clustering) is one row whatever K. The rows go to <runDir>/sweep/results.json and
 * are printed as a table.
 *
 *   npm run build && node dist/examples/sweep.js --k 4,8,16 --stages 1,2,3          (an hour on a CPU)
 *   node dist/examples/sweep.js --k 2,4 --stages 1,2 --samples 256 --size 16 --epochs 1   (seconds)
 */

import { mkdir, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { type Accuracies, Mcl, launchWorker } from "../ts/index.js";
import { batchSize, datasetUri, type ExampleSettings, SETTINGS_OPTIONS, settingsFrom } from "./settings.js";

export interface SweepGrid {
  /** K of every clustering. */
  readonly ks: readonly number[];
  /** Numbers of stages S. */
  readonly stages: readonly number[];
}

/** The shared settings but the number of stages, which the grid gives. */
export type SweepSettings = Omit<ExampleSettings, "stages">;

export interface SweepRow {
  readonly stages: number;
  /** null for S = 1 (no clustering). */
  readonly k: number | null;
  readonly epochs: number;
  /** Linear-probe accuracy per attribute of the integrated representation. */
  readonly integrated: Accuracies;
  /** The same of the last stage alone. */
  readonly lastStage: Accuracies;
  readonly seconds: number;
}

export interface SweepResult {
  readonly settings: SweepSettings;
  readonly rows: readonly SweepRow[];
  /** Where the rows were written. */
  readonly file: string;
}

export async function sweep(grid: SweepGrid, sweepSettings: SweepSettings, log: (line: string) => void = console.log): Promise<SweepResult> {
  const { samples, size, epochs, runDir } = sweepSettings;
  const settings = { samples, size, epochs, runDir };
  const dir = join(settings.runDir, "sweep");
  const points = [...new Set(grid.stages)].flatMap((stages): { stages: number; k: number | null }[] =>
    stages === 1 ? [{ stages, k: null }] : grid.ks.map((k) => ({ stages, k })),
  );
  const endpoint = `ipc://${join(tmpdir(), `mcl-sweep-${process.pid}.sock`)}`;
  const worker = await launchWorker({ bind: endpoint });
  // The launched worker is keyed (a fresh key in a private file): the runs reach it with that key.
  const reach = { endpoint, connect: { keyFile: worker.keyFile } };
  const rows: SweepRow[] = [];
  try {
    for (const { stages, k } of points) {
      const run = await Mcl.start(
        {
          name: k === null ? `s${stages}` : `s${stages}-k${k}`,
          runDir: dir,
          dataset: datasetUri(settings),
          encoder: "small-cnn",
          stages,
          ...(k === null ? {} : { clusters: k }),
          epochsPerStage: settings.epochs,
          batchSize: batchSize(settings),
          baseline: false,
          probe: { knn: 0 },
        },
        { worker: reach },
      );
      try {
        const summary = await run.result();
        const row: SweepRow = {
          stages,
          k,
          epochs: stages * settings.epochs,
          integrated: summary.integrated.probe,
          lastStage: summary.stages.at(-1)!.probe,
          seconds: summary.seconds,
        };
        rows.push(row);
        log(formatRow(row));
      } finally {
        await run.stop();
      }
    }
  } finally {
    await worker.close();
  }
  const file = join(dir, "results.json");
  await mkdir(dir, { recursive: true });
  // Written whole or not at all: a temporary file, then a rename.
  await writeFile(`${file}.tmp`, `${JSON.stringify({ settings, rows }, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
  return { settings, rows, file };
}

function formatRow(row: SweepRow): string {
  const scores = Object.entries(row.integrated)
    .map(([name, accuracy]) => `${name} ${(100 * accuracy).toFixed(1)}%`)
    .join("  ");
  return `S=${row.stages} K=${row.k ?? "-"} (${row.epochs} epochs, ${row.seconds.toFixed(0)} s): ${scores}`;
}

/** `--k 4,8 --stages 1,2,3` and the shared settings (examples/settings.ts). */
export function sweepArgs(args: readonly string[]): { grid: SweepGrid; settings: SweepSettings } {
  const options = { ...SETTINGS_OPTIONS, k: { type: "string" } } as const;
  const { values } = parseArgs({ args: [...args], options, strict: true });
  // --stages is the sweep's list here, not one number
  const { samples, size, epochs, runDir } = settingsFrom({ ...values, stages: undefined });
  return {
    grid: { ks: list("--k", values.k, [4, 8, 16]), stages: list("--stages", values.stages, [1, 2, 3]) },
    settings: { samples, size, epochs, runDir },
  };
}

function list(name: string, text: string | undefined, fallback: number[]): number[] {
  if (text === undefined) return fallback;
  const values = text.split(",").map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new TypeError(`${name}: expected integers >= 1 separated by commas, got ${JSON.stringify(text)}`);
  }
  return values;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { grid, settings } = sweepArgs(process.argv.slice(2));
  await sweep(grid, settings);
}
