"""Where each sample of a tar shard lies in it: found once, cached beside the shard.

A sample is the members that share a key (the member's path up to the first dot of its file
name, as webdataset groups them); its index entry holds the key and the byte offset and size of
its image member (.jpg, .jpeg, .png, .webp) and of its caption (.txt; size -1 when it has none),
in the order of the tar. Other members (img2dataset's .json) are not read.

Built with tarfile, which reads only the 512-byte headers and seeks over the data (about 50,000
members a second on one core). Cached as `<shard folder>/.mcl-index/<shard>.npz` or, where that
folder cannot be written, as `$XDG_CACHE_HOME/mcl/webdataset-index/<hash of the shard folder>/
<shard>.npz` (XDG_CACHE_HOME defaults to ~/.cache). An index records its shard's size and mtime
and is rebuilt when either changed. Each shard has its own, so adding shards, or naming a
subset of them by pattern, indexes only the shards not indexed yet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decoded import IMAGE_SUFFIXES
from .errors import DatasetContentError
from .string_table import StringTable, StringTableBuilder

log = logging.getLogger("mcl_worker.data.webdataset")

INDEX_VERSION = 1
INDEX_FOLDER = ".mcl-index"
_IMAGE_EXTENSIONS = {suffix[1:] for suffix in IMAGE_SUFFIXES}
_CAPTION_EXTENSION = "txt"
_BLOCK = 512  # a tar header; the archive ends with zero blocks
_FIELDS = ("image_offset", "image_size", "caption_offset", "caption_size")


@dataclass(frozen=True)
class ShardIndex:
    keys: StringTable
    image_offset: np.ndarray  # int64 [n]
    image_size: np.ndarray  # int64 [n]
    caption_offset: np.ndarray  # int64 [n]
    caption_size: np.ndarray  # int64 [n], -1: the sample has no caption

    def __len__(self) -> int:
        return len(self.keys)


def shard_index(shard: Path) -> tuple[ShardIndex, bool]:
    """The index of `shard` and whether it was built now (False: read from its cache)."""
    stat = shard.stat()
    stamp = np.array([INDEX_VERSION, stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    places = index_places(shard)
    for place in places:
        cached = _load(place, stamp)
        if cached is not None:
            return cached, False
    index = build_index(shard, stat.st_size)
    _store(index, stamp, places, shard)
    return index, True


def index_places(shard: Path) -> list[Path]:
    """Where the index of `shard` is cached: beside it, else in the user's cache folder."""
    folder = shard.parent.resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mcl" / "webdataset-index"
    digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
    name = shard.name + ".npz"
    return [folder / INDEX_FOLDER / name, cache / digest / name]


def build_index(shard: Path, size: int) -> ShardIndex:
    """Reads the headers of the tar at `shard` (of `size` bytes); a corrupt or truncated tar, or a
    sample with two images or two captions, is a DatasetContentError naming the shard."""
    samples: dict[str, list[int]] = {}  # key -> [image offset, size, caption offset, size]; tar order
    try:
        with tarfile.open(shard, "r:") as tar:
            for member in tar:
                _add(samples, member, shard)
            end = tar.offset  # where the next header, or the end-of-archive block, starts
    except (tarfile.TarError, OSError) as exc:
        raise DatasetContentError(
            f"{shard}: cannot read it as a tar archive ({exc}): it is truncated, damaged or compressed;"
            " re-download or re-create it (shards are plain .tar files, as img2dataset writes them)",
            scheme="webdataset", file=str(shard),
        ) from None
    with open(shard, "rb") as f:
        trailer = os.pread(f.fileno(), _BLOCK, end)
    if len(trailer) < _BLOCK or trailer.count(0) != _BLOCK:
        last = next(reversed(samples), None)
        raise DatasetContentError(
            f"{shard}: the archive stops at byte {end} of {size} without an end-of-archive block (it is truncated"
            f" or damaged{f' after sample {last!r}' if last else ''}); re-download or re-create it",
            scheme="webdataset", file=str(shard),
        )
    without_image = [key for key, entry in samples.items() if entry[0] < 0]
    if without_image:
        log.warning("webdataset: %s: %d sample(s) have no image (.jpg, .jpeg, .png or .webp) and are left out, e.g. %r",
                    shard, len(without_image), without_image[0])
    keys = StringTableBuilder()
    rows = []
    for key, entry in samples.items():
        if entry[0] >= 0:
            keys.append(key)
            rows.append(entry)
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return ShardIndex(keys.build(), *(np.ascontiguousarray(table[:, k]) for k in range(4)))


def _add(samples: dict[str, list[int]], member: tarfile.TarInfo, shard: Path) -> None:
    if not member.isreg():
        return
    folder, _, name = member.name.rpartition("/")
    stem, dot, extension = name.partition(".")
    extension = extension.lower()
    if not dot or (extension not in _IMAGE_EXTENSIONS and extension != _CAPTION_EXTENSION):
        return
    key = f"{folder}/{stem}" if folder else stem
    entry = samples.setdefault(key, [-1, -1, -1, -1])
    slot = 0 if extension in _IMAGE_EXTENSIONS else 2
    if entry[slot] >= 0:
        what = "images" if slot == 0 else "captions"
        raise DatasetContentError(
            f"{shard}: sample {key!r} has two {what} (the second is {member.name!r}); keep one per sample",
            scheme="webdataset", file=str(shard), key=key,
        )
    entry[slot], entry[slot + 1] = member.offset_data, member.size


def _load(place: Path, stamp: np.ndarray) -> ShardIndex | None:
    """The index cached at `place` if it is there and made from the shard as it is now."""
    try:
        with np.load(place, allow_pickle=False) as cached:
            if not np.array_equal(cached["stamp"], stamp):
                return None
            keys = StringTable(cached["key_blob"], cached["key_ends"])
            return ShardIndex(keys, *(cached[field] for field in _FIELDS))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # absent, or unreadable: rebuilt


def _store(index: ShardIndex, stamp: np.ndarray, places: list[Path], shard: Path) -> None:
    """Writes the index to the first place that takes it (atomically: readers never see half)."""
    problems = []
    for place in places:
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=place.parent, prefix=place.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, stamp=stamp, key_blob=index.keys.blob, key_ends=index.keys.ends,
                             **{field: getattr(index, field) for field in _FIELDS})
                os.replace(temporary, place)
            except BaseException:
                os.unlink(temporary)
                raise
            return
        except OSError as exc:
            problems.append(f"{place.parent}: {exc.strerror or exc}")
    log.warning("webdataset: cannot cache the index of %s (%s); it is rebuilt at every open", shard, "; ".join(problems))
