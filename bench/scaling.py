"""Data-parallel scaling: throughput of the `train` job with 1 process and with W processes.

Each configuration trains the same model on the same plan (global batch B, S steps, the same
seed) through the job registry as `python -m mcl_worker` under torchrun runs it: rank 0 starts
the job, which is broadcast to every rank (mcl_worker.distributed), each rank embeds its slice
of every global batch and the projections are gathered across ranks. Timed: one train job of S
steps after a warm-up job of 2 steps, samples (of the global batch) per second on rank 0.

CPU: 1 process × T threads against W = 2 processes × T / 2 threads, T = the cores (so both
use the same cores). GPU (when CUDA is present): 1 GPU against all GPUs, one process each.
The two configurations alternate, `--repeats` times; the medians and their ratio are
reported. Writes bench/results/scaling.json and prints it as the last line.
Usage: .venv/bin/python bench/scaling.py [--steps S] [--batch B] [--image-size P] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from result_file import write_result

RESULT = Path(__file__).resolve().parent / "results" / "scaling.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="small-cnn")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128, help="global batch (default %(default)s)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration (default %(default)s)")
    parser.add_argument("--rank-of", metavar="JSON", help=argparse.SUPPRESS)  # internal: run as one rank
    return parser.parse_args()


# -- one rank ---------------------------------------------------------------------------------


def run_rank(settings: dict[str, Any]) -> int:
    torch.set_num_threads(settings["threads"])
    from mcl_worker import distributed
    from mcl_worker.jobs import JobContext, WorkerConfig, WorkerState, collective, lookup, run_job

    if distributed.launched() and distributed.init() > 0:
        return collective.follow(WorkerState())
    state = WorkerState()

    def call(job_type: str, body: dict[str, Any]) -> dict[str, Any]:
        spec = lookup(job_type)
        assert spec is not None
        return run_job(spec, body, JobContext(1, job_type, state, WorkerConfig(max_message_bytes=1 << 30, jobs=1), lambda p: None))

    batch, steps, size = settings["batch"], settings["steps"], settings["image_size"]
    n = batch * steps
    data = call("dataset.open", {"uri": f"synthetic:trifeature?n={n}&size={size}&seed=0"})["dataset"]
    model = call("model.create", {"arch": settings["arch"], "image_size": size, "seed": 0})["model"]
    optimizer = call("optimizer.create", {"model": model, "name": "sgd", "lr": 0.05, "momentum": 0.9})["optimizer"]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).to(torch.int32)

    def train(count: int) -> dict[str, Any]:
        return call("train", {
            "model": model, "optimizer": optimizer, "dataset": data, "seed": 0,
            "indices": order[: count * batch], "offsets": torch.arange(0, count * batch + 1, batch, dtype=torch.int32),
            "loss": {"name": "nt-xent", "temperature": 0.2}, "amp": False,
        })

    train(2)  # warm-up: allocations, DistributedDataParallel's buckets
    started = time.perf_counter()
    result = train(steps)
    seconds = time.perf_counter() - started
    collective.shutdown()
    print(json.dumps({"samples_per_s": result["samples"] / seconds, "loss": result["last_loss"]}), flush=True)
    return 0


# -- the driver -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(processes: int, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run with `processes` ranks of `threads` threads each; rank 0's report."""
    settings = {"arch": args.arch, "image_size": args.image_size, "batch": args.batch, "steps": args.steps,
                "threads": threads}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if processes > 1:
        env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(processes)}
    command = [sys.executable, __file__, "--rank-of", json.dumps(settings)]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                         env={**env, "RANK": str(r), "LOCAL_RANK": str(r)} if processes > 1 else env)
        for r in range(processes)
    ]
    outputs = [p.communicate(timeout=1800)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a rank failed: exit codes {[p.returncode for p in procs]}")
    return dict(json.loads(outputs[0].strip().splitlines()[-1]))


def main() -> int:
    args = parse_args()
    if args.rank_of:
        return run_rank(json.loads(args.rank_of))
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    cuda = torch.cuda.is_available()
    cores = os.cpu_count() or 1
    if cuda:
        many = torch.cuda.device_count()
        configs = [(1, cores), (many, max(1, cores // many))]
        device = f"{many} x {torch.cuda.get_device_name(0)}"
    else:
        many = 2
        configs = [(1, cores), (2, max(1, cores // 2))]
        device = f"cpu ({cores} cores)"
    runs: dict[int, list[float]] = {p: [] for p, _ in configs}
    losses: dict[int, list[float]] = {p: [] for p, _ in configs}
    for _ in range(args.repeats):
        for processes, threads in configs:  # alternated, so a change in load hits both alike
            report = measure(processes, threads, args)
            runs[processes].append(report["samples_per_s"])
            losses[processes].append(report["loss"])
    medians = {p: statistics.median(v) for p, v in runs.items()}
    report = {
        "bench": "scaling",
        "what": "samples/s of the train job (global batch), 1 process vs W data-parallel processes",
        "device": device,
        "settings": {"arch": args.arch, "image_size": args.image_size, "global_batch": args.batch,
                     "steps": args.steps, "repeats": args.repeats, "loss": "nt-xent", "optimizer": "sgd"},
        "configs": [{"processes": p, "threads_per_process": t, "samples_per_s": runs[p],
                     "median_samples_per_s": medians[p], "last_loss": losses[p]} for p, t in configs],
        "speedup": medians[configs[-1][0]] / medians[1],
        "note": (None if not cuda or many > 1 else
                 "one GPU only: both configurations are 1 process on it"),
        "bench_seconds": time.perf_counter() - started,
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "cpu_count": cores,
                        "load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
    }
    write_result(RESULT, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
