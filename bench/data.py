"""Data pipeline benchmark: mcl_worker.data.BatchLoader on a folder: dataset of JPEGs (CPU).

Data: IMAGES generated 256×320 JPEGs (smooth colour fields plus grain, quality 90, about 60 KiB
each) in img2dataset's files layout (shards of 1,000), opened as folder:<dir>?size=224; the same
JPEGs listed in a CSV (csv:<file>?size=224) and packed into tar shards of 1,000 as img2dataset's
webdataset output (webdataset:<dir>?size=224; the time to build its index of member offsets, and
to open it again from the cache, is in the result).

(a) pipeline: sustained images/s of read + decode + centre crop + resize to 224 (what a loader
    process does; augmentation runs in the training loop) over one pass of a shuffled plan of
    PIPELINE_IMAGES images in batches of PIPELINE_BATCH, for 0 loader processes (in process, on
    the folder dataset's own 4 decoding threads), and 1, 2 and 3 (one thread each); the first
    chunk of the run (which starts the forkserver) is excluded, later chunks' process starts not.
    by_workers is the files layout; by_source the csv and webdataset sources at SOURCE_WORKERS
    loader processes, measured in the same rounds.
(b) overlap: a stage of STAGE_JOBS train jobs (mcl_worker.train.train_steps, TRAIN_STEPS steps
    each, as one epoch a job) on the same dataset with a small CNN on VIEW_SIZE px views of the
    224 px images (torch on one thread: one core computes while the other decodes), the narrowest
    of WIDTHS whose step takes at least BALANCE x its batch's decoding on one thread, i.e. on one
    core (both figures and the width are in the result); synchronous loading (workers 0, on the
    dataset's own decoding threads, both cores) against the prefetching pipeline at the default
    settings (data.workers auto: min(4, CPUs - 1), at least 1; prefetch 2) and at 2 workers. The
    jobs of a stage share one LoaderPool, as the worker's train jobs share their dataset handle's:
    its processes start with the stage's first job (in a run, once for the dataset handle) and
    serve the later ones. data_wait_fraction = time the steps waited for their images / the
    stage's wall time; the first job's and the later jobs' fractions are in the result beside it.

Settings alternate within every round, so a busy machine slows all alike; medians and [min, max]
over ROUNDS. Beside wall time: this process's CPU time and the whole machine's busy CPU
(/proc/stat, loader processes and anything else running included), and the load average.
Writes bench/results/data.json and prints it as the last line.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image
from torch import nn

from mcl_worker.data import AugmentConfig, BatchLoader, LoaderOptions, LoaderPool, augment, open_dataset
from mcl_worker.data.batch_loader import DEFAULT_PREFETCH, default_workers
from mcl_worker.losses import nt_xent
from mcl_worker.train import TrainResult, train_steps
from result_file import write_result

IMAGES, SHARD, SIZE, SEED = 3000, 1000, 224, 0
PIPELINE_IMAGES, PIPELINE_BATCH, PIPELINE_WORKERS = 1024, 64, (0, 1, 2, 3)
SOURCES, SOURCE_WORKERS = ("csv", "webdataset"), (0, 1)
TRAIN_STEPS, TRAIN_BATCH, VIEW_SIZE, STAGE_JOBS = 60, 32, 112, 3
# The overlap's model: the first of these SmallCnn widths whose step takes BALANCE x a batch's decode.
WIDTHS, BALANCE = (16, 24, 32, 40, 48, 64, 96), 1.1
ROUNDS = 3
RESULT = Path(__file__).resolve().parent / "results" / "data.json"


def write_jpegs(root: Path, images: int = IMAGES) -> float:
    """`images` JPEGs in the files layout; returns their mean size in KiB."""
    rng = np.random.default_rng(SEED)
    total = 0
    for i in range(images):
        low = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
        field = np.asarray(Image.fromarray(low).resize((320, 256), Image.Resampling.BICUBIC), dtype=np.float32)
        pixels = np.clip(field + rng.normal(0, 30, field.shape), 0, 255).astype(np.uint8)
        shard = root / f"{i // SHARD:05d}"
        shard.mkdir(exist_ok=True)
        path = shard / f"{i:09d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        total += path.stat().st_size
    return total / images / 1024


def write_csv(files: Path, path: Path) -> None:
    """A CSV (open_clip's default columns, tab-separated) of every JPEG under `files`, in order."""
    rows = ["filepath\ttitle"] + [f"{jpeg.relative_to(path.parent)}\t" for jpeg in sorted(files.glob("*/*.jpg"))]
    path.write_text("\n".join(rows) + "\n")


def write_shards(files: Path, out: Path) -> None:
    """Each shard folder under `files` as one tar of its JPEGs, as img2dataset's webdataset writer."""
    out.mkdir()
    for shard in sorted(p for p in files.iterdir() if p.is_dir()):
        with tarfile.open(out / f"{shard.name}.tar", "w") as tar:
            for jpeg in sorted(shard.glob("*.jpg")):
                tar.add(jpeg, arcname=jpeg.name)


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine since boot, in clock ticks."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def measured(run: Callable[[], float]) -> dict[str, float]:
    """Wall seconds, this process's CPU seconds and the machine's busy fraction of one run;
    `run` returns what it counts (images, or seconds waited)."""
    busy0, total0 = busy_jiffies()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    value = run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    busy1, total1 = busy_jiffies()
    return {"value": value, "wall_s": wall, "cpu_s": cpu,
            "machine_busy": (busy1 - busy0) / max(total1 - total0, 1)}


def summary(values: list[float]) -> dict[str, float | list[float]]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": [round(v, 4) for v in values]}


class SmallCnn(nn.Module):
    """Two strided convolutions and a projection: a step's compute near a batch's decode time."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 5, stride=4, padding=2), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 32),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_chunk(model: nn.Module, optimizer: torch.optim.Optimizer, get_images: Callable[[torch.Tensor], torch.Tensor],
                plan: torch.Tensor, cfg: AugmentConfig, pool: LoaderPool, first_step: int = 0) -> TrainResult:
    """train_steps over the batches of `plan` [steps, batch] on the model's device, the images
    loaded by `pool` (0 workers: synchronously, in the step's thread); the result's data_wait_s
    over the chunk's wall time is its data_wait_fraction."""
    return train_steps(model, optimizer, plan, get_images, lambda images, gen: augment(images, cfg, gen), nt_xent,
                       seed=SEED, first_step=first_step, progress_every=len(plan), loader=pool)


def main() -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()
    torch.set_num_threads(1)
    # 3 loader processes on 2 CPUs is the point of that setting, not a mistake.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    with tempfile.TemporaryDirectory(prefix="mcl-bench-data-") as tmp:
        root = Path(tmp)
        files, csv_file, shards = root / "files", root / "train.csv", root / "shards"
        files.mkdir()
        kib = write_jpegs(files, IMAGES)
        write_csv(files, csv_file)
        write_shards(files, shards)
        uris = {"files": f"folder:{files}?size={SIZE}", "csv": f"csv:{csv_file}?size={SIZE}",
                "webdataset": f"webdataset:{shards}?size={SIZE}"}
        index_build_s = measured(lambda: float(len(open_dataset(uris["webdataset"]))))["wall_s"]
        index_cached_s = measured(lambda: float(len(open_dataset(uris["webdataset"]))))["wall_s"]
        datasets = {name: open_dataset(uri) for name, uri in uris.items()}
        dataset = datasets["files"]
        g = torch.Generator().manual_seed(SEED)
        order = torch.randperm(IMAGES, generator=g)[:PIPELINE_IMAGES]
        batches = list(order.split(PIPELINE_BATCH))
        if not all(torch.equal(d.get_images(batches[0]), dataset.get_images(batches[0])) for d in datasets.values()):
            raise AssertionError("the sources decode different images from the same JPEGs")

        def load_all(source: str, workers: int) -> Callable[[], float]:
            get_images = datasets[source].get_images

            def run() -> float:
                return float(sum(images.shape[0] for images in BatchLoader(get_images, batches, LoaderOptions(workers))))
            return run

        load_all("files", 1)()  # starts the forkserver (once per worker process); not timed
        settings = [("files", w) for w in PIPELINE_WORKERS] + [(s, w) for s in SOURCES for w in SOURCE_WORKERS]
        pipeline: dict[tuple[str, int], list[dict[str, float]]] = {setting: [] for setting in settings}
        for r in range(ROUNDS):
            for source, workers in (settings if r % 2 == 0 else settings[::-1]):
                m = measured(load_all(source, workers))
                pipeline[source, workers].append(m)
                print(f"pipeline round {r} {source} workers {workers}: {m['value'] / m['wall_s']:.0f} images/s, "
                      f"cpu {m['cpu_s']:.2f} s of {m['wall_s']:.2f} s, machine busy {m['machine_busy']:.2f}",
                      file=sys.stderr, flush=True)

        # (b) overlap: a stage of train jobs with synchronous loading against the prefetching pipeline.
        cfg = AugmentConfig(size=VIEW_SIZE)
        plans = [torch.stack([torch.randperm(IMAGES, generator=g)[:TRAIN_BATCH] for _ in range(TRAIN_STEPS)])
                 for _ in range(STAGE_JOBS)]
        default = default_workers(decodes=True)
        settings = {"sync": 0, "prefetch_default": default, "prefetch_2": 2}

        def stage(get_images: Callable[[torch.Tensor], torch.Tensor], jobs: list[torch.Tensor], workers: int,
                  width: int) -> list[tuple[float, float]]:
            """(seconds waited for images, wall seconds) of each train job of a stage, on one
            pool of `workers` loader processes."""
            torch.manual_seed(SEED)
            model = SmallCnn(width=width)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            pool = LoaderPool(LoaderOptions(workers, DEFAULT_PREFETCH))
            figures = []
            try:
                for k, plan in enumerate(jobs):
                    started = time.perf_counter()
                    result = train_chunk(model, optimizer, get_images, plan, cfg, pool, first_step=k * len(plan))
                    figures.append((result.data_wait_s, time.perf_counter() - started))
            finally:
                pool.close()
            return figures

        # The balance: the narrowest model whose step (its images in memory) takes at least
        # BALANCE times one batch's decoding on one thread, the share of a 2-core machine that one
        # loader process gets while the step computes on the other core.
        one_thread = open_dataset(f"folder:{files}?size={SIZE}&workers=1")
        decode_s = min(measured(lambda: float(one_thread.get_images(plans[0][0]).shape[0]))["wall_s"] for _ in range(3))
        one_thread.close()
        held = dataset.get_images(plans[0][0])

        def compute_time(width: int) -> float:
            return min(measured(lambda: float(len(stage(lambda _: held, [plans[0][:4]], 0, width))))["wall_s"] / 4
                       for _ in range(2))

        width, compute_s = WIDTHS[-1], 0.0
        for candidate in WIDTHS:
            width, compute_s = candidate, compute_time(candidate)
            if compute_s >= BALANCE * decode_s:
                break

        overlap: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
        for r in range(ROUNDS):
            names = list(settings) if r % 2 == 0 else list(settings)[::-1]
            for name in names:
                jobs: list[tuple[float, float]] = []

                def run_stage(workers: int = settings[name]) -> float:
                    jobs.extend(stage(dataset.get_images, plans, workers, width))
                    return sum(wait for wait, _ in jobs)

                m = measured(run_stage)
                m["first_job"] = jobs[0][0] / jobs[0][1]
                m["later_jobs"] = sum(wait for wait, _ in jobs[1:]) / sum(wall for _, wall in jobs[1:])
                overlap[name].append(m)
                print(f"overlap round {r} {name} (workers {settings[name]}): wait {m['value']:.2f} s of "
                      f"{m['wall_s']:.2f} s = {m['value'] / m['wall_s']:.3f} (first job {m['first_job']:.3f}, "
                      f"later jobs {m['later_jobs']:.3f}), cpu {m['cpu_s']:.2f} s, machine busy "
                      f"{m['machine_busy']:.2f}, load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
        for d in datasets.values():
            d.close()

    def pipeline_figures(runs: list[dict[str, float]]) -> dict[str, dict[str, float | list[float]]]:
        return {
            "images_per_s": summary([m["value"] / m["wall_s"] for m in runs]),
            "wall_s": summary([m["wall_s"] for m in runs]),
            "cpu_s_this_process": summary([m["cpu_s"] for m in runs]),
            "machine_busy": summary([m["machine_busy"] for m in runs]),
        }

    def fraction(name: str) -> float:
        return statistics.median(m["value"] / m["wall_s"] for m in overlap[name])

    report = {
        "name": "data",
        "data": {"images": IMAGES, "jpeg": "256x320, quality 90", "mean_kib": round(kib, 1), "size": SIZE,
                 "layout": f"folder: files layout, shards of {SHARD}",
                 "sources": {"csv": "csv: one tab-separated file of relative paths",
                             "webdataset": f"webdataset: tar shards of {SHARD}, read by member offset"},
                 "webdataset_index": {"build_s": round(index_build_s, 4), "cached_open_s": round(index_cached_s, 4)}},
        "pipeline": {
            "images": PIPELINE_IMAGES, "batch": PIPELINE_BATCH,
            "by_workers": {str(w): pipeline_figures(pipeline["files", w]) for w in PIPELINE_WORKERS},
            "by_source": {
                source: {str(w): pipeline_figures(pipeline[source, w]) for w in SOURCE_WORKERS} for source in SOURCES
            },
        },
        "overlap": {
            "jobs": STAGE_JOBS, "steps_per_job": TRAIN_STEPS, "batch": TRAIN_BATCH, "view_size": VIEW_SIZE,
            "torch_threads": 1,
            "prefetch": DEFAULT_PREFETCH,
            "decode_s_per_batch_one_thread": round(decode_s, 4), "compute_s_per_step_images_in_memory": round(compute_s, 4),
            "model_width": width, "balance": BALANCE,
            "by_setting": {
                name: {
                    "workers": settings[name],
                    "data_wait_fraction": summary([m["value"] / m["wall_s"] for m in runs]),
                    "data_wait_fraction_first_job": summary([m["first_job"] for m in runs]),
                    "data_wait_fraction_later_jobs": summary([m["later_jobs"] for m in runs]),
                    "wall_s": summary([m["wall_s"] for m in runs]),
                    "cpu_s_this_process": summary([m["cpu_s"] for m in runs]),
                    "machine_busy": summary([m["machine_busy"] for m in runs]),
                }
                for name, runs in overlap.items()
            },
        },
        "default_workers": default,
        "data_wait_fraction": fraction("prefetch_default"),
        "data_wait_fraction_sync": fraction("sync"),
        "goal": "data_wait_fraction <= 0.05 where data_wait_fraction_sync >= 0.3",
        "goal_met": bool(fraction("prefetch_default") <= 0.05 and fraction("sync") >= 0.3),
        "bench_seconds": time.perf_counter() - started,
        "environment": {
            "torch": torch.__version__, "pillow": PIL.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "load_average_before": load_before[0], "load_average_after": os.getloadavg()[0],
        },
    }
    write_result(RESULT, report)


if __name__ == "__main__":
    sys.exit(main())
