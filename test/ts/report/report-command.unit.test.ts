import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test, vi } from "vitest";
import { reportCommand } from "../../../ts/cli/report-command.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { ACCURACY_SVG_FILE, REPORT_FILE } from "../../../ts/report/report.js";

afterEach(() => vi.restoreAllMocks());

function capture(stream: "log" | "error"): string[] {
  const lines: string[] = [];
  vi.spyOn(console, stream).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  return lines;
}

/** A run that has trained nothing yet, with stage 1's probe cached as a run still going has it. */
async function startedRun(): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "mcl-report-cli-")), "started");
  const config = parseConfig({ name: "started", stages: 2, clusters: 3, epochsPerStage: 1 });
  await RunStore.create(dir, { config, versions: { package: "0.1.0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
  await mkdir(join(dir, "probes"));
  await writeFile(join(dir, "probes", "stage-1.json"), JSON.stringify({ linear: { shape: 0.25 } }));
  return dir;
}

test("mcl report writes report.html and the accuracy SVG of a run still going, and says it has not finished", async () => {
  const dir = await startedRun();
  const out = capture("log");
  expect(await reportCommand.run([dir])).toBe(0);
  expect(out.join("\n")).toContain(`${dir} has not finished`);
  expect(out.join("\n")).toContain(join(dir, REPORT_FILE));
  expect(existsSync(join(dir, ACCURACY_SVG_FILE))).toBe(true);
  const html = await readFile(join(dir, REPORT_FILE), "utf8");
  expect(html).toContain("no clustering yet");
  expect(html).toContain("<td>stage 1</td><td>25.0%</td>");
});

test("mcl report --json of an unfinished run, and of a directory without a run, fail with the reason", async () => {
  const errors = capture("error");
  expect(await reportCommand.run([await startedRun(), "--json"])).toBe(1);
  const empty = await mkdtemp(join(tmpdir(), "mcl-report-cli-"));
  expect(await reportCommand.run([empty])).toBe(1);
  expect(await reportCommand.run([])).toBe(2);
  expect(errors).toEqual([
    expect.stringContaining("has no summary.json yet"),
    `mcl report: ${empty} holds no run (no manifest.json) (RUN_NOT_FOUND)`,
    "mcl report: expected one run directory, got 0 (mcl report --help shows the usage)",
  ]);
});
