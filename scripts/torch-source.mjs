// Which torch build the worker's environment gets: shared by scripts/bootstrap.mjs (a clone's .venv)
// and `mcl setup` (the installed package's environment). Plain JavaScript with no dependencies,
// because bootstrap runs it before anything is installed.
import { spawnSync } from "node:child_process";

/** Pinned: the local CPU build here; a looser spec would pull gigabytes of CUDA wheels. */
export const DEFAULT_TORCH_SPEC = "torch==2.13.0";
/** PyTorch's index of CUDA 12.8 builds, consulted when a GPU is visible and no index is named. */
export const CUDA_INDEX_URL = "https://download.pytorch.org/whl/cu128";
const NVIDIA_SMI_TIMEOUT_MS = 10_000;

/** Whether `nvidia-smi -L` lists a GPU (no driver, no tool, or no answer within 10 s: no). */
export function gpuVisible() {
  const result = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: NVIDIA_SMI_TIMEOUT_MS, stdio: ["ignore", "pipe", "ignore"] });
  return result.status === 0 && /^GPU \d+:/m.test(result.stdout ?? "");
}

/** MCL_TORCH_SPEC, else the pinned default. */
export function torchSpec(env = process.env) {
  return env.MCL_TORCH_SPEC || DEFAULT_TORCH_SPEC;
}

/**
 * The torch spec and pip's index arguments, and why. MCL_TORCH_SPEC and MCL_TORCH_INDEX_URL when set
 * (the index replaces pip's; empty means pip's own). Else, with a GPU visible, PyTorch's CUDA index
 * beside pip's: its CUDA wheel outranks a CPU one of the same version, and an unreachable index
 * (an offline machine) is skipped with a warning, so pip's own source still serves.
 * @param {Record<string, string | undefined>} env
 * @param {() => boolean} hasGpu
 * @returns {{ spec: string, pipArgs: string[], why: string }}
 */
export function torchSource(env = process.env, hasGpu = gpuVisible) {
  const spec = torchSpec(env);
  const index = env.MCL_TORCH_INDEX_URL;
  if (index !== undefined) {
    return { spec, pipArgs: index === "" ? [] : ["--index-url", index], why: "MCL_TORCH_INDEX_URL" };
  }
  if (hasGpu()) return { spec, pipArgs: ["--extra-index-url", CUDA_INDEX_URL], why: "nvidia-smi lists a GPU: a CUDA build" };
  return { spec, pipArgs: [], why: "no GPU visible: pip's own index" };
}
