"""k-means on the worker's device: greedy k-means++ seeding, then Lloyd iterations.

Memory: distances are computed `chunk_size` rows at a time as ||c||² − 2 x·c (the row
constant ||x||² is added only to each row's minimum), so no more than chunk_size × K
distances exist at once; besides x itself only O(N) vectors are kept. Arithmetic is float32
(float64 input stays float64); cluster sums and the inertia are accumulated in float64.

Precision: that expansion cancels away every digit the rows share (uncentred float32 data at
an offset of 1e4 came out at 3.7x the true inertia), so data far from the origin are centred
first, as scikit-learn does, chunk by chunk into one buffer, never copied whole. The reported
inertia is summed from the differences x − c themselves, exact whatever the data's scale.

Data-parallel (mcl_worker.distributed): every rank holds all of x and seeds alike; each Lloyd
iteration assigns this rank's contiguous slice of the rows, and the cluster sums, counts and
inertia are summed over ranks, so every rank moves to the same centroids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from . import distributed
from .errors import InvalidArgument

# Rows per distance chunk: sized so that one chunk's distances take about this many bytes.
# On a CPU every op is one parallel region, and many small ones stall badly when the cores
# are shared (6x slower at 8,192 rows than at 131,072 in bench/kmeans.py on 2 busy cores).
_CHUNK_BYTES_CPU = 32 * 2**20
_CHUNK_BYTES_GPU = 256 * 2**20
# k-means++ seeds on a random subsample of max(_INIT_WORK // k, _INIT_MIN_PER_CLUSTER × k)
# rows, which bounds its cost (∝ rows × k) for large k; the Lloyd iterations that follow run
# on all the data. A smaller sample cost 0.3% inertia at K = 10 in bench/kmeans.py.
_INIT_WORK = 2**22
_INIT_MIN_PER_CLUSTER = 16
# Rows are centred when mean ||x||² exceeds this many times mean ||x − mean||²: below it,
# centring would gain under 4 bits of the distances' precision, and on a CPU its extra pass
# over the rows made a run 2.6x slower at K = 10, 1.5x at K = 100 (200 k × 128, 2 busy cores).
_CENTRE_ABOVE = 16.0


@dataclass(frozen=True)
class KMeansResult:
    assignments: Tensor  # int32 [N], cluster of each row
    centroids: Tensor  # [K, D], dtype of the computation (float32 or float64)
    inertia: float  # Σ_i ||x_i − c_assignment(i)||²
    iterations: int  # Lloyd iterations run
    converged: bool  # stopped by `tol` (or unchanged centroids) before `iters`
    # Clusters no row is assigned to after the final assignment; k larger than the number of
    # distinct rows of x always leaves some. Their centroids are still returned.
    empty_clusters: int


def kmeans(
    x: Tensor,
    k: int,
    *,
    seed: int,
    iters: int = 100,
    tol: float = 5e-4,
    chunk_size: int | None = None,
    init: str | Tensor = "k-means++",
    init_sample_size: int | None = None,
    n_init: int = 1,
) -> KMeansResult:
    """Cluster the rows of x [N, D] into k clusters on x's device.

    Stops when an iteration lowers the inertia by less than `tol` relative to it, or after
    `iters` iterations. The default 5e-4 stops where further Lloyd passes buy under 0.05% of
    inertia (measured on 200 k × 128 embeddings, K = 100: 3–4 passes instead of 8). `init` is "k-means++" (greedy, as scikit-learn: 2 + ln k candidates a
    centre, the best kept), "random" (k distinct rows) or the initial centroids [k, D] (e.g. a
    previous clustering's). Seeding uses `init_sample_size` rows (default max(2^22 / k, 16 k),
    capped at N). `n_init` runs from seeds seed, seed + 1, ... keep the one of lowest inertia.
    Deterministic for a given seed and device.
    """
    _validate(x, k, iters, tol, chunk_size, init, init_sample_size, n_init)
    n = x.shape[0]
    data = x if x.dtype in (torch.float32, torch.float64) else x.float()
    budget = _CHUNK_BYTES_CPU if data.device.type == "cpu" else _CHUNK_BYTES_GPU
    chunk = chunk_size or max(1, budget // (data.element_size() * max(k, 64)))
    norms = _row_norms(data, None, chunk)
    if not bool(torch.isfinite(norms).all()):
        raise InvalidArgument(
            "x", "contains NaN or infinite values, or values whose squares overflow; "
            "drop or repair those rows first"
        )
    shift = _shift(data, norms, chunk)
    if shift is not None:
        norms = _row_norms(data, shift, chunk)
    sample = init_sample_size or max(_INIT_WORK // k, _INIT_MIN_PER_CLUSTER * k)
    best: KMeansResult | None = None
    for run in range(n_init):
        generator = torch.Generator(device="cpu").manual_seed(seed + run)
        if isinstance(init, Tensor):
            seeds = _centre(init.to(data.device, data.dtype), shift)
        else:
            seeds = _seed_centroids(data, shift, norms, k, init, min(sample, n), chunk, generator)
        result = _lloyd(data, shift, norms, seeds, iters, tol, chunk)
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None
    return best


def _validate(
    x: Tensor, k: int, iters: int, tol: float, chunk_size: int | None, init: str | Tensor,
    init_sample_size: int | None, n_init: int,
) -> None:
    if x.dim() != 2 or not x.is_floating_point():
        raise InvalidArgument("x", f"must be a floating-point [N, D] tensor, got {x.dtype} {tuple(x.shape)}")
    n = x.shape[0]
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InvalidArgument("x", f"must have at least one row and one column, got {tuple(x.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgument("k", f"must be an integer >= 1, got {k!r}")
    if k > n:
        raise InvalidArgument("k", f"k = {k} is larger than the number of rows N = {n}; use k <= {n}")
    for name, value in (("iters", iters), ("n_init", n_init)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(name, f"must be an integer >= 1, got {value!r}")
    for name, optional in (("chunk_size", chunk_size), ("init_sample_size", init_sample_size)):
        if optional is not None and (isinstance(optional, bool) or not isinstance(optional, int) or optional < 1):
            raise InvalidArgument(name, f"must be an integer >= 1 or None, got {optional!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise InvalidArgument("tol", f"must be a finite number >= 0, got {tol!r}")
    if isinstance(init, Tensor):
        if init.shape != (k, x.shape[1]) or not init.is_floating_point() or not bool(torch.isfinite(init).all()):
            raise InvalidArgument(
                "init", f"initial centroids must be a finite float tensor [{k}, {x.shape[1]}], got "
                f"{init.dtype} {tuple(init.shape)}"
            )
        if n_init != 1:
            raise InvalidArgument("n_init", "must be 1 when init is a tensor of centroids")
    elif init not in ("k-means++", "random"):
        raise InvalidArgument("init", f"must be 'k-means++', 'random' or a [k, D] tensor, got {init!r}")
    if init_sample_size is not None and init_sample_size < k:
        raise InvalidArgument("init_sample_size", f"must be >= k = {k}, got {init_sample_size}")


def _shift(x: Tensor, norms: Tensor, chunk: int) -> Tensor | None:
    """The column mean of x where the rows are to be centred on it (see _CENTRE_ABOVE), else None."""
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], chunk):
        total += x[i : i + chunk].sum(0)  # float32 within a chunk: 7x faster, and any shift near the mean will do
    mean = total / x.shape[0]
    mean_square = float(norms.sum(dtype=torch.float64)) / x.shape[0]
    spread = mean_square - float(mean.square().sum())  # mean ||x − mean||²
    return mean.to(x.dtype) if mean_square > _CENTRE_ABOVE * spread else None


def _centre(points: Tensor, shift: Tensor | None) -> Tensor:
    """points − shift, a new tensor."""
    return points.clone() if shift is None else points - shift


def _centred_chunks(x: Tensor, shift: Tensor | None, chunk: int) -> Iterator[tuple[int, Tensor]]:
    """(i, x[i : i + chunk] − shift) for each chunk (views of x with no shift). The centred rows
    are written into one buffer, overwritten by the next chunk, rather than a new chunk-sized
    tensor each time (fresh memory costs page faults on every chunk)."""
    if shift is None:
        for i in range(0, x.shape[0], chunk):
            yield i, x[i : i + chunk]
        return
    buffer = torch.empty(min(chunk, x.shape[0]), x.shape[1], dtype=x.dtype, device=x.device)
    for i in range(0, x.shape[0], chunk):
        rows = x[i : i + chunk]
        yield i, torch.sub(rows, shift, out=buffer[: rows.shape[0]])


def _row_norms(x: Tensor, shift: Tensor | None, chunk: int) -> Tensor:
    """||x_i − shift||² [N]."""
    return torch.cat([rows.square().sum(1) for _, rows in _centred_chunks(x, shift, chunk)])


def _nearest(
    x: Tensor, shift: Tensor | None, norms: Tensor, centroids: Tensor, chunk: int, sums: Tensor | None = None,
    *, exact: bool = False,
) -> tuple[Tensor, Tensor]:
    """(squared distance to the nearest centroid [N], its index [N] int64), chunk by chunk,
    for the rows x − shift and centroids in those coordinates. With `sums` [K, D] (float64),
    also adds each row to its cluster's sum, while the chunk is still in cache. `exact`
    computes each distance as ||x − c||² rather than from the expansion (an extra pass)."""
    centroid_norms = centroids.square().sum(1)
    distance = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    index = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    chunk_sums = None if sums is None else torch.empty(sums.shape, dtype=x.dtype, device=x.device)
    nearest = torch.empty(min(chunk, x.shape[0]), x.shape[1], dtype=x.dtype, device=x.device) if exact else None
    for i, rows in _centred_chunks(x, shift, chunk):
        partial = torch.addmm(centroid_norms, rows, centroids.T, alpha=-2.0)
        torch.min(partial, dim=1, out=(distance[i : i + chunk], index[i : i + chunk]))
        if nearest is not None:
            differences = torch.index_select(centroids, 0, index[i : i + chunk], out=nearest[: rows.shape[0]]).sub_(rows)
            torch.sum(differences.square_(), dim=1, out=distance[i : i + chunk])
        if sums is not None and chunk_sums is not None:
            sums += chunk_sums.zero_().index_add_(0, index[i : i + chunk], rows)
    if exact:
        return distance, index
    return distance.add_(norms).clamp_(min=0.0), index


def _seed_centroids(
    x: Tensor, shift: Tensor | None, norms: Tensor, k: int, init: str, sample: int, chunk: int,
    generator: torch.Generator,
) -> Tensor:
    """k initial centroids, centred (x − shift)."""
    n = x.shape[0]
    rows = torch.randperm(n, generator=generator)[:sample].to(x.device)
    if init == "random":
        return _centre(x[rows[:k]], shift)
    if sample == n:  # all rows: their order does not matter, spare the copy
        return _greedy_kmeans_pp(x, shift, norms, k, chunk, generator)
    return _greedy_kmeans_pp(x[rows], shift, norms[rows], k, chunk, generator)


def _greedy_kmeans_pp(
    x: Tensor, shift: Tensor | None, norms: Tensor, k: int, chunk: int, generator: torch.Generator
) -> Tensor:
    """Greedy k-means++: each new centre is the best (lowest resulting potential) of
    2 + ln k candidates drawn with probability proportional to D(x)², D the distance to
    the nearest centre so far."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    closest, _ = _nearest(x, shift, norms, _centre(x[chosen], shift), chunk)
    for _ in range(1, k):
        candidates = _sample_proportional(closest, trials, generator)
        to_candidates = _distances_to(x, shift, norms, _centre(x[candidates], shift), chunk)
        new_closest = torch.minimum(to_candidates, closest[:, None])
        best = int(torch.argmin(new_closest.sum(0, dtype=torch.float64)))
        chosen.append(int(candidates[best]))
        closest = new_closest[:, best].contiguous()
    return _centre(x[chosen], shift)


def _distances_to(x: Tensor, shift: Tensor | None, norms: Tensor, points: Tensor, chunk: int) -> Tensor:
    """Squared distances [N, P] from every row x − shift to a few points (P small)."""
    point_norms = points.square().sum(1)
    out = torch.empty(x.shape[0], points.shape[0], dtype=x.dtype, device=x.device)
    for i, rows in _centred_chunks(x, shift, chunk):
        block = torch.addmm(point_norms, rows, points.T, alpha=-2.0)
        out[i : i + chunk] = block.add_(norms[i : i + chunk, None]).clamp_(min=0.0)
    return out


def _sample_proportional(weights: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """`count` indices drawn with replacement, probability ∝ weights (uniform if all are 0).
    Inverse-CDF sampling: torch.multinomial is limited to 2^24 categories."""
    cdf = weights.to(torch.float64).cumsum(0)
    total = float(cdf[-1])
    if total <= 0.0:
        return torch.randint(weights.shape[0], (count,), generator=generator).to(weights.device)
    u = torch.rand(count, generator=generator, dtype=torch.float64).to(weights.device) * total
    return torch.searchsorted(cdf, u, right=True).clamp_(max=weights.shape[0] - 1)


def _lloyd(x: Tensor, shift: Tensor | None, norms: Tensor, centroids: Tensor, iters: int, tol: float, chunk: int) -> KMeansResult:
    """Lloyd iterations from `centroids` (centred); the result's centroids are x's coordinates."""
    k = centroids.shape[0]
    everything = x
    mine = distributed.shard(x.shape[0])
    x, norms = x[mine], norms[mine]
    previous_inertia = math.inf
    converged = False
    iterations = 0
    for iterations in range(1, iters + 1):
        sums = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
        distance, index = _nearest(x, shift, norms, centroids, chunk, sums)
        distributed.all_reduce_sum(sums)
        inertia = float(distributed.all_reduce_sum(distance.sum(dtype=torch.float64)))
        counts = distributed.all_reduce_sum(torch.bincount(index, minlength=k))
        updated = (sums / counts.clamp(min=1)[:, None]).to(x.dtype)
        empty = counts == 0
        n_empty = int(empty.sum())
        if n_empty:
            # Re-seed each empty cluster with one of the points farthest from its centroid.
            farthest = torch.topk(distributed.all_gather(distance, len(everything)), n_empty).indices
            updated[empty] = _centre(everything[farthest], shift)
        # A fixed point, or (with no cluster just re-seeded) a negligible gain.
        converged = torch.equal(updated, centroids) or (
            not n_empty and previous_inertia - inertia <= tol * inertia
        )
        centroids = updated
        previous_inertia = inertia
        if converged:
            break
    # One last assignment so that assignments, centroids and inertia agree with each other.
    distance, index = _nearest(x, shift, norms, centroids, chunk, exact=True)
    counts = distributed.all_reduce_sum(torch.bincount(index, minlength=k))
    return KMeansResult(
        assignments=distributed.all_gather(index.to(torch.int32), len(everything)),
        centroids=centroids if shift is None else centroids + shift,
        inertia=float(distributed.all_reduce_sum(distance.sum(dtype=torch.float64))),
        iterations=iterations,
        converged=converged,
        empty_clusters=int((counts == 0).sum()),
    )
