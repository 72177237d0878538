// A tiny finished run taken out: `mcl export --integrated` writes one TorchScript module that gives
// run.embed's integrated representation of the same images (checked in Python); run.export writes
// a small-cnn stage in our own format and says why, a CLIP run's stage in open_clip's names and its
// integrated encoder; a stage the run does not have, an unfinished run and a damaged checkpoint
// are refused, naming the option, the run's state or the file.
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { configHash, exportRun, Mcl, type MclRun, tensor } from "../../../ts/index.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { killLeftovers, mcl } from "../cli/cli-process.js";
import { tinyClipConfig } from "../clip/tiny-clip-config.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-export-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const python = join(projectRoot(), ".venv", "bin", "python");
let run: MclRun | undefined;
let clipRun: MclRun | undefined;

afterAll(async () => {
  await run?.stop();
  await clipRun?.stop();
  killLeftovers();
  rmSync(root, { recursive: true, force: true });
});

/** The exported module on the images in `pixels` ([n, 3, size, size] uint8): its largest difference from `expected` and its width. */
const CHECK = `
import sys, numpy as np, torch
path, pixels, expected, n, size = sys.argv[1:6]
module = torch.jit.load(path)
x = torch.from_numpy(np.fromfile(pixels, dtype=np.uint8).reshape(int(n), 3, int(size), int(size)))
expected = torch.from_numpy(np.fromfile(expected, dtype=np.float32)).reshape(int(n), -1)
with torch.no_grad():
    got = module(x)
print(float((got - expected).abs().max()), got.shape[1])
`;

/** The exported module's largest difference from run.embed's output on `pixels` (uint8 [n, 3, size, size]); its width must be embed's. */
async function moduleDifference(from: MclRun, file: string, n: number, size: number, pixels: Uint8Array): Promise<number> {
  const z = await from.embed(tensor("uint8", [n, 3, size, size], pixels));
  writeFileSync(join(root, "pixels.u8"), pixels);
  writeFileSync(join(root, "embedding.f32"), Buffer.from(z.data.buffer, z.data.byteOffset, z.data.byteLength));
  // Asynchronous: a blocked event loop would miss the run's worker heartbeats while Python starts.
  const { stdout } = await promisify(execFile)(python, ["-c", CHECK, file, join(root, "pixels.u8"), join(root, "embedding.f32"), String(n), String(size)], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const [difference, width] = stdout.trim().split(" ").map(Number);
  expect(width).toBe(z.dim);
  return difference!;
}

/** A copy of the finished run to damage. */
function copyOfRun(name: string): string {
  const copy = join(root, name);
  cpSync(run!.dir, copy, { recursive: true });
  return copy;
}

describe("mcl export", () => {
  it("writes the integrated encoder as TorchScript that gives run.embed's output", { timeout: 300_000 }, async () => {
    const small = { baseline: false, dataset: "synthetic:trifeature?n=128&size=16&seed=1", probe: { knn: 0 } };
    run = await Mcl.start(tinyConfig(root, "tiny", small), quiet);
    await run.result();
    const cli = mcl("export", run.dir, "--integrated");
    expect(await cli.exited).toBe(0);
    const file = join(run.dir, "export", "integrated.pt");
    const output = cli.output.join("\n");
    expect(output).toContain(`wrote ${file}`);
    expect(output).toContain(`the integrated encoder of stages 1, 2, as TorchScript`);
    expect(output).toContain("load (Python, path = the file): model = torch.jit.load(path)");
    // Another size than the run's 16 px: resized as embed resizes.
    const pixels = Uint8Array.from({ length: 6 * 3 * 20 * 20 }, (_, i) => (i * 37 + (i >> 5)) % 256);
    const difference = await moduleDifference(run, file, 6, 20, pixels);
    expect(difference).toBeLessThan(1e-5);
  });

  it("run.export writes a small-cnn stage in our own format and says why", { timeout: 60_000 }, async () => {
    const out = join(root, "stage-1.safetensors");
    const result = await run!.export({ stage: 1, out });
    expect(result).toMatchObject({ path: out, format: "safetensors", kind: "stage", dim: 256, load: "model = mcl_worker.load_encoder(path)" });
    expect(result.stages).toEqual([
      { stage: 1, architecture: "small-cnn", library: "mcl", absentKeys: [], noPeer: "small-cnn has no equivalent in torchvision, timm or open_clip" },
    ]);
    expect(result.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The hash of the config as canonical JSON: the order of its keys does not change it.
    const reordered = Object.fromEntries(Object.entries(run!.config).reverse()) as MclRun["config"];
    expect([configHash(run!.config), configHash(reordered)]).toEqual([result.configHash, result.configHash]);
    expect(readFileSync(out).byteLength).toBe(result.bytes);
  });

  it("refuses a stage the run does not have, on the command line too", { timeout: 60_000 }, async () => {
    await expect(exportRun(run!.dir, { stage: 3 })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: "stage: the run has stages 1…2 (as its summary.json numbers them), got 3",
    });
    const cli = mcl("export", run!.dir, "--stage", "0");
    expect(await cli.exited).toBe(1);
    expect(cli.output.join("\n")).toContain("mcl export: stage: the run has stages 1…2 (as its summary.json numbers them), got 0 (INVALID_INPUT)");
  });

  it("refuses a run that has not finished, naming where it stands and how to finish it", async () => {
    const dir = copyOfRun("unfinished");
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { state: { stage: number; phase: string; epoch: number } };
    manifest.state = { ...manifest.state, stage: 2, phase: "train", epoch: 0 };
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
    const refused = exportRun(dir, { integrated: true });
    await expect(refused).rejects.toMatchObject({ code: "INVALID_STATE" });
    await expect(refused).rejects.toThrow(
      `${dir} has not finished training (manifest.json state.phase is "train", not "done"): stage 2 of 1…2 has 0 of 1 epochs trained.` +
        ` An export takes the final weights of finished runs: finish it with \`mcl resume ${dir}\``,
    );
  });

  it("refuses a checkpoint that differs from the manifest's record, naming the file", async () => {
    const dir = copyOfRun("damaged");
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { state: { checkpoints: string[] } };
    const checkpoint = join(dir, manifest.state.checkpoints[1]!);
    const bytes = readFileSync(checkpoint);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(checkpoint, bytes);
    const refused = exportRun(dir, { stage: 2 });
    await expect(refused).rejects.toMatchObject({ code: "CORRUPT_FILE" });
    await expect(refused).rejects.toThrow(`${checkpoint}: checksum mismatch (the file changed after it was committed); an export takes`);
  });

  it("writes a CLIP run's image towers in open_clip's names, and its integrated encoder", { timeout: 300_000 }, async () => {
    clipRun = await Mcl.start(tinyClipConfig(root, "tiny-clip", { stages: 1 }), quiet);
    await clipRun.result();
    const stage = await clipRun.export({ stage: 0 });
    expect(stage.path).toBe(join(clipRun.dir, "export", "stage-0.safetensors"));
    expect(stage.stages).toEqual([{ stage: 0, architecture: "clip-tiny", library: "open_clip", name: "CLIP", absentKeys: [] }]);
    expect(stage.load).toMatch(/^model = open_clip\.model\.CLIP\(\*\*\{'embed_dim': 64, /);
    const integrated = await clipRun.export({ integrated: true });
    expect(integrated.stages.map((s) => s.stage)).toEqual([0, 1]);
    const pixels = Uint8Array.from({ length: 4 * 3 * 32 * 32 }, (_, i) => (i * 11 + (i >> 7)) % 256);
    const difference = await moduleDifference(clipRun, integrated.path, 4, 32, pixels);
    expect(difference).toBeLessThan(1e-5);
  });
});
