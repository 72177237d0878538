"""digits:colored — scikit-learn's bundled handwritten digits (1,797 real 8×8 scans, no
download), upsampled, shifted and coloured so that colour competes with digit identity.

Each scan appears `repeat` times (sample i is scan i mod 1797), every time with its own random
shift and its own colours: with `colors=0` a continuous foreground colour on a continuous dark
background per instance, so colour nearly identifies an instance within a batch (the regime in
which the digit is suppressed); `colors=k` draws the foreground from k hues on black instead.
Attributes: "digit" (10 classes) and "color" (the foreground hue in 8 named bins).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from .base import ArrayDataset, AttributeInfo
from .color import HUE_NAMES, hue_bin, sample_colors, to_uint8, with_article
from .uri import DatasetUri, Param, bind_params

PARAMS = {
    "size": Param(int, 32, 8, 256, "side in pixels, default 32"),
    "seed": Param(int, 0, 0, 2**63 - 1, "default 0"),
    "repeat": Param(int, 3, 1, 1000, "coloured copies of each scan, default 3 (5,391 images)"),
    "shift": Param(float, 0.1, 0.0, 0.5, "largest shift as a fraction of the side, default 0.1"),
    "colors": Param(int, 0, 0, 64, "0 = a continuous colour per instance (default), k = k hues"),
}

_DIGIT_SCALE = 0.8  # side of the digit's 8×8 box as a fraction of the image side
_CHUNK = 1024


def open_digits(uri: DatasetUri) -> ArrayDataset:
    params = bind_params(uri, PARAMS, "digits:colored")
    images, digit, color = render_digits(
        size=int(params["size"]),
        seed=int(params["seed"]),
        repeat=int(params["repeat"]),
        shift=float(params["shift"]),
        colors=int(params["colors"]),
    )
    attributes = {
        "digit": AttributeInfo("digit", digit, tuple(str(d) for d in range(10))),
        "color": AttributeInfo("color", color, HUE_NAMES),
    }
    captions = np.array(
        [f"{with_article(HUE_NAMES[c])} {d}" for d, c in zip(digit.tolist(), color.tolist())]
    )
    return ArrayDataset(uri.text, images, attributes, captions)


def render_digits(
    size: int, seed: int, repeat: int, shift: float, colors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 images [1797·repeat, size, size, 3], int64 digit and colour labels."""
    scans = load_digits()
    ink = torch.from_numpy(scans.images).float().div(16.0).unsqueeze(1)  # [1797, 1, 8, 8]
    n = ink.shape[0] * repeat
    generator = torch.Generator().manual_seed(seed)
    fg, bg, hue = sample_colors(n, colors, generator)
    offset = (torch.rand(n, 2, generator=generator) * 2.0 - 1.0) * (2.0 * shift)
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
        image = bg[rows, :, None, None] * (1.0 - alpha) + fg[rows, :, None, None] * alpha
        out[start : start + rows.numel()] = to_uint8(image).permute(0, 2, 3, 1).numpy()
    digit = np.tile(scans.target.astype(np.int64), repeat)
    return out, digit, hue_bin(hue).numpy()
