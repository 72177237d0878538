"""folder:<path> — an image folder in img2dataset's "files" layout, streamed from disk.

    <path>/00000/000000123.jpg   the image (.jpg, .jpeg, .png or .webp)
    <path>/00000/000000123.txt   its caption, UTF-8 (optional, but then for every image)

Images directly in <path> and in its immediate sub-folders (shards) are indexed once, in sorted
order of shard and file name; only the names are kept (as compact byte strings, so 12 M files
take a few hundred MB). Images are decoded on demand (data/decoded.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import Indices, check_indices
from .captions import read_caption_file
from .decoded import DECODE_PARAMS, IMAGE_SUFFIXES, DecodedDataset, decode_square
from .errors import DatasetContentError, DatasetNotFound, ImageDecodeError
from .uri import DatasetUri, bind_params


def open_folder(uri: DatasetUri) -> FolderDataset:
    params = bind_params(uri, DECODE_PARAMS, "folder:<path>")
    if not uri.path:
        raise DatasetNotFound("folder: needs a directory, as in folder:/data/cc", scheme="folder")
    root = Path(uri.path).expanduser()
    if not root.is_dir():
        what = "is a file, not a directory" if root.exists() else "does not exist"
        raise DatasetNotFound(
            f"{root} {what} (from {uri.text!r})", scheme="folder", file=str(root)
        )
    return FolderDataset(uri.text, root, size=int(params["size"]), workers=int(params["workers"]))


class FolderDataset(DecodedDataset):
    def __init__(self, uri: str, root: Path, size: int, workers: int) -> None:
        super().__init__(uri, size, workers)
        self.root = root
        self.attributes = {}
        self._shards, self._shard_of, self._names, self._has_captions = _index(root)

    def __len__(self) -> int:
        return int(self._names.shape[0])

    @property
    def has_captions(self) -> bool:
        return self._has_captions

    def captions(self, indices: Indices) -> list[str] | None:
        if not self._has_captions:
            return None
        # Read on demand, so that opening a folder of millions stays an index of names.
        return [
            read_caption_file(self._path(int(i)).with_suffix(".txt"), "folder")
            for i in check_indices(indices, len(self))
        ]

    def _path(self, i: int) -> Path:
        return self.root / self._shards[self._shard_of[i]] / self._names[i].decode()

    def _decode(self, i: int) -> np.ndarray:
        path = self._path(i)
        return decode_square(path, self._size, lambda reason: ImageDecodeError(
            f"{path}: cannot decode the image of sample {i} ({reason}); replace or remove the file",
            index=i, scheme="folder", file=str(path),
        ))


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
