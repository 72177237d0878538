"""What every dataset offers, and the one in-memory (or memory-mapped) implementation.

Images are handed out as uint8 [B, C, H, W] CPU tensors; augmentation turns them into floats on
the worker's device. Attribute labels serve evaluation (probes), and reach training only where a
job is told to use one attribute's labels (supcon's loss.attribute, X-Sample's labels graph).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch

from ..errors import InvalidArgument

Indices = Union[torch.Tensor, np.ndarray, Sequence[int]]


@dataclass(frozen=True, eq=False)
class AttributeInfo:
    """A labelled attribute: `labels[i]` in [0, len(class_names)) is sample i's class."""

    name: str
    labels: np.ndarray  # int64 [N]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class ImageDataset(ABC):
    """N images of one shape, addressed by index, with labelled attributes and maybe captions."""

    uri: str
    attributes: dict[str, AttributeInfo]
    # get_images reads and decodes files: work that loader processes take off the training loop
    # (data/batch_loader.py). A dataset sent to them is pickled, so it must pickle.
    decodes: bool = False

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image that `get_images` returns."""

    @abstractmethod
    def get_images(self, indices: Indices) -> torch.Tensor:
        """uint8 [B, C, H, W] CPU tensor of the images at `indices` (in that order)."""

    @abstractmethod
    def captions(self, indices: Indices) -> list[str] | None:
        """The captions at `indices`, or None when the dataset has none."""

    @property
    @abstractmethod
    def has_captions(self) -> bool: ...

    def close(self) -> None:
        """Release files and threads; the default holds none."""

    def describe(self) -> dict[str, Any]:
        """A plain summary for the `dataset.open` reply."""
        c, h, w = self.image_shape
        return {
            "uri": self.uri,
            "size": len(self),
            "image_shape": [c, h, w],
            "attributes": [
                {"name": a.name, "num_classes": a.num_classes, "class_names": list(a.class_names)}
                for a in self.attributes.values()
            ],
            "has_captions": self.has_captions,
        }


def check_indices(indices: Indices, size: int) -> np.ndarray:
    """`indices` as a 1-D int64 numpy array, each in [0, size); negative indices are refused."""
    if isinstance(indices, torch.Tensor):
        array = indices.detach().cpu().numpy()
    else:
        array = np.asarray(indices)
    if array.ndim != 1:
        raise InvalidArgument("indices", f"must be 1-D, got shape {tuple(array.shape)}")
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise InvalidArgument("indices", f"must be integers, got dtype {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise InvalidArgument("indices", f"index {bad} is out of range for a dataset of {size}")
    return array.astype(np.int64, copy=False)


class ArrayDataset(ImageDataset):
    """Images in one uint8 N×H×W×C array, in memory or memory-mapped; a batch is one gather."""

    def __init__(
        self,
        uri: str,
        images: np.ndarray,
        attributes: dict[str, AttributeInfo],
        captions: np.ndarray | None = None,
    ) -> None:
        assert images.dtype == np.uint8 and images.ndim == 4, "validated by the caller"
        self.uri = uri
        self.images = images
        self.attributes = attributes
        self._captions = captions

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        _, h, w, c = self.images.shape
        return (int(c), int(h), int(w))

    def __getstate__(self) -> dict[str, Any]:
        # A memory-mapped array travels as its file and place in it, not as a copy of its bytes.
        state = dict(vars(self))
        images = self.images
        if isinstance(images, np.memmap) and images.filename is not None:
            order = "F" if images.flags.f_contiguous and not images.flags.c_contiguous else "C"
            state["images"] = ("memmap", images.filename, images.offset, images.shape, images.dtype.str, order)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["images"], tuple):
            _, filename, offset, shape, dtype, order = state["images"]
            state["images"] = np.memmap(filename, dtype=np.dtype(dtype), mode="r", offset=offset, shape=shape, order=order)
        vars(self).update(state)

    def get_images(self, indices: Indices) -> torch.Tensor:
        rows = self.images[check_indices(indices, len(self))]
        return torch.from_numpy(np.ascontiguousarray(rows)).permute(0, 3, 1, 2).contiguous()

    @property
    def has_captions(self) -> bool:
        return self._captions is not None

    def captions(self, indices: Indices) -> list[str] | None:
        if self._captions is None:
            return None
        return [str(c) for c in self._captions[check_indices(indices, len(self))]]
