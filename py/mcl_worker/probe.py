"""Probes of frozen features: how well a labelled attribute can be read off an embedding.

Both probes use the same seeded, stratified held-out split (`split_indices`), so their
accuracies on one attribute are measured on the same test samples.
- `linear_probe`: multinomial logistic regression (features standardised with the training
  split's statistics, small L2 penalty) fitted full-batch with L-BFGS.
- `knn_probe`: majority vote of the k nearest training samples (cosine or euclidean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InvalidArgument

# Rows of test queries scored against the training bank at once by the kNN probe.
_KNN_CHUNK = 1024


@dataclass(frozen=True)
class ProbeResult:
    accuracy: float  # on the held-out split
    train_accuracy: float  # on the training split (for the linear probe: its fit)
    n_train: int
    n_test: int
    n_classes: int


class AttributeScores(TypedDict):
    linear: float
    knn: float


def split_indices(labels: Tensor, *, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train, test) index tensors; stratified: each class sends round(test_fraction × its
    size) samples to the test split, at least 1 and never all of them (a class of one sample
    stays in training). Seeded and deterministic."""
    if not (isinstance(test_fraction, (int, float)) and 0.0 < test_fraction < 1.0):
        raise InvalidArgument("test_fraction", f"must be a number in (0, 1), got {test_fraction!r}")
    n = labels.shape[0]
    generator = torch.Generator().manual_seed(seed)
    shuffled = torch.randperm(n, generator=generator)
    _, classes = torch.unique(labels.cpu(), return_inverse=True)
    order = shuffled[torch.argsort(classes[shuffled], stable=True)]  # grouped by class, shuffled within
    counts = torch.bincount(classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - starts.repeat_interleave(counts)  # position within its class
    n_test = torch.floor(counts.double() * test_fraction + 0.5).long()
    n_test = torch.minimum(n_test.clamp(min=1), counts - 1)
    is_test = rank < n_test.repeat_interleave(counts)
    if not bool(is_test.any()):
        raise InvalidArgument("labels", "no class has 2 or more samples, so nothing can be held out")
    return order[~is_test].sort().values, order[is_test].sort().values


def linear_probe(
    features: Tensor,
    labels: Tensor,
    *,
    seed: int,
    test_fraction: float = 0.2,
    l2: float = 1e-4,
    max_iter: int = 200,
) -> ProbeResult:
    """Multinomial logistic regression on frozen features, scored on a held-out split.

    Minimises mean cross-entropy + l2/2 · ||W||² (bias unpenalised) with L-BFGS in float32
    on the features' device; scikit-learn's `C` corresponds to 1 / (l2 · n_train).
    """
    classes, n_classes = _check(features, labels)
    if not (isinstance(l2, (int, float)) and math.isfinite(l2) and l2 >= 0):
        raise InvalidArgument("l2", f"must be a finite number >= 0, got {l2!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidArgument("max_iter", f"must be an integer >= 1, got {max_iter!r}")
    train, test = split_indices(classes, test_fraction=test_fraction, seed=seed)
    x = features.float()
    y = classes.to(x.device)
    train, test = train.to(x.device), test.to(x.device)
    mean = x[train].mean(0)
    std = x[train].std(0).clamp(min=1e-6)  # a constant feature carries no signal: keep it at 0
    x_train, x_test = (x[train] - mean) / std, (x[test] - mean) / std

    weight = torch.zeros(x.shape[1], n_classes, device=x.device, requires_grad=True)
    bias = torch.zeros(n_classes, device=x.device, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
        history_size=20, line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(torch.addmm(bias, x_train, weight), y[train])
        loss = loss + 0.5 * l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        train_accuracy = _accuracy(torch.addmm(bias, x_train, weight).argmax(1), y[train])
        accuracy = _accuracy(torch.addmm(bias, x_test, weight).argmax(1), y[test])
    return ProbeResult(accuracy, train_accuracy, int(train.numel()), int(test.numel()), n_classes)


def knn_probe(
    features: Tensor,
    labels: Tensor,
    *,
    seed: int,
    k: int = 20,
    test_fraction: float = 0.2,
    metric: str = "cosine",
) -> ProbeResult:
    """Accuracy of a k-nearest-neighbour vote of the training split on the held-out split.

    Majority vote; a tie goes to the class whose neighbours rank nearer. `train_accuracy`
    is the same vote for training samples, which count themselves among their neighbours.
    """
    classes, n_classes = _check(features, labels)
    if metric not in ("cosine", "euclidean"):
        raise InvalidArgument("metric", f"must be 'cosine' or 'euclidean', got {metric!r}")
    train, test = split_indices(classes, test_fraction=test_fraction, seed=seed)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= train.numel():
        raise InvalidArgument(
            "k", f"must be an integer in [1, {train.numel()}] (the training split's size), got {k!r}"
        )
    x = features.float()
    if metric == "cosine":
        x = F.normalize(x, dim=1)
    y = classes.to(x.device)
    train, test = train.to(x.device), test.to(x.device)
    bank, bank_labels = x[train], y[train]
    # Vote weight of the neighbour at rank r: 1 + (k − r) / (k (k + 1)); the extras sum
    # to less than 1 over all k neighbours, so they only break ties.
    rank_weight = 1.0 + (k - torch.arange(k, device=x.device, dtype=x.dtype)) / (k * (k + 1))

    def predict(queries: Tensor) -> Tensor:
        predictions = []
        for i in range(0, queries.shape[0], _KNN_CHUNK):
            q = queries[i : i + _KNN_CHUNK]
            score = q @ bank.T if metric == "cosine" else -torch.cdist(q, bank)
            neighbours = score.topk(k, dim=1).indices
            votes = torch.zeros(q.shape[0], n_classes, device=x.device, dtype=x.dtype)
            votes.scatter_add_(1, bank_labels[neighbours], rank_weight.expand(q.shape[0], k))
            predictions.append(votes.argmax(1))
        return torch.cat(predictions)

    accuracy = _accuracy(predict(x[test]), y[test])
    train_accuracy = _accuracy(predict(bank), bank_labels)
    return ProbeResult(accuracy, train_accuracy, int(train.numel()), int(test.numel()), n_classes)


def probe_attributes(
    features: Tensor,
    attributes: dict[str, Tensor],
    *,
    seed: int,
    test_fraction: float = 0.2,
    k: int = 20,
    l2: float = 1e-4,
    max_iter: int = 200,
) -> dict[str, AttributeScores]:
    """Held-out linear-probe and kNN accuracy for every labelled attribute."""
    if not attributes:
        raise InvalidArgument("attributes", "give at least one attribute name -> labels [N]")
    scores: dict[str, AttributeScores] = {}
    for name, labels in attributes.items():
        try:
            linear = linear_probe(
                features, labels, seed=seed, test_fraction=test_fraction, l2=l2, max_iter=max_iter
            )
            knn = knn_probe(features, labels, seed=seed, k=k, test_fraction=test_fraction)
        except InvalidArgument as error:
            if error.field != "labels":
                raise
            raise InvalidArgument(f"attributes.{name}", error.reason) from None
        scores[name] = {"linear": linear.accuracy, "knn": knn.accuracy}
    return scores


def _check(features: Tensor, labels: Tensor) -> tuple[Tensor, int]:
    """Validates the inputs; returns the labels as dense class ids 0..C-1 and C."""
    if features.dim() != 2 or not features.is_floating_point():
        raise InvalidArgument(
            "features", f"must be a floating-point [N, D] tensor, got {features.dtype} {tuple(features.shape)}"
        )
    if labels.dim() != 1 or labels.shape[0] != features.shape[0] or labels.is_floating_point():
        raise InvalidArgument(
            "labels", f"must be an integer tensor [N] with N = {features.shape[0]} (one per feature "
            f"row), got {labels.dtype} {tuple(labels.shape)}"
        )
    if not bool(torch.isfinite(features).all()):
        raise InvalidArgument("features", "contains NaN or infinite values")
    values, classes = torch.unique(labels, return_inverse=True)
    if values.numel() < 2:
        raise InvalidArgument("labels", f"need at least 2 distinct classes, got {values.numel()}")
    return classes, int(values.numel())


def _accuracy(predicted: Tensor, truth: Tensor) -> float:
    return float((predicted == truth).float().mean()) if truth.numel() else math.nan
