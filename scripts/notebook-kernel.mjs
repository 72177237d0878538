#!/usr/bin/env node
// Installs the TypeScript Jupyter kernel that examples/notebook.ipynb runs on (tslab, pinned) into
// .venv/notebook-kernel, with a kernelspec beside it, and prints the folder to put on JUPYTER_PATH:
//
//   JUPYTER_PATH=$(node scripts/notebook-kernel.mjs) jupyter lab examples/notebook.ipynb
//
// A second run with the same pin does nothing. Plain JavaScript with no dependencies, like bootstrap.mjs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** tslab's last release; its kernel runs TypeScript cells on Node with top-level await. */
export const TSLAB = "tslab@1.0.22";
/** The kernel's name, as examples/notebook.ipynb's metadata names it. */
export const KERNEL_NAME = "tslab";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = join(root, ".venv", "notebook-kernel");
/** The folder to put on JUPYTER_PATH: it holds kernels/tslab/kernel.json. */
export const JUPYTER_DIR = join(prefix, "jupyter");

/** Installs the kernel when its pin changed and writes the kernelspec; returns JUPYTER_DIR. */
export function installKernel() {
  const stamp = join(prefix, ".mcl-kernel");
  const bin = join(prefix, "node_modules", "tslab", "bin", "tslab");
  if (!(existsSync(stamp) && readFileSync(stamp, "utf8") === TSLAB && existsSync(bin))) {
    mkdirSync(prefix, { recursive: true });
    // Its own package.json keeps npm from climbing to the project's.
    writeFileSync(join(prefix, "package.json"), `${JSON.stringify({ private: true }, null, 2)}\n`);
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    // npm's output to stderr: stdout is for the path.
    const result = spawnSync(npm, ["install", "--no-audit", "--no-fund", "--prefix", prefix, TSLAB], { stdio: ["ignore", 2, 2] });
    if (result.error) throw new Error(`[notebook-kernel] could not run npm: ${result.error.message}`);
    if (result.status !== 0) throw new Error(`[notebook-kernel] 'npm install ${TSLAB}' exited with ${result.status}`);
    writeFileSync(stamp, TSLAB);
  }
  // tslab's own installer needs a Python with jupyter_client; the kernelspec is only this file.
  // The Node that runs this script runs the kernel, whatever PATH the notebook server has.
  const spec = {
    argv: [process.execPath, bin, "kernel", "--config-path", "{connection_file}"],
    display_name: "TypeScript (tslab)",
    language: "typescript",
  };
  const kernelDir = join(JUPYTER_DIR, "kernels", KERNEL_NAME);
  mkdirSync(kernelDir, { recursive: true });
  writeFileSync(join(kernelDir, "kernel.json"), `${JSON.stringify(spec, null, 2)}\n`);
  return JUPYTER_DIR;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    console.log(installKernel());
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
