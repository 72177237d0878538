"""The projection head that sits on top of every encoder (SimCLR, Chen et al. 2020).

The contrastive loss is computed on the head's output; downstream tasks (k-means, probes)
use the backbone's features before it, which keep more information.
"""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Linear, or Linear -> ReLU -> Linear without BatchNorm."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, *, batch_norm: bool = True) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.hidden_dim = hidden_dim
        self.out_dim = out_dim
        # The first Linear has no bias when a BatchNorm follows: the norm's shift replaces it.
        self.fc1 = nn.Linear(in_dim, hidden_dim, bias=not batch_norm)
        self.bn = nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity()
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.bn(self.fc1(x))))
