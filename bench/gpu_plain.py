"""The plain side of `npm run bench:gpu` and its pure-PyTorch parts, no worker, no wire.

bench/gpu.ts starts this process once and writes one JSON line per request on stdin; every
answer is one JSON line on stdout. The first line says where it computes:
    {"ready": true, "device", "card", "torch", "cuda", "memory_bytes"}
Requests ("op"):
    clip_setup    open the CLIP dataset, build the model, its words tokenizer and fused AdamW as the
                  worker's clip.create / optimizer.create do; on CUDA, find the batch: from
                  batch_guess, halved on torch.cuda.OutOfMemoryError, under memory_fraction
    clip_train    the steps of a batch plan (indices, offsets) in a plain loop, timed inside it
    clip_flops    FLOPs of one forward + loss + backward step, and the card's peak bf16 FLOP/s
    clip_release  drop the CLIP model and its cached CUDA memory
    kmeans        mcl_worker.kmeans on this device against scikit-learn's MiniBatchKMeans (CPU)
    data          data_wait_fraction of train_steps feeding a ResNet from generated JPEGs
The CLIP loop is the worker's clip.train step (the same augmentation, tokenizer, autocast, clip
loss and logit-scale clamp) written as a for-loop; it reads the loss every step, as a plain loop
logs it.

    .venv/bin/python bench/gpu_plain.py --device cuda
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits
from torch.utils.flop_counter import FlopCounterMode

from data import measured, summary, train_chunk, write_jpegs
from kmeans import full_inertia
from mcl_worker.data import AugmentConfig, ImageDataset, augment, open_dataset
from mcl_worker.data.batch_loader import DEFAULT_PREFETCH, LoaderOptions, LoaderPool, default_workers
from mcl_worker.kmeans import kmeans
from mcl_worker.losses import clip_loss
from mcl_worker.models import create_model
from mcl_worker.models.clip import CLIP, create_clip
from mcl_worker.precision import autocast_dtype
from mcl_worker.text import WordTokenizer, tokenize
from mcl_worker.train import step_seed

# Peak dense (no sparsity) bf16 tensor-core FLOP/s from NVIDIA's data sheets, by a pattern of
# torch.cuda.get_device_name; the first match wins (H100 SXM reports "NVIDIA H100 80GB HBM3").
PEAK_BF16_FLOPS: tuple[tuple[str, str, float], ...] = (
    (r"H100.*PCIe", "H100 PCIe", 756e12),
    (r"H100 NVL", "H100 NVL", 835e12),
    (r"H100", "H100 SXM", 989e12),
    (r"H200 NVL", "H200 NVL", 835e12),
    (r"H200", "H200 / GH200", 989e12),
    (r"A100", "A100", 312e12),
    (r"L40S", "L40S", 362e12),
    (r"\bL40\b", "L40", 181e12),
    (r"\bL4\b", "L4", 121e12),
)
FLOPS_COUNTED = (
    "torch.utils.flop_counter.FlopCounterMode over one forward + clip loss + backward step of the plain loop"
    " at the bench's batch (both towers; 2 FLOPs a multiply-add of the matrix multiplications, convolutions"
    " and attention; element-wise ops, norms, augmentation and the optimizer step not counted); MFU = those"
    " FLOPs a sample x samples/s / the card's peak dense bf16 FLOP/s (PEAK_BF16_FLOPS in bench/gpu_plain.py)"
)
# k-means data: a mixture of Gaussian blobs projected onto the unit sphere, as bench/kmeans.py's.
KMEANS_BLOBS, KMEANS_SEED = 50, 0


@dataclass
class ClipSide:
    dataset: ImageDataset
    model: CLIP
    tokenizer: WordTokenizer
    optimizer: torch.optim.Optimizer
    cfg: AugmentConfig
    amp: torch.dtype | None


def peak_bf16_flops(card: str) -> tuple[float | None, str]:
    """The card's peak dense bf16 FLOP/s and what says so, or None and why not."""
    for pattern, name, flops in PEAK_BF16_FLOPS:
        if re.search(pattern, card):
            return flops, f"table entry {name} ({flops / 1e12:.0f} TFLOP/s)"
    return None, f"no peak bf16 FLOP/s known for {card!r}: add it to PEAK_BF16_FLOPS in bench/gpu_plain.py"


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class Plain:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.clip: ClipSide | None = None

    # --- CLIP ------------------------------------------------------------------------------

    def clip_setup(self, uri: str, config: str, precision: str, batch_guess: int, memory_fraction: float,
                   seed: int) -> dict[str, Any]:
        dataset = open_dataset(uri)
        captions = dataset.captions(np.arange(len(dataset)))
        assert captions is not None, f"{uri} has no captions"
        tokenizer = WordTokenizer.from_captions(captions)
        torch.manual_seed(seed)
        model = create_clip(config, vocab_size=tokenizer.vocab_size).to(self.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=True)
        self.clip = ClipSide(dataset, model, tokenizer, optimizer, AugmentConfig(), autocast_dtype(precision, self.device))
        if self.device.type != "cuda":
            return {"batch": batch_guess, "tried": [batch_guess], "memory_fraction": None}
        torch.cuda.set_per_process_memory_fraction(memory_fraction, self.device)
        tried, batch = [], min(batch_guess, len(dataset))
        while True:
            tried.append(batch)
            if self._fits(batch):
                return {"batch": batch, "tried": tried, "memory_fraction": memory_fraction}
            if batch == 1:
                raise RuntimeError(f"{config}: not even a batch of 1 fits in {memory_fraction} of the card's memory")
            batch //= 2

    def _fits(self, batch: int) -> bool:
        """Whether two steps of `batch` run (the second holds the optimizer's state as well)."""
        rows = torch.arange(batch) % len(self._clip.dataset)
        try:
            for step in range(2):
                self._clip_step(rows, seed=0, step=step)
            torch.cuda.synchronize(self.device)
            fits = True
        except torch.cuda.OutOfMemoryError:
            fits = False
        self._clip.optimizer.zero_grad(set_to_none=True)
        release(self.device)
        return fits

    @property
    def _clip(self) -> ClipSide:
        if self.clip is None:
            raise RuntimeError("clip_setup has not run")
        return self.clip

    def _clip_inputs(self, rows: torch.Tensor, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented images and the caption tokens of the samples at `rows`, on the device."""
        side = self._clip
        images = side.dataset.get_images(rows).to(self.device, non_blocking=True)
        generator = torch.Generator(device=self.device).manual_seed(step_seed(seed, step))
        captions = side.dataset.captions(rows)
        assert captions is not None
        tokens = tokenize(side.tokenizer, captions, side.model.context_length).tokens
        return augment(images, side.cfg, generator), tokens.to(self.device)

    def _clip_loss(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        side = self._clip
        with torch.autocast(self.device.type, dtype=side.amp or torch.float32, enabled=side.amp is not None):
            image_z, text_z, logit_scale = side.model(images, tokens)
        return clip_loss(image_z.float(), text_z.float(), logit_scale)

    def _clip_step(self, rows: torch.Tensor, seed: int, step: int) -> float:
        side = self._clip
        loss = self._clip_loss(*self._clip_inputs(rows, seed, step))
        side.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        side.optimizer.step()
        side.model.clamp_logit_scale_()
        return loss.item()  # what a plain loop logs; also waits for the device, as the worker does

    def clip_train(self, indices: list[int], offsets: list[int], seed: int) -> dict[str, Any]:
        side = self._clip
        rows = torch.tensor(indices, dtype=torch.int64)
        side.model.train()
        started = time.perf_counter()
        samples = 0
        for step in range(len(offsets) - 1):
            batch = rows[offsets[step] : offsets[step + 1]]
            self._clip_step(batch, seed, step)
            samples += batch.numel()
        return {"samples": samples, "seconds": time.perf_counter() - started}

    def clip_flops(self, batch: int) -> dict[str, Any]:
        side = self._clip
        side.model.train()
        images, tokens = self._clip_inputs(torch.arange(batch) % len(side.dataset), seed=0, step=0)
        with FlopCounterMode(display=False) as counter:
            self._clip_loss(images, tokens).backward()
        side.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            peak, source = peak_bf16_flops(torch.cuda.get_device_name(self.device))
        else:
            peak, source = None, f"no peak bf16 FLOP/s for the {self.device.type}: MFU is measured on a CUDA device"
        return {"flops_per_step": counter.get_total_flops(), "batch": batch, "peak_flops": peak, "peak_source": source,
                "counted": FLOPS_COUNTED}

    def clip_release(self) -> dict[str, Any]:
        self.clip = None
        release(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_per_process_memory_fraction(1.0, self.device)
        return {"released": True}

    # --- k-means ---------------------------------------------------------------------------

    def kmeans(self, n: int, d: int, ks: list[int], seed: int) -> dict[str, Any]:
        threads = os.cpu_count() or 1
        with threadpool_limits(limits=threads):
            results = self._kmeans_runs(blob_embeddings(n, d), ks, seed)
        release(self.device)  # the rows' copy on the device is gone with _kmeans_runs' frame
        return {"results": results, "cpu_threads": threads, "sklearn": sklearn.__version__}

    def _kmeans_runs(self, x: torch.Tensor, ks: list[int], seed: int) -> dict[str, Any]:
        on_device = x.to(self.device)
        results: dict[str, Any] = {}
        kmeans(on_device[:5000], 10, seed=seed)  # warm-up: first-call costs, untimed
        MiniBatchKMeans(n_clusters=10, random_state=seed).fit(x[:5000].numpy())
        for k in ks:
            ours_s, ours_c = self._timed(lambda: kmeans(on_device, k, seed=seed).centroids)
            theirs_s, theirs_c = self._timed(
                lambda: torch.from_numpy(MiniBatchKMeans(n_clusters=k, random_state=seed).fit(x.numpy()).cluster_centers_)
            )
            ours_i, theirs_i = full_inertia(x, ours_c.cpu()), full_inertia(x, theirs_c)
            results[str(k)] = {
                "ours_seconds": ours_s, "minibatch_seconds": theirs_s,
                "ours_inertia": ours_i, "minibatch_inertia": theirs_i,
                "time_ratio_vs_minibatch": ours_s / theirs_s, "inertia_ratio_vs_minibatch": ours_i / theirs_i,
            }
            print(f"k-means K={k}: ours {ours_s:.2f} s on {self.device}, MiniBatchKMeans {theirs_s:.2f} s on the CPU,"
                  f" inertia ratio {ours_i / theirs_i:.4f}", file=sys.stderr, flush=True)
        return results

    def _timed(self, fit: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
        started = time.perf_counter()
        centroids = fit()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - started, centroids

    # --- data pipeline ---------------------------------------------------------------------

    def data(self, arch: str, images: int, size: int, batch: int, steps: int, rounds: int) -> dict[str, Any]:
        # Loader processes beyond the CPUs are allowed here, as in bench/data.py.
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        if batch > images:
            raise ValueError(f"data: batch {batch} needs at least as many images, got {images}")
        settings = {"sync": 0, "prefetch_default": default_workers(decodes=True)}
        with tempfile.TemporaryDirectory(prefix="mcl-bench-gpu-data-") as tmp:
            root = Path(tmp)
            kib = write_jpegs(root, images)
            dataset = open_dataset(f"folder:{root}?size={size}")
            g = torch.Generator().manual_seed(KMEANS_SEED)
            plan = torch.stack([torch.randperm(images, generator=g)[:batch] for _ in range(steps)])
            cfg = AugmentConfig(size=size)

            def chunk(workers: int, steps_plan: torch.Tensor) -> Callable[[], float]:
                """A fresh model's chunk, to run under measured(), which returns the seconds it waited."""
                torch.manual_seed(KMEANS_SEED)
                model = create_model(arch, image_size=size, stem="imagenet").to(self.device)
                optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

                def waited() -> float:
                    pool = LoaderPool(LoaderOptions(workers, DEFAULT_PREFETCH))
                    try:
                        return train_chunk(model, optimizer, dataset.get_images, steps_plan, cfg, pool).data_wait_s
                    finally:
                        pool.close()

                return waited

            chunk(settings["prefetch_default"], plan[:2])()  # warm-up: forkserver, kernels; untimed
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
            for r in range(rounds):
                for name in (list(settings) if r % 2 == 0 else list(settings)[::-1]):
                    m = measured(chunk(settings[name], plan))
                    runs[name].append(m)
                    print(f"data round {r} {name}: wait {m['value']:.2f} s of {m['wall_s']:.2f} s", file=sys.stderr, flush=True)
            dataset.close()
        release(self.device)
        fractions = {name: summary([m["value"] / m["wall_s"] for m in ms]) for name, ms in runs.items()}
        return {
            "images": images, "mean_kib": round(kib, 1), "size": size, "batch": batch, "steps": steps, "rounds": rounds,
            "model": arch, "workers": settings, "prefetch": DEFAULT_PREFETCH,
            "data_wait_fraction": fractions["prefetch_default"], "data_wait_fraction_sync": fractions["sync"],
            "images_per_s": {name: summary([batch * steps / m["wall_s"] for m in ms]) for name, ms in runs.items()},
        }


def blob_embeddings(n: int, d: int) -> torch.Tensor:
    """n × d float32 rows: KMEANS_BLOBS Gaussian blobs around unit centres, normalised (bench/kmeans.py's recipe)."""
    g = torch.Generator().manual_seed(KMEANS_SEED)
    centres = torch.nn.functional.normalize(torch.randn(KMEANS_BLOBS, d, generator=g), dim=1)
    blob = torch.multinomial(0.5 + torch.rand(KMEANS_BLOBS, generator=g), n, replacement=True, generator=g)
    spread = 0.5 + 0.5 * torch.rand(KMEANS_BLOBS, generator=g)
    noise = torch.randn(n, d, generator=g) / math.sqrt(d)
    return torch.nn.functional.normalize(centres[blob] + spread[blob, None] * noise, dim=1)


def ready(device: torch.device) -> dict[str, Any]:
    cuda = device.type == "cuda"
    return {
        "ready": True, "device": device.type, "card": torch.cuda.get_device_name(device) if cuda else "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "memory_bytes": torch.cuda.get_device_properties(device).total_memory if cuda else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=("cuda", "cpu"), required=True)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench/gpu_plain.py --device cuda: torch {torch.__version__} sees no CUDA device")
    device = torch.device(args.device)
    plain = Plain(device)
    ops: dict[str, Callable[..., dict[str, Any]]] = {
        "clip_setup": plain.clip_setup, "clip_train": plain.clip_train, "clip_flops": plain.clip_flops,
        "clip_release": plain.clip_release, "kmeans": plain.kmeans, "data": plain.data,
    }
    print(json.dumps(ready(device)), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(ops[request.pop("op")](**request)), flush=True)


if __name__ == "__main__":
    main()
