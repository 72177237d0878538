"""npz:<path> — a user's own images in a NumPy .npz archive.

Arrays the archive may hold (any other name is refused, so a typo does not pass silently):
- `images`: uint8 [N, H, W, C], C in {1, 3} (required);
- `attr_<name>`: N non-negative integer labels of attribute <name> (integral floats accepted);
- `classes_<name>`: unicode [K], the class names of attribute <name> (default "0" … "K-1");
- `captions`: unicode [N].
Nothing is unpickled (allow_pickle=False). An `images` array stored uncompressed (np.savez)
is memory-mapped, so the archive may be larger than memory; a compressed one (np.savez_compressed)
is read into memory.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import NoReturn

import numpy as np

from .base import ArrayDataset, AttributeInfo
from .errors import DatasetContentError, DatasetNotFound
from .uri import DatasetUri, bind_params

_IMAGES, _CAPTIONS, _ATTR, _CLASSES = "images", "captions", "attr_", "classes_"


def open_npz(uri: DatasetUri) -> ArrayDataset:
    bind_params(uri, {}, "npz:<path>")
    path = Path(uri.path).expanduser()
    if not uri.path:
        raise DatasetNotFound("npz: needs a file path, as in npz:/data/images.npz", scheme="npz")
    if not path.is_file():
        what = "is a directory, not an .npz file" if path.is_dir() else "does not exist"
        raise DatasetNotFound(f"{path} {what} (from {uri.text!r})", scheme="npz", file=str(path))
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetContentError(
            f"{path} is not a readable .npz archive: {exc}", scheme="npz", file=str(path)
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetContentError(
            f"{path} holds a single array (.npy), not an .npz archive; save it with "
            "np.savez(path, images=...)",
            scheme="npz",
            file=str(path),
        )
    with archive:
        return _read(uri, path, archive)


def _read(uri: DatasetUri, path: Path, archive: np.lib.npyio.NpzFile) -> ArrayDataset:
    names = list(archive.files)
    unknown = [
        name
        for name in names
        if name not in (_IMAGES, _CAPTIONS)
        and not (name.startswith(_ATTR) and len(name) > len(_ATTR))
        and not (name.startswith(_CLASSES) and len(name) > len(_CLASSES))
    ]
    if unknown:
        _fail(
            path,
            unknown[0],
            "is not a recognised array name; expected images, attr_<name>, classes_<name> "
            "or captions",
        )
    if _IMAGES not in names:
        _fail(path, _IMAGES, f"is missing (the archive holds {', '.join(names) or 'nothing'})")

    images = _memory_map(path, _IMAGES)
    if images is None:
        images = _load(archive, path, _IMAGES)
    _check_images(path, images)
    n = int(images.shape[0])

    attributes: dict[str, AttributeInfo] = {}
    for name in names:
        if name.startswith(_ATTR):
            attr = name[len(_ATTR) :]
            labels = _labels(path, name, _load(archive, path, name), n)
            classes_key = _CLASSES + attr
            class_names = (
                _class_names(path, classes_key, _load(archive, path, classes_key), labels)
                if classes_key in names
                else tuple(str(k) for k in range(int(labels.max(initial=-1)) + 1))
            )
            attributes[attr] = AttributeInfo(attr, labels, class_names)
    for name in names:
        if name.startswith(_CLASSES) and _ATTR + name[len(_CLASSES) :] not in names:
            _fail(path, name, f"has no matching {_ATTR}{name[len(_CLASSES) :]} array")

    captions = None
    if _CAPTIONS in names:
        captions = _load(archive, path, _CAPTIONS)
        if captions.dtype.kind != "U" or captions.shape != (n,):
            fix = (
                "decode the bytes first: np.char.decode(captions, 'utf-8')"
                if captions.dtype.kind == "S"
                else "save it as np.array(list_of_str)"
            )
            _fail(
                path,
                _CAPTIONS,
                f"must be a unicode array of shape ({n},), got dtype {captions.dtype} shape "
                f"{captions.shape}; {fix}",
            )
    return ArrayDataset(uri.text, images, attributes, captions)


def _fail(path: Path, array: str, problem: str) -> NoReturn:
    raise DatasetContentError(
        f"{path}: array {array!r} {problem}", scheme="npz", file=str(path), array=array
    )


def _load(archive: np.lib.npyio.NpzFile, path: Path, name: str) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as exc:  # object arrays need pickle, which is refused
        _fail(path, name, f"cannot be read without pickle ({exc}); store numbers and strings")


def _check_images(path: Path, images: np.ndarray) -> None:
    problems = []
    if images.dtype != np.uint8:
        problems.append(f"must be uint8, got {images.dtype}")
        if images.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(images)))
            if bad:
                problems.append(f"it holds {bad} non-finite values")
            problems.append("convert [0, 1] floats with np.rint(x * 255).astype(np.uint8)")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        problems.append(
            f"must have shape N×H×W×C with C in {{1, 3}}, got {images.shape}"
            + ("; add a channel axis: images[..., None]" if images.ndim == 3 else "")
        )
    elif min(images.shape[:3]) == 0:
        problems.append(f"is empty: shape {images.shape}")
    if problems:
        _fail(path, _IMAGES, "; ".join(problems))


def _labels(path: Path, name: str, values: np.ndarray, n: int) -> np.ndarray:
    if values.shape != (n,):
        _fail(path, name, f"must have shape ({n},) like images, got {values.shape}")
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            first = int(np.flatnonzero(~finite)[0])
            _fail(
                path,
                name,
                f"holds {int((~finite).sum())} non-finite values (the first at index {first}); "
                "every sample needs a label",
            )
        if not np.array_equal(values, np.floor(values)):
            _fail(path, name, "holds non-integral values; labels are class indices")
    elif values.dtype.kind not in "iub":
        _fail(path, name, f"must hold integer labels, got dtype {values.dtype}")
    labels = values.astype(np.int64)
    if n and labels.min() < 0:
        first = int(np.flatnonzero(labels < 0)[0])
        _fail(
            path,
            name,
            f"holds a negative label {labels[first]} at index {first}; labels are class "
            "indices 0 … K-1",
        )
    return labels


def _class_names(
    path: Path, name: str, values: np.ndarray, labels: np.ndarray
) -> tuple[str, ...]:
    if values.dtype.kind != "U" or values.ndim != 1:
        _fail(path, name, f"must be a 1-D unicode array, got {values.dtype} {values.shape}")
    if labels.size and labels.max() >= values.shape[0]:
        _fail(path, name, f"names {values.shape[0]} classes but a label is {int(labels.max())}")
    return tuple(str(v) for v in values)


def _memory_map(path: Path, name: str) -> np.ndarray | None:
    """The archive member `name`.npy as a read-only memmap; None when it is compressed (or
    otherwise not mappable), in which case the caller reads it with np.load."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        # The member's bytes follow its 30-byte local header, its file name and extra field.
        f.seek(info.header_offset)
        local = f.read(30)
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
        offset = f.tell()
    if dtype.hasobject or 0 in shape:
        return None
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
