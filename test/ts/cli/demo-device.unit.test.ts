// `mcl demo --device`: checked as the config's compute.device is, before anything starts; a demo
// run already on disk keeps the device it started on, and another --device is refused naming --fresh.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test, vi } from "vitest";
import { demoCommand } from "../../../ts/cli/demo-command.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { scheduleFromConfig } from "../../../ts/config/stage-schedule.js";
import { initialState } from "../../../ts/control/stage-scheduler.js";
import { RunStore } from "../../../ts/run/run-store.js";
import { DEMO_CONFIG } from "../../../ts/sdk/demo-config.js";

const cwd = process.cwd();
afterEach(() => {
  process.chdir(cwd);
  vi.restoreAllMocks();
});

/** `mcl demo ...args`: its exit code and what it printed on stderr. */
async function demo(...args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => void err.push(parts.map(String).join(" ")));
  const code = await demoCommand.run(args);
  return { code, err: err.join("\n") };
}

test.each([["gpu"], ["cuda:"], ["CPU"], [""]])("--device %j is refused as compute.device refuses it", async (device) => {
  const { code, err } = await demo("--device", device);
  expect(code).toBe(2);
  expect(err).toContain(`--device: expected auto, cpu, cuda or cuda:N (e.g. cuda:1), got ${JSON.stringify(device)}`);
});

test("a demo run started on one device is not resumed on another: --fresh is named", async () => {
  process.chdir(await mkdtemp(join(tmpdir(), "mcl-demo-")));
  const config = parseConfig({ ...DEMO_CONFIG, compute: { device: "cpu" } });
  await RunStore.create(join("runs", "demo"), {
    config,
    versions: { package: "0.1.0", protocol: 4 },
    state: initialState(scheduleFromConfig(config)),
  });
  const { code, err } = await demo("--device", "cuda:1");
  expect(code).toBe(2);
  expect(err).toContain(`--device: the demo run in ${join("runs", "demo")} was started on cpu; mcl demo --fresh --device cuda:1 starts it over on cuda:1`);
});
