"""The baseline of `npm run bench:train`: a plain PyTorch training loop, no worker, no wire.

The same library pieces as the worker's train job (open_dataset, augment, create_model,
nt_xent, AdamW), in a plain for-loop. bench/train.ts starts this process once and alternates
epochs between it and the worker: it writes one line per command on stdin,
    {"epoch": <seed>}        run one epoch of uniform batches (a fresh permutation)
and reads back one JSON line {"samples": ..., "seconds": ..., "cpu_seconds": ...} timed inside
the loop: wall seconds, and this process's CPU seconds (user + system, all threads).

    .venv/bin/python bench/train_plain.py --uri synthetic:trifeature?n=4096 --batch-size 256
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from mcl_worker.data import AugmentConfig, augment, open_dataset
from mcl_worker.losses import nt_xent
from mcl_worker.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--arch", default="small-cnn")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temperature", type=float, default=0.2)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataset = open_dataset(args.uri)
    _, size, _ = dataset.image_shape
    torch.manual_seed(0)
    model = create_model(args.arch, image_size=size).to(device)
    # Fused, as the worker's optimizers are: both sides run the same optimizer step.
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, fused=True)
    cfg = AugmentConfig()
    generator = torch.Generator(device=device)
    n, b = len(dataset), args.batch_size
    print(json.dumps({"ready": True, "device": str(device)}), flush=True)

    for line in sys.stdin:
        seed = int(json.loads(line)["epoch"])
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        model.train()
        started, cpu_started = time.perf_counter(), time.process_time()
        samples = 0
        for step in range(n // b):
            batch = order[step * b : (step + 1) * b]
            images = dataset.get_images(batch).to(device, non_blocking=True)
            generator.manual_seed(seed * 2**32 + step)
            views = torch.cat([augment(images, cfg, generator), augment(images, cfg, generator)])
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                projections = model(views)
            z_a, z_b = projections.float().chunk(2)
            loss = nt_xent(z_a, z_b, temperature=args.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()  # what a plain loop logs; also waits for the GPU, as the worker does
            samples += batch.numel()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        print(json.dumps({"samples": samples, "seconds": seconds, "cpu_seconds": cpu_seconds}), flush=True)


if __name__ == "__main__":
    main()
