#!/usr/bin/env node
// One idempotent setup from a fresh clone: npm packages, a Python venv with torch, the worker;
// with --oracles also the peer libraries the oracle tests compare against (test/py/oracles/peers.txt).
// Plain JavaScript with no dependencies, because it runs before anything is installed.
// Each step is skipped when a stamp says its inputs are unchanged, so a warm run takes seconds.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { torchSource, torchSpec } from "./torch-source.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const venv = join(root, ".venv");
const venvPython = join(venv, "bin", "python");
// torch first: its spec and index come from torch-source.mjs, shared with `mcl setup`.
// A wheel index for torch, e.g. https://download.pytorch.org/whl/cu128 for its CUDA 12.8 build.
const torchIndex = process.env.MCL_TORCH_INDEX_URL ?? "";
const basePython = process.env.MCL_PYTHON ?? "python3";

function run(cmd, args, opts = {}) {
  const started = Date.now();
  console.log(`[bootstrap] ${cmd} ${args.join(" ")}`);
  const result = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (result.error) throw new Error(`[bootstrap] could not run ${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`[bootstrap] '${cmd} ${args.join(" ")}' exited with ${result.status}`);
  }
  console.log(`[bootstrap]   done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function succeeds(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: "ignore" });
  return !result.error && result.status === 0;
}

function digest(...files) {
  const hash = createHash("sha256");
  for (const file of files) {
    const path = join(root, file);
    hash.update(file);
    hash.update(existsSync(path) ? readFileSync(path) : "<absent>");
  }
  return hash.digest("hex");
}

function stampMatches(path, value) {
  return existsSync(path) && readFileSync(path, "utf8") === value;
}

function npmPackages() {
  const stamp = join(root, "node_modules", ".mcl-bootstrap");
  const inputs = digest("package.json", "package-lock.json");
  if (stampMatches(stamp, inputs)) return;
  // `npm install` rather than `npm ci`: it honours the lockfile too, and npm 11's `ci` rejects
  // lockfiles that omit other platforms' optional binaries.
  run("npm", ["install", "--no-audit", "--no-fund"]);
  writeFileSync(stamp, digest("package.json", "package-lock.json"));
}

function pythonWorker() {
  if (!existsSync(venvPython)) run(basePython, ["-m", "venv", venv]);
  const stamp = join(venv, ".mcl-bootstrap");
  // What was asked for, not what a GPU suggested: a torch already installed stays unless a setting changes.
  const torchAsked = `${torchSpec()} ${torchIndex}`;
  const inputs = `${torchAsked}\n${digest("pyproject.toml")}`;
  if (stampMatches(stamp, inputs) && succeeds(venvPython, ["-c", "import torch, mcl_worker"])) return;
  // A changed MCL_TORCH_SPEC reinstalls torch (pip keeps a match); a changed index replaces the
  // build in place, since a CPU and a CUDA wheel may carry the same version.
  const previousTorchAsked = existsSync(stamp) ? readFileSync(stamp, "utf8").split("\n")[0] : undefined;
  if (previousTorchAsked !== torchAsked || !succeeds(venvPython, ["-c", "import torch"])) {
    const torch = torchSource();
    console.log(`[bootstrap] torch: ${torch.spec} (${torch.why})`);
    const replace = torchIndex === "" ? [] : ["--force-reinstall"];
    run(venvPython, ["-m", "pip", "install", "--quiet", ...torch.pipArgs, ...replace, torch.spec]);
  }
  run(venvPython, ["-m", "pip", "install", "--quiet", "-e", ".[test]"]);
  writeFileSync(stamp, inputs);
}

// The peers go in with --no-deps: their declared dependencies would pull a CUDA torch of gigabytes.
function oraclePeers() {
  const stamp = join(venv, ".mcl-oracles");
  const inputs = digest("test/py/oracles/peers.txt", "test/py/oracles/peers-deps.txt");
  if (stampMatches(stamp, inputs)) return;
  run(venvPython, ["-m", "pip", "install", "--quiet", "--no-deps", "-r", "test/py/oracles/peers.txt"]);
  run(venvPython, ["-m", "pip", "install", "--quiet", "-r", "test/py/oracles/peers-deps.txt"]);
  writeFileSync(stamp, inputs);
}

try {
  npmPackages();
  pythonWorker();
  if (process.argv.includes("--oracles")) oraclePeers();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
