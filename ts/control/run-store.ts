/**
 * Run store: everything a run must keep to resume, in one directory (runs/<name>/):
 *
 *   manifest.json                 format, config, versions, preprocessing, scheduler state,
 *                                 per-stage records
 *   stage-<s>/assignments.i32     k-means assignments c_s (raw little-endian int32, N entries)
 *   stage-<s>/labels.i32          composite labels after stage s (dense ids)
 *   stage-<s>/parents.i32         per composite group: its group after stage s-1
 *   stage-<s>/sizes.i32           per composite group: its size
 *   checkpoints/…                 model checkpoints, written by the worker; the manifest
 *                                 (scheduler state) references them by path
 *
 * Every file is written atomically (atomic-file.ts), arrays first, the manifest last: the
 * manifest is the commit record, and it names each array with its length and SHA-256. A crash
 * at any moment leaves the previous manifest, which references only complete files; arrays
 * written after it are ignored and rewritten when the run resumes. Opening a run checks every
 * referenced file's size, reading one checks its checksum; resuming with a config whose fields
 * differ is refused with the list of fields.
 */

import { createHash } from "node:crypto";
import { readFile, rm, rmdir, stat } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { diffConfigs } from "../config/config-diff.js";
import { formatIssues } from "../config/config-error.js";
import { isResNetClipEncoder } from "../config/clip-config.js";
import { mclConfigSchema, type MclConfig } from "../config/mcl-config.js";
import { DEFAULT_PREPROCESS, preprocessOf, preprocessRecordSchema, type Preprocess } from "../config/preprocess.js";
import { bytesOf, writeFileAtomic } from "./atomic-file.js";
import { RunStoreError } from "./errors.js";
import { schedulerStateSchema, type SchedulerState } from "./stage-scheduler.js";

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_FORMAT = "mcl-run/1";

const arrayFileSchema = z.strictObject({
  /** Path relative to the run directory. */
  file: z.string().min(1),
  dtype: z.literal("int32"),
  length: z.int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
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
  stage: z.int().min(1),
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

const versionsSchema = z.strictObject({ package: z.string(), protocol: z.int() });
export type Versions = z.output<typeof versionsSchema>;

const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
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
  readonly state: SchedulerState;
  /** Clusterings recorded so far; stages[s - 1] is stage s. */
  readonly stages: readonly StageRecord[];
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
  /** Made by `create` in this process, with nothing committed since. */
  #fresh = false;

  private constructor(dir: string, manifest: RunManifest) {
    this.dir = dir;
    this.#manifest = manifest;
  }

  /** Starts a new run in `dir`; refuses a directory that already holds one. */
  static async create(dir: string, options: CreateRunOptions): Promise<RunStore> {
    if (await exists(join(dir, MANIFEST_FILE))) {
      throw new RunStoreError("RUN_EXISTS", `${dir} already holds a run; resume it or choose another name`);
    }
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
    };
    const store = new RunStore(dir, manifest);
    await store.#writeManifest(manifest);
    store.#fresh = true;
    return store;
  }

  /**
   * Undoes `create` when the run cannot begin (its config does not fit its dataset): removes the
   * manifest, and the directory when that leaves it empty, so that the name can be started again.
   * Refused once anything was committed.
   */
  async discard(): Promise<void> {
    if (!this.#fresh) {
      throw new RunStoreError("INVALID_ARGUMENT", `${this.dir}: only a run created in this process with nothing committed can be discarded`);
    }
    await rm(this.path(MANIFEST_FILE), { force: true });
    await rmdir(this.dir).catch(() => undefined); // a folder that held other files before the run stays
    this.#fresh = false;
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

  /** Resumes the run in `dir` if there is one (same config required), else creates it. */
  static async openOrCreate(dir: string, options: CreateRunOptions): Promise<{ store: RunStore; resumed: boolean }> {
    if (await exists(join(dir, MANIFEST_FILE))) {
      return { store: await RunStore.open(dir, { config: options.config }), resumed: true };
    }
    return { store: await RunStore.create(dir, options), resumed: false };
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

  /** Commits changes to the manifest atomically; the in-memory manifest follows on success. */
  async commit(changes: ManifestChanges): Promise<RunManifest> {
    const manifest: RunManifest = { ...this.#manifest, ...changes, updatedAt: new Date().toISOString() };
    this.#fresh = false;
    await this.#writeManifest(manifest);
    this.#manifest = manifest;
    return manifest;
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

function parseManifest(text: string, path: string): RunManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RunStoreError("CORRUPT_FILE", `${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    throw new RunStoreError("CORRUPT_FILE", `${path}: ${formatIssues(parsed.error.issues, manifestSchema).join("; ")}`);
  }
  const config = mclConfigSchema.safeParse(migrateConfig(parsed.data.config, path), { reportInput: true });
  if (!config.success) {
    const issues = formatIssues(config.error.issues, mclConfigSchema).map((line) => `config.${line}`);
    throw new RunStoreError("CORRUPT_FILE", `${path}: ${issues.join("; ")}`);
  }
  return { ...parsed.data, config: config.data, preprocess: parsed.data.preprocess ?? DEFAULT_PREPROCESS };
}

/**
 * A stored config in today's fields. Runs made when the image tower was locked with
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
