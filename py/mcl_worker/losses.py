"""Contrastive losses, all with one signature.

    loss(z_a, z_b, *, temperature=0.2, labels=None) -> scalar Tensor

z_a and z_b are the projections of the two augmented views of the same B samples ([B, D],
row i of each is sample i). They are L2-normalised here and the loss is computed in at least
float32 whatever the autocast dtype, so call a loss outside any autocast region. Notation in
the formulas: the 2B rows z = [z_a; z_b], s_ij = cos(z_i, z_j) / τ, p(i) the other view of i.
Every loss is the mean over the 2B anchors, so it is symmetric in the two views.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InvalidArgument


class ContrastiveLoss(Protocol):
    def __call__(
        self, z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
    ) -> Tensor: ...


def _similarities(z_a: Tensor, z_b: Tensor, temperature: float) -> Tensor:
    """s = cos(z_i, z_j) / τ over the 2B rows, [2B, 2B], with -inf on the diagonal."""
    if z_a.dim() != 2 or z_a.shape != z_b.shape:
        raise InvalidArgument(
            "z_b", f"the two views must both be [B, D] with the same shape, got "
            f"{tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    if z_a.shape[0] < 2:
        raise InvalidArgument("z_a", f"a contrastive loss needs at least 2 samples, got {z_a.shape[0]}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise InvalidArgument("temperature", f"must be a finite number > 0, got {temperature!r}")
    z = torch.cat([z_a, z_b])
    if z.dtype != torch.float64:
        z = z.float()
    z = F.normalize(z, dim=1)
    s = z @ z.T / temperature
    return s.fill_diagonal_(float("-inf"))


def _positive_index(batch: int, device: torch.device) -> Tensor:
    """p(i): row i of z_a pairs with row i of z_b, i.e. i <-> i + B."""
    i = torch.arange(batch, device=device)
    return torch.cat([i + batch, i])


def _no_labels(name: str, labels: Tensor | None) -> None:
    if labels is not None:
        raise InvalidArgument(
            "labels", f"{name} is self-supervised and takes no labels; use 'supcon' for labels"
        )


# NT-Xent / InfoNCE (SimCLR):  ℓ_i = −log( exp(s_i,p(i)) / Σ_{k≠i} exp(s_ik) )
def nt_xent(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
) -> Tensor:
    _no_labels("nt-xent", labels)
    s = _similarities(z_a, z_b, temperature)
    return F.cross_entropy(s, _positive_index(z_a.shape[0], s.device))


# Supervised contrastive, L_out of Khosla et al. 2020, P(i) = {p ≠ i : y_p = y_i} (both views):
#   ℓ_i = −1/|P(i)| Σ_{p∈P(i)} log( exp(s_ip) / Σ_{k≠i} exp(s_ik) )
# (no τ/τ_base rescaling). With all labels distinct it equals NT-Xent.
def supcon(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
) -> Tensor:
    if labels is None:
        raise InvalidArgument("labels", "supcon needs one integer label per sample, [B]")
    batch = z_a.shape[0]
    if labels.shape != (batch,) or labels.is_floating_point() or labels.is_complex():
        raise InvalidArgument(
            "labels", f"must be an integer tensor of shape [{batch}], got {labels.dtype} "
            f"{tuple(labels.shape)}"
        )
    s = _similarities(z_a, z_b, temperature)
    y = torch.cat([labels, labels]).to(s.device)
    positives = y[:, None] == y[None, :]
    positives.fill_diagonal_(False)
    log_prob = s - torch.logsumexp(s, dim=1, keepdim=True)
    per_anchor = log_prob.masked_fill(~positives, 0.0).sum(1) / positives.sum(1)
    return -per_anchor.mean()


# Decoupled contrastive (DCL, Yeh et al. 2022): the positive leaves the denominator:
#   ℓ_i = −s_i,p(i) + log Σ_{k∉{i, p(i)}} exp(s_ik)
def dcl(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
) -> Tensor:
    _no_labels("dcl", labels)
    s = _similarities(z_a, z_b, temperature)
    rows = torch.arange(s.shape[0], device=s.device)
    positive_col = _positive_index(z_a.shape[0], s.device)
    positive = s[rows, positive_col]
    negatives = s.index_put((rows, positive_col), torch.tensor(float("-inf"), dtype=s.dtype, device=s.device))
    return (torch.logsumexp(negatives, dim=1) - positive).mean()


LOSSES: dict[str, ContrastiveLoss] = {"nt-xent": nt_xent, "supcon": supcon, "dcl": dcl}


def get_loss(name: str) -> ContrastiveLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise InvalidArgument(
            "loss", f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}"
        ) from None
