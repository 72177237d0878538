"""folder:<path> — an image folder in img2dataset's "files" layout, streamed from disk.

    <path>/00000/000000123.jpg   the image (.jpg, .jpeg, .png or .webp)
    <path>/00000/000000123.txt   its caption, UTF-8 (optional, but then for every image)

Images directly in <path> and in its immediate sub-folders (shards) are indexed once, in sorted
order of shard and file name; only the names are kept (as compact byte strings, so 12 M files
take a few hundred MB). Each `get_images` call decodes just the requested files with Pillow on
a small thread pool (Pillow releases the GIL while decoding), converts to RGB, and resizes the
centred square crop to `size` × `size`. A copy sent to a loader process (data/batch_loader.py)
starts a pool of its own there, of the same size: decoding threads take a bigger share of a busy
machine than one thread a process (bench/data.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import ImageDataset, Indices, check_indices
from .captions import read_caption_file
from .errors import DatasetContentError, DatasetNotFound, ImageDecodeError
from .uri import DatasetUri, Param, bind_params

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
PARAMS = {
    "size": Param(int, 224, 8, 4096, "side of the square images returned, default 224"),
    "workers": Param(int, 4, 1, 64, "decoding threads, default 4"),
}


def open_folder(uri: DatasetUri) -> FolderDataset:
    params = bind_params(uri, PARAMS, "folder:<path>")
    if not uri.path:
        raise DatasetNotFound("folder: needs a directory, as in folder:/data/cc", scheme="folder")
    root = Path(uri.path).expanduser()
    if not root.is_dir():
        what = "is a file, not a directory" if root.exists() else "does not exist"
        raise DatasetNotFound(
            f"{root} {what} (from {uri.text!r})", scheme="folder", file=str(root)
        )
    return FolderDataset(uri.text, root, size=int(params["size"]), workers=int(params["workers"]))


class FolderDataset(ImageDataset):
    decodes = True

    def __init__(self, uri: str, root: Path, size: int, workers: int) -> None:
        self.uri = uri
        self.root = root
        self.attributes = {}
        self._size = size
        self._workers = workers
        self._pool = _decode_pool(workers)
        self._shards, self._shard_of, self._names, self._has_captions = _index(root)

    def __len__(self) -> int:
        return int(self._names.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self._size, self._size)

    @property
    def has_captions(self) -> bool:
        return self._has_captions

    def get_images(self, indices: Indices) -> torch.Tensor:
        rows = check_indices(indices, len(self))
        out = np.empty((rows.size, self._size, self._size, 3), dtype=np.uint8)

        def load(slot: int) -> None:
            out[slot] = self._decode(int(rows[slot]))

        if self._pool is None or rows.size <= 1:
            for slot in range(rows.size):
                load(slot)
        else:
            list(self._pool.map(load, range(rows.size)))  # re-raises the first failure
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()

    def captions(self, indices: Indices) -> list[str] | None:
        if not self._has_captions:
            return None
        # Read on demand, so that opening a folder of millions stays an index of names.
        return [
            read_caption_file(self._path(int(i)).with_suffix(".txt"), "folder")
            for i in check_indices(indices, len(self))
        ]

    def __getstate__(self) -> dict[str, object]:
        return {**vars(self), "_pool": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self._pool = _decode_pool(self._workers)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _path(self, i: int) -> Path:
        return self.root / self._shards[self._shard_of[i]] / self._names[i].decode()

    def _decode(self, i: int) -> np.ndarray:
        path = self._path(i)
        try:
            with Image.open(path) as image:
                # JPEG only: decode at the smallest power-of-two scale that is still >= size.
                image.draft("RGB", (self._size, self._size))
                rgb = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageDecodeError(
                f"{path}: cannot decode the image of sample {i} ({exc}); replace or remove the file",
                index=i, scheme="folder", file=str(path),
            ) from None
        return center_square(rgb, self._size)


def _decode_pool(workers: int) -> ThreadPoolExecutor | None:
    """Threads start on first use; None decodes on the calling thread."""
    return ThreadPoolExecutor(workers, thread_name_prefix="mcl-decode") if workers > 1 else None


def center_square(rgb: Image.Image, size: int) -> np.ndarray:
    """The centred square of `rgb` resized to size × size (bicubic), as uint8 [size, size, 3]."""
    w, h = rgb.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return np.asarray(rgb.resize((size, size), Image.Resampling.BICUBIC, box=box))


def _index(root: Path) -> tuple[list[str], np.ndarray, np.ndarray, bool]:
    """Shard folder names, each image's shard (int32), its file name (bytes), has-captions."""
    shards: list[str] = []
    shard_of: list[np.ndarray] = []
    names: list[np.ndarray] = []
    with_caption = without_caption = 0
    first_without: Path | None = None
    subdirs = sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=True))
    for shard in ["", *subdirs]:
        entries = sorted(e.name for e in os.scandir(root / shard) if e.is_file())
        texts = {Path(e).stem for e in entries if e.endswith(".txt")}
        images = [e for e in entries if e.lower().endswith(IMAGE_SUFFIXES)]
        if not images:
            continue
        captioned = sum(Path(e).stem in texts for e in images)
        with_caption += captioned
        without_caption += len(images) - captioned
        if first_without is None and captioned < len(images):
            first_without = root / shard / next(e for e in images if Path(e).stem not in texts)
        shard_of.append(np.full(len(images), len(shards), dtype=np.int32))
        names.append(np.array([e.encode() for e in images]))
        shards.append(shard)
    if not names:
        raise DatasetContentError(
            f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)}) in itself or its "
            "immediate sub-folders",
            scheme="folder",
            file=str(root),
        )
    if with_caption and without_caption:
        raise DatasetContentError(
            f"{root}: {without_caption} of {with_caption + without_caption} images have no "
            f"caption file, for example {first_without} (expected "
            f"{first_without.with_suffix('.txt') if first_without else ''}); give every image a "
            "caption or none",
            scheme="folder",
            file=str(first_without),
        )
    return shards, np.concatenate(shard_of), np.concatenate(names), with_caption > 0
