"""Our k-means against scikit-learn's KMeans (a worker dependency, so imported directly).
From the same initial centroids both run Lloyd's algorithm to its fixed point: the same labels,
centroids and inertia, also on data far from the origin. From their own seeding (k-means++ on
both sides), the quality: inertia on Gaussian blobs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from mcl_worker.kmeans import kmeans


def blobs(n: int, k: int, dim: int, spread: float, seed: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows around k Gaussian centres (unit normal × 4), each row's noise × spread."""
    g = torch.Generator().manual_seed(seed)
    centres = 4.0 * torch.randn(k, dim, generator=g, dtype=torch.float64)
    truth = torch.randint(k, (n,), generator=g)
    x = centres[truth] + spread * torch.randn(n, dim, generator=g, dtype=torch.float64)
    return x.to(dtype), truth


def sklearn_from(x: torch.Tensor, init: torch.Tensor) -> KMeans:
    """Lloyd from `init` until no label changes (tol=0), as ours runs with tol=0."""
    return KMeans(init.shape[0], init=init.numpy(), n_init=1, max_iter=300, tol=0.0, algorithm="lloyd").fit(x.numpy())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("k", "spread", "seed"), [(5, 0.5, 0), (8, 2.0, 1), (16, 3.0, 2)])
def test_same_initial_centroids_give_sklearns_labels_and_inertia(dtype: torch.dtype, k: int, spread: float, seed: int) -> None:
    # Overlapping blobs at the larger spreads: Lloyd takes many steps and many points sit near
    # a boundary, so a difference in any step would show in the labels.
    x, _ = blobs(1500, k, 12, spread, seed, dtype)
    init = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:k]].clone()
    theirs = sklearn_from(x, init)
    ours = kmeans(x, k, seed=0, init=init, tol=0.0, iters=300)
    assert ours.converged
    assert np.array_equal(ours.assignments.numpy(), theirs.labels_)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(ours.centroids.numpy(), theirs.cluster_centers_, rtol=rtol, atol=rtol)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=rtol)


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e4, 1e5])
def test_data_far_from_the_origin_keep_sklearns_inertia(offset: float) -> None:
    # float32 rows of norm ~offset × √D: the expansion ||x||² − 2x·c + ||c||² without centring
    # lost the spread to rounding (inertia +2.4 % at 1e3, 3.7x at 1e4).
    x, _ = blobs(1000, 6, 16, 1.0, 3, torch.float64)
    x = (x + offset).float()
    init = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(4))[:6]].clone()
    theirs = sklearn_from(x, init)
    ours = kmeans(x, 6, seed=0, init=init, tol=0.0, iters=300)
    assert np.array_equal(ours.assignments.numpy(), theirs.labels_)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-5)


def test_quality_from_own_seeding_matches_sklearn_on_blobs() -> None:
    # Both seed with greedy k-means++; K = 20 on 12 blobs splits some of them, so seeding matters.
    x, truth = blobs(4000, 12, 16, 1.0, 5)
    seeds = range(3)
    ours = [kmeans(x, 20, seed=s) for s in seeds]
    theirs = [KMeans(20, n_init=1, random_state=s).fit(x.numpy()) for s in seeds]
    ours_mean = float(np.mean([r.inertia for r in ours]))
    theirs_mean = float(np.mean([r.inertia_ for r in theirs]))
    # Ours stops at tol = 5e-4 relative gain, scikit-learn at its centre-shift tolerance.
    assert ours_mean <= 1.01 * theirs_mean
    # With K = the number of blobs, both recover them.
    exact_ours = kmeans(x, 12, seed=0, n_init=3)
    exact_theirs = KMeans(12, n_init=3, random_state=0).fit(x.numpy())
    assert adjusted_rand_score(truth.numpy(), exact_ours.assignments.numpy()) == pytest.approx(
        adjusted_rand_score(truth.numpy(), exact_theirs.labels_), abs=0.01
    )
