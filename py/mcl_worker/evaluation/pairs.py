"""MMVP-style paired benchmarks: two images that differ in one attribute, each with its own
statement. A pair counts only when both images are matched to their own statement (Tong et al.
2024), so chance is 1/4 and a model blind to the attribute scores about 0.

Two sources of pairs:
- synthetic_pairs: from a captioned, labelled dataset (synthetic:trifeature): for category c,
  pairs of samples with different c but equal labels of every other category; the statements
  are their captions (pairs with equal captions are left out).
- read_mmvp_vlm: the published MMVP-VLM benchmark, laid out as on its release:
      <root>/Questions.csv            columns "Question ID", "Type", "Statement" (a header row,
                                      then one row per image; rows 1-2 are a pair, 3-4, ...)
      <root>/MLLM_VLM Images/<Type>/<Question ID>.jpg   (.jpeg / .png accepted)
  "Type" is the category. As the benchmark's own script, statements are prefixed with
  "a photo of " (the `prefix` argument).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data import ImageDataset
from ..data.decoded import center_square
from ..errors import InvalidArgument

MMVP_COLUMNS = ("Question ID", "Type", "Statement")
MMVP_IMAGES = "MLLM_VLM Images"
_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Pairs:
    first: np.ndarray  # int64 [P]: index of each pair's first image
    second: np.ndarray  # int64 [P]
    category: list[str]  # [P]


def pair_hits(image_a: Tensor, image_b: Tensor, text_a: Tensor, text_b: Tensor) -> Tensor:
    """bool [P]: image a is closer to statement a than to b, and image b closer to b than to a
    (rows are normalised embeddings; a tie counts as a miss)."""
    a_a, a_b = (image_a * text_a).sum(1), (image_a * text_b).sum(1)
    b_b, b_a = (image_b * text_b).sum(1), (image_b * text_a).sum(1)
    return (a_a > a_b) & (b_b > b_a)


def synthetic_pairs(
    dataset: ImageDataset, captions: list[str], categories: list[str], per_category: int, seed: int
) -> tuple[Pairs, list[str]]:
    """Up to `per_category` distinct pairs per category (seeded); also the categories that
    have no valid pair at all."""
    rng = np.random.default_rng(seed)
    first: list[int] = []
    second: list[int] = []
    names: list[str] = []
    empty: list[str] = []
    text = np.asarray(captions)
    for category in categories:
        labels = dataset.attributes[category].labels
        others = [dataset.attributes[o].labels for o in categories if o != category]
        keys = np.stack(others, axis=1) if others else np.zeros((len(labels), 1), dtype=np.int64)
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        members = {int(g): np.flatnonzero(group == g) for g in np.unique(group)}
        seen: set[tuple[int, int]] = set()
        for i in rng.permutation(len(labels)).tolist():
            if len(seen) == per_category:
                break
            candidates = members[int(group[i])]
            candidates = candidates[(labels[candidates] != labels[i]) & (text[candidates] != text[i])]
            if candidates.size == 0:
                continue
            j = int(rng.choice(candidates))
            pair = (min(i, j), max(i, j))
            if pair not in seen:
                seen.add(pair)
                first.append(pair[0])
                second.append(pair[1])
                names.append(category)
        if not seen:
            empty.append(category)
    return Pairs(np.array(first, dtype=np.int64), np.array(second, dtype=np.int64), names), empty


@dataclass(frozen=True)
class MmvpVlm:
    images: Tensor  # uint8 [2P, 3, S, S]: rows 2p and 2p + 1 are pair p
    statements: list[str]  # [2P]
    pairs: Pairs


def read_mmvp_vlm(root: str | Path, image_size: int, prefix: str = "a photo of ") -> MmvpVlm:
    root = Path(root).expanduser()
    table = root / "Questions.csv"
    if not table.is_file():
        raise InvalidArgument("path", f"no MMVP-VLM benchmark at {root}: {table} does not exist (expected the release layout:"
                              f" Questions.csv and the folder {MMVP_IMAGES!r})")
    with table.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in MMVP_COLUMNS if c not in columns]
        if missing:
            raise InvalidArgument("path", f"{table}: missing column(s) {', '.join(missing)}; it has {', '.join(columns) or 'none'}")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows or len(rows) % 2:
        raise InvalidArgument("path", f"{table}: expected an even number of rows (consecutive rows are a pair), got {len(rows)}")
    images, statements = [], []
    for row in rows:
        folder = root / MMVP_IMAGES / row["Type"]
        path = next((folder / f"{row['Question ID']}{s}" for s in _SUFFIXES if (folder / f"{row['Question ID']}{s}").is_file()), None)
        if path is None:
            raise InvalidArgument("path", f"{table}: no image for question {row['Question ID']} in {folder} ({', '.join(_SUFFIXES)})")
        images.append(_square(path, image_size))
        statements.append(prefix + row["Statement"])
    for p in range(0, len(rows), 2):
        if rows[p]["Type"] != rows[p + 1]["Type"]:
            raise InvalidArgument("path", f"{table}: questions {rows[p]['Question ID']} and {rows[p + 1]['Question ID']} are a pair"
                                  f" but of different types ({rows[p]['Type']!r}, {rows[p + 1]['Type']!r})")
    n = len(rows) // 2
    pairs = Pairs(np.arange(n) * 2, np.arange(n) * 2 + 1, [rows[2 * p]["Type"] for p in range(n)])
    return MmvpVlm(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), statements, pairs)


def _square(path: Path, size: int) -> np.ndarray:
    """The centred square crop resized to size x size, RGB uint8 [size, size, 3] (as folder: datasets)."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InvalidArgument("path", f"{path}: cannot decode the image ({exc})") from None
    return center_square(rgb, size)
