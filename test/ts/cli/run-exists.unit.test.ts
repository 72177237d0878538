// `mcl run` of a name whose directory holds a run: refused before any worker starts, exit 2, with
// the commands that resume it, remove it or take another name; and where a run's report is.
import { mkdtemp, writeFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { runCommand } from "../../../ts/cli/run-command.js";
import { reportLocation } from "../../../ts/cli/run-session.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { RunStore } from "../../../ts/run/run-store.js";

afterEach(() => vi.restoreAllMocks());

/** A run directory as a start killed before its first commit leaves it. */
async function storedRun(runDir: string, name: string): Promise<RunStore> {
  const config = parseConfig({ name, runDir, stages: 2, clusters: 3, epochsPerStage: 1 });
  return RunStore.create(join(runDir, name), { config, versions: { package: "0.1.0", protocol: 1 }, state: initialState(scheduleFromConfig(config)) });
}

async function runCli(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  vi.spyOn(console, "error").mockImplementation((text: unknown) => void err.push(String(text)));
  const code = await runCommand.run(args);
  return { code, err: err.join("\n") };
}

describe("mcl run of a taken name", () => {
  test("that never trained: exit 2, says so, and gives the exact commands", async () => {
    const root = await mkdtemp(join(tmpdir(), "mcl-run-exists-"));
    const store = await storedRun(join(root, "my runs"), "demo");
    const config = join(root, "config.yaml");
    await writeFile(config, "name: other\nstages: 2\nclusters: 3\nepochsPerStage: 1\n");
    const args = [config, "--name", "demo", "--run-dir", join(root, "my runs")];
    const { code, err } = await runCli(args);
    expect(code).toBe(2);
    const [first, ...advice] = err.split("\n");
    expect(first).toMatch(/^mcl run: .* already holds a run that never trained .*so removing it loses nothing.*\(RUN_EXISTS\)$/);
    const dir = `'${store.dir}'`; // the folder's space quoted for the shell
    expect(advice).toEqual([
      `  to continue it:           mcl resume ${dir}`,
      `  to delete it, then start: rm -r ${dir} && mcl run ${config} --name demo --run-dir '${join(root, "my runs")}'`,
      `  to keep it, another name: mcl run ${config} --run-dir '${join(root, "my runs")}' --name <new-name>`,
    ]);
    expect(err).not.toMatch(/^\s+at /m);
    expect(existsSync(join(store.dir, "run.lock"))).toBe(false);
  });

  test("that trained: the message says it holds a run, with the same commands", async () => {
    const root = await mkdtemp(join(tmpdir(), "mcl-run-exists-"));
    const store = await storedRun(root, "trained");
    await store.commit({ state: { ...store.manifest.state, epoch: 1, checkpoints: ["checkpoints/stage-1-epoch-1.safetensors", null] } });
    const config = join(root, "config.json");
    await writeFile(config, JSON.stringify({ name: "trained", runDir: root, stages: 2, clusters: 3, epochsPerStage: 1 }));
    const { code, err } = await runCli([config, "--allow-plugins", "my_plugins"]);
    expect(code).toBe(2);
    expect(err).toContain(`mcl run: ${store.dir} already holds a run: resume it`);
    // The resume keeps the options it needs: which plugins may load (and which worker).
    expect(err).toContain(`  to continue it:           mcl resume ${store.dir} --allow-plugins my_plugins\n`);
  });
});

describe("reportLocation", () => {
  test("a finished run's report.html; an unfinished run's mcl report command; nothing where no run was written", async () => {
    const root = await mkdtemp(join(tmpdir(), "mcl-report-location-"));
    const store = await storedRun(root, "unfinished");
    expect(reportLocation(store.dir, true)).toBe(`report: ${join(store.dir, "report.html")}`);
    expect(reportLocation(store.dir, false)).toBe(`report of what it has measured so far: mcl report ${store.dir}`);
    await mkdir(join(root, "empty"));
    expect(reportLocation(join(root, "empty"), false)).toBeNull();
  });
});
