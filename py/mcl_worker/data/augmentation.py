"""Batched image augmentation on the images' device: the SimCLR set, no per-sample Python loop.

`augment` turns uint8 [B, C, H, W] into float32 [B, C, h, w] views, applying in this order:
random resized crop and horizontal flip (one batched affine resample with the configured
interpolation, bilinear by default), colour jitter
(brightness, contrast, saturation, hue, in that fixed order, unlike torchvision's random order),
grayscale, gaussian blur (separable, a sigma per sample), then normalisation
(x / 255 − mean) / std. The default mean = std = 0.5 maps [0, 1] to [−1, 1].

The default config is the demo's: crop and flip only. Colour jitter and grayscale are off
because feature suppression is only real when colour survives the augmentations (docs/method.md);
`AugmentConfig.simclr()` is the full SimCLR recipe.

Randomness: one [B, 31] draw from the caller's generator per call, whatever ops are enabled, so
the same generator state gives the same views, and enabling one op does not change another's
draws. The resample has no antialiasing: open datasets near the training size.

`eval_transform` is the preprocessing without augmentation. With `crop_pct` unset it resizes the
whole image to size × size (the aspect ratio is not kept); with `crop_pct` it resizes the
shorter side to floor(size / crop_pct) (timm's rounding) and keeps the centred size × size, as
the eval transforms of torchvision's weights, timm and open_clip (crop_pct 1) do. Both resizes
are antialiased when shrinking. Pretrained encoders need their own weights' mean, std,
interpolation and crop; the control plane resolves them (ts/config/preprocess.ts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, NoReturn

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InvalidArgument
from .color import hsv_to_rgb, rgb_to_hsv

_CROP_TRIES = 10  # as torchvision: then fall back to the whole image
# Columns of the per-call uniform draw.
_SCALE, _RATIO = 0, _CROP_TRIES  # 10 each
_LEFT, _TOP = 2 * _CROP_TRIES, 2 * _CROP_TRIES + 1
_FLIP, _JITTER, _BRIGHTNESS, _CONTRAST, _SATURATION, _HUE = range(22, 28)
_GRAY, _BLUR, _SIGMA = 28, 29, 30
_DRAWS = 31
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class AugmentConfig:
    size: int | None = None  # output side; None keeps the input's H × W
    crop_scale: tuple[float, float] = (0.2, 1.0)  # crop area as a fraction of the image
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop width / height (log-uniform)
    flip_p: float = 0.5
    jitter_p: float = 0.0  # probability of applying the four jitters below
    brightness: float = 0.4  # factor drawn from [1 − b, 1 + b]
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1  # shift drawn from [−h, h] turns (≤ 0.5)
    grayscale_p: float = 0.0
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # in output pixels
    mean: tuple[float, ...] = (0.5,)  # per channel, or one value for all
    std: tuple[float, ...] = (0.5,)
    interpolation: str = "bilinear"  # of every resample: one of INTERPOLATIONS
    # Eval only: None resizes the whole image to size × size; a fraction in (0, 1] resizes the
    # shorter side to floor(size / crop_pct) and centre-crops size × size.
    crop_pct: float | None = None

    def __post_init__(self) -> None:
        for name in ("crop_scale", "crop_ratio", "blur_sigma", "mean", "std"):
            if isinstance(getattr(self, name), list):  # as from JSON or msgpack
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.size is not None and (not isinstance(self.size, int) or self.size < 1):
            _bad("size", f"must be a positive integer or None, got {self.size!r}")
        _check_range("crop_scale", self.crop_scale, 0.0, 1.0, open_low=True)
        _check_range("crop_ratio", self.crop_ratio, 0.0, math.inf, open_low=True)
        _check_range("blur_sigma", self.blur_sigma, 0.0, math.inf, open_low=True)
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p"):
            _check_number(name, getattr(self, name), 0.0, 1.0)
        for name in ("brightness", "contrast", "saturation"):
            _check_number(name, getattr(self, name), 0.0, math.inf)
        _check_number("hue", self.hue, 0.0, 0.5)
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, tuple) or not values or len(values) > 4:
                _bad(name, f"must be a list of 1 to 4 numbers, got {values!r}")
            for v in values:
                _check_number(name, v, -math.inf, math.inf)
        if any(s <= 0 for s in self.std):
            _bad("std", f"must be positive, got {self.std!r}")
        if self.interpolation not in INTERPOLATIONS:
            _bad("interpolation", f"must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if self.crop_pct is not None:
            if isinstance(self.crop_pct, bool) or not isinstance(self.crop_pct, (int, float)) or not 0 < self.crop_pct <= 1:
                _bad("crop_pct", f"must be a number in (0, 1], got {self.crop_pct!r}")
            if self.size is None:
                _bad("crop_pct", "needs augment.size, the side of the centre crop")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AugmentConfig:
        """From a plain mapping (e.g. a message body); unknown keys are refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            _bad(unknown[0], f"is not an augmentation option; valid: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def simclr(cls, size: int | None = None) -> AugmentConfig:
        """SimCLR's full recipe (Chen et al. 2020): crop, flip, strong jitter, grayscale, blur."""
        return cls(
            size=size,
            crop_scale=(0.08, 1.0),
            jitter_p=0.8,
            brightness=0.8,
            contrast=0.8,
            saturation=0.8,
            hue=0.2,
            grayscale_p=0.2,
            blur_p=0.5,
        )


def augment(images: Tensor, cfg: AugmentConfig, generator: torch.Generator) -> Tensor:
    """Random views of uint8 [B, C, H, W] images as normalised float32 [B, C, h, w]."""
    b, c, h, w = _check_images(images, cfg)
    out_h, out_w = (cfg.size, cfg.size) if cfg.size is not None else (h, w)
    u = torch.rand(b, _DRAWS, generator=generator, device=generator.device).to(images.device)

    x = images.float().mul_(1.0 / 255.0)
    x = _resized_crop_flip(x, u, cfg, out_h, out_w)
    if cfg.jitter_p > 0 and c == 3:
        x = _color_jitter(x, u, cfg)
    if cfg.grayscale_p > 0 and c == 3:
        x = torch.where((u[:, _GRAY] < cfg.grayscale_p).view(b, 1, 1, 1), _gray(x), x)
    if cfg.blur_p > 0:
        x = _blur(x, u, cfg)
    return _normalize(x, cfg)


def eval_transform(images: Tensor, cfg: AugmentConfig | None = None) -> Tensor:
    """No augmentation: uint8 [B, C, H, W] resized to cfg.size (the whole image, or the shorter
    side then a centre crop: cfg.crop_pct) with cfg.interpolation, antialiased when shrinking,
    and normalised exactly as `augment` does."""
    cfg = cfg or AugmentConfig()
    _, _, h, w = _check_images(images, cfg)
    x = images.float().mul_(1.0 / 255.0)
    if cfg.size is None:
        return _normalize(x, cfg)
    if cfg.crop_pct is None:
        x = _resize(x, (cfg.size, cfg.size), cfg.interpolation)
    else:
        # torchvision's shorter-side resize: the longer side is int(short * long / shorter).
        short = math.floor(cfg.size / cfg.crop_pct)
        resized = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
        x = _resize(x, resized, cfg.interpolation)
        # torchvision's center_crop: the offsets are rounded half to even.
        top, left = round((resized[0] - cfg.size) / 2), round((resized[1] - cfg.size) / 2)
        x = x[:, :, top : top + cfg.size, left : left + cfg.size]
    return _normalize(x, cfg)


def _resize(x: Tensor, size: tuple[int, int], interpolation: str) -> Tensor:
    if x.shape[-2:] == size:
        return x
    # Clamped: bicubic overshoots, and the values stay the [0, 1] that uint8 pixels give.
    return F.interpolate(x, size=size, mode=interpolation, antialias=True).clamp_(0.0, 1.0)


def _resized_crop_flip(
    x: Tensor, u: Tensor, cfg: AugmentConfig, out_h: int, out_w: int
) -> Tensor:
    b, _, h, w = x.shape
    # Candidate crops (area fraction, log-uniform aspect); the first that fits is taken.
    low, high = cfg.crop_scale
    area = (low + (high - low) * u[:, _SCALE : _SCALE + _CROP_TRIES]) * (h * w)
    log_lo, log_hi = math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[:, _RATIO : _RATIO + _CROP_TRIES])
    crop_w, crop_h = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    fits = (crop_w <= w) & (crop_h <= h)
    first = fits.float().argmax(dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    crop_w = torch.where(any_fit, crop_w.gather(1, first).squeeze(1), float(w))
    crop_h = torch.where(any_fit, crop_h.gather(1, first).squeeze(1), float(h))
    left = (w - crop_w) * u[:, _LEFT]
    top = (h - crop_h) * u[:, _TOP]
    # Sampling grid in grid_sample's coordinates ([−1, 1] across the input's pixel edges,
    # align_corners=False): output pixel centres mapped into the crop; a mirrored crop runs
    # its x the other way. The crop is axis-aligned, so x depends on the column only.
    flip = torch.where(u[:, _FLIP] < cfg.flip_p, -1.0, 1.0)
    centre_x = (2 * left + crop_w) / w - 1
    centre_y = (2 * top + crop_h) / h - 1
    out_x = (2 * torch.arange(out_w, dtype=u.dtype, device=u.device) + 1) / out_w - 1
    out_y = (2 * torch.arange(out_h, dtype=u.dtype, device=u.device) + 1) / out_h - 1
    grid_x = centre_x[:, None] + (flip * crop_w / w)[:, None] * out_x  # [B, out_w]
    grid_y = centre_y[:, None] + (crop_h / h)[:, None] * out_y  # [B, out_h]
    grid = torch.empty(b, out_h, out_w, 2, dtype=x.dtype, device=x.device)
    grid[..., 0] = grid_x[:, None, :]
    grid[..., 1] = grid_y[:, :, None]
    out = F.grid_sample(x, grid, mode=cfg.interpolation, padding_mode="border", align_corners=False)
    # Bicubic overshoots [0, 1], which the colour ops after it assume.
    return out if cfg.interpolation == "bilinear" else out.clamp_(0.0, 1.0)


def _color_jitter(x: Tensor, u: Tensor, cfg: AugmentConfig) -> Tensor:
    b = x.shape[0]
    on = u[:, _JITTER] < cfg.jitter_p

    def factor(column: int, strength: float) -> Tensor:
        # Uniform in [max(0, 1 − s), 1 + s]; 1 (no change) for samples not jittered.
        low = max(0.0, 1.0 - strength)
        f = low + (1.0 + strength - low) * u[:, column]
        return torch.where(on, f, 1.0).to(x.dtype).view(b, 1, 1, 1)

    x = (x * factor(_BRIGHTNESS, cfg.brightness)).clamp(0.0, 1.0)
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * factor(_CONTRAST, cfg.contrast) + mean).clamp(0.0, 1.0)
    gray = _gray(x)
    x = ((x - gray) * factor(_SATURATION, cfg.saturation) + gray).clamp(0.0, 1.0)
    if cfg.hue > 0:
        shift = torch.where(on, cfg.hue * (2.0 * u[:, _HUE] - 1.0), 0.0).to(x.dtype)
        hsv = rgb_to_hsv(x)
        hue = torch.remainder(hsv[:, 0] + shift.view(b, 1, 1), 1.0)
        x = hsv_to_rgb(torch.stack((hue, hsv[:, 1], hsv[:, 2]), dim=1))
    return x


def _gray(x: Tensor) -> Tensor:
    """Luma of RGB [B, 3, H, W], repeated over the 3 channels."""
    luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * luma).sum(dim=1, keepdim=True).expand_as(x)


def _blur(x: Tensor, u: Tensor, cfg: AugmentConfig) -> Tensor:
    b, _, h, w = x.shape
    low, high = cfg.blur_sigma
    sigma = (low + (high - low) * u[:, _SIGMA]).to(x.dtype)
    blurred = (u[:, _BLUR] < cfg.blur_p).view(b, 1)
    # Separable: out = K_h · x · K_wᵀ with a per-sample banded matrix per axis (reflecting
    # at the borders); at these image sizes two batched matmuls beat a grouped convolution.
    along_h = _gaussian_matrix(sigma, blurred, h, cfg.blur_sigma[1])
    along_w = _gaussian_matrix(sigma, blurred, w, cfg.blur_sigma[1])
    return along_h.unsqueeze(1) @ x @ along_w.transpose(1, 2).unsqueeze(1)


def _gaussian_matrix(sigma: Tensor, blurred: Tensor, n: int, max_sigma: float) -> Tensor:
    """[B, n, n]: row i holds sample b's gaussian taps around i, reflected at the borders
    (…, 2, 1 | 0, 1, 2, …); the identity for samples not blurred."""
    b = sigma.shape[0]
    radius = max(0, min(math.ceil(3 * max_sigma), n - 1))
    taps = torch.arange(-radius, radius + 1, device=sigma.device)
    kernel = torch.exp(-0.5 * (taps.to(sigma.dtype) / sigma.view(b, 1)) ** 2)
    kernel = torch.where(blurred, kernel, (taps == 0).to(sigma.dtype))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # [B, k]
    source = torch.arange(n, device=sigma.device).view(n, 1) + taps  # [n, k]
    source = torch.where(source < 0, -source, source)
    source = torch.where(source >= n, 2 * (n - 1) - source, source)
    matrix = torch.zeros(b, n, n, dtype=sigma.dtype, device=sigma.device)
    weights = kernel.view(b, 1, -1).expand(b, n, -1)
    return matrix.scatter_add_(2, source.expand(b, n, -1), weights)


def _normalize(x: Tensor, cfg: AugmentConfig) -> Tensor:
    c = x.shape[1]
    mean = torch.tensor(cfg.mean, dtype=x.dtype, device=x.device)
    std = torch.tensor(cfg.std, dtype=x.dtype, device=x.device)
    return (x - mean.expand(c).view(1, c, 1, 1)).mul_((1.0 / std).expand(c).view(1, c, 1, 1))


def _check_images(images: Tensor, cfg: AugmentConfig) -> tuple[int, int, int, int]:
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = (
            f"{images.dtype} {tuple(images.shape)}" if isinstance(images, Tensor) else type(images)
        )
        raise InvalidArgument("images", f"must be a uint8 tensor [B, C, H, W], got {got}")
    b, c, h, w = images.shape
    if c not in (1, 3):
        raise InvalidArgument("images", f"must have 1 or 3 channels, got {c}")
    for name in ("mean", "std"):
        if len(getattr(cfg, name)) not in (1, c):
            _bad(name, f"has {len(getattr(cfg, name))} values for images of {c} channels")
    return b, c, h, w


def _bad(name: str, problem: str) -> NoReturn:
    raise InvalidArgument(f"augment.{name}", problem)


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        _bad(name, f"must be a number in [{low}, {high}], got {value!r}")


def _check_range(
    name: str, value: Any, low: float, high: float, *, open_low: bool = False
) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and (low < value[0] if open_low else low <= value[0])
        and value[0] <= value[1] <= high
    )
    if not ok:
        _bad(name, f"must be a pair [low, high], {low} < low ≤ high ≤ {high}, got {value!r}")
