"""The baseline of `npm run bench:overhead`: one MCL stage as a plain PyTorch script.

No worker, no wire, no run directory: the library pieces the worker's train job uses
(open_dataset, augment, create_model, the loss, AdamW) in a plain for-loop over the very batch
plans the SDK trained on. bench/overhead.ts starts this process once and, per round, writes one
line on stdin:
    {"plans": <folder>, "epochs": E, "seeds": [...], "model_seed": s}
where <folder>/epoch-<e>.indices.i32 and .offsets.i32 hold epoch e's plan (the control plane's
layout: step t trains on indices[offsets[t]:offsets[t + 1]]) and seeds[e] is the epoch's
augmentation seed. It trains a fresh model for the E epochs and answers with one JSON line
{"seconds": ..., "cpu_seconds": ..., "samples": ..., "steps": ...}, timed around the whole stage
(model creation included, as the SDK's stage is): wall seconds, and this process's CPU seconds
(user + system, all threads).

    .venv/bin/python bench/overhead_plain.py --uri 'synthetic:trifeature?n=2048' --threads 2 \
        --augment '{"crop_scale": [0.2, 1]}' --loss nt-xent --temperature 0.1 --lr 1e-3 --weight-decay 1e-4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mcl_worker.data import AugmentConfig, augment, open_dataset
from mcl_worker.losses import get_loss
from mcl_worker.models import create_model
from mcl_worker.train import step_seed  # the worker's per-step augmentation seed: both sides draw the same views


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--arch", default="small-cnn")
    parser.add_argument("--threads", type=int, required=True, help="torch intra-op threads (as the worker's)")
    parser.add_argument("--augment", required=True, help="the train job's augment options, as JSON")
    parser.add_argument("--loss", default="nt-xent")
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--weight-decay", type=float, required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataset = open_dataset(args.uri)
    _, size, _ = dataset.image_shape
    cfg = AugmentConfig.from_dict(json.loads(args.augment))
    loss_fn = get_loss(args.loss)
    print(json.dumps({"ready": True, "device": str(device), "threads": torch.get_num_threads()}), flush=True)

    for line in sys.stdin:
        command = json.loads(line)
        folder = Path(command["plans"])
        plans = [
            (
                torch.from_numpy(np.fromfile(folder / f"epoch-{e}.indices.i32", dtype=np.int32)).long(),
                np.fromfile(folder / f"epoch-{e}.offsets.i32", dtype=np.int32).tolist(),
            )
            for e in range(command["epochs"])
        ]
        started, cpu_started = time.perf_counter(), time.process_time()
        torch.manual_seed(command["model_seed"])
        model = create_model(args.arch, image_size=size).to(device)
        # Fused, as the worker's optimizers are: both sides run the same optimizer step.
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, fused=True)
        generator = torch.Generator(device=device)
        model.train()
        samples = steps = 0
        for epoch, (indices, offsets) in enumerate(plans):
            for step in range(len(offsets) - 1):
                batch = indices[offsets[step] : offsets[step + 1]]
                images = dataset.get_images(batch).to(device, non_blocking=True)
                generator.manual_seed(step_seed(command["seeds"][epoch], step))
                views = torch.cat([augment(images, cfg, generator), augment(images, cfg, generator)])
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    projections = model(views)
                z_a, z_b = projections.float().chunk(2)
                loss = loss_fn(z_a, z_b, temperature=args.temperature)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss.item()  # what a plain loop logs; also waits for the GPU, as the worker does
                samples += batch.numel()
                steps += 1
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "samples": samples, "steps": steps}), flush=True)


if __name__ == "__main__":
    main()
