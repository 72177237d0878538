// ts/wire/generated/ and PROTOCOL.md's job reference are scripts/gen-wire.mjs's output for
// proto/protocol.json: they must be current, and the script must notice when they are not and
// refuse a protocol.json that contradicts itself.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPT = join(ROOT, "scripts", "gen-wire.mjs");
const GENERATED = join(ROOT, "ts", "wire", "generated");
const protocol = JSON.parse(readFileSync(join(ROOT, "proto", "protocol.json"), "utf8")) as {
  $defs: { dtype: { enum: string[] } };
  jobs: Record<string, { request: { properties: Record<string, unknown> } }>;
};
const scratch = mkdtempSync(join(tmpdir(), "gen-wire-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function genWire(...args: string[]): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [SCRIPT, "--check", ...args], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  return { status: run.status, stderr: run.stderr };
}

function withProtocol(name: string, edit: (copy: typeof protocol) => void): string {
  const copy = structuredClone(protocol);
  edit(copy);
  const path = join(scratch, name);
  writeFileSync(path, JSON.stringify(copy));
  return path;
}

describe("npm run gen:wire", () => {
  it("has written ts/wire/generated from the current protocol.json", () => {
    const { status, stderr } = genWire();
    expect(stderr).toBe("");
    expect(status).toBe(0);
  });

  it("finds the generated files stale once a job's schema changes", () => {
    const changed = withProtocol("changed.json", (p) => {
      if (p.jobs.kmeans === undefined) throw new Error("protocol.json has no kmeans job");
      p.jobs.kmeans.request.properties.k = { type: "integer", minimum: 2 };
    });
    const { status, stderr } = genWire("--protocol", changed, "--out", GENERATED);
    expect(status).toBe(1);
    // The zod schema and PROTOCOL.md's job reference, not the constants.
    expect(stderr).toContain("ts/wire/generated/schemas.ts, proto/PROTOCOL.md differ from proto/protocol.json: run npm run gen:wire");
  });

  it("refuses a protocol.json whose lists disagree, naming the entry", () => {
    const contradicting = withProtocol("contradicting.json", (p) => p.$defs.dtype.enum.pop());
    const { status, stderr } = genWire("--protocol", contradicting, "--out", scratch);
    expect(status).toBe(2);
    expect(stderr).toContain("$defs.dtype.enum must list the keys of dtypes");
  });
});
