// The compiled `mcl` binary (dist/ts/cli/main.js) for the tests that run it as users do: a check
// that dist/ is what the sources compile to (`npm test` builds it once, before vitest), and a
// child process's outcome.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { projectRoot } from "../../../ts/transport/index.js";

const root = projectRoot();
export const binary = join(root, "dist", "ts", "cli", "main.js");
/** The folders tsconfig.json compiles into dist/. */
const SOURCES = ["ts", "examples", "bench"];

export interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` to its end, collecting its output. */
export function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** dist/ is missing a compiled source or older than one. */
export class StaleBuildError extends Error {
  readonly code = "STALE_BUILD";
  constructor(source: string, compiled: string, missing: boolean) {
    super(`${compiled} is ${missing ? "missing" : `older than ${source}`}: run npm run build (npm test builds before vitest)`);
    this.name = "StaleBuildError";
  }
}

/** The .ts sources under `folder` (declaration files aside). */
function sources(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * Throws StaleBuildError unless every source of ts/, examples/ and bench/ has its dist/ .js at
 * least as new as itself. The tests check rather than build: a build in a test worker races the
 * other workers that read dist/.
 */
export function assertBuildCurrent(): void {
  for (const source of SOURCES.flatMap((folder) => sources(join(root, folder)))) {
    const compiled = join(root, "dist", relative(root, source).replace(/\.ts$/, ".js"));
    const built = statSync(compiled, { throwIfNoEntry: false });
    if (built === undefined || built.mtimeMs < statSync(source).mtimeMs) {
      throw new StaleBuildError(relative(root, source), relative(root, compiled), built === undefined);
    }
  }
}
