// The built `mcl` (dist/ts/cli/main.js), run from a folder outside the project as an installed one
// is: its version is package.json's, and every command its command table dispatches answers --help.
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { projectRoot } from "../../../ts/transport/index.js";
import { assertBuildCurrent, binary, run } from "../support/cli-binary.js";

beforeAll(assertBuildCurrent);

test("mcl --version, mcl --help, and mcl <command> --help for every command listed", { timeout: 120_000 }, async () => {
  const mcl = (...args: string[]) => run(process.execPath, [binary, ...args], tmpdir());
  const { version } = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { version: string };
  expect(await mcl("--version")).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  const help = await mcl("--help");
  expect(help.code).toBe(0);
  const listed = [...help.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
  expect(listed).toEqual(expect.arrayContaining(["run", "resume", "report", "export", "demo", "doctor"]));
  for (const name of listed) {
    const outcome = await mcl(name, "--help");
    expect({ name, code: outcome.code, stderr: outcome.stderr }).toEqual({ name, code: 0, stderr: "" });
    expect(outcome.stdout).toMatch(new RegExp(`^usage: mcl ${name}\\b`));
    expect(outcome.stdout).toContain("--help");
  }
});
