// A tiny MCL run through the SDK on a real worker (CPU) for each source of encoded images beside
// folder:: a csv: file as open_clip reads it, with a label column the probes use, and img2dataset's
// webdataset shards read by sample id, in a CLIP run (web image-caption data: captions, no labels);
// and a folder: of images without labels, whose run has nothing to probe.
// Both decode in a loader process (data.workers 1), as such datasets do by default.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mcl, type MclConfigInput, type MclEvent, type MclRun } from "../../../ts/index.js";
import { projectRoot } from "../../../ts/transport/index.js";
import { tinyClipConfig } from "../clip/tiny-clip-config.js";
import { tinyConfig } from "./tiny-config.js";

const root = mkdtempSync(join(tmpdir(), "mcl-sdk-image-files-"));
const quiet = { worker: { launch: { onOutput: () => {} } } };
const runs: MclRun[] = [];
const IMAGES = 96;

/** IMAGES noise JPEGs tinted red or blue: images/ with train.csv beside it, and 2 tar shards. */
const MAKE_DATA = `
import io, sys, tarfile
from pathlib import Path
import numpy as np
from PIL import Image
root, n = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
(root / "images").mkdir()
(root / "shards").mkdir()
rows, shards = ["filepath\\ttitle\\tcolour"], [tarfile.open(root / "shards" / f"{s:05d}.tar", "w") for s in range(2)]
for i in range(n):
    colour = ("red", "blue")[i % 2]
    pixels = rng.integers(0, 120, (20, 24, 3), dtype=np.uint8)
    pixels[..., 0 if colour == "red" else 2] += 120
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    (root / "images" / f"{i:09d}.jpg").write_bytes(buffer.getvalue())
    rows.append(f"images/{i:09d}.jpg\\ta {colour} patch\\t{colour}")
    for name, data in ((f"{i:09d}.jpg", buffer.getvalue()), (f"{i:09d}.txt", f"a {colour} patch".encode())):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        shards[i % 2].addfile(info, io.BytesIO(data))
for shard in shards:
    shard.close()
(root / "train.csv").write_text("\\n".join(rows) + "\\n")
`;

beforeAll(() => {
  execFileSync(join(projectRoot(), ".venv", "bin", "python"), ["-c", MAKE_DATA, root, String(IMAGES)]);
});

afterAll(async () => {
  await Promise.all(runs.map((run) => run.stop()));
  rmSync(root, { recursive: true, force: true });
});

async function tinyRun(config: MclConfigInput): Promise<{ run: MclRun; events: MclEvent[] }> {
  const run = await Mcl.start({ ...config, data: { workers: 1 } }, quiet);
  runs.push(run);
  const events: MclEvent[] = [];
  for await (const event of run.events()) events.push(event);
  return { run, events };
}

describe("datasets of image files", () => {
  it("csv: runs 2 stages and the baseline and probes the label column", { timeout: 120_000 }, async () => {
    const dataset = `csv:${join(root, "train.csv")}?size=16&labels=colour`;
    const { run, events } = await tinyRun(tinyConfig(join(root, "runs"), "csv", { dataset, batchSize: 16 }));
    const summary = await run.result();
    expect(events.at(-1)?.type).toBe("done");
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(summary.attributes).toEqual(["colour"]);
    for (const probe of [...summary.stages.map((s) => s.probe), summary.integrated.probe, summary.baseline!.probe]) {
      expect(probe.colour).toBeGreaterThanOrEqual(0);
      expect(probe.colour).toBeLessThanOrEqual(1);
    }
    for (const track of [...summary.stages, summary.baseline!]) expect(track.sampling!.planned + track.sampling!.leftOut).toBe(IMAGES);
  });

  it("folder: without labelled attributes trains every stage and probes nothing", { timeout: 120_000 }, async () => {
    const dataset = `folder:${join(root, "images")}?size=16`;
    const { run, events } = await tinyRun(tinyConfig(join(root, "runs"), "folder", { dataset, batchSize: 16, baseline: false }));
    const summary = await run.result();
    expect(events.at(-1)?.type).toBe("done");
    expect(summary.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(summary.attributes).toEqual([]);
    for (const probe of [...summary.stages.map((s) => s.probe), summary.integrated.probe]) expect(probe).toEqual({});
  });

  it("webdataset: a CLIP run trains 2 stages on the shards' captions, indexed once beside them", { timeout: 180_000 }, async () => {
    const dataset = `webdataset:${join(root, "shards")}/{00000..00001}.tar?size=32`;
    const { run, events } = await tinyRun(tinyClipConfig(join(root, "runs"), "webdataset", { dataset, probe: { knn: 0 } }));
    const summary = await run.result();
    expect(events.at(-1)?.type).toBe("done");
    expect(summary.stages.map((s) => [s.stage, s.epochs])).toEqual([[0, 0], [1, 1], [2, 1]]);
    expect(summary.attributes).toEqual([]);
    for (const track of summary.stages.slice(1)) expect(track.sampling!.planned + track.sampling!.leftOut).toBe(IMAGES);
    expect(existsSync(join(root, "shards", ".mcl-index", "00000.tar.npz"))).toBe(true);
  });
});
