import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { choosePython, projectRoot } from "../ts/transport/index.js";

/**
 * A plain PyTorch script run beside a benchmark (bench/*_plain.py) with the project's Python: one
 * JSON line in per request, one JSON line out per answer, and a first line when it is ready. Its
 * stderr goes to ours.
 */
export class PlainScript {
  private readonly lines: AsyncIterator<string>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly script: string,
  ) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /** Starts bench/`script` with `args`; resolves with it and its ready line once it has printed that. */
  static async start(
    script: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<{ plain: PlainScript; ready: Record<string, unknown> }> {
    const root = projectRoot();
    const child = spawn(choosePython().path, [join(root, "bench", script), ...args], { cwd: root, env, stdio: ["pipe", "pipe", "pipe"] });
    child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    const plain = new PlainScript(child, script);
    return { plain, ready: await plain.read() };
  }

  /** Sends one request line and resolves with the answer line. */
  async ask(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    return this.read();
  }

  close(): void {
    this.child.stdin.end();
  }

  private async read(): Promise<Record<string, unknown>> {
    const next = await this.lines.next();
    if (next.done === true) throw new Error(`bench/${this.script} exited early; its stderr is above`);
    return JSON.parse(next.value) as Record<string, unknown>;
  }
}
