"""k-means benchmark: mcl_worker.kmeans against scikit-learn's MiniBatchKMeans and KMeans.

Data: 200,000 × 128 float32 "embeddings", a seeded mixture of 50 Gaussian blobs (centres
uniform on the unit sphere, blob weights uniform in [0.5, 1.5), per-blob noise scale uniform
in [0.5, 1.0) per unit direction) projected back onto the unit sphere, as L2-normalised
encoder outputs are. K = 10 merges blobs, K = 100 splits them.

Methods, each timed end to end (seeding included) from the same seeds:
- ours: kmeans(x, K, seed=s) with its defaults;
- minibatch: MiniBatchKMeans(n_clusters=K, random_state=s) with its defaults, as the MCL
  reference code calls it;
- kmeans: KMeans(n_clusters=K, n_init=1, random_state=s) (n_init=1 so it seeds once, as ours),
  for reference only and, being the slowest by far, from the first seed only.
Every method's inertia is measured by one function: Σ_i min_c ||x_i − c||² in float64 over
all N rows with the centroids it returned (not a method's own, e.g. mini-batch, estimate).
Ratios are ours / theirs of the means over the seeds run; the summary takes the worst K.
Writes bench/results/kmeans.json and prints it as the last line.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from threadpoolctl import threadpool_limits

from mcl_worker.kmeans import kmeans
from result_file import write_result

N, D, BLOBS, DATA_SEED = 200_000, 128, 50, 0
KS = (10, 100)
SEEDS = (0, 1, 2)
RESULT = Path(__file__).resolve().parent / "results" / "kmeans.json"


def embeddings() -> torch.Tensor:
    g = torch.Generator().manual_seed(DATA_SEED)
    centres = torch.nn.functional.normalize(torch.randn(BLOBS, D, generator=g), dim=1)
    weights = 0.5 + torch.rand(BLOBS, generator=g)
    blob = torch.multinomial(weights, N, replacement=True, generator=g)
    spread = 0.5 + 0.5 * torch.rand(BLOBS, generator=g)
    noise = torch.randn(N, D, generator=g) / math.sqrt(D)
    return torch.nn.functional.normalize(centres[blob] + spread[blob, None] * noise, dim=1)


def full_inertia(x: torch.Tensor, centroids: np.ndarray | torch.Tensor) -> float:
    """Σ_i min_c ||x_i − c||², float64, chunked; the one yardstick for every method."""
    c = torch.as_tensor(np.asarray(centroids), dtype=torch.float64)
    c_norms = c.square().sum(1)
    total = 0.0
    for i in range(0, x.shape[0], 16_384):
        rows = x[i : i + 16_384].double()
        d = torch.addmm(c_norms, rows, c.T, alpha=-2.0).min(1).values + rows.square().sum(1)
        total += float(d.clamp(min=0).sum())
    return total


def timed(fit: Callable[[], np.ndarray | torch.Tensor]) -> tuple[float, np.ndarray | torch.Tensor]:
    started = time.perf_counter()
    centroids = fit()
    return time.perf_counter() - started, centroids


def main() -> None:
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    x = embeddings()
    x_np = x.numpy()
    methods: dict[str, Callable[[int, int], np.ndarray | torch.Tensor]] = {
        "ours": lambda k, s: kmeans(x, k, seed=s).centroids,
        "minibatch": lambda k, s: MiniBatchKMeans(n_clusters=k, random_state=s).fit(x_np).cluster_centers_,
        "kmeans": lambda k, s: KMeans(n_clusters=k, n_init=1, random_state=s).fit(x_np).cluster_centers_,
    }
    started = time.perf_counter()
    results: dict[str, dict[str, object]] = {}
    with threadpool_limits(limits=threads):
        # Warm-up (first-call costs of every library) on a small slice, untimed.
        kmeans(x[:5000], 10, seed=0)
        MiniBatchKMeans(n_clusters=10, random_state=0).fit(x_np[:5000])
        KMeans(n_clusters=10, n_init=1, random_state=0).fit(x_np[:5000])
        for k in KS:
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
            for seed in SEEDS:  # methods interleaved, so a busy machine slows all alike
                for name, fit in methods.items():
                    if name == "kmeans" and seed != SEEDS[0]:
                        continue
                    seconds, centroids = timed(lambda: fit(k, seed))
                    runs[name].append((seconds, full_inertia(x, centroids)))
                    print(f"K={k} seed={seed} {name}: {seconds:.2f} s, inertia {runs[name][-1][1]:.1f}",
                          file=sys.stderr, flush=True)
            summary = {
                name: {
                    "seconds_mean": statistics.fmean(s for s, _ in r),
                    "inertia_mean": statistics.fmean(i for _, i in r),
                    "seconds": [round(s, 4) for s, _ in r],
                    "inertia": [round(i, 2) for _, i in r],
                }
                for name, r in runs.items()
            }
            ours, minibatch = summary["ours"], summary["minibatch"]
            results[str(k)] = {
                **summary,
                "time_ratio_vs_minibatch": ours["seconds_mean"] / minibatch["seconds_mean"],
                "inertia_ratio_vs_minibatch": ours["inertia_mean"] / minibatch["inertia_mean"],
                # against KMeans: first seed only, as it is run
                "time_ratio_vs_kmeans": runs["ours"][0][0] / runs["kmeans"][0][0],
                "inertia_ratio_vs_kmeans": runs["ours"][0][1] / runs["kmeans"][0][1],
            }
    time_ratio = max(r["time_ratio_vs_minibatch"] for r in results.values())  # type: ignore[type-var]
    inertia_ratio = max(r["inertia_ratio_vs_minibatch"] for r in results.values())  # type: ignore[type-var]
    report = {
        "name": "kmeans",
        "data": {"n": N, "d": D, "blobs": BLOBS, "seed": DATA_SEED,
                 "kind": "L2-normalised mixture of Gaussian blobs, float32"},
        "seeds": list(SEEDS),
        "threads": threads,
        "results": results,
        "time_ratio_vs_minibatch": time_ratio,
        "inertia_ratio_vs_minibatch": inertia_ratio,
        "goal": "time_ratio_vs_minibatch <= 1 and inertia_ratio_vs_minibatch <= 1 (worst over K)",
        "goal_met": bool(time_ratio <= 1 and inertia_ratio <= 1),
        "bench_seconds": time.perf_counter() - started,
        "environment": {
            "torch": torch.__version__, "sklearn": sklearn.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "load_average_before": load_before[0],
            "load_average_after": os.getloadavg()[0],
        },
    }
    write_result(RESULT, report)


if __name__ == "__main__":
    sys.exit(main())
