import math

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from mcl_worker.errors import InvalidArgument
from mcl_worker.probe import knn_probe, linear_probe, probe_attributes, split_indices


def gaussian_classes(n: int, d: int, classes: int, separation: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    means = separation * torch.randn(classes, d, generator=g)
    return means[labels] + torch.randn(n, d, generator=g), labels


def test_stratified_split() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 1 + [7] * 9)
    train, test = split_indices(labels, test_fraction=0.2, seed=3)
    assert torch.equal(torch.cat([train, test]).sort().values, torch.arange(90))
    assert [int((labels[test] == c).sum()) for c in (0, 1, 2, 7)] == [10, 6, 0, 2]
    again = split_indices(labels, test_fraction=0.2, seed=3)
    assert torch.equal(again[0], train) and torch.equal(again[1], test)
    assert not torch.equal(split_indices(labels, test_fraction=0.2, seed=4)[1], test)


def test_separable_classes_are_read_perfectly() -> None:
    x, y = gaussian_classes(600, 16, 5, separation=8.0, seed=0)
    linear = linear_probe(x, y * 3 + 10, seed=0)  # any integer values, not only 0..C-1
    assert linear.accuracy >= 0.99 and linear.train_accuracy >= 0.99
    assert (linear.n_train, linear.n_test, linear.n_classes) == (480, 120, 5)
    assert knn_probe(x, y, seed=0).accuracy >= 0.99


def test_random_labels_score_near_chance() -> None:
    x, _ = gaussian_classes(1000, 16, 4, separation=1.0, seed=1)
    y = torch.randint(0, 4, (1000,), generator=torch.Generator().manual_seed(99))
    assert 0.13 <= linear_probe(x, y, seed=0).accuracy <= 0.37
    assert 0.13 <= knn_probe(x, y, seed=0).accuracy <= 0.37


def test_deterministic() -> None:
    x, y = gaussian_classes(300, 8, 3, separation=1.0, seed=2)
    assert linear_probe(x, y, seed=5) == linear_probe(x, y, seed=5)
    assert knn_probe(x, y, seed=5, k=7) == knn_probe(x, y, seed=5, k=7)


def test_linear_probe_agrees_with_scikit_learn() -> None:
    x, y = gaussian_classes(800, 10, 3, separation=0.6, seed=3)  # overlapping: accuracy well below 1
    l2 = 1e-2
    ours = linear_probe(x, y, seed=1, l2=l2)
    train, test = split_indices(y, test_fraction=0.2, seed=1)
    mean, std = x[train].mean(0), x[train].std(0)
    reference = LogisticRegression(C=1.0 / (l2 * train.numel()), max_iter=2000)
    reference.fit(((x[train] - mean) / std).numpy(), y[train].numpy())
    theirs = reference.score(((x[test] - mean) / std).numpy(), y[test].numpy())
    assert 0.5 < theirs < 0.95
    assert ours.accuracy == pytest.approx(theirs, abs=0.03)


def test_knn_probe_matches_scikit_learn_without_ties() -> None:
    x, y = gaussian_classes(500, 6, 2, separation=0.8, seed=4)  # two classes, odd k: no ties
    ours = knn_probe(x, y, seed=2, k=5)
    train, test = split_indices(y, test_fraction=0.2, seed=2)
    for metric in ("cosine", "euclidean"):
        reference = KNeighborsClassifier(n_neighbors=5, metric=metric).fit(x[train].numpy(), y[train].numpy())
        theirs = reference.score(x[test].numpy(), y[test].numpy())
        assert knn_probe(x, y, seed=2, k=5, metric=metric).accuracy == pytest.approx(theirs)
    assert ours.accuracy == knn_probe(x, y, seed=2, k=5, metric="cosine").accuracy


def test_probe_attributes_scores_each_attribute() -> None:
    x, shape = gaussian_classes(400, 12, 4, separation=6.0, seed=5)
    noise = torch.randint(0, 2, (400,), generator=torch.Generator().manual_seed(6))
    scores = probe_attributes(x, {"shape": shape, "noise": noise}, seed=0, k=9)
    assert set(scores) == {"shape", "noise"}
    assert scores["shape"]["linear"] >= 0.95 and scores["shape"]["knn"] >= 0.95
    assert scores["noise"]["linear"] < 0.7 and scores["noise"]["knn"] < 0.7


def test_bad_input_is_named() -> None:
    x, y = gaussian_classes(50, 4, 2, separation=1.0, seed=7)
    with pytest.raises(InvalidArgument, match="N = 50") as error:
        linear_probe(x, y[:40], seed=0)
    assert error.value.field == "labels" and error.value.code == "INVALID_BODY"
    with pytest.raises(InvalidArgument, match="at least 2 distinct classes"):
        knn_probe(x, torch.zeros(50, dtype=torch.int64), seed=0)
    with pytest.raises(InvalidArgument, match="labels"):
        linear_probe(x, y.float(), seed=0)
    bad = x.clone()
    bad[0, 0] = math.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        linear_probe(bad, y, seed=0)
    for fraction in (0.0, 1.0, 1.5):
        with pytest.raises(InvalidArgument, match="test_fraction"):
            knn_probe(x, y, seed=0, test_fraction=fraction)
    with pytest.raises(InvalidArgument, match=r"k: must be an integer in \[1, 40\]"):
        knn_probe(x, y, seed=0, k=41)
    with pytest.raises(InvalidArgument, match="metric"):
        knn_probe(x, y, seed=0, metric="manhattan")
    with pytest.raises(InvalidArgument, match="nothing can be held out"):
        linear_probe(x[:3], torch.tensor([0, 1, 2]), seed=0)
    with pytest.raises(InvalidArgument) as named:
        probe_attributes(x, {"colour": y, "shape": torch.zeros(50, dtype=torch.int64)}, seed=0)
    assert named.value.field == "attributes.shape"
