import math

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from mcl_worker.errors import InvalidArgument
from mcl_worker.kmeans import KMeansResult, kmeans


def blobs(n_per: int, centers: torch.Tensor, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    truth = torch.arange(centers.shape[0]).repeat_interleave(n_per)
    x = centers[truth] + spread * torch.randn(truth.numel(), centers.shape[1], generator=g)
    return x, truth


def separated(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return blobs(100, 10.0 * torch.eye(5, 8), 0.3, seed)


def recomputed_inertia(x: torch.Tensor, result: KMeansResult) -> float:
    return float((x.double() - result.centroids.double()[result.assignments.long()]).square().sum())


def test_recovers_well_separated_blobs() -> None:
    x, truth = separated()
    result = kmeans(x, 5, seed=0)
    assert result.assignments.dtype == torch.int32 and result.assignments.shape == (500,)
    assert result.centroids.shape == (5, 8) and result.centroids.dtype == torch.float32
    assert adjusted_rand_score(truth.numpy(), result.assignments.numpy()) == pytest.approx(1.0)
    assert result.converged and 1 <= result.iterations < 100


def test_result_is_self_consistent() -> None:
    x, _ = blobs(200, torch.randn(6, 16, generator=torch.Generator().manual_seed(5)), 1.0, 1)
    result = kmeans(x, 6, seed=3)
    assert result.inertia == pytest.approx(recomputed_inertia(x, result), rel=1e-5)
    nearest = torch.cdist(x.double(), result.centroids.double()).argmin(1)
    assert torch.equal(nearest, result.assignments.long())
    counts = torch.bincount(result.assignments.long(), minlength=6)
    assert bool((counts > 0).all()) and result.empty_clusters == 0


def test_chunk_size_does_not_change_the_result() -> None:
    x, _ = blobs(150, torch.randn(4, 12, generator=torch.Generator().manual_seed(9)), 0.8, 2)
    whole = kmeans(x, 7, seed=1, chunk_size=10_000)
    for chunk in (37, 256):
        chunked = kmeans(x, 7, seed=1, chunk_size=chunk)
        assert torch.equal(chunked.assignments, whole.assignments)
        assert torch.allclose(chunked.centroids, whole.centroids, atol=1e-5)
        assert chunked.inertia == pytest.approx(whole.inertia, rel=1e-5)


def test_deterministic_under_seed() -> None:
    x, _ = blobs(100, torch.randn(8, 6, generator=torch.Generator().manual_seed(4)), 1.5, 3)
    a, b = kmeans(x, 8, seed=11), kmeans(x, 8, seed=11)
    assert torch.equal(a.assignments, b.assignments) and torch.equal(a.centroids, b.centroids)
    assert a.inertia == b.inertia


def test_kmeans_pp_is_no_worse_than_random_init_and_lloyd_only_improves() -> None:
    # Many small blobs: random seeding often puts two seeds in one blob and gets stuck.
    centers = 6.0 * torch.randn(20, 4, generator=torch.Generator().manual_seed(7))
    x, _ = blobs(40, centers, 0.5, 4)
    plus = [kmeans(x, 20, seed=s).inertia for s in range(3)]
    random = [kmeans(x, 20, seed=s, init="random").inertia for s in range(3)]
    assert sum(plus) <= sum(random)
    one_step = kmeans(x, 20, seed=0, iters=1)
    assert one_step.iterations == 1 and not one_step.converged
    assert kmeans(x, 20, seed=0).inertia <= one_step.inertia


def test_n_init_keeps_the_best_run() -> None:
    centers = 6.0 * torch.randn(12, 4, generator=torch.Generator().manual_seed(8))
    x, _ = blobs(30, centers, 0.7, 5)
    best = kmeans(x, 12, seed=20, n_init=4)
    singles = [kmeans(x, 12, seed=20 + i).inertia for i in range(4)]
    assert best.inertia == min(singles)


def test_an_empty_cluster_is_reseeded_from_the_farthest_points() -> None:
    x, truth = separated()
    # Centroid 4 is far from everything and wins no point in the first assignment; blobs
    # 3 and 4 both start nearest centroid 3.
    start = torch.stack([x[truth == c].mean(0) for c in range(4)] + [torch.full((8,), -100.0)])
    start[3] = (x[truth == 3].mean(0) + x[truth == 4].mean(0)) / 2
    result = kmeans(x, 5, seed=0, init=start)
    assert bool((torch.bincount(result.assignments.long(), minlength=5) > 0).all())
    assert adjusted_rand_score(truth.numpy(), result.assignments.numpy()) == pytest.approx(1.0)


def test_k_equal_to_n_and_duplicate_points() -> None:
    x = torch.randn(6, 3)
    assert kmeans(x, 6, seed=0).inertia == pytest.approx(0.0, abs=1e-5)
    same = torch.ones(10, 3)  # fewer distinct points than clusters: still a valid answer
    result = kmeans(same, 3, seed=0)
    assert result.inertia == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(result.centroids, torch.ones(3, 3))
    assert result.empty_clusters == 2


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_fewer_distinct_rows_than_k_leave_clusters_empty_and_say_how_many(init: str) -> None:
    # 2 distinct rows, k = 5: whatever the seeding, 3 clusters can hold no row.
    x = torch.cat([torch.zeros(6, 4), torch.ones(6, 4)])
    for seed in range(3):
        result = kmeans(x, 5, seed=seed, init=init)
        counts = torch.bincount(result.assignments.long(), minlength=5)
        assert result.empty_clusters == int((counts == 0).sum()) == 3
        assert result.inertia == 0.0


def test_data_far_from_the_origin_cluster_as_centred_data_do() -> None:
    x, truth = separated()
    near = kmeans(x, 5, seed=0)
    for offset in (1e3, 1e4):
        far = kmeans(x + offset, 5, seed=0)
        assert torch.equal(far.assignments, near.assignments)
        # x + offset keeps ~log2(offset) fewer bits of x in float32: the inertia moves by that much.
        assert far.inertia == pytest.approx(near.inertia, rel=1e-3)
        # The centroids come back rounded to float32 at the offset's scale (as scikit-learn's).
        assert far.inertia == pytest.approx(recomputed_inertia(x + offset, far), rel=1e-5)


def test_inertia_is_exact_for_clusters_far_from_each_other() -> None:
    # Centring cannot help here (the mean is 0); the inertia is summed from x − c itself.
    g = torch.Generator().manual_seed(6)
    x = torch.cat([torch.randn(200, 8, generator=g) + 1e4, torch.randn(200, 8, generator=g) - 1e4])
    result = kmeans(x, 4, seed=0)
    assert result.inertia == pytest.approx(recomputed_inertia(x, result), rel=1e-6)


def test_dtypes() -> None:
    x, truth = separated()
    assert kmeans(x.double(), 5, seed=0).centroids.dtype == torch.float64
    half = kmeans(x.to(torch.bfloat16), 5, seed=0)
    assert half.centroids.dtype == torch.float32
    assert adjusted_rand_score(truth.numpy(), half.assignments.numpy()) == pytest.approx(1.0)


def test_bad_input_is_named() -> None:
    x = torch.randn(5, 2)
    with pytest.raises(InvalidArgument, match="k = 6 is larger than the number of rows N = 5") as error:
        kmeans(x, 6, seed=0)
    assert error.value.code == "INVALID_BODY" and error.value.field == "k"
    with pytest.raises(InvalidArgument, match="k: must be an integer >= 1"):
        kmeans(x, 0, seed=0)
    bad = x.clone()
    bad[3, 1] = math.nan
    with pytest.raises(InvalidArgument, match="NaN or infinite"):
        kmeans(bad, 2, seed=0)
    bad[3, 1] = math.inf
    with pytest.raises(InvalidArgument, match="NaN or infinite"):
        kmeans(bad, 2, seed=0)
    with pytest.raises(InvalidArgument, match="floating-point"):
        kmeans(torch.ones(5, 2, dtype=torch.int64), 2, seed=0)
    with pytest.raises(InvalidArgument, match=r"\[N, D\]"):
        kmeans(torch.randn(5), 2, seed=0)
    with pytest.raises(InvalidArgument, match="tol"):
        kmeans(x, 2, seed=0, tol=-1.0)
    with pytest.raises(InvalidArgument, match="chunk_size"):
        kmeans(x, 2, seed=0, chunk_size=0)
    with pytest.raises(InvalidArgument, match="init"):
        kmeans(x, 2, seed=0, init="kmeans++")
    with pytest.raises(InvalidArgument, match=r"\[2, 2\]"):
        kmeans(x, 2, seed=0, init=torch.zeros(3, 2))
