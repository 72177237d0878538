// The notebook story (examples/notebook.ts, and examples/notebook.ipynb made from it) on tiny
// settings, run once: as Jupyter's "Run All" runs the notebook where a kernel is at hand (nbclient,
// a test oracle in the project's venv from bootstrap --oracles, drives the tslab TypeScript kernel
// that scripts/notebook-kernel.mjs installs, over the built dist/), else by importing the module
// here (its cells are top-level awaits). Either way stage 1 pauses, its clusters are shown, the
// next stages finish the run and the chart is written; on the kernel, any cell that errs fails the
// test and each cell must show its own step. In CI (CI set) a missing kernel fails the test.
import { execFile } from "node:child_process";
import { Console } from "node:console";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { afterAll, expect, it, vi } from "vitest";
import { type Summary } from "../../../ts/index.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { assertBuildCurrent } from "../support/cli-binary.js";

const execFileAsync = promisify(execFile);
const root = projectRoot();
const python = join(root, ".venv", "bin", "python");
const inCi = (process.env.CI ?? "") !== "";
/** The notebook's whole run, the kernel's start and its compile of every cell included. */
const RUN_MS = 270_000;
const TINY = { MCL_EXAMPLE_SAMPLES: "128", MCL_EXAMPLE_SIZE: "16", MCL_EXAMPLE_EPOCHS: "1", MCL_EXAMPLE_STAGES: "2" };

interface Output {
  readonly output_type: string;
  readonly name?: string;
  readonly text?: string | readonly string[];
  readonly data?: Readonly<Record<string, string | readonly string[]>>;
}
interface CodeCell {
  readonly cell_type: string;
  readonly execution_count: number | null;
  readonly outputs?: readonly Output[];
}

/** The folder holding the kernelspec, or why there is none. */
async function kernel(): Promise<{ jupyterPath: string } | { reason: string }> {
  try {
    await execFileAsync(python, ["-c", "import nbclient"], { cwd: root, timeout: 60_000, killSignal: "SIGKILL" });
  } catch {
    return { reason: `nbclient is not in ${python}: run \`node scripts/bootstrap.mjs --oracles\`` };
  }
  try {
    const { stdout } = await execFileAsync(process.execPath, [join(root, "scripts", "notebook-kernel.mjs")], { cwd: root, timeout: 180_000, killSignal: "SIGKILL" });
    return { jupyterPath: stdout.trim() };
  } catch (error) {
    return { reason: `the tslab kernel could not be installed (node scripts/notebook-kernel.mjs): ${error instanceof Error ? error.message : String(error)}` };
  }
}

const found = await kernel();
const work = mkdtempSync(join(tmpdir(), "mcl-notebook-"));
const saved = { ...process.env };
afterAll(() => {
  process.env = saved;
  vi.restoreAllMocks();
  rmSync(work, { recursive: true, force: true });
});

const text = (text: string | readonly string[] | undefined): string => (typeof text === "string" ? text : (text ?? []).join(""));

/** Runs examples/notebook.ipynb on the kernel, checks what only a kernel shows, and returns the stdout of each code cell. */
async function onKernel(jupyterPath: string): Promise<string[]> {
  assertBuildCurrent();
  const executed = join(work, "executed.ipynb");
  const env = {
    ...process.env,
    JUPYTER_PATH: jupyterPath,
    // Jupyter's own folders in the test's: nothing read from or left in the user's.
    JUPYTER_CONFIG_DIR: join(work, "config"),
    JUPYTER_DATA_DIR: join(work, "data"),
    JUPYTER_RUNTIME_DIR: join(work, "runtime"),
    ...TINY,
    MCL_EXAMPLE_RUN_DIR: work,
  };
  const script = join(root, "test", "ts", "examples", "execute_notebook.py");
  const args = [script, join(root, "examples", "notebook.ipynb"), executed, "--timeout", String(RUN_MS / 1000)];
  const started = Date.now();
  // SIGTERM at the deadline: the script then shuts the kernel (and so the worker) down.
  const outcome = await execFileAsync(python, args, { cwd: root, env, timeout: RUN_MS, killSignal: "SIGTERM" }).then(
    () => undefined,
    (error: { code?: number | string; signal?: string; stderr?: string }) => `exit ${error.code ?? error.signal}: ${error.stderr ?? ""}`,
  );
  console.log(`examples/notebook.ipynb ran on the tslab kernel in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(outcome, "a cell failed").toBeUndefined();

  const cells = (JSON.parse(readFileSync(executed, "utf8")) as { cells: CodeCell[] }).cells.filter((cell) => cell.cell_type === "code");
  expect(cells).toHaveLength(7);
  expect(cells.map((cell) => cell.execution_count)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  const outputs = cells.map((cell) => cell.outputs ?? []);
  expect(outputs.flat().filter((output) => output.output_type === "error")).toEqual([]);
  const stdout = outputs.map((cell) => cell.filter((output) => output.name === "stdout").map((output) => text(output.text)).join(""));

  // Each step in its own cell: 2. the data; 3. stage 1 alone, then the pause; 4. its clusters; 5. the rest and the probe table
  expect(stdout[1]).toContain("dataset synthetic:trifeature?n=128&size=16&seed=0: 128 images of 3x16x16");
  expect(stdout[2]).toMatch(/^ {2}stage 1 epoch 1: loss \d[\s\S]* {2}paused after stage 1\n$/);
  expect(stdout[2]).not.toContain("stage 2");
  expect(stdout[3]).toMatch(/^stage 1: k=8, cluster sizes \d+(, \d+){7}\n/);
  expect(stdout[4]).toContain("stage 2 epoch 1");
  expect(stdout[4]).toMatch(/^integrated /m);
  // 6. the chart, inline: the SVG the run wrote, as HTML output
  const svg = readFileSync(join(work, "notebook", "report-accuracy.svg"), "utf8");
  const shown = outputs[5]!.filter((output) => output.output_type === "display_data").map((output) => text(output.data?.["text/html"]));
  expect(shown).toEqual([svg]);
  return stdout;
}

/** `data` as Node's console.table prints it (vitest's console does not route it through console.log). */
function tableText(data: unknown): string {
  let out = "";
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => void ((out += chunk.toString()), done()) });
  new Console(sink).table(data);
  return out;
}

/** Imports examples/notebook.ts here and returns what its cells logged. */
async function inProcess(): Promise<string[]> {
  Object.assign(process.env, { ...TINY, MCL_EXAMPLE_RUN_DIR: work });
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(`${String(line)}\n`));
  vi.spyOn(console, "table").mockImplementation((data: unknown) => void lines.push(tableText(data)));
  await import("../../../examples/notebook.js");
  return lines;
}

it("runs every cell of the notebook in order", { timeout: RUN_MS + 30_000 }, async () => {
  if ("reason" in found && inCi) throw new Error(found.reason);
  if ("reason" in found) console.log(`examples/notebook.ipynb not run on a Jupyter kernel (${found.reason}): its module runs here instead`);
  const logged = "reason" in found ? await inProcess() : await onKernel(found.jupyterPath);
  const lines = logged.join("").split("\n");

  // 2. open the data: its size and shape, and a table of the attributes (console.table's rows)
  expect(lines[0]).toBe("dataset synthetic:trifeature?n=128&size=16&seed=0: 128 images of 3x16x16");
  const rows = lines.flatMap((line) => /^│ \d+\s+│ '(\w+)'\s+│ (\d+)\s+│$/.exec(line)?.slice(1) ?? []);
  expect(rows).toEqual(["shape", "8", "color", "8", "texture", "8", "background", "16"]);
  // 3. stage 1 alone, then the pause; 5. the rest
  const paused = lines.indexOf("  paused after stage 1");
  expect(paused).toBeGreaterThan(0);
  expect(lines.slice(0, paused).filter((line) => line.includes(" epoch "))).toEqual([expect.stringMatching(/^ {2}stage 1 epoch 1: loss \d/)]);
  expect(lines.slice(paused).some((line) => line.startsWith("  stage 2 epoch 1: loss "))).toBe(true);
  // 4. the clusters: 8 sizes summing to the dataset
  const clusters = lines.find((line) => line.startsWith("stage 1: k=8, cluster sizes "));
  const sizes = clusters!.replace("stage 1: k=8, cluster sizes ", "").split(", ").map(Number);
  expect(sizes).toHaveLength(8);
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(128);
  // 5. finished: both stages and the baseline measured, the probe table printed
  const summary = JSON.parse(readFileSync(join(work, "notebook", "summary.json"), "utf8")) as Summary;
  expect(summary.stages).toHaveLength(2);
  expect(summary.baseline?.epochs).toBe(2);
  expect(summary.resumed).toBe(true);
  expect(lines.some((line) => line.startsWith("integrated "))).toBe(true);
  // 6. the chart
  const svg = readFileSync(join(work, "notebook", "report-accuracy.svg"), "utf8");
  expect(svg.startsWith("<svg")).toBe(true);
  expect(lines).toContain(`accuracy chart: ${svg.length} bytes of SVG, also in ${join(work, "notebook", "report-accuracy.svg")}`);
  expect(existsSync(join(work, "notebook", "report.html"))).toBe(true);
});
