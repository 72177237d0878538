"""Peer models with every weight moved off its initial value, so that a tensor we read wrongly,
swap or ignore shows up in the features (initial values hide it: zero biases, unit norm scales,
BatchNorm statistics of 0 and 1)."""

from __future__ import annotations

import torch
from torch import nn


def perturb(model: nn.Module, seed: int) -> nn.Module:
    """`model` in eval mode, every floating-point tensor of its state dict moved by random noise
    (norm scales kept near 1, BatchNorm variances positive). Non-persistent buffers, which a weight
    file does not carry (open_clip's attention mask), are left alone."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():  # views of the model's own tensors
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=g, dtype=tensor.dtype)
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g, dtype=tensor.dtype) + 0.5)
            elif tensor.dim() == 1 and name.endswith("weight"):  # a norm's scale
                tensor.copy_(1.0 + 0.2 * noise)
            else:
                tensor.add_(0.05 * noise)
    return model.eval()
