"""synthetic:trifeature — shape × colour × texture images, each a labelled attribute.

Designed so that a standard contrastive model suppresses features, and so that MCL can undo
it. Colour is the easy feature: a bright foreground hue (`palette`, default 8 hues) on a dark
background colour (`backgrounds`, default 16), drawn independently, gives 128 discrete colour
combinations that crop and flip keep intact. In a uniform batch of 128-256 an instance shares
its combination with only one or two others, so colour alone nearly identifies it among the
negatives and the InfoNCE loss can be driven down without shape or texture: stage 1 learns
colour and background perfectly and shape and texture barely (≈ 0.3 linear-probe accuracy,
8 classes each; shape ≈ 0.5 when upright, which MCL then takes to ≈ 0.73). Because the
combinations are discrete, the fix works: a k-means cluster of stage-1 embeddings holds a few
combinations, each shared by many of its samples, so an MCL batch drawn from one cluster can
only be told apart by something else. With a continuous colour per instance
(`palette=0&backgrounds=0`, the earlier default) every sample of a cluster still has its own
colour, colour stays the easy separator in every stage and MCL gains nothing (measured through
the SDK, n=4096: texture 0.26 at stage 1, 0.19 at stage 2).

Shape (8 classes, random position, scale in [0.28, 0.40] of the side and, by default, any
rotation, so it is no pixel template; `rotation=0` draws shapes upright, which a small CNN
learns from far fewer images; `position=0` centres them, which a tiny ViT needs: clip-tiny's
image tower, trained on 1,024 upright shapes to name the shape, reaches 0.25 held-out accuracy
with shapes anywhere and 0.89 with them centred) and texture (8 patterns in image coordinates,
random period and phase, chosen to survive a horizontal flip) are the harder features. Colour is
labelled for evaluation by binning the foreground hue into 8 named bins (exact with the default
palette); with discrete backgrounds the background's index is labelled too (`background`).

Captions name colour, texture and shape ("a red checkered triangle"); `scene=1` adds the
background ("... on a dark blue background"), so that the two easy features nearly identify a
caption within a batch, as colour and background identify an image among its negatives.

Rendering is vectorised: every image is drawn at twice the resolution (loops run over the 8
shape and 8 texture classes, never over samples) and average-pooled, which anti-aliases edges.
The output depends only on (n, size, seed, palette, backgrounds, rotation, position).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from .base import ArrayDataset, AttributeInfo
from .captions import describe_object, describe_scene
from .color import HUE_NAMES, hsv_to_rgb, hue_bin
from .errors import DatasetUriError
from .uri import DatasetUri, Param, bind_params

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "semicircle", "crescent")
TEXTURES = ("solid", "hstripes", "vstripes", "diagonal", "checker", "dots", "grid", "speckle")
# How captions name each texture.
TEXTURE_WORDS = (
    "solid",
    "horizontally striped",
    "vertically striped",
    "diagonally striped",
    "checkered",
    "polka-dot",
    "grid-patterned",
    "speckled",
)

PARAMS = {
    "n": Param(int, 6000, 1, 2_000_000, "number of images, default 6000 (held in memory)"),
    "size": Param(int, 32, 16, 512, "side in pixels, default 32"),
    "seed": Param(int, 0, 0, 2**63 - 1, "default 0"),
    "palette": Param(
        int, 8, 0, 64, "foreground hues: k evenly spaced (default 8), 0 = continuous per instance"
    ),
    "backgrounds": Param(
        int, 16, 0, 64, "dark background colours: k (default 16), 0 = continuous per instance"
    ),
    "rotation": Param(
        float, 360.0, 0.0, 360.0,
        "shapes turn by a uniform angle in [0, rotation) degrees: 360 (default) any, 0 upright",
    ),
    "position": Param(
        float, 1.0, 0.0, 1.0,
        "how far a shape's centre strays from the image's, as a share of the room the shape leaves:"
        " 1 (default) anywhere the shape fits, 0 centred",
    ),
    "scene": Param(
        int, 0, 0, 1,
        "1: captions also name the background ('... on a dark blue background'), as captions of a scene"
        " name its setting; 0 (default): the object only",
    ),
}
# How captions name the two brightness levels of the discrete backgrounds (_sample_colors).
BACKGROUND_SHADES = ("dark", "dim")

_SUPERSAMPLE = 2
_CHUNK = 512  # images rendered at once (bounds the float buffers to ~50 MB at size 32)
_TEXTURE_DARKEN = 0.55  # a texture's marks darken the foreground colour by this fraction


def open_trifeature(uri: DatasetUri) -> ArrayDataset:
    params = bind_params(uri, PARAMS, "synthetic:trifeature")
    n, size, seed, palette, backgrounds = (
        int(params[k]) for k in ("n", "size", "seed", "palette", "backgrounds")
    )
    rotation, position = float(params["rotation"]), float(params["position"])
    if params["scene"] == 1 and backgrounds == 0:
        raise DatasetUriError(
            f"scene=1 names each image's background colour, which needs discrete backgrounds: set backgrounds"
            f" to 1 or more in {uri.text!r}, or leave scene out",
            scheme=uri.scheme, param="scene",
        )
    images, labels = render_trifeature(n, size, seed, palette, backgrounds, rotation, position)
    attributes = {
        "shape": AttributeInfo("shape", labels["shape"], SHAPES),
        "color": AttributeInfo("color", labels["color"], HUE_NAMES),
        "texture": AttributeInfo("texture", labels["texture"], TEXTURES),
    }
    if backgrounds > 0:
        names = tuple(f"background {k}" for k in range(backgrounds))
        attributes["background"] = AttributeInfo("background", labels["background"], names)
    shape, texture, color = labels["shape"], labels["texture"], labels["color"]
    objects = [
        describe_object(HUE_NAMES[c], TEXTURE_WORDS[t], SHAPES[s])
        for s, t, c in zip(shape.tolist(), texture.tolist(), color.tolist())
    ]
    if params["scene"] == 1:
        words = background_names(backgrounds)
        objects = [describe_scene(o, words[b]) for o, b in zip(objects, labels["background"].tolist())]
    captions = np.array(objects)
    return ArrayDataset(uri.text, images, attributes, captions)


def render_trifeature(
    n: int, size: int, seed: int, palette: int, backgrounds: int, rotation: float = 360.0,
    position: float = 1.0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """uint8 images [n, size, size, 3] and int64 labels [n] of shape, texture, colour (the
    foreground hue bin) and background (the background's index; 0 when continuous)."""
    generator = torch.Generator().manual_seed(seed)
    shape = torch.randint(len(SHAPES), (n,), generator=generator).numpy()
    texture = torch.randint(len(TEXTURES), (n,), generator=generator).numpy()
    fg, bg, hue, background = _sample_colors(n, palette, backgrounds, generator)
    u = torch.rand(n, 8, generator=generator).numpy()
    # The speckle texture's coarse random field (2×2-pixel cells), drawn for every image so
    # that the stream of random numbers does not depend on the texture labels.
    speckle = torch.rand(n, (size + 1) // 2, (size + 1) // 2, generator=generator).numpy() < 0.5
    # Placement in output pixels: radius, centre (the shape may touch the border), rotation.
    radius = size * (0.28 + 0.12 * u[:, 0])
    # The centre's uniform draws, pulled towards the middle (0.5) unless position is 1, whose
    # draws are kept as they are so that its images stay bit for bit what they were.
    where = u[:, 1:3] if position == 1.0 else 0.5 + position * (u[:, 1:3] - 0.5)
    layout = _Layout(
        shape=shape,
        texture=texture,
        fg=fg.numpy(),
        bg=bg.numpy(),
        radius=radius,
        cx=0.8 * radius + (size - 1.6 * radius) * where[:, 0],
        cy=0.8 * radius + (size - 1.6 * radius) * where[:, 1],
        angle=math.radians(rotation) * u[:, 3],
        # Texture: period in pixels, phases, and the direction of the diagonal stripes.
        period=size * (0.16 + 0.06 * u[:, 4]),
        phase_x=u[:, 5],
        phase_y=u[:, 6],
        diagonal_sign=np.where(u[:, 7] < 0.5, -1.0, 1.0).astype(np.float32),
        speckle=speckle,
    )
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(n, start + _CHUNK))
        image = _render(size, layout.rows(part))
        out[part] = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    labels = {
        "shape": shape.astype(np.int64),
        "texture": texture.astype(np.int64),
        "color": hue_bin(hue).numpy(),
        "background": background.numpy(),
    }
    return out, labels


def background_names(backgrounds: int) -> list[str]:
    """Words for each of `backgrounds` discrete background colours ("dark blue", "dim blue"):
    the hue's name and the brightness level, distinct for up to 16 backgrounds."""
    hues = hue_bin((torch.arange(backgrounds, dtype=torch.float64) + 0.5) / backgrounds).tolist()
    return [f"{BACKGROUND_SHADES[k % 2]} {HUE_NAMES[h]}" for k, h in enumerate(hues)]


def _sample_colors(
    n: int, palette: int, backgrounds: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Foreground RGB [n, 3], background RGB [n, 3], foreground hue [n], background index [n].

    Foreground: bright and saturated, its hue one of `palette` evenly spaced hues (or any hue).
    Background: dark, one of `backgrounds` hues offset by half a step from the foreground's,
    at two brightness levels so that neighbouring hues also differ in value (or any dark
    colour). The discrete draws are independent, so every combination occurs.
    """
    u = torch.rand(n, 6, generator=generator, dtype=torch.float64)
    if palette == 0:
        fg_hsv = torch.stack((u[:, 0], 0.55 + 0.45 * u[:, 1], 0.7 + 0.3 * u[:, 2]), dim=1)
    else:
        hue = torch.floor(u[:, 0] * palette) / palette
        fg_hsv = torch.stack((hue, torch.full_like(hue, 0.9), torch.full_like(hue, 0.9)), dim=1)
    if backgrounds == 0:
        background = torch.zeros(n, dtype=torch.int64)
        bg_hsv = torch.stack((u[:, 3], 0.5 * u[:, 4], 0.08 + 0.22 * u[:, 5]), dim=1)
    else:
        background = torch.floor(u[:, 3] * backgrounds).long()
        step = background.double()
        bg_hsv = torch.stack(
            (
                torch.remainder((step + 0.5) / backgrounds, 1.0),
                torch.full_like(step, 0.6),
                0.22 + 0.12 * torch.remainder(step, 2),
            ),
            dim=1,
        )
    fg = hsv_to_rgb(fg_hsv.view(n, 3, 1, 1)).view(n, 3)
    bg = hsv_to_rgb(bg_hsv.view(n, 3, 1, 1)).view(n, 3)
    return fg.float(), bg.float(), fg_hsv[:, 0].float(), background


@dataclass(frozen=True)
class _Layout:
    """Per-image drawing parameters, each an array over images."""

    shape: np.ndarray
    texture: np.ndarray
    fg: np.ndarray  # [n, 3]
    bg: np.ndarray  # [n, 3]
    radius: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    period: np.ndarray
    phase_x: np.ndarray
    phase_y: np.ndarray
    diagonal_sign: np.ndarray
    speckle: np.ndarray  # bool [n, ceil(size/2), ceil(size/2)]

    def rows(self, part: slice) -> "_Layout":
        return _Layout(**{f.name: getattr(self, f.name)[part] for f in fields(self)})


def _render(size: int, lay: _Layout) -> np.ndarray:
    """float32 [m, size, size, 3] in [0, 1]."""
    m, side = lay.shape.shape[0], size * _SUPERSAMPLE
    # Pixel-centre coordinates in output pixels, [1, side, side].
    axis = ((np.arange(side, dtype=np.float32) + 0.5) / _SUPERSAMPLE).astype(np.float32)
    x, y = axis[None, None, :], axis[None, :, None]

    def per_image(t: np.ndarray) -> np.ndarray:
        return t.astype(np.float32).reshape(m, 1, 1)

    # Shape-local coordinates: rotate about the centre, unit = the shape's radius.
    dx, dy = x - per_image(lay.cx), y - per_image(lay.cy)
    cos, sin = per_image(np.cos(lay.angle)), per_image(np.sin(lay.angle))
    u = (dx * cos + dy * sin) / per_image(lay.radius)
    v = (-dx * sin + dy * cos) / per_image(lay.radius)
    inside = np.zeros((m, side, side), dtype=bool)
    for k, draw in enumerate(_SHAPE_MASKS):
        rows = lay.shape == k
        if rows.any():
            inside[rows] = draw(u[rows], v[rows])

    # Texture marks in image coordinates (their orientation survives crops and flips).
    tx = np.broadcast_to(x / per_image(lay.period) + per_image(lay.phase_x), (m, side, side))
    ty = np.broadcast_to(y / per_image(lay.period) + per_image(lay.phase_y), (m, side, side))
    coarse = lay.speckle.repeat(2 * _SUPERSAMPLE, axis=1).repeat(2 * _SUPERSAMPLE, axis=2)
    marks = np.zeros((m, side, side), dtype=bool)
    for k, name in enumerate(TEXTURES):
        rows = lay.texture == k
        if not rows.any() or name == "solid":
            continue
        a, b = tx[rows], ty[rows]
        if name == "hstripes":
            marks[rows] = _frac(b) < 0.5
        elif name == "vstripes":
            marks[rows] = _frac(a) < 0.5
        elif name == "diagonal":
            sign = lay.diagonal_sign[rows].reshape(-1, 1, 1)
            marks[rows] = _frac((a + sign * b) / math.sqrt(2)) < 0.5
        elif name == "checker":
            marks[rows] = (np.floor(2 * a) + np.floor(2 * b)) % 2 == 0
        elif name == "dots":
            marks[rows] = (_frac(a) - 0.5) ** 2 + (_frac(b) - 0.5) ** 2 < 0.3**2
        elif name == "grid":
            marks[rows] = (_frac(a) < 0.3) | (_frac(b) < 0.3)
        elif name == "speckle":
            marks[rows] = coarse[rows, :side, :side]

    # Compose at the output resolution: pooling is linear, so pool the coverage of the shape
    # and of its unmarked part, then mix the two colours.
    coverage = _pool(inside.astype(np.float32))
    lit = _pool((inside & ~marks).astype(np.float32))
    fg_weight = (_TEXTURE_DARKEN * lit + (1.0 - _TEXTURE_DARKEN) * coverage)[..., None]
    return lay.bg.reshape(m, 1, 1, 3) * (1.0 - coverage[..., None]) + lay.fg.reshape(
        m, 1, 1, 3
    ) * fg_weight


def _pool(t: np.ndarray) -> np.ndarray:
    """Mean over each _SUPERSAMPLE × _SUPERSAMPLE block of [m, side, side]."""
    f = _SUPERSAMPLE
    total = sum(t[:, i::f, j::f] for i in range(f) for j in range(f))
    return total / (f * f)


def _frac(t: np.ndarray) -> np.ndarray:
    return t - np.floor(t)


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + v * v <= 0.85**2


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.72


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Equilateral, circumradius 1, a vertex at +v.
    return (v >= -0.5) & (v <= 1.0 - math.sqrt(3.0) * np.abs(u))


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Five points: the boundary radius runs linearly by angle from 0.42 (inner) to 1 (tip).
    sector = np.remainder(np.arctan2(u, v), 2 * math.pi / 5) / (2 * math.pi / 5)  # 0 at a tip
    tip = 1.0 - 2.0 * np.minimum(sector, 1.0 - sector)  # 1 at a tip, 0 between two
    return u * u + v * v <= (0.42 + 0.58 * tip) ** 2


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    return (r2 <= 0.95**2) & (r2 >= 0.5**2)


def _semicircle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    w = v + 0.4  # centred on its area rather than on its diameter
    return (u * u + w * w <= 0.95**2) & (w >= 0.0)


def _crescent(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u * u + v * v <= 0.95**2) & ((u - 0.45) ** 2 + v * v >= 0.75**2)


_SHAPE_MASKS = (_circle, _square, _triangle, _star, _cross, _ring, _semicircle, _crescent)
assert len(_SHAPE_MASKS) == len(SHAPES)
