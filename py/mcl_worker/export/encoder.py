"""The exported encoder: images in, a run's embedding out, as one module torch.jit.script compiles.

    images: uint8 [B, C, H, W] (0 to 255) or float [B, C, H, W] (0 to 1)
      -> the run's eval transform: resized to size x size (the whole image, or the shorter side to
         floor(size / crop_pct) then the centred size x size), antialiased, then (x - mean) / std
      -> each stage's encoder; its features L2-normalised (the stage's embedding, as the `embed`
         job with normalize gives it)
      -> mcl_worker.integration's formula: each block times its weight, L2-normalised per stage
         (per-stage-l2) or as a whole (concat-then-l2) or not at all (none)

The transform repeats mcl_worker.data.eval_transform op for op in what TorchScript compiles (no
dataclass, no Python rounding): tests hold the two equal to the last bit. No
`from __future__ import annotations` here: TorchScript reads the annotations as types.
"""

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..integration import NORMALIZATIONS, integrate


class ExportedEncoder(nn.Module):
    size: int
    in_channels: int
    interpolation: str
    crop_pct: Optional[float]
    weights: List[float]
    normalize: str

    def __init__(
        self,
        encoders: List[nn.Module],
        *,
        weights: List[float],
        normalize: str,
        size: int,
        in_channels: int,
        mean: List[float],
        std: List[float],
        interpolation: str,
        crop_pct: Optional[float],
    ) -> None:
        super().__init__()
        if len(weights) != len(encoders) or normalize not in NORMALIZATIONS:
            raise ValueError(f"one weight per encoder and a normalisation of {NORMALIZATIONS}; got {weights}, {normalize!r}")
        self.encoders = nn.ModuleList(encoders)
        self.weights = [float(w) for w in weights]
        self.normalize = normalize
        self.size = size
        self.in_channels = in_channels
        self.interpolation = interpolation
        self.crop_pct = crop_pct
        # One value for every channel, or one per channel, as the run's preprocessing gives them.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, images: Tensor) -> Tensor:
        x = self.transform(images)
        blocks: List[Tensor] = []
        for encoder in self.encoders:
            blocks.append(F.normalize(encoder(x).float(), dim=1))
        return integrate(blocks, self.weights, self.normalize)

    def transform(self, images: Tensor) -> Tensor:
        """The run's eval transform: what every encoder sees."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                "images: expected [B, {}, H, W] (channels first), got {}".format(self.in_channels, list(images.shape))
            )
        if images.dtype == torch.uint8:
            x = images.float().mul(1.0 / 255.0)
        elif images.is_floating_point():
            x = images.float()
        else:
            raise ValueError("images: expected uint8 (0 to 255) or float (0 to 1) values, got {}".format(images.dtype))
        h, w = x.shape[-2], x.shape[-1]
        crop_pct = self.crop_pct
        if crop_pct is None:
            x = self._resize(x, self.size, self.size)
        else:
            # torchvision's shorter-side resize (the longer side is int(short * long / shorter)) and centre crop.
            short = int(math.floor(self.size / crop_pct))
            if h <= w:
                resized_h, resized_w = short, int(short * w / h)
            else:
                resized_h, resized_w = int(short * h / w), short
            x = self._resize(x, resized_h, resized_w)
            top, left = _half_of(resized_h - self.size), _half_of(resized_w - self.size)
            x = x[:, :, top : top + self.size, left : left + self.size]
        c = x.shape[1]
        return (x - self.mean.expand(c).view(1, c, 1, 1)).mul((1.0 / self.std).expand(c).view(1, c, 1, 1))

    def _resize(self, x: Tensor, h: int, w: int) -> Tensor:
        if x.shape[-2] == h and x.shape[-1] == w:
            return x
        # Clamped: bicubic overshoots, and the values stay the [0, 1] that uint8 pixels give.
        return F.interpolate(x, size=[h, w], mode=self.interpolation, antialias=True).clamp(0.0, 1.0)


def _half_of(excess: int) -> int:
    """round(excess / 2) as Python rounds it, half to even (torchvision's centre-crop offset)."""
    half = excess // 2
    if excess % 2 == 1 and half % 2 == 1:
        return half + 1
    return half
