"""Tensor element types of the wire (protocol.json "dtypes") and their torch dtypes."""

from __future__ import annotations

import torch

DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16", "int64", "int32", "uint8", "bool")

TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
    "bool": torch.bool,
}

WIRE_DTYPES: dict[torch.dtype, str] = {dtype: name for name, dtype in TORCH_DTYPES.items()}

ITEMSIZE: dict[str, int] = {name: torch.empty((), dtype=dtype).element_size() for name, dtype in TORCH_DTYPES.items()}


def itemsize(dtype: str) -> int:
    """Bytes per element of a wire dtype."""
    return ITEMSIZE[dtype]


def torch_dtype(dtype: str) -> torch.dtype:
    return TORCH_DTYPES[dtype]


def wire_dtype(dtype: torch.dtype) -> str:
    """The wire name of a torch dtype; KeyError when the wire does not carry it."""
    return WIRE_DTYPES[dtype]
