/**
 * Run store: everything a run must keep to resume, in one directory (runs/<name>/):
 *
 *   manifest.json                 format, config, versions, preprocessing, scheduler state,
 *                                 per-stage records
 *   stage-<s>/assignments.i32     k-means assignments c_s after stage s (raw little-endian int32, N entries)
 *   stage-<s>/labels.i32          composite labels after stage s (dense ids)
 *   stage-<s>/parents.i32         per composite group: its group after stage s-1
 *   stage-<s>/sizes.i32           per composite group: its size
 *   checkpoints/…                 model checkpoints, written by the worker; the manifest
 *                                 (scheduler state) references them by path, and records the
 *                                 size and SHA-256 of each referenced one and of the one before
 *                                 it in its track (the fallback when the newer one is damaged)
 *   probes/…                      the SDK's probe caches
 *
 * Stages are numbered as everywhere (track.ts: a CLIP run's initial model is stage 0) in file
 * names and in the manifest's records; only its `state`, the stage scheduler's, counts the
 * stages from 1 and indexes `checkpoints` by that count. A manifest whose records or checkpoint
 * tracks are not the run's stage numbers is refused (CORRUPT_FILE). Manifests of format
 * mcl-run/1 numbered a CLIP run's stages as its scheduler does: a unimodal run of that format
 * numbers them alike and is read as it is, a CLIP run is refused (RUN_INCOMPATIBLE) rather than
 * misread.
 *
 * Every file is written atomically (atomic-file.ts), arrays first, the manifest last: the
 * manifest is the commit record, and it names each array with its length and SHA-256. A crash
 * at any moment leaves the previous manifest, which references only complete files; arrays
 * written after it are ignored and rewritten when the run resumes. Opening a run checks every
 * referenced file's size, reading one checks its checksum; resuming with a config whose fields
 * differ is refused with the list of fields. A checkpoint is checked against its checksum before
 * it is loaded; a damaged one found when a run resumes rewinds the run to the newest intact
 * checkpoint of its track (recoverCheckpoints). A process killed in the middle of a write leaves
 * that write's temporary file, which removeInterruptedWrites clears when the run resumes.
 */

import { createHash } from "node:crypto";
import { createReadStream, type Dirent } from "node:fs";
import { readdir, readFile, rm, rmdir, stat } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { diffConfigs } from "../config/config-diff.js";
import { formatIssues, issueLine } from "../config/config-error.js";
import { isClipEncoder, isResNetClipEncoder } from "../config/clip-config.js";
import { mclConfigSchema, type MclConfig } from "../config/mcl-config.js";
import { DEFAULT_PREPROCESS, preprocessOf, preprocessRecordSchema, type Preprocess } from "../config/preprocess.js";
import { bytesOf, isTemporaryFile, writeFileAtomic } from "../control/atomic-file.js";
import { RunStoreError } from "../control/errors.js";
import { type StageSchedule, schedulerStateSchema, type SchedulerState } from "../control/stage-scheduler.js";
import { scheduleFromConfig } from "../config/stage-schedule.js";
import { firstStage, lastStage, schedulerStage, stageNumber } from "./track.js";

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_FORMAT = "mcl-run/2";
/** The format before stage numbers (track.ts): a CLIP run's files and records counted its stages from 1. */
const SCHEDULER_NUMBERED_FORMAT = "mcl-run/1";
/** The folders of a run directory that hold its files besides the top level. */
const RUN_FOLDERS = /^(stage-\d+|checkpoints|probes)$/;

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

const arrayFileSchema = z.strictObject({
  /** Path relative to the run directory. */
  file: z.string().min(1),
  dtype: z.literal("int32"),
  length: z.int().min(0),
  sha256: sha256Schema,
});
export type ArrayFileRef = z.output<typeof arrayFileSchema>;

const groupStatsSchema = z.strictObject({
  numGroups: z.int(),
  smallest: z.int(),
  median: z.int(),
  largest: z.int(),
  emptyClusters: z.int(),
});

const stageRecordSchema = z.strictObject({
  /** The stage clustered (its number, track.ts). */
  stage: z.int().min(0),
  k: z.int().min(1),
  assignments: arrayFileSchema,
  /** Set once the stage's composite labels are planned. */
  composite: z
    .strictObject({
      labels: arrayFileSchema,
      parents: arrayFileSchema,
      sizes: arrayFileSchema,
      stats: groupStatsSchema,
      /** Accounting of the next stage's first-epoch plan: what the policy leaves out. */
      plan: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});
export type StageRecord = z.output<typeof stageRecordSchema>;

/** A stage (its number, track.ts) or the baseline. */
export type CheckpointTrack = number | "baseline";

const checkpointFileSchema = z.strictObject({
  track: z.union([z.int().min(0), z.literal("baseline")]),
  /** Epochs of its track trained into it (0: a stage's initial weights). */
  epochs: z.int().min(0),
  bytes: z.int().min(0),
  sha256: sha256Schema,
});
/** A checkpoint as committed: what it holds and its size and checksum. */
export type CheckpointFileRef = z.output<typeof checkpointFileSchema>;

/** What recoverCheckpoints did about a damaged checkpoint. */
export interface CheckpointRecovery {
  /** The damaged checkpoint (run-relative) and what is wrong with it. */
  readonly file: string;
  readonly problem: string;
  /** The track rewound; for a stage, every later stage (and the baseline) is rewound with it. */
  readonly track: CheckpointTrack;
  /** The intact earlier checkpoint the track continues from, or null: it trains from its start. */
  readonly fallback: string | null;
  /** Epochs of the track kept (those in `fallback`). */
  readonly epochs: number;
}

const versionsSchema = z.strictObject({ package: z.string(), protocol: z.int() });
export type Versions = z.output<typeof versionsSchema>;

const manifestSchema = z.strictObject({
  format: z.enum([MANIFEST_FORMAT, SCHEDULER_NUMBERED_FORMAT]),
  name: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  versions: versionsSchema,
  config: z.unknown(),
  /** Absent from manifests of runs that sent no preprocessing: those trained with the worker's default. */
  preprocess: preprocessRecordSchema.optional(),
  numSamples: z.int().min(1).nullable(),
  state: schedulerStateSchema,
  stages: z.array(stageRecordSchema),
  /** By run-relative path. Absent from manifests of runs made before checkpoints were checksummed. */
  checkpointFiles: z.record(z.string(), checkpointFileSchema).optional(),
});

export interface RunManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Package and protocol versions that created the run. */
  readonly versions: Versions;
  readonly config: MclConfig;
  /** The preprocessing every job of the run uses (resolved from the config when the run was created). */
  readonly preprocess: Preprocess;
  /** N, known once the dataset is opened. */
  readonly numSamples: number | null;
  /** The stage scheduler's state: its `stage` and the index of `checkpoints` count the stages from 1 (track.ts). */
  readonly state: SchedulerState;
  /** Clusterings recorded so far, in order: stages[i] follows the scheduler's stage i + 1. */
  readonly stages: readonly StageRecord[];
  /** Size and checksum of the checkpoints the state references, and of the one before each in its track. */
  readonly checkpointFiles: Readonly<Record<string, CheckpointFileRef>>;
}

/** What `commit` may change. */
export type ManifestChanges = Partial<Pick<RunManifest, "numSamples" | "state" | "stages">>;

export interface CreateRunOptions {
  readonly config: MclConfig;
  readonly versions: Versions;
  readonly state: SchedulerState;
}

export class RunStore {
  readonly dir: string;
  #manifest: RunManifest;
  /** Made by `create` in this process (a run that can be discarded while nothing has trained). */
  #created = false;
  /** Checkpoints recorded since the last commit, committed with the next one. */
  #pendingCheckpoints: Record<string, CheckpointFileRef> = {};

  private constructor(dir: string, manifest: RunManifest) {
    this.dir = dir;
    this.#manifest = manifest;
  }

  /**
   * Refuses (RUN_EXISTS) a directory that already holds a run, saying what to do: resume it, or
   * remove the directory to start the name again; and when that run never trained (its start was
   * killed before its first commit), that nothing would be lost.
   */
  static async requireNew(dir: string): Promise<void> {
    const path = join(dir, MANIFEST_FILE);
    if (!(await exists(path))) return;
    let manifest: RunManifest | null = null;
    try {
      manifest = parseManifest(await readFile(path, "utf8"), path);
    } catch {
      // A damaged manifest still holds the name; the advice is the same.
    }
    if (manifest !== null && neverTrained(manifest)) {
      throw new RunStoreError(
        "RUN_EXISTS",
        `${dir} already holds a run that never trained (created ${manifest.createdAt}, it ended before its first epoch ` +
          `was committed, so removing it loses nothing): remove ${dir} and start again, or resume it (Mcl.resume, mcl resume ${dir})`,
      );
    }
    throw new RunStoreError(
      "RUN_EXISTS",
      `${dir} already holds a run: resume it (Mcl.resume, mcl resume ${dir}), or remove ${dir} to start the name again, or choose another name`,
    );
  }

  /** Starts a new run in `dir`; refuses a directory that already holds one (requireNew). */
  static async create(dir: string, options: CreateRunOptions): Promise<RunStore> {
    await RunStore.requireNew(dir);
    const now = new Date().toISOString();
    const manifest: RunManifest = {
      format: MANIFEST_FORMAT,
      name: options.config.name,
      createdAt: now,
      updatedAt: now,
      versions: options.versions,
      config: options.config,
      preprocess: preprocessOf(options.config),
      numSamples: null,
      state: options.state,
      stages: [],
      checkpointFiles: {},
    };
    const store = new RunStore(dir, manifest);
    await store.#writeManifest(manifest);
    store.#created = true;
    return store;
  }

  /** Whether the run could be discarded: created in this process, and nothing trained yet. */
  get discardable(): boolean {
    return this.#created && neverTrained(this.#manifest);
  }

  /**
   * Undoes `create` when the run failed before anything trained: removes the manifest, the
   * checkpoints written since but not committed, the temporary files of interrupted writes, and the
   * run's folders and directory when that leaves them empty, so that the name can be started again.
   * Files that were there before the run stay. Refused once not `discardable`.
   */
  async discard(): Promise<void> {
    if (!this.discardable) {
      throw new RunStoreError("INVALID_ARGUMENT", `${this.dir}: only a run created in this process that has not trained can be discarded`);
    }
    this.#created = false;
    await rm(this.path(MANIFEST_FILE), { force: true });
    await Promise.all(Object.keys(this.#pendingCheckpoints).map((file) => rm(this.path(file), { force: true })));
    this.#pendingCheckpoints = {};
    await removeInterruptedWrites(this.dir);
    for (const folder of await runFolders(this.dir)) await rmdir(join(this.dir, folder)).catch(() => undefined);
    await rmdir(this.dir).catch(() => undefined); // not empty: what was there before the run stays
  }

  /**
   * Opens the run in `dir` at its last committed state. With `config`, refuses (CONFIG_CHANGED)
   * when any field differs from the stored config, naming the fields.
   */
  static async open(dir: string, options: { readonly config?: MclConfig } = {}): Promise<RunStore> {
    const path = join(dir, MANIFEST_FILE);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new RunStoreError("RUN_NOT_FOUND", `${dir} holds no run (no ${MANIFEST_FILE})`);
      }
      throw error;
    }
    const manifest = parseManifest(text, path);
    if (options.config !== undefined) {
      const changed = diffConfigs(manifest.config, options.config);
      if (changed.length > 0) {
        throw new RunStoreError(
          "CONFIG_CHANGED",
          `cannot resume ${dir}: the config differs from the run's in ${changed.join(", ")}; ` +
            `restore those fields or start a run under another name`,
        );
      }
    }
    const store = new RunStore(dir, manifest);
    await store.#checkFileSizes();
    return store;
  }

  get manifest(): RunManifest {
    return this.#manifest;
  }

  /** Absolute-or-relative path (as `dir` is) of a file inside the run directory. */
  path(file: string): string {
    return join(this.dir, file);
  }

  /**
   * Writes an array file atomically and returns its reference, to be committed in the manifest.
   * A file the manifest already references is never overwritten.
   */
  async writeArray(file: string, array: Int32Array): Promise<ArrayFileRef> {
    requireLittleEndian();
    if (referencedFiles(this.#manifest).includes(file)) {
      throw new RunStoreError("INVALID_ARGUMENT", `${file} is already committed in the manifest and cannot be rewritten`);
    }
    const bytes = bytesOf(array);
    await writeFileAtomic(this.path(file), bytes);
    return { file, dtype: "int32", length: array.length, sha256: sha256(bytes) };
  }

  /** Reads an array file, checking its length and checksum. */
  async readArray(ref: ArrayFileRef): Promise<Int32Array> {
    requireLittleEndian();
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(ref.file));
    } catch (error) {
      throw new RunStoreError("CORRUPT_FILE", `${ref.file}: cannot be read (${(error as Error).message})`, { cause: error });
    }
    checkSize(ref, bytes.byteLength);
    if (sha256(bytes) !== ref.sha256) {
      throw new RunStoreError("CORRUPT_FILE", `${ref.file}: checksum mismatch (the file changed after it was committed)`);
    }
    // Copy into a fresh, aligned buffer (a Buffer may share a pool at any offset).
    const array = new Int32Array(ref.length);
    bytesOf(array).set(bytes);
    return array;
  }

  /**
   * Reads every array the manifest references, checking its checksum (open checks only sizes):
   * CORRUPT_FILE naming the first damaged one. A resume runs it before anything trains, since a
   * damaged clustering found later would be found after stages trained on it.
   */
  async verifyArrays(): Promise<void> {
    for (const ref of arrayRefs(this.#manifest)) {
      try {
        await this.readArray(ref);
      } catch (error) {
        if (!(error instanceof RunStoreError) || error.code !== "CORRUPT_FILE") throw error;
        throw new RunStoreError(
          "CORRUPT_FILE",
          `${error.message}; the run cannot continue from a damaged clustering: restore ${this.path(ref.file)} ` +
            `from a copy of the run, or remove ${this.dir} and start the run again`,
          { cause: error },
        );
      }
    }
  }

  /**
   * Records the size and checksum of a checkpoint just written (the file is read as a stream, so
   * a large one does not hold up the event loop); the next commit stores them in the manifest.
   */
  async recordCheckpoint(file: string, track: CheckpointTrack, epochs: number): Promise<CheckpointFileRef> {
    const { bytes, sha256 } = await digestFile(this.path(file));
    const ref: CheckpointFileRef = { track, epochs, bytes, sha256 };
    this.#pendingCheckpoints = { ...this.#pendingCheckpoints, [file]: ref };
    return ref;
  }

  /**
   * Refuses (CORRUPT_FILE, naming the file) a checkpoint whose size or checksum differs from the
   * recorded ones, or that is missing. A checkpoint of a run made before checkpoints were
   * checksummed has no record: there is nothing to check it against, and it is loaded as it is.
   */
  async verifyCheckpoint(file: string): Promise<void> {
    const problem = await this.#checkpointProblem(file);
    if (problem !== null) throw new RunStoreError("CORRUPT_FILE", `${file}: ${problem}`);
  }

  /**
   * Checks every checkpoint the state references. When one is damaged, rewinds the run to the
   * newest intact checkpoint of its track (retraining the epochs after it), or to the start of
   * that track when there is none; rewinding a stage rewinds every later stage and the baseline
   * too (their clusterings and weights descend from it). Commits the rewound state and returns
   * what it did, or null when every checkpoint is intact.
   */
  async recoverCheckpoints(): Promise<CheckpointRecovery | null> {
    const state = this.#manifest.state;
    const schedule = scheduleFromConfig(this.#manifest.config);
    const referenced: [CheckpointTrack, string | null][] = [
      ...state.checkpoints.map((file, i): [CheckpointTrack, string | null] => [stageNumber(schedule, i + 1), file]),
      ["baseline", state.baselineCheckpoint],
    ];
    for (const [track, file] of referenced) {
      if (file === null) continue;
      const problem = await this.#checkpointProblem(file);
      if (problem === null) continue;
      const damaged = this.#manifest.checkpointFiles[file];
      const candidates = Object.entries(this.#manifest.checkpointFiles)
        .filter(([other, ref]) => other !== file && ref.track === track && damaged !== undefined && ref.epochs < damaged.epochs)
        .sort(([, a], [, b]) => b.epochs - a.epochs);
      let fallback: [string, CheckpointFileRef] | undefined;
      for (const candidate of candidates) {
        if ((await this.#checkpointProblem(candidate[0])) === null) {
          fallback = candidate;
          break;
        }
      }
      const epochs = fallback?.[1].epochs ?? 0;
      const path = fallback?.[0] ?? null;
      if (track === "baseline") {
        await this.commit({ state: { ...state, phase: "baseline", epoch: epochs, baselineCheckpoint: path } });
      } else {
        const index = schedulerStage(schedule, track);
        const checkpoints = state.checkpoints.map((c, i) => (i < index - 1 ? c : i === index - 1 ? path : null));
        const rewound = { stage: index, phase: "train" as const, epoch: epochs, checkpoints, baselineCheckpoint: null };
        await this.commit({ state: rewound, stages: this.#manifest.stages.slice(0, index - 1) });
      }
      return { file, problem, track, fallback: path, epochs };
    }
    return null;
  }

  /**
   * Commits changes to the manifest atomically; the in-memory manifest follows on success. The
   * checkpoints of epochs older than the ones the manifest now keeps are removed after it is
   * written; recorded checkpoints the new state does not reference yet (a later epoch's, written
   * while this one was committed) wait for a later commit.
   */
  async commit(changes: ManifestChanges): Promise<RunManifest> {
    const next = { ...this.#manifest, ...changes, updatedAt: new Date().toISOString() };
    const previous = this.#manifest.checkpointFiles;
    const checkpointFiles = keptCheckpoints({ ...previous, ...this.#pendingCheckpoints }, next.state);
    const manifest: RunManifest = { ...next, checkpointFiles };
    await this.#writeManifest(manifest);
    this.#manifest = manifest;
    this.#pendingCheckpoints = Object.fromEntries(
      Object.entries(this.#pendingCheckpoints).filter(([file]) => checkpointFiles[file] === undefined),
    );
    await Promise.all(supersededCheckpoints(previous, checkpointFiles).map((file) => rm(this.path(file), { force: true })));
    return manifest;
  }

  /** What is wrong with a committed checkpoint, or null when it matches its record (or has none). */
  async #checkpointProblem(file: string): Promise<string | null> {
    const ref = this.#manifest.checkpointFiles[file];
    if (ref === undefined) return null;
    let actual: { bytes: number; sha256: string };
    try {
      actual = await digestFile(this.path(file));
    } catch (error) {
      return `cannot be read (${(error as Error).message})`;
    }
    if (actual.bytes !== ref.bytes) {
      return `expected ${ref.bytes} bytes, found ${actual.bytes}${actual.bytes < ref.bytes ? " (truncated)" : ""}`;
    }
    if (actual.sha256 !== ref.sha256) return "checksum mismatch (the file changed after it was committed)";
    return null;
  }

  async #writeManifest(manifest: RunManifest): Promise<void> {
    await writeFileAtomic(this.path(MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  async #checkFileSizes(): Promise<void> {
    for (const ref of arrayRefs(this.#manifest)) {
      let size: number;
      try {
        size = (await stat(this.path(ref.file))).size;
      } catch {
        throw new RunStoreError("CORRUPT_FILE", `${ref.file}: missing, but the manifest references it`);
      }
      checkSize(ref, size);
    }
  }
}

/**
 * Removes the temporary files that writes interrupted by a killed process left in run directory
 * `dir` (its top level and its folders, RUN_FOLDERS) and returns their run-relative paths. Only
 * while no process writes there: under the run's lock.
 */
export async function removeInterruptedWrites(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const folder of ["", ...(await runFolders(dir))]) {
    for (const entry of await folderEntries(join(dir, folder))) {
      if (!entry.isFile() || !isTemporaryFile(entry.name)) continue;
      const file = folder === "" ? entry.name : `${folder}/${entry.name}`;
      await rm(join(dir, file), { force: true });
      removed.push(file);
    }
  }
  return removed;
}

/** Whether nothing of the run has trained: its state is the initial one, with no clustering. */
function neverTrained(manifest: RunManifest): boolean {
  const { state } = manifest;
  const initial = state.stage === 1 && state.phase === "train" && state.epoch === 0;
  return initial && state.checkpoints.every((c) => c === null) && state.baselineCheckpoint === null && manifest.stages.length === 0;
}

/** The run folders (RUN_FOLDERS) in `dir`, each with every folder below it, deepest first. */
async function runFolders(dir: string): Promise<string[]> {
  const folders: string[] = [];
  const below = async (folder: string): Promise<void> => {
    for (const entry of await folderEntries(join(dir, folder))) {
      if (entry.isDirectory()) await below(`${folder}/${entry.name}`);
    }
    folders.push(folder);
  };
  for (const entry of await folderEntries(dir)) if (entry.isDirectory() && RUN_FOLDERS.test(entry.name)) await below(entry.name);
  return folders;
}

/** The entries of a folder; none when it does not exist. */
export async function folderEntries(folder: string): Promise<Dirent[]> {
  try {
    return await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

function parseManifest(text: string, path: string): RunManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RunStoreError("CORRUPT_FILE", `${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    throw new RunStoreError("CORRUPT_FILE", `${path}: ${formatIssues(parsed.error.issues, manifestSchema).map(issueLine).join("; ")}`);
  }
  const config = mclConfigSchema.safeParse(migrateConfig(parsed.data.config, path), { reportInput: true });
  if (!config.success) {
    const issues = formatIssues(config.error.issues, mclConfigSchema).map(({ path, message }) =>
      issueLine({ path: path === "" ? "config" : `config.${path}`, message }),
    );
    throw new RunStoreError("CORRUPT_FILE", `${path}: ${issues.join("; ")}`);
  }
  if (parsed.data.format === SCHEDULER_NUMBERED_FORMAT && isClipEncoder(config.data.encoder)) {
    const made = parsed.data.versions.package;
    throw new RunStoreError(
      "RUN_INCOMPATIBLE",
      `${path}: this CLIP run was made by version ${made}, whose run files number the initial model stage 1 and the MCL ` +
        "stages from 2; this version numbers them from 0 as summary.json does, and cannot resume or read the run's files. " +
        `Its summary.json and report.html stay valid; resume, report or export it with version ${made}, or start it again under a new name`,
    );
  }
  const checkpointFiles = parsed.data.checkpointFiles ?? {};
  checkStageNumbers(parsed.data.stages, checkpointFiles, scheduleFromConfig(config.data), path);
  return {
    ...parsed.data,
    format: MANIFEST_FORMAT,
    config: config.data,
    preprocess: parsed.data.preprocess ?? DEFAULT_PREPROCESS,
    checkpointFiles,
  };
}

/**
 * Refuses (CORRUPT_FILE) stage records and checkpoint tracks that are not the run's stage numbers
 * (track.ts): records are looked up both by position (stages[i] follows the scheduler's stage
 * i + 1) and by number, which must agree.
 */
function checkStageNumbers(
  stages: readonly StageRecord[],
  checkpointFiles: Readonly<Record<string, CheckpointFileRef>>,
  schedule: StageSchedule,
  path: string,
): void {
  const numbered = `the run's stages are numbered ${firstStage(schedule)}…${lastStage(schedule)}`;
  const fix = "the manifest was changed by hand or damaged: restore it from a copy of the run, or start the run again";
  if (stages.length > schedule.stages - 1) {
    throw new RunStoreError(
      "CORRUPT_FILE",
      `${path}: stages has ${stages.length} records, but the run clusters after each stage but the last (${numbered}): ` +
        `${schedule.stages - 1} at most; ${fix}`,
    );
  }
  stages.forEach((record, i) => {
    const expected = stageNumber(schedule, i + 1);
    if (record.stage !== expected) {
      throw new RunStoreError(
        "CORRUPT_FILE",
        `${path}: stages[${i}].stage is ${record.stage}, expected ${expected} (${numbered}, and the records follow them in order); ${fix}`,
      );
    }
  });
  for (const [file, ref] of Object.entries(checkpointFiles)) {
    if (ref.track !== "baseline" && (ref.track < firstStage(schedule) || ref.track > lastStage(schedule))) {
      throw new RunStoreError("CORRUPT_FILE", `${path}: checkpointFiles["${file}"].track is ${ref.track}, but ${numbered}; ${fix}`);
    }
  }
}

/**
 * A stored config in the current fields. Runs made when the image tower was locked with
 * clip.imageUnlockedBlocks (N: a ViT's last N blocks with ln_post and the projection train;
 * 0: the whole tower is frozen) read as open_clip's groups, whose last two are the projection and
 * the last block with ln_post: N + 1 groups for N >= 1, none for 0. A ResNet's last N bottleneck
 * blocks have no group equivalent (open_clip locks it whole), so such a run cannot be resumed.
 */
function migrateConfig(config: unknown, path: string): unknown {
  if (!isRecord(config) || !isRecord(config["clip"]) || !Object.hasOwn(config["clip"], "imageUnlockedBlocks")) return config;
  const { imageUnlockedBlocks: blocks, ...clip } = config["clip"];
  if (typeof blocks !== "number" || !Number.isInteger(blocks) || blocks < 0) return config; // the schema names it
  if (blocks > 0 && typeof config["encoder"] === "string" && isResNetClipEncoder(config["encoder"])) {
    throw new RunStoreError(
      "RUN_INCOMPATIBLE",
      `${path}: config.clip.imageUnlockedBlocks ${blocks} trained the last ${blocks} bottleneck blocks of the ${config["encoder"]} ` +
        "image tower, which has no equivalent now (its tower locks only whole: clip.lockImage); this run cannot be resumed: " +
        "start a new one with clip.lockImage true (the tower frozen) or false (all of it trains)",
    );
  }
  return { ...config, clip: { ...clip, lockImage: true, lockImageUnlockedGroups: blocks === 0 ? 0 : blocks + 1 } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function arrayRefs(manifest: RunManifest): ArrayFileRef[] {
  return manifest.stages.flatMap((s) =>
    s.composite === undefined
      ? [s.assignments]
      : [s.assignments, s.composite.labels, s.composite.parents, s.composite.sizes],
  );
}

function referencedFiles(manifest: RunManifest): string[] {
  return arrayRefs(manifest).map((ref) => ref.file);
}

/**
 * The records worth keeping: each checkpoint the state references, and the newest one before it
 * in its track (its file stays until the track's next epoch is saved), the fallback should the
 * referenced one be found damaged.
 */
function keptCheckpoints(
  records: Readonly<Record<string, CheckpointFileRef>>,
  state: SchedulerState,
): Record<string, CheckpointFileRef> {
  const kept: Record<string, CheckpointFileRef> = {};
  for (const file of [...state.checkpoints, state.baselineCheckpoint]) {
    const ref = file === null ? undefined : records[file];
    if (file === null || ref === undefined) continue;
    kept[file] = ref;
    const earlier = Object.entries(records)
      .filter(([, other]) => other.track === ref.track && other.epochs < ref.epochs)
      .sort(([, a], [, b]) => b.epochs - a.epochs)[0];
    if (earlier !== undefined) kept[earlier[0]] = earlier[1];
  }
  return kept;
}

/** The files of `before` that `after` drops for a later epoch of their track. */
function supersededCheckpoints(
  before: Readonly<Record<string, CheckpointFileRef>>,
  after: Readonly<Record<string, CheckpointFileRef>>,
): string[] {
  const kept = Object.values(after);
  return Object.entries(before)
    .filter(([file, ref]) => after[file] === undefined && kept.some((k) => k.track === ref.track && k.epochs > ref.epochs))
    .map(([file]) => file);
}

/** Size and SHA-256 of a file, read as a stream. */
async function digestFile(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { bytes, sha256: hash.digest("hex") };
}

function checkSize(ref: ArrayFileRef, size: number): void {
  const expected = ref.length * Int32Array.BYTES_PER_ELEMENT;
  if (size !== expected) {
    throw new RunStoreError(
      "CORRUPT_FILE",
      `${ref.file}: expected ${expected} bytes (${ref.length} int32), found ${size}${size < expected ? " (truncated)" : ""}`,
    );
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function requireLittleEndian(): void {
  if (endianness() !== "LE") {
    throw new RunStoreError("INVALID_ARGUMENT", "run files are little-endian int32; this machine is big-endian");
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
