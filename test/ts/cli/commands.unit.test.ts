// Every `mcl` command in-process through the dispatcher (ts/cli/dispatch.ts): --help and -h print
// the usage with every option and exit 0 (reading no config), --version the package's, unknown
// names are refused with the nearest known one, and a failure is one line with one prefix.
import { readFileSync } from "node:fs";
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { COMMANDS as commands } from "../../../ts/cli/commands.js";
import { type CommandTable, dispatch } from "../../../ts/cli/dispatch.js";
import { packageVersion } from "../../../ts/cli/version.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { MclError } from "../../../ts/errors.js";
import { gatePlugins } from "../../../ts/plugins/plugin-consent.js";
import { projectRoot } from "../../../ts/transport/index.js";


afterEach(() => vi.restoreAllMocks());

/** `mcl ...args` in this process: its exit code and what it printed. */
async function mcl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => void out.push(parts.map(String).join(" ")));
  vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => void err.push(parts.map(String).join(" ")));
  const code = await dispatch(commands, args);
  vi.restoreAllMocks();
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("help", () => {
  test.each(Object.keys(commands))("mcl %s --help and -h print its usage and every option, and exit 0", async (name) => {
    const command = commands[name]!;
    for (const flag of ["--help", "-h"]) {
      const { code, out, err } = await mcl(name, flag);
      expect({ code, err }).toEqual({ code: 0, err: "" });
      expect(out).toContain(`usage: ${command.usage}`);
      expect(out).toContain(command.summary);
      for (const option of command.options ?? []) expect(out).toMatch(new RegExp(`^  ${option.name}\\b.* ${escape(option.help)}`, "m"));
      expect(out).toContain("--help");
    }
    expect((await mcl("help", name)).out).toContain(`usage: ${command.usage}`);
  });

  test("help wins over what else is on the line, and is not read as a config file or an option's value", async () => {
    expect(await mcl("run", "-h")).toMatchObject({ code: 0, err: "" });
    expect(await mcl("run", "no-such.yaml", "--frob", "--help")).toMatchObject({ code: 0, err: "" });
    // `--name -h` names a run "-h": a bad name, not a request for help.
    const named = await mcl("run", join(tmpdir(), "no-such-config.yaml"), "--name", "-h");
    expect(named.code).toBe(1);
    expect(named.err).toContain("CONFIG_UNREADABLE");
  });

  test("mcl --help, -h and help list every command with its summary", async () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const { code, out } = await mcl(...args);
      expect(code).toBe(0);
      expect(out).toMatch(/^usage: mcl <command> \[options\]/);
      for (const [name, command] of Object.entries(commands)) expect(out).toMatch(new RegExp(`^  ${name} +${escape(command.summary)}$`, "m"));
    }
  });

  test("mcl --version and -v print package.json's version", async () => {
    const { version } = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { version: string };
    expect(await mcl("--version")).toEqual({ code: 0, out: version, err: "" });
    expect(await mcl("-v")).toEqual({ code: 0, out: version, err: "" });
  });
});

describe("unknown names", () => {
  test.each([
    [["rnu"], 'mcl: unknown command "rnu"; did you mean "run"?'],
    [["exprot", "runs/x"], 'mcl: unknown command "exprot"; did you mean "export"?'],
    [["--verison"], 'mcl: unknown option --verison; did you mean "--version"?'],
    [["frobnicate"], 'mcl: unknown command "frobnicate"'],
    [["help", "reprot"], 'mcl: unknown command "reprot"; did you mean "report"?'],
    [[], "mcl: no command given"],
  ])("mcl %j exits 2: %s, then the command list", async (args, message) => {
    const { code, err } = await mcl(...args);
    expect(code).toBe(2);
    expect(err.split("\n")[0]).toBe(message);
    expect(err).toContain("usage: mcl <command>");
  });

  test.each([
    [["run", "c.yaml", "--nmae", "x"], 'mcl run: unknown option --nmae; did you mean "--name"? (mcl run --help shows the usage)'],
    [["export", "runs/x", "--integrate"], 'mcl export: unknown option --integrate; did you mean "--integrated"? (mcl export --help shows the usage)'],
    [["doctor", "--jsno"], 'mcl doctor: unknown option --jsno; did you mean "--json"? (mcl doctor --help shows the usage)'],
    [["demo", "clpi"], 'mcl demo: unexpected argument "clpi"; did you mean "clip"? (mcl demo --help shows the usage)'],
    [["export", "runs/x", "--format", "torchscirpt"], 'mcl export: --format takes safetensors or torchscript, got "torchscirpt"; did you mean "torchscript"? (mcl export --help shows the usage)'],
  ])("mcl %j exits 2: %s", async (args, message) => {
    expect(await mcl(...args)).toEqual({ code: 2, out: "", err: message });
  });
});

describe("failures", () => {
  test("carry one prefix: mcl report and mcl export", async () => {
    const empty = await mkdtemp(join(tmpdir(), "mcl-cli-"));
    const outcomes = [
      await mcl("report"),
      await mcl("report", empty),
      await mcl("export", empty),
      await mcl("export", empty, "--stage", "two"),
      await mcl("export", empty, "--stage", "1", "--integrated"),
    ];
    expect(outcomes.map((o) => [o.code, o.err])).toEqual([
      [2, "mcl report: expected one run directory, got 0 (mcl report --help shows the usage)"],
      [1, `mcl report: ${empty} holds no run (no manifest.json) (RUN_NOT_FOUND)`],
      [1, `mcl export: ${empty} holds no run (no manifest.json) (RUN_NOT_FOUND)`],
      [2, `mcl export: --stage takes a stage number, as the run's summary.json numbers them; got "two" (mcl export --help shows the usage)`],
      [2, "mcl export: give --stage N or --integrated, not both (mcl export --help shows the usage)"],
    ]);
  });

  test("a command that throws ends with its message and code, not a stack trace", async () => {
    const failing: CommandTable = {
      boom: { usage: "mcl boom", summary: "fails", run: () => Promise.reject(new MclError("BROKEN", "it broke")) },
    };
    const err: string[] = [];
    vi.spyOn(console, "error").mockImplementation((text: unknown) => void err.push(String(text)));
    expect(await dispatch(failing, ["boom"])).toBe(1);
    expect(err).toEqual(["mcl boom: it broke (BROKEN)"]);
  });
});

test("the plugin consent exportRun asks for names export's own option and flag", () => {
  const config = parseConfig({ name: "x", encoder: "py:my_plugins.encoders:make" });
  expect(() => gatePlugins(config, [], "export")).toThrow(
    'If you trust it, allow it outside the config: exportRun(runDir, { allowPlugins: ["my_plugins"] }), mcl export <runDir> --allow-plugins my_plugins,',
  );
});

describe("packageVersion", () => {
  test("finds mcl-bridge's package.json above the module, as an installed package lays it out, past other package.json files", async () => {
    const root = await mkdtemp(join(tmpdir(), "mcl-version-"));
    const installed = join(root, "node_modules", "mcl-bridge");
    await mkdir(join(installed, "dist", "ts", "cli"), { recursive: true });
    await writeFile(join(root, "package.json"), JSON.stringify({ name: "my-app", version: "9.9.9" }));
    await writeFile(join(installed, "package.json"), JSON.stringify({ name: "mcl-bridge", version: "1.2.3" }));
    await writeFile(join(installed, "dist", "package.json"), JSON.stringify({ type: "module" }));
    expect(packageVersion(join(installed, "dist", "ts", "cli"))).toBe("1.2.3");
    expect(() => packageVersion(root)).toThrow(/no package\.json of mcl-bridge above/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
