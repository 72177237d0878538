"""digits:colored — scikit-learn's bundled handwritten digits (1,797 real 8×8 scans, no
download), upsampled, shifted and coloured so that colour competes with digit identity.

Each scan appears `repeat` times (sample i is scan i mod 1797), every time with its own random
shift and its own colours: with `colors=0` a continuous foreground colour on a continuous dark
background per instance, so colour nearly identifies an instance within a batch (the regime in
which the digit is suppressed); `colors=k` draws the foreground from k hues on black instead.
`stripes=d` (0 < d <= 1) also lays a grating of depth d over each background, of the instance's
own orientation, frequency and phase, in a lighter tone of the background colour: crops, flips,
colour jitter and grayscale all keep a grating's orientation, so it still nearly identifies an
instance within a batch after the augmentations that weaken colour.
Attributes: "digit" (10 classes), "color" (the foreground hue in 8 named bins) and, with
stripes, "stripes" (the grating's orientation in 8 bins of 22.5°).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from .base import ArrayDataset, AttributeInfo
from .color import HUE_NAMES, hsv_to_rgb, hue_bin, rgb_to_hsv, sample_colors, to_uint8, with_article
from .uri import DatasetUri, Param, bind_params

PARAMS = {
    "size": Param(int, 32, 8, 256, "side in pixels, default 32"),
    "seed": Param(int, 0, 0, 2**63 - 1, "default 0"),
    "repeat": Param(int, 3, 1, 1000, "coloured copies of each scan, default 3 (5,391 images)"),
    "shift": Param(float, 0.1, 0.0, 0.5, "largest shift as a fraction of the side, default 0.1"),
    "colors": Param(int, 0, 0, 64, "0 = a continuous colour per instance (default), k = k hues"),
    "stripes": Param(float, 0.0, 0.0, 1.0, "depth of a grating per instance, default 0 (none)"),
}

_DIGIT_SCALE = 0.8  # side of the digit's 8×8 box as a fraction of the image side
_CHUNK = 1024
# Grating frequency in cycles per image side, log-uniform: a crop lowers it by up to √5 at the
# default crop scale 0.2, and 7 cycles keep the period over 4 px at 32 px.
_CYCLES = (2.0, 7.0)
_STRIPE_VALUE = 0.75  # value (HSV) of the grating's lighter tone
_ORIENTATION_BINS = 8


def open_digits(uri: DatasetUri) -> ArrayDataset:
    params = bind_params(uri, PARAMS, "digits:colored")
    stripes = float(params["stripes"])
    images, digit, color, orientation = render_digits(
        size=int(params["size"]),
        seed=int(params["seed"]),
        repeat=int(params["repeat"]),
        shift=float(params["shift"]),
        colors=int(params["colors"]),
        stripes=stripes,
    )
    attributes = {
        "digit": AttributeInfo("digit", digit, tuple(str(d) for d in range(10))),
        "color": AttributeInfo("color", color, HUE_NAMES),
    }
    if stripes > 0:
        step = 180 / _ORIENTATION_BINS
        names = tuple(f"{k * step:g}°" for k in range(_ORIENTATION_BINS))
        attributes["stripes"] = AttributeInfo("stripes", orientation, names)
    captions = np.array(
        [f"{with_article(HUE_NAMES[c])} {d}" for d, c in zip(digit.tolist(), color.tolist())]
    )
    return ArrayDataset(uri.text, images, attributes, captions)


def render_digits(
    size: int, seed: int, repeat: int, shift: float, colors: int, stripes: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 images [1797·repeat, size, size, 3], int64 digit, colour and grating-orientation
    labels (the orientation bin; all 0 without stripes)."""
    scans = load_digits()
    ink = torch.from_numpy(scans.images).float().div(16.0).unsqueeze(1)  # [1797, 1, 8, 8]
    n = ink.shape[0] * repeat
    generator = torch.Generator().manual_seed(seed)
    fg, bg, hue = sample_colors(n, colors, generator)
    offset = (torch.rand(n, 2, generator=generator) * 2.0 - 1.0) * (2.0 * shift)
    # Drawn after the colours and shifts, so that stripes=0 leaves the images as they were.
    grating = _sample_gratings(n, bg, generator) if stripes > 0 else None
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0  # [-1, 1]
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        rows = torch.arange(start, min(n, start + _CHUNK))
        # One batched affine resample: output coordinates -> scan coordinates (normalised
        # [-1, 1]; a shift of `shift` of the side is 2·shift in these units).
        theta = torch.zeros(rows.numel(), 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / _DIGIT_SCALE
        theta[:, :, 2] = -offset[rows] / _DIGIT_SCALE
        grid = F.affine_grid(theta, [rows.numel(), 1, size, size], align_corners=False)
        scan = ink[rows % ink.shape[0]]
        alpha = F.grid_sample(scan, grid, mode="bilinear", align_corners=False).clamp(0.0, 1.0)
        background = bg[rows, :, None, None].expand(-1, -1, size, size)
        if grating is not None:
            background = _with_grating(background, grating, rows, centres, stripes)
        image = background * (1.0 - alpha) + fg[rows, :, None, None] * alpha
        out[start : start + rows.numel()] = to_uint8(image).permute(0, 2, 3, 1).numpy()
    digit = np.tile(scans.target.astype(np.int64), repeat)
    orientation = np.zeros(n, dtype=np.int64)
    if grating is not None:
        bins = (grating["angle"] / torch.pi * _ORIENTATION_BINS).long()
        orientation = bins.clamp(max=_ORIENTATION_BINS - 1).numpy()
    return out, digit, hue_bin(hue).numpy(), orientation


def _sample_gratings(
    n: int, bg: torch.Tensor, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Per instance: orientation in [0, π), cycles per side (log-uniform), phase, and the
    lighter tone (the background's hue and saturation at a fixed value) the stripes take."""
    u = torch.rand(n, 3, generator=generator)
    low, high = _CYCLES
    cycles = torch.exp(math.log(low) + (math.log(high) - math.log(low)) * u[:, 1])
    hsv = rgb_to_hsv(bg.view(n, 3, 1, 1)).view(n, 3)
    value = torch.full_like(hsv[:, 0], _STRIPE_VALUE)
    light = hsv_to_rgb(torch.stack((hsv[:, 0], hsv[:, 1], value), dim=1).view(n, 3, 1, 1)).view(n, 3)
    angle, phase = u[:, 0] * torch.pi, u[:, 2] * 2.0 * torch.pi
    return {"angle": angle, "cycles": cycles, "phase": phase, "light": light}


def _with_grating(
    background: torch.Tensor,
    grating: dict[str, torch.Tensor],
    rows: torch.Tensor,
    centres: torch.Tensor,
    depth: float,
) -> torch.Tensor:
    """[b, 3, size, size] backgrounds with each row's sinusoidal grating mixed in at `depth`."""
    angle, cycles, phase = grating["angle"][rows], grating["cycles"][rows], grating["phase"][rows]
    # Position along the grating's normal in [-1, 1] coordinates: a side is 2 units, so a
    # phase of π·cycles per unit gives `cycles` periods a side.
    along = (
        centres.view(1, 1, -1) * torch.cos(angle).view(-1, 1, 1)
        + centres.view(1, -1, 1) * torch.sin(angle).view(-1, 1, 1)
    )
    wave = 0.5 + 0.5 * torch.sin(torch.pi * cycles.view(-1, 1, 1) * along + phase.view(-1, 1, 1))
    mix = (depth * wave).unsqueeze(1)  # [b, 1, size, size]
    return background * (1.0 - mix) + grating["light"][rows, :, None, None] * mix
