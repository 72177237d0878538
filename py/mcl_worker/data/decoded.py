"""Datasets of encoded images (JPEG, PNG, WebP) decoded on demand: folder:, csv:, webdataset:.

Each `get_images` call decodes just the requested images with Pillow on a small thread pool
(Pillow releases the GIL while decoding), converts to RGB, and resizes the centred square crop
to `size` × `size`; the reads are issued in sample order, which is file and shard order, so a
batch's reads of one shard come together. A copy sent to a loader process
(data/batch_loader.py) starts a pool of its own there, of the same size: decoding threads take
a bigger share of a busy machine than one thread a process (bench/data.py).
"""

from __future__ import annotations

import io
from abc import abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import ImageDataset, Indices, check_indices
from .errors import ImageDecodeError
from .uri import Param

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
DECODE_PARAMS = {
    "size": Param(int, 224, 8, 4096, "side of the square images returned, default 224"),
    "workers": Param(int, 4, 1, 64, "decoding threads, default 4"),
}


class DecodedDataset(ImageDataset):
    """Images decoded from encoded bytes by `_decode`, on the dataset's thread pool."""

    decodes = True

    def __init__(self, uri: str, size: int, workers: int) -> None:
        self.uri = uri
        self._size = size
        self._workers = workers
        self._pool = _decode_pool(workers)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self._size, self._size)

    @abstractmethod
    def _decode(self, i: int) -> np.ndarray:
        """Sample i as uint8 [size, size, 3]; an unreadable image is an ImageDecodeError."""

    def get_images(self, indices: Indices) -> torch.Tensor:
        rows = check_indices(indices, len(self))
        out = np.empty((rows.size, self._size, self._size, 3), dtype=np.uint8)

        def load(slot: int) -> None:
            out[slot] = self._decode(int(rows[slot]))

        in_read_order = np.argsort(rows, kind="stable").tolist()
        if self._pool is None or rows.size <= 1:
            for slot in in_read_order:
                load(slot)
        else:
            list(self._pool.map(load, in_read_order))  # re-raises the first failure
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()

    def __getstate__(self) -> dict[str, object]:
        return {**vars(self), "_pool": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self._pool = _decode_pool(self._workers)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def decode_square(source: Path | bytes, size: int, error: Callable[[str], ImageDecodeError]) -> np.ndarray:
    """The image in the file or bytes `source` as uint8 [size, size, 3] (center_square of its
    RGB); one that cannot be decoded raises error(reason)."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            # JPEG only: decode at the smallest power-of-two scale that is still >= size.
            image.draft("RGB", (size, size))
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise error(str(exc)) from None
    return center_square(rgb, size)


def center_square(rgb: Image.Image, size: int) -> np.ndarray:
    """The centred square of `rgb` resized to size × size (bicubic), as uint8 [size, size, 3]."""
    w, h = rgb.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return np.asarray(rgb.resize((size, size), Image.Resampling.BICUBIC, box=box))


def _decode_pool(workers: int) -> ThreadPoolExecutor | None:
    """Threads start on first use; None decodes on the calling thread."""
    return ThreadPoolExecutor(workers, thread_name_prefix="mcl-decode") if workers > 1 else None
