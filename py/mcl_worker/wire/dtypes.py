"""Tensor element types of the wire, read from protocol.json "dtypes", and their torch dtypes."""

from __future__ import annotations

import torch

from .protocol import load_protocol

# name -> bytes per element; every wire name is also the name of a torch dtype.
ITEMSIZE: dict[str, int] = dict(load_protocol()["dtypes"])

DTYPES: tuple[str, ...] = tuple(ITEMSIZE)

TORCH_DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPES}

WIRE_DTYPES: dict[torch.dtype, str] = {dtype: name for name, dtype in TORCH_DTYPES.items()}


def itemsize(dtype: str) -> int:
    """Bytes per element of a wire dtype."""
    return ITEMSIZE[dtype]


def torch_dtype(dtype: str) -> torch.dtype:
    return TORCH_DTYPES[dtype]


def wire_dtype(dtype: torch.dtype) -> str:
    """The wire name of a torch dtype; KeyError when the wire does not carry it."""
    return WIRE_DTYPES[dtype]
