"""Millions of strings (paths, captions, keys) in two numpy arrays: their UTF-8 bytes end to end
and where each ends. A list of Python strings costs ~50 bytes of overhead each, and a fixed-width
numpy string array as much as its longest string a row; this costs 8 bytes a row, and pickles
to a loader process as two buffers.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np


class StringTable:
    def __init__(self, blob: np.ndarray, ends: np.ndarray) -> None:
        self.blob = blob  # uint8
        self.ends = ends  # int64, ends[i] = end of string i in blob

    @staticmethod
    def of(strings: Sequence[str]) -> StringTable:
        builder = StringTableBuilder()
        for text in strings:
            builder.append(text)
        return builder.build()

    @staticmethod
    def concat(tables: Sequence[StringTable]) -> StringTable:
        shift = 0
        ends = []
        for table in tables:
            ends.append(table.ends + shift)
            shift += table.blob.size
        return StringTable(
            np.concatenate([np.zeros(0, np.uint8), *(t.blob for t in tables)]),
            np.concatenate([np.zeros(0, np.int64), *ends]),
        )

    def __len__(self) -> int:
        return int(self.ends.size)

    def __getitem__(self, i: int) -> str:
        start = int(self.ends[i - 1]) if i > 0 else 0
        return self.blob[start : int(self.ends[i])].tobytes().decode("utf-8", "surrogateescape")


class StringTableBuilder:
    """Appends strings one at a time without holding them as Python objects."""

    def __init__(self) -> None:
        self._bytes = bytearray()
        self._ends = array("q")

    def append(self, text: str) -> None:
        self._bytes += text.encode("utf-8", "surrogateescape")
        self._ends.append(len(self._bytes))

    def build(self) -> StringTable:
        return StringTable(
            np.frombuffer(self._bytes, dtype=np.uint8).copy(), np.frombuffer(self._ends, dtype=np.int64).copy()
        )
