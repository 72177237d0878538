// The README's promises hold: it opens with the commands a fresh clone runs (the test command
// being the one CI runs), its TypeScript example type-checks against the SDK, and its YAML or JSON
// configs are ones the CLI accepts.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../../ts/config/load-config.js";

const root = resolve(import.meta.dirname, "..", "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");

interface Fence {
  readonly lang: string;
  readonly body: string;
  /** Offset of the opening fence in the README. */
  readonly at: number;
}

function fences(markdown: string): Fence[] {
  return [...markdown.matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```\s*$/gm)].map((m) => ({ lang: m[1]!, body: m[2]!, at: m.index }));
}

/** The commands of a shell block, comments dropped. */
function commands(block: string): string[] {
  return block
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/** The type errors in `source`, compiled as a module of the repository whose `mcl-bridge` is ts/index.ts. */
function typeErrors(source: string): string[] {
  const base = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8")) as { compilerOptions: object };
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    { ...base.compilerOptions, noEmit: true, declaration: false, sourceMap: false, baseUrl: ".", paths: { "mcl-bridge": ["./ts/index.ts"] } },
    root,
  );
  if (errors.length > 0) return errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, "\n"));
  const file = join(root, "readme-example.mts");
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (path) => path === file || fileExists.call(host, path);
  host.readFile = (path) => (path === file ? source : readFile.call(host, path));
  host.getSourceFile = (path, language, ...rest) =>
    path === file ? ts.createSourceFile(path, source, language, true) : getSourceFile.call(host, path, language, ...rest);
  const program = ts.createProgram([file], options, host);
  // The example's own errors: the rest of the repository is the typecheck's business.
  const example = program.getSourceFile(file)!;
  return [...program.getOptionsDiagnostics(), ...program.getSyntacticDiagnostics(example), ...program.getSemanticDiagnostics(example)].map(
    (d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"),
  );
}

describe("the README", () => {
  const blocks = fences(readme);

  it("opens with `npm run demo` and `npm test`, package scripts, before any section", () => {
    const first = blocks[0]!;
    expect(first.lang).toBe("sh");
    expect(readme.slice(0, first.at)).not.toMatch(/^##/m);
    expect(commands(first.body)).toEqual(["npm run demo", "npm test"]);
    const scripts = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    expect(scripts).toHaveProperty("demo");
    expect(scripts).toHaveProperty("test");
  });

  it("names as its test command the one CI ends with", () => {
    // Before it, CI only installs system packages a fresh machine lacks (the browser of the report test).
    const ci = commands(readFileSync(join(root, ".ci", "run"), "utf8"));
    expect(commands(blocks[0]!.body)).toContain(ci.at(-1));
  });

  it("has TypeScript examples that type-check against the SDK", { timeout: 60_000 }, () => {
    const examples = blocks.filter((block) => block.lang === "ts");
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      expect(example.body).toContain('from "mcl-bridge"');
      expect(typeErrors(example.body)).toEqual([]);
    }
  });

  it("type-checks for real: a misspelt call is an error", { timeout: 60_000 }, () => {
    const errors = typeErrors('import { Mcl } from "mcl-bridge";\nawait Mcl.begin({ name: "x" });\n');
    expect(errors.join("\n")).toContain("begin");
  });

  it("has YAML or JSON configs the CLI accepts", () => {
    const configs = blocks.filter((block) => block.lang === "json" || block.lang === "yaml");
    expect(configs.length).toBeGreaterThan(0);
    for (const config of configs) {
      const value: unknown = config.lang === "yaml" ? parseYaml(config.body) : JSON.parse(config.body);
      expect(() => parseConfig(value, "README.md")).not.toThrow();
    }
  });
});
