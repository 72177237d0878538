"""Per-step time of train_steps with the loss read at progress points against a read every step.

Three loops train the same small CNN (32 px, batch 64, AdamW) on the same plan, in interleaved
rounds (A B C, then C B A, ...), each round timing STEPS steps after WARMUP untimed ones:
- deferred:  train_steps with a fused AdamW, losses read every STEPS steps (no host sync a step);
- per-step:  the same, with progress_every=1: one host read of the loss a step;
- baseline:  the per-step host read: a clone of every buffer, float(loss) before backward, a
             foreach (non-fused) AdamW.
Reports the median per-step time of each and the ratios to deferred. On a CPU a host read costs
next to nothing (every op has finished when the next starts); on CUDA it stalls the host until the
GPU drains its queue, which is what the deferred read removes. `--device cuda` measures that.
Writes bench/results/step_sync.json and prints it as the last line.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from mcl_worker.data import AugmentConfig, augment
from mcl_worker.losses import nt_xent
from mcl_worker.models import create_model
from mcl_worker.train import train_steps
from result_file import write_result

SIZE, BATCH, N = 32, 64, 512
RESULT = Path(__file__).resolve().parent / "results" / "step_sync.json"


def images() -> torch.Tensor:
    return torch.randint(0, 256, (N, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def plan(steps: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.stack([torch.randperm(N, generator=g)[:BATCH] for _ in range(steps)])


def host_read_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: torch.Tensor,
                data: torch.Tensor, cfg: AugmentConfig, device: torch.device) -> None:
    """The baseline: a training step that reads and checks its loss on the host before its update (fp32)."""
    generator = torch.Generator(device=device)
    model.train()
    for step, batch in enumerate(batches):
        x = data[batch].to(device, non_blocking=True)
        generator.manual_seed(step)
        views = torch.cat([augment(x, cfg, generator), augment(x, cfg, generator)])
        buffers = [b.clone() for b in model.buffers()]
        z_a, z_b = model(views).float().chunk(2)
        loss = nt_xent(z_a, z_b, temperature=0.2)
        value = float(loss.detach())
        if not math.isfinite(value):
            for buffer, saved in zip(model.buffers(), buffers):
                buffer.copy_(saved)
            raise RuntimeError(f"non-finite loss at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--arch", default="small-cnn")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = images()
    cfg = AugmentConfig(size=SIZE)

    def get_images(batch: torch.Tensor) -> torch.Tensor:
        return data[batch]

    def view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return augment(x, cfg, generator)

    def run(kind: str, steps: int) -> float:
        torch.manual_seed(0)
        model = create_model(args.arch, image_size=SIZE).to(device)
        fused = kind != "baseline"
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fused)
        batches = plan(steps)
        sync()
        started = time.perf_counter()
        if kind == "baseline":
            host_read_loop(model, optimizer, batches, data, cfg, device)
        else:
            train_steps(model, optimizer, batches, get_images, view, nt_xent, seed=0, device=device,
                        precision="fp32", progress_every=1 if kind == "per-step" else steps)
        sync()
        return (time.perf_counter() - started) / steps

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    kinds = ["deferred", "per-step", "baseline"]
    for kind in kinds:
        run(kind, 3)  # warm-up: allocator, oneDNN / cuDNN choices
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for r in range(args.rounds):
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            times[kind].append(run(kind, args.steps))
    median = {kind: statistics.median(values) for kind, values in times.items()}
    write_result(RESULT, {
        "bench": "step_sync",
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "arch": args.arch, "batch": BATCH, "image_size": SIZE, "steps_per_round": args.steps, "rounds": args.rounds,
        "median_step_ms": {kind: round(value * 1000, 2) for kind, value in median.items()},
        "step_ms": {kind: [round(v * 1000, 2) for v in values] for kind, values in times.items()},
        "per_step_over_deferred": round(median["per-step"] / median["deferred"], 3),
        "baseline_over_deferred": round(median["baseline"] / median["deferred"], 3),
        "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0],
    })


if __name__ == "__main__":
    main()
