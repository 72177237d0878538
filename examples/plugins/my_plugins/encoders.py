"""A depthwise-separable CNN (MobileNet v1's block, Howard et al. 2017): not one of the built-ins.

Each block is a 3x3 depthwise convolution (one filter per channel) then a 1x1 pointwise
convolution that mixes channels, each followed by BatchNorm and ReLU; every block but the first
halves the resolution. Global average pooling gives the features [B, widths[-1]].
"""

from __future__ import annotations

import torch
from torch import nn


class SeparableBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.depthwise(x)))
        return torch.relu(self.bn2(self.pointwise(x)))


class DepthwiseCNN(nn.Module):
    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        channels = [widths[0], *widths]
        self.blocks = nn.Sequential(
            *(SeparableBlock(c_in, c_out, stride=1 if i == 0 else 2) for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])))
        )
        self.feature_dim = widths[-1]  # declared, so the worker need not measure it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


def depthwise_cnn(*, in_channels: int, widths: list[int] = [32, 64, 128]) -> DepthwiseCNN:  # noqa: B006 (read only)
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be a non-empty list of positive integers, got {widths!r}")
    return DepthwiseCNN(in_channels, list(widths))
