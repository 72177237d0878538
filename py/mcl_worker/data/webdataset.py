"""webdataset:<folder or shard pattern> — img2dataset's webdataset output, read by sample id.

    <folder>/00000.tar   members 000000000.jpg, 000000000.txt, 000000000.json, 000000001.jpg, …
    <folder>/00001.tar   …

A folder reads every *.tar in it, sorted by name; a pattern names shards as webdataset and
open_clip do, with brace ranges and lists (`/data/cc12m/{00000..01242}.tar`) and globs (`*`,
`[…]`), in the order it lists them. The samples are the shards' in that order, each shard's in
the order of the tar. Query parameters: size=, workers= (as folder:).

Why not stream: an MCL batch is any samples of one cluster, spread over every shard, so a reader
that streams shards from their start (webdataset's WebDataset; its indexed reader keeps an LRU
of open shards and warns about this access pattern) reads a whole shard for a few samples.
Instead, every image and caption member's offset and size is found once (data/tar_index.py:
tar headers only, cached per shard, rebuilt when a shard changes), and reading a sample is one
pread of its image member's bytes: no tar parsing, no state per shard, no open files to run out
of, and the same in loader processes. The images of a batch are read in sample order, so reads
of one shard come together. bench/data.py measures it beside the files layout.

Captions are the samples' `<key>.txt`, read on demand. The dataset has captions when any sample
has one; a sample without one is an error naming its shard and key when a CLIP run reads its
caption (no other run reads captions), and opening the dataset logs how many lack one.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from .base import Indices, check_indices
from .captions import caption_text
from .decoded import DECODE_PARAMS, DecodedDataset, decode_square
from .errors import DatasetContentError, DatasetNotFound, DatasetUriError, ImageDecodeError
from .string_table import StringTable
from .tar_index import ShardIndex, shard_index
from .uri import DatasetUri, bind_params

log = logging.getLogger("mcl_worker.data.webdataset")

PROGRESS_EVERY_S = 10.0
_BRACES = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"(\d+)\.\.(\d+)")


def open_webdataset(uri: DatasetUri) -> WebDatasetShards:
    params = bind_params(uri, DECODE_PARAMS, "webdataset:<folder or shard pattern>")
    if not uri.path:
        raise DatasetNotFound(
            "webdataset: needs a folder of .tar shards or a shard pattern, as in webdataset:/data/cc12m or"
            " webdataset:/data/cc12m/{00000..01242}.tar",
            scheme="webdataset",
        )
    shards = list_shards(uri)
    return WebDatasetShards(uri.text, shards, _indexes(shards), size=int(params["size"]), workers=int(params["workers"]))


def list_shards(uri: DatasetUri) -> list[Path]:
    """The shards that the URI's folder or pattern names, each an existing file."""
    path = Path(uri.path).expanduser()
    if path.is_dir():
        shards = sorted(p for p in path.iterdir() if p.suffix == ".tar" and p.is_file())
        if not shards:
            raise DatasetContentError(f"{path} holds no .tar shards (from {uri.text!r})", scheme="webdataset", file=str(path))
        return shards
    shards = []
    for name in expand_braces(os.path.expanduser(uri.path), uri):
        if glob.has_magic(name):
            matches = sorted(glob.glob(name))
            if not matches:
                raise DatasetNotFound(f"{name} matches no file (from {uri.text!r})", scheme="webdataset", file=name)
            shards.extend(Path(m) for m in matches)
        elif not os.path.isfile(name):
            what = "is a folder, not a .tar shard" if os.path.isdir(name) else "does not exist"
            raise DatasetNotFound(f"the shard {name} {what} (from {uri.text!r})", scheme="webdataset", file=name)
        else:
            shards.append(Path(name))
    return shards


def expand_braces(pattern: str, uri: DatasetUri) -> list[str]:
    """`pattern` with each {a..b} (a numeric range, zero-padded as written) and {x,y} expanded."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    numbers = _RANGE.fullmatch(body)
    if numbers:
        first, last = numbers.groups()
        width = max(len(first), len(last)) if (len(first) > 1 and first[0] == "0") or (len(last) > 1 and last[0] == "0") else 0
        if int(first) > int(last):
            raise DatasetUriError(f"the shard range {{{body}}} of {uri.text!r} counts down; write {{{last}..{first}}}",
                                  scheme="webdataset")
        items = [f"{k:0{width}d}" for k in range(int(first), int(last) + 1)]
    elif "," in body:
        items = body.split(",")
    else:
        raise DatasetUriError(f"{{{body}}} in {uri.text!r} is neither a range {{00000..00099}} nor a list {{a,b}}",
                              scheme="webdataset")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [name for item in items for name in expand_braces(head + item + tail, uri)]


def _indexes(shards: list[Path]) -> list[ShardIndex]:
    """Each shard's index, cached or built, with progress in the log while building."""
    started = last_report = time.monotonic()
    indexes, built, samples = [], 0, 0
    for k, shard in enumerate(shards):
        index, was_built = shard_index(shard)
        indexes.append(index)
        samples += len(index)
        if was_built:
            if built == 0:
                log.info("webdataset: indexing %s (its tar headers, read once and cached) and the other shards"
                         " not indexed yet, of %d", shard, len(shards))
            built += 1
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                log.info("webdataset: %d of %d shards ready, %d samples, %.0f s", k + 1, len(shards), samples, now - started)
                last_report = now
    if built:
        log.info("webdataset: indexed %d of %d shards in %.1f s; %d samples", built, len(shards),
                 time.monotonic() - started, samples)
    return indexes


class WebDatasetShards(DecodedDataset):
    def __init__(self, uri: str, shards: list[Path], indexes: list[ShardIndex], size: int, workers: int) -> None:
        super().__init__(uri, size, workers)
        self.attributes = {}
        self._shards = [str(s) for s in shards]
        # Shard s holds samples _starts[s] .. _starts[s + 1] - 1.
        self._starts = np.concatenate([[0], np.cumsum([len(ix) for ix in indexes])]).astype(np.int64)
        if self._starts[-1] == 0:
            raise DatasetContentError(
                f"the {len(shards)} shard(s) of {uri!r} hold no images (.jpg, .jpeg, .png or .webp members)",
                scheme="webdataset", file=self._shards[0],
            )
        self._keys = StringTable.concat([ix.keys for ix in indexes])
        self._image_offset = np.concatenate([ix.image_offset for ix in indexes])
        self._image_size = np.concatenate([ix.image_size for ix in indexes])
        caption_size = np.concatenate([ix.caption_size for ix in indexes])
        self._has_captions = bool((caption_size >= 0).any())
        self._caption_offset: np.ndarray | None = None
        self._caption_size: np.ndarray | None = None
        if self._has_captions:
            self._caption_offset = np.concatenate([ix.caption_offset for ix in indexes])
            self._caption_size = caption_size
            missing = np.flatnonzero(caption_size < 0)
            if missing.size:
                first = int(missing[0])
                log.warning("webdataset: %d of %d samples have no caption (.txt), e.g. %s key %r; a CLIP run stops"
                            " at the first one it reads", missing.size, len(self), self._shard_of(first), self._keys[first])

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def has_captions(self) -> bool:
        return self._has_captions

    def captions(self, indices: Indices) -> list[str] | None:
        if not self._has_captions:
            return None
        assert self._caption_offset is not None and self._caption_size is not None, (
            "a loader process's copy has no captions: it only decodes images"
        )
        texts = []
        with _Shards() as shards:
            for i in check_indices(indices, len(self)).tolist():
                shard, key, size = self._shard_of(i), self._keys[i], int(self._caption_size[i])
                if size < 0:
                    raise DatasetContentError(
                        f"{shard}: sample {i} (key {key!r}) has no caption ({key}.txt), which a CLIP run needs; add"
                        " one to the shard or leave the sample out",
                        scheme="webdataset", file=shard, key=key,
                    )
                try:
                    raw = shards.read(shard, int(self._caption_offset[i]), size)
                except _Unreadable as exc:
                    raise DatasetContentError(exc.at(i, key), scheme="webdataset", file=shard, key=key) from None
                texts.append(caption_text(raw, f"{shard}: {key}.txt", "webdataset"))
        return texts

    def __getstate__(self) -> dict[str, object]:
        # Loader processes only decode images; the captions' offsets stay in this process.
        return {**super().__getstate__(), "_caption_offset": None, "_caption_size": None}

    def _shard_of(self, i: int) -> str:
        return self._shards[int(np.searchsorted(self._starts, i, side="right")) - 1]

    def _decode(self, i: int) -> np.ndarray:
        shard, key = self._shard_of(i), self._keys[i]
        try:
            with _Shards() as shards:
                data = shards.read(shard, int(self._image_offset[i]), int(self._image_size[i]))
        except _Unreadable as exc:
            raise ImageDecodeError(exc.at(i, key), index=i, scheme="webdataset", file=shard, key=key) from None
        return decode_square(data, self._size, lambda reason: ImageDecodeError(
            f"{shard}: cannot decode the image of sample {i} (key {key!r}) ({reason}); re-create the shard or"
            " leave the sample out",
            index=i, scheme="webdataset", file=shard, key=key,
        ))


class _Unreadable(Exception):
    """A shard cannot be read, or is shorter than its index says: it changed since the open."""

    def at(self, i: int, key: str) -> str:
        return f"{self.args[0]} (sample {i}, key {key!r}); open the dataset again once the shard is whole and readable"


class _Shards:
    """Shards opened for the reads of one call, closed at its end (so no open files are kept)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def __enter__(self) -> _Shards:
        return self

    def __exit__(self, *_: object) -> None:
        for fd in self._open.values():
            os.close(fd)

    def read(self, shard: str, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` of `shard`."""
        try:
            fd = self._open.get(shard)
            if fd is None:
                fd = self._open[shard] = os.open(shard, os.O_RDONLY)
            data = os.pread(fd, size, offset)
        except OSError as exc:
            raise _Unreadable(f"{shard}: cannot read it ({exc.strerror or exc})") from None
        if len(data) != size:
            raise _Unreadable(f"{shard} is shorter than when the dataset was opened")
        return data
