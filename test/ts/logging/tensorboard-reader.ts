// What TensorBoard's own readers (the oracle peer: test/py/oracles/peers.txt) make of event files.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { projectRoot } from "../../../ts/transport/python-env.js";

const python = join(projectRoot(), ".venv", "bin", "python");
// Reads a JSON request on stdin and answers what TensorBoard makes of it.
const READER = `
import json, math, sys
from tensorboard.backend.event_processing import event_accumulator, event_file_loader
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

request = json.load(sys.stdin)
answer = {}
acc = event_accumulator.EventAccumulator(request["folder"], size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
answer["fileVersion"] = acc.file_version
answer["scalars"] = {
    tag: [[e.step, e.value if math.isfinite(e.value) else repr(e.value), e.wall_time] for e in acc.Scalars(tag)]
    for tag in acc.Tags()["scalars"]
}
answer["loaded"] = {}
answer["errors"] = {}
for path in request["files"]:
    events = list(event_file_loader.LegacyEventFileLoader(path).Load())
    answer["loaded"][path] = [
        {"step": e.step, "fileVersion": e.file_version, "tags": [v.tag for v in e.summary.value]} for e in events
    ]
    reader = pywrap_tensorflow.PyRecordReader_New(path.encode())
    try:
        while True:
            reader.GetNext()
    except errors.OutOfRangeError:
        answer["errors"][path] = None
    except errors.DataLossError as error:
        answer["errors"][path] = error.message
answer["masked"] = [pywrap_tensorflow.masked_crc32c(bytes.fromhex(h)) for h in request["crc"]]
json.dump(answer, sys.stdout)
`;

export interface Answer {
  readonly fileVersion: number | null;
  /** Values that are not finite as Python writes them: "nan", "inf", "-inf". */
  readonly scalars: Record<string, [step: number, value: number | string, wallTime: number][]>;
  readonly loaded: Record<string, { step: number; fileVersion: string; tags: string[] }[]>;
  readonly errors: Record<string, string | null>;
  readonly masked: number[];
}

/**
 * The scalars of the event files in `folder` (EventAccumulator, every value kept), what the loader
 * takes of each of `files` and the error its record reader stops `files` with (null: read to the
 * end), and TensorBoard's masked CRC-32C of each of `crc`.
 */
export function readWithTensorBoard(folder: string, files: readonly string[] = [], crc: readonly Uint8Array[] = []): Answer {
  const request = { folder, files, crc: crc.map((bytes) => Buffer.from(bytes).toString("hex")) };
  const result = spawnSync(python, ["-c", READER], { input: JSON.stringify(request), encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) {
    const hint = /No module named/.test(result.stderr) ? " (install the oracle peers: node scripts/bootstrap.mjs --oracles)" : "";
    throw new Error(`the TensorBoard reader failed${hint}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as Answer;
}

