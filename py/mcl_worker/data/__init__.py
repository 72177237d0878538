"""The worker's datasets and augmentations.

    ds = open_dataset("synthetic:trifeature?n=6000&size=32&seed=0")
    x = ds.get_images(batch_indices)                # uint8 [B, C, H, W], CPU
    views = augment(x.to(device), AugmentConfig(), generator)  # float, normalised, on device

Dataset URIs (`scheme:path?key=value&…`):
    synthetic:trifeature?n=&size=&seed=&palette=&backgrounds=&rotation=
                                                                 shape × colour × texture, generated
    digits:colored?size=&seed=&repeat=&shift=&colors=&stripes=   scikit-learn's digits, coloured
    npz:<path>                                                   a user's .npz archive (see npz.py)
    folder:<path>?size=&workers=                                 an img2dataset folder, streamed
    csv:<file>?img_key=&caption_key=&sep=&labels=&size=&workers= images listed in a CSV (open_clip's)
    webdataset:<folder or shard pattern>?size=&workers=          img2dataset's tar shards, read by id
    py:<module>:<attr>                                           a user's dataset (mcl_worker.plugins)

LoaderPool (batch_loader.py) hands a job the images of its batch plan in order, loaded ahead by
loader processes (data.workers, data.prefetch) that the worker keeps for the next job on the same
dataset handle (loader_pools.py); BatchLoader is one plan on processes of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .augmentation import AugmentConfig, augment, eval_transform
from .base import ArrayDataset, AttributeInfo, ImageDataset, Indices
from .batch_loader import BatchLoader, DataLoadingError, LoaderOptions, LoaderPool, loader_options
from .csv_source import CsvDataset, open_csv
from .digits import open_digits
from .errors import DatasetContentError, DatasetError, DatasetNotFound, DatasetUriError, ImageDecodeError
from .folder import FolderDataset, open_folder
from .npz import open_npz
from .plugin_dataset import open_plugin_dataset
from .trifeature import open_trifeature
from .uri import DatasetUri, parse_uri
from .webdataset import WebDatasetShards, open_webdataset

# scheme -> {generator name -> opener}; "" stands for "the path is a file system path".
_OPENERS: dict[str, dict[str, Callable[[DatasetUri], ImageDataset]]] = {
    "synthetic": {"trifeature": open_trifeature},
    "digits": {"colored": open_digits},
    "npz": {"": open_npz},
    "folder": {"": open_folder},
    "csv": {"": open_csv},
    "webdataset": {"": open_webdataset},
}
SCHEMES = tuple(
    f"{scheme}:{name or '<path>'}" for scheme, names in _OPENERS.items() for name in names
)


def open_dataset(uri: str, args: Mapping[str, Any] | None = None) -> ImageDataset:
    """Open the dataset that `uri` names; every failure is a DatasetError naming the fix.

    A plugin py:<module>:<attr> is built with the keyword arguments `args` (mcl_worker.plugins).
    """
    if uri.startswith("py:"):
        return open_plugin_dataset(uri, args or {})
    if args:
        raise DatasetUriError(f"{uri!r} takes no arguments (only a py:<module>:<attr> plugin does); leave args out")
    parsed = parse_uri(uri)
    openers = _OPENERS.get(parsed.scheme)
    if openers is None:
        raise DatasetUriError(
            f"unknown dataset scheme {parsed.scheme!r} in {uri!r}; valid: {', '.join(SCHEMES)}",
            scheme=parsed.scheme,
        )
    opener = openers.get("") or openers.get(parsed.path)
    if opener is None:
        raise DatasetUriError(
            f"unknown {parsed.scheme} dataset {parsed.path!r} in {uri!r}; valid: "
            f"{', '.join(f'{parsed.scheme}:{name}' for name in openers)}",
            scheme=parsed.scheme,
        )
    return opener(parsed)


__all__ = [
    "SCHEMES",
    "ArrayDataset",
    "AttributeInfo",
    "AugmentConfig",
    "BatchLoader",
    "CsvDataset",
    "DataLoadingError",
    "DatasetContentError",
    "DatasetError",
    "DatasetNotFound",
    "DatasetUriError",
    "FolderDataset",
    "ImageDataset",
    "ImageDecodeError",
    "Indices",
    "LoaderOptions",
    "LoaderPool",
    "WebDatasetShards",
    "augment",
    "eval_transform",
    "loader_options",
    "open_dataset",
]
