"""A plugin dataset (mcl_worker.plugins) as an ImageDataset: uint8 [B, 3, H, W] batches, labels checked once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..plugin_ref import JsonArgs, PluginError, call_plugin, exception_text, resolve
from .base import AttributeInfo, ImageDataset, Indices, check_indices


def open_plugin_dataset(ref: str, args: JsonArgs) -> PluginDataset:
    """The dataset `ref` builds, adapted to the worker's ImageDataset (uint8 [B, 3, H, W] batches)."""
    return PluginDataset(ref, call_plugin("dataset", ref, resolve("dataset", ref), args))


class PluginDataset(ImageDataset):
    """A user's map-style dataset seen as an ImageDataset: images in one layout, labels checked once."""

    def __init__(self, ref: str, source: Any) -> None:
        self.uri = ref
        self.source = source
        try:
            size = len(source)
        except Exception as exc:
            raise PluginError("dataset", ref, "length", "len(dataset) to work", exception_text(exc)) from None
        if not isinstance(size, int) or size < 2:
            raise PluginError("dataset", ref, "length", "len(dataset) >= 2", repr(size))
        self._size = size
        first = self._item(0)
        self._shape: tuple[int, int, int] = tuple(first[0].shape)  # type: ignore[assignment]
        self._has_captions = first[1] is not None
        self.attributes = self._attributes()

    def __len__(self) -> int:
        return self._size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def has_captions(self) -> bool:
        return self._has_captions

    def get_images(self, indices: Indices) -> Tensor:
        rows = check_indices(indices, len(self))
        images = [self._item(int(i))[0] for i in rows]
        for i, image in zip(rows, images):
            if tuple(image.shape) != self._shape:
                raise PluginError(
                    "dataset", self.uri, "items", f"every image of shape [C, H, W] = {list(self._shape)} (as item 0)",
                    f"{list(image.shape)} at item {int(i)}",
                )
        return torch.stack(images) if images else torch.empty(0, *self._shape, dtype=torch.uint8)

    def captions(self, indices: Indices) -> list[str] | None:
        if not self._has_captions:
            return None
        return [str(self._item(int(i))[1]) for i in check_indices(indices, len(self))]

    def _item(self, index: int) -> tuple[Tensor, str | None]:
        try:
            item = self.source[index]
        except Exception as exc:
            raise PluginError("dataset", self.uri, "items", f"dataset[{index}] to work", exception_text(exc)) from None
        caption = None
        if isinstance(item, Mapping):
            if "image" not in item:
                raise PluginError("dataset", self.uri, "items", 'an image, or a dict with an "image"', f"keys {sorted(item)}")
            caption = item.get("caption")
            if caption is not None and not isinstance(caption, str):
                raise PluginError("dataset", self.uri, "captions", "a str caption", f"{type(caption).__name__} at item {index}")
            item = item["image"]
        return _image_chw(self.uri, item, index), caption

    def _attributes(self) -> dict[str, AttributeInfo]:
        labels = getattr(self.source, "labels", None)
        names = getattr(self.source, "class_names", None) or {}
        if labels is None:
            return {}
        if not isinstance(labels, Mapping):
            raise PluginError("dataset", self.uri, "labels", "labels to be {attribute: [int per sample]}", type(labels).__name__)
        attributes: dict[str, AttributeInfo] = {}
        for name, values in labels.items():
            array = np.asarray(values)
            if array.shape != (self._size,) or array.dtype.kind not in "iu" or (array.size and array.min() < 0):
                raise PluginError(
                    "dataset", self.uri, "labels", f"labels[{name!r}]: {self._size} ints >= 0 (one per sample)",
                    f"{array.dtype} {list(array.shape)}",
                )
            count = int(array.max()) + 1
            classes = tuple(str(c) for c in names.get(name, range(count)))
            if len(classes) < count:
                raise PluginError(
                    "dataset", self.uri, "labels", f"class_names[{name!r}] to name every label (>= {count} names)",
                    f"{len(classes)} names",
                )
            attributes[str(name)] = AttributeInfo(str(name), array.astype(np.int64), classes)
        return attributes


def _image_chw(ref: str, image: Any, index: int) -> Tensor:
    """One uint8 image as [3, H, W]: [H, W, C] and [H, W] are moved into place, one channel repeated."""
    t = image.detach().cpu() if isinstance(image, Tensor) else torch.from_numpy(np.array(image))
    if t.dtype != torch.uint8:
        raise PluginError("dataset", ref, "items", "uint8 images", f"{t.dtype} at item {index}")
    if t.dim() == 2:
        t = t[None]
    elif t.dim() == 3 and t.shape[-1] in (1, 3):
        t = t.permute(2, 0, 1)
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise PluginError("dataset", ref, "items", "an image [H, W, C], [C, H, W] or [H, W] with C = 1 or 3",
                          f"{list(t.shape)} at item {index}")
    return t.expand(3, -1, -1).contiguous()
