"""Our contrastive losses against the libraries people train with: NT-Xent and DCL against
lightly's NTXentLoss and DCLLoss, supervised contrastive against pytorch-metric-learning's
SupConLoss, CLIP's loss against open_clip's ClipLoss. Values and gradients with respect to the
raw (unnormalised) inputs, in float64, over several batch sizes and temperatures."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from mcl_worker.losses import clip_loss, dcl, nt_xent, supcon
from oracles import peers

BATCHES = [2, 5, 16]
TEMPERATURES = [0.07, 0.2, 0.5, 1.0]
# float64 through different but equivalent formulas (concatenated logits vs masks, max-shifted
# vs plain log-sum-exp): they agree to a few units of the last place of the loss.
RTOL, ATOL = 1e-12, 1e-13


def views(batch: int, seed: int, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z_a = torch.randn(batch, dim, generator=g, dtype=torch.float64)
    z_b = z_a + 0.5 * torch.randn(batch, dim, generator=g, dtype=torch.float64)  # related views, as after training
    return (3.0 * z_a).requires_grad_(), z_b.requires_grad_()  # unnormalised: both must normalise


def value_and_gradients(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z_a: torch.Tensor, z_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    value = loss(z_a, z_b)
    grad_a, grad_b = torch.autograd.grad(value, (z_a, z_b))
    return value.detach(), grad_a, grad_b


def assert_same(
    ours: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    theirs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z_a: torch.Tensor,
    z_b: torch.Tensor,
) -> None:
    got, expected = value_and_gradients(ours, z_a, z_b), value_and_gradients(theirs, z_a, z_b)
    assert got[0].dtype == expected[0].dtype == torch.float64
    for name, g, e in zip(("loss", "d/dz_a", "d/dz_b"), got, expected):
        torch.testing.assert_close(g, e, rtol=RTOL, atol=ATOL, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_nt_xent_equals_lightly(batch: int, tau: float) -> None:
    theirs = peers.lightly_loss().NTXentLoss(temperature=tau)
    assert_same(lambda a, b: nt_xent(a, b, temperature=tau), theirs, *views(batch, seed=batch))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_dcl_equals_lightly(batch: int, tau: float) -> None:
    theirs = peers.lightly_loss().DCLLoss(temperature=tau)
    assert_same(lambda a, b: dcl(a, b, temperature=tau), theirs, *views(batch, seed=batch + 1))


def pml_supcon(tau: float, labels: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """pytorch-metric-learning's SupConLoss over the 2B rows, each view keeping its sample's label."""
    loss = peers.metric_learning_losses().SupConLoss(temperature=tau)
    return lambda a, b: loss(torch.cat([a, b]), torch.cat([labels, labels]))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_supcon_equals_pytorch_metric_learning(batch: int, tau: float) -> None:
    # Labels with repeats, and at least two classes: every anchor has a negative.
    labels = torch.arange(batch) % max(2, batch // 2)
    assert_same(lambda a, b: supcon(a, b, temperature=tau, labels=labels), pml_supcon(tau, labels), *views(batch, seed=batch + 2))


def test_supcon_where_a_batch_has_no_negatives_differs_from_pytorch_metric_learning() -> None:
    # One label for the whole batch: pytorch-metric-learning returns 0 (no pairs to contrast);
    # ours is L_out as defined, which is still positive: each positive's share of the softmax.
    z_a, z_b = views(4, seed=3)
    labels = torch.zeros(4, dtype=torch.int64)
    assert float(pml_supcon(0.2, labels)(z_a, z_b).detach()) == 0.0
    ours = float(supcon(z_a, z_b, temperature=0.2, labels=labels).detach())
    # Every other row is a positive: −1/|P| Σ_p log softmax_p, with |P| = 2B − 1 = 7, is ≥ log 7.
    assert ours >= math.log(7) - 1e-12


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_clip_loss_equals_open_clip(batch: int, tau: float) -> None:
    # open_clip's ClipLoss takes normalised features and the scale exp(t) itself (the model
    # clamps t); ours takes raw features and t. Gradients are compared with respect to t too.
    t = -math.log(tau)
    theirs = peers.open_clip().ClipLoss()
    z_a, z_b = views(batch, seed=batch + 3)
    for scale_grad in (False, True):
        ours_t = torch.tensor(t, dtype=torch.float64, requires_grad=True)
        theirs_t = torch.tensor(t, dtype=torch.float64, requires_grad=True)
        got = clip_loss(z_a, z_b, ours_t)
        expected = theirs(F.normalize(z_a, dim=1), F.normalize(z_b, dim=1), theirs_t.exp())
        torch.testing.assert_close(got, expected, rtol=RTOL, atol=ATOL)
        inputs_ours = (z_a, z_b, ours_t) if scale_grad else (z_a, z_b)
        inputs_theirs = (z_a, z_b, theirs_t) if scale_grad else (z_a, z_b)
        for g, e in zip(torch.autograd.grad(got, inputs_ours), torch.autograd.grad(expected, inputs_theirs)):
            torch.testing.assert_close(g, e, rtol=RTOL, atol=ATOL)
