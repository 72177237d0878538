"""Colour helpers shared by the generators and the augmentations: batched HSV <-> RGB, the
per-instance colour draw, and the hue bins that label colour for evaluation.

All functions take channels at dim -3 (…, 3, H, W) with values in [0, 1]; hue is in [0, 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

# Eight hue bins of 45° centred on these hues (0°, 45°, …, 315°).
HUE_NAMES = ("red", "orange", "lime", "green", "cyan", "blue", "purple", "magenta")


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    r, g, b = rgb.unbind(-3)
    value, argmax = rgb.max(dim=-3)
    chroma = value - rgb.min(dim=-3).values
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    # Hue in sextants, from whichever channel is the maximum.
    hue_r = torch.remainder((g - b) / safe, 6.0)
    hue_g = (b - r) / safe + 2.0
    hue_b = (r - g) / safe + 4.0
    hue = torch.where(argmax == 0, hue_r, torch.where(argmax == 1, hue_g, hue_b))
    hue = torch.where(chroma > 0, hue / 6.0, torch.zeros_like(hue))
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1.0), 0.0)
    return torch.stack((hue, saturation, value), dim=-3)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    h, s, v = hsv.unbind(-3)
    # Closed form: channel n (5, 3, 1 for R, G, B) is v − v·s·clamp(min(k, 4 − k), 0, 1)
    # with k = (n + 6h) mod 6.
    n = torch.tensor([5.0, 3.0, 1.0], dtype=hsv.dtype, device=hsv.device)
    n = n.view(*([1] * (hsv.dim() - 3)), 3, 1, 1)
    k = torch.remainder(n + 6.0 * h.unsqueeze(-3), 6.0)
    ramp = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return v.unsqueeze(-3) * (1.0 - s.unsqueeze(-3) * ramp)


def hue_bin(hue: Tensor) -> Tensor:
    """Index into HUE_NAMES of each hue in [0, 1) (bins of 1/8 centred on multiples of 1/8)."""
    bins = len(HUE_NAMES)
    return torch.remainder(torch.floor(hue * bins + 0.5), bins).long()


def with_article(color_name: str) -> str:
    """"a red", "an orange": captions start with the colour."""
    return ("an " if color_name[0] in "aeiou" else "a ") + color_name


def sample_colors(
    n: int, palette: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Foreground RGB [n, 3], background RGB [n, 3] and foreground hue [n] for n instances.

    palette = 0: every instance draws a continuous foreground colour (any hue, saturation in
    [0.55, 1], value in [0.7, 1]) and a continuous dark background colour, so that colour
    nearly identifies an instance within a batch — the regime in which contrastive learning
    suppresses the other features. palette = k > 0: the foreground hue is one of k evenly spaced
    hues at fixed saturation and value on a black background (few colour values: little
    suppression), for comparison.
    """
    u = torch.rand(n, 6, generator=generator, dtype=torch.float64)
    if palette == 0:
        fg_hsv = torch.stack((u[:, 0], 0.55 + 0.45 * u[:, 1], 0.7 + 0.3 * u[:, 2]), dim=1)
        bg_hsv = torch.stack((u[:, 3], 0.5 * u[:, 4], 0.08 + 0.22 * u[:, 5]), dim=1)
    else:
        hue = torch.floor(u[:, 0] * palette) / palette
        fg_hsv = torch.stack((hue, torch.full_like(hue, 0.9), torch.full_like(hue, 0.9)), dim=1)
        bg_hsv = torch.zeros_like(fg_hsv)
    fg = hsv_to_rgb(fg_hsv.view(n, 3, 1, 1)).view(n, 3)
    bg = hsv_to_rgb(bg_hsv.view(n, 3, 1, 1)).view(n, 3)
    return fg.float(), bg.float(), fg_hsv[:, 0].float()


def to_uint8(image: Tensor) -> Tensor:
    """[0, 1] floats to uint8, rounding to nearest."""
    return torch.clamp(torch.round(image * 255.0), 0, 255).to(torch.uint8)
