"""Alignment and uniformity (Wang & Isola 2020): a contrastive loss without a softmax.

    L = E ||a_i - b_i||^alpha  +  weight * (log E_{i != j} exp(-t ||x_i - x_j||^2) over x = a, then b) / 2

on L2-normalised projections. It has the built-in losses' signature; `temperature` is accepted
and unused (there is no softmax to temper), `labels` must be None.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def align_uniform(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    temperature: float = 0.2,
    labels: torch.Tensor | None = None,
    alpha: float = 2.0,
    t: float = 2.0,
    weight: float = 1.0,
) -> torch.Tensor:
    if labels is not None:
        raise ValueError("align_uniform is self-supervised and takes no labels")
    a, b = F.normalize(z_a.float(), dim=1), F.normalize(z_b.float(), dim=1)
    align = (a - b).norm(dim=1).pow(alpha).mean()
    uniform = sum(torch.pdist(x).pow(2).mul(-t).exp().mean().log() for x in (a, b)) / 2
    return align + weight * uniform
