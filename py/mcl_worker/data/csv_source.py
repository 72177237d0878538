"""csv:<file> — images listed in a CSV (or TSV) file, as open_clip's `--train-data` reads one.

    filepath<TAB>title<TAB>colour
    images/0001.jpg<TAB>a red square on grass<TAB>red

Query parameters (open_clip's flag in brackets):
    img_key=filepath     the column of image paths (--csv-img-key)
    caption_key=title    the column of captions (--csv-caption-key); a file without the default
                         column has no captions (which only a CLIP run needs), a named one must exist
    sep=%09              the separator, one character (--csv-separator); a tab by default, and `\\t`
                         reads as one
    labels=colour,shape  columns whose distinct values become the classes of a labelled attribute
                         (for the probes and supcon); none by default
    size=, workers=      as folder:

The first line names the columns; the file is UTF-8 (a leading byte-order mark is skipped), quoted
as Python's csv module and pandas read it. A relative image path is relative to the CSV's folder
(open_clip opens it from its working directory: absolute paths read the same in both). Every path
is checked at open (one stat a row), so a missing image is an error naming its row, not a failure
mid-run. Images are decoded on demand (data/decoded.py). Paths and captions are held as
StringTables; a copy sent to a loader process leaves the captions behind (it only decodes images).
"""

from __future__ import annotations

import csv
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import NoReturn, Protocol

import numpy as np

from .base import AttributeInfo, Indices, check_indices
from .decoded import DECODE_PARAMS, DecodedDataset, decode_square
from .errors import DatasetContentError, DatasetNotFound, DatasetUriError, ImageDecodeError
from .string_table import StringTable, StringTableBuilder
from .uri import DatasetUri, Param, bind_params

PARAMS = {
    **DECODE_PARAMS,
    "img_key": Param(str, "filepath", help="column of image paths, default filepath"),
    "caption_key": Param(str, "title", help="column of captions, default title"),
    "sep": Param(str, "\t", help="column separator, one character, default a tab (%09)"),
    "labels": Param(str, "", help="comma-separated columns of class labels, default none"),
}
_LIKELY_SEPARATORS = {",": "%2C", ";": "%3B", "\t": "%09", "|": "%7C"}


def open_csv(uri: DatasetUri) -> CsvDataset:
    params = bind_params(uri, PARAMS, "csv:<file>")
    if not uri.path:
        raise DatasetNotFound("csv: needs a file path, as in csv:/data/cc12m/train.csv", scheme="csv")
    path = Path(uri.path).expanduser()
    if not path.is_file():
        what = "is a directory, not a CSV file" if path.is_dir() else "does not exist"
        raise DatasetNotFound(f"{path} {what} (from {uri.text!r})", scheme="csv", file=str(path))
    sep = str(params["sep"])
    sep = "\t" if sep == "\\t" else sep
    if len(sep) != 1:
        raise DatasetUriError(
            f"query parameter 'sep' of csv:<file> must be one character, got {sep!r} (a tab is %09, a comma %2C)",
            scheme="csv", param="sep",
        )
    labels = [name for name in str(params["labels"]).split(",") if name]
    columns = _Columns(str(params["img_key"]), str(params["caption_key"]), "caption_key" in uri.query, labels)
    table = _read(path, sep, columns)
    return CsvDataset(uri.text, path, table, size=int(params["size"]), workers=int(params["workers"]))


@dataclass(frozen=True)
class _Columns:
    image: str
    caption: str
    caption_required: bool
    labels: list[str]


@dataclass(frozen=True)
class _Table:
    paths: StringTable
    captions: StringTable | None
    attributes: dict[str, AttributeInfo]


class CsvDataset(DecodedDataset):
    def __init__(self, uri: str, file: Path, table: _Table, size: int, workers: int) -> None:
        super().__init__(uri, size, workers)
        self.file = file
        self.attributes = table.attributes
        self._folder = file.parent
        self._paths = table.paths
        self._captions = table.captions
        self._has_captions = table.captions is not None

    def __len__(self) -> int:
        return len(self._paths)

    @property
    def has_captions(self) -> bool:
        return self._has_captions

    def captions(self, indices: Indices) -> list[str] | None:
        if not self._has_captions:
            return None
        assert self._captions is not None, "a loader process's copy has no captions: it only decodes images"
        return [self._captions[int(i)] for i in check_indices(indices, len(self))]

    def __getstate__(self) -> dict[str, object]:
        return {**super().__getstate__(), "_captions": None}

    def _decode(self, i: int) -> np.ndarray:
        path = self._folder / self._paths[i]
        return decode_square(path, self._size, lambda reason: ImageDecodeError(
            f"{path}: cannot decode the image of sample {i} (row {i + 1} of {self.file}) ({reason}); replace the"
            " file or remove its row",
            index=i, scheme="csv", file=str(path),
        ))


def _read(path: Path, sep: str, columns: _Columns) -> _Table:
    """The rows of the CSV at `path`; every failure is a DatasetError naming the file and the row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=sep)
            try:
                return _rows(path, reader, columns)
            except csv.Error as exc:
                _fail(path, f"line {reader.line_num}: {exc}")  # quoting, or a field over csv's size limit
    except UnicodeDecodeError as exc:
        _fail(path, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")
    except OSError as exc:
        _fail(path, f"the file cannot be read ({exc.strerror or exc})")


class _Reader(Protocol):
    """What csv.reader returns."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def _rows(path: Path, reader: _Reader, columns: _Columns) -> _Table:
    header = next(reader, None)
    if not header:
        _fail(path, f"the file is empty; its first line must name the columns, such as {columns.image} and"
              f" {columns.caption}")
    image_col = _column(path, header, columns.image, "img_key")
    caption_col = (
        _column(path, header, columns.caption, "caption_key")
        if columns.caption_required or columns.caption in header
        else None
    )
    label_cols = [_column(path, header, name, "labels") for name in columns.labels]
    folder = path.parent
    paths = StringTableBuilder()
    captions = StringTableBuilder() if caption_col is not None else None
    classes: list[dict[str, int]] = [{} for _ in label_cols]
    codes = [array("q") for _ in label_cols]
    row = 0
    line = reader.line_num  # where the previous record ends (a quoted field may span lines)
    for fields in reader:
        start, line = line + 1, reader.line_num
        if not fields:
            continue  # a blank line
        row += 1
        where = f"row {row} (line {start})"
        if len(fields) != len(header):
            _fail(path, f"{where} has {len(fields)} fields but the header has {len(header)}; check the separator"
                  " (sep=) and the quoting of that row")
        image = fields[image_col]
        full = os.path.join(folder, image)
        if not image or not os.path.isfile(full):
            what = "is empty" if not image else "is a directory" if os.path.isdir(full) else "does not exist"
            raise DatasetNotFound(
                f"{path}, {where}: the image path {image!r} {what}" + (f" ({full})" if image else "")
                + "; fix the path or remove the row (relative paths are relative to the CSV's folder)",
                scheme="csv", file=str(path), row=row,
            )
        paths.append(image)
        if captions is not None and caption_col is not None:
            captions.append(fields[caption_col])
        for k, col in enumerate(label_cols):
            value = fields[col]
            if not value:
                _fail(path, f"{where}: the label column {header[col]!r} is empty; every sample needs a label",
                      column=header[col], row=row)
            codes[k].append(classes[k].setdefault(value, len(classes[k])))
    if row == 0:
        _fail(path, "the file has a header but no rows")
    attributes = {
        header[col]: _attribute(header[col], found, np.frombuffer(labels, dtype=np.int64))
        for col, found, labels in zip(label_cols, classes, codes)
    }
    return _Table(paths.build(), captions.build() if captions is not None else None, attributes)


def _column(path: Path, header: list[str], name: str, param: str) -> int:
    if name in header:
        return header.index(name)
    hint = ""
    if len(header) == 1:
        found = [f"{sep!r} (sep={code})" for sep, code in _LIKELY_SEPARATORS.items() if sep in header[0]]
        if found:
            hint = f"; the header reads as one column: is the separator {found[0]}?"
    _fail(
        path,
        f"no column {name!r} ({param}); the file's columns are {', '.join(repr(c) for c in header)}{hint}",
        column=name,
    )


def _attribute(name: str, found: dict[str, int], codes: np.ndarray) -> AttributeInfo:
    """The classes in sorted order (numeric when every value is an integer), codes renumbered so."""
    values = list(found)
    numeric = all(v.lstrip("-").isdigit() for v in values)
    ordered = sorted(values, key=int) if numeric else sorted(values)
    rank = np.empty(len(values), dtype=np.int64)
    rank[[found[v] for v in ordered]] = np.arange(len(values))
    return AttributeInfo(name, rank[codes], tuple(ordered))


def _fail(path: Path, problem: str, **details: object) -> NoReturn:
    raise DatasetContentError(f"{path}: {problem}", scheme="csv", file=str(path), **details)
