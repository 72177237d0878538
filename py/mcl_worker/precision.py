"""The arithmetic precision of a training step, and the device that runs it.

    auto  bf16 on a CUDA device of compute capability 8.0 or more (Ampere on), fp32 elsewhere
    fp32  no autocast
    bf16  autocast to bfloat16 (CUDA with bf16 support, and the CPU)
    fp16  autocast to float16 with a GradScaler; CUDA only: float16 arithmetic is slow on most
          CPUs and buys nothing there that bf16 does not

The loss and everything after the encoder run in float32 whatever the precision.
"""

from __future__ import annotations

import torch

from .errors import InvalidArgument

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the encoder's forward pass autocasts to on `device` (None: float32, no autocast);
    InvalidArgument("precision") for a precision the device cannot run."""
    if precision not in PRECISIONS:
        raise InvalidArgument("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0) else "fp32"
    if precision == "fp32":
        return None
    if precision == "fp16" and device.type != "cuda":
        raise InvalidArgument(
            "precision", f"fp16 needs a CUDA device and this step runs on {device}; use bf16 (autocast on the CPU) or fp32"
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InvalidArgument(
            "precision", f"bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; use fp16 or fp32"
        )
    return _DTYPES[precision]


def grad_scaler(amp_dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler | None:
    """The GradScaler of a step that autocasts to `amp_dtype` (fp16 needs one; None otherwise)."""
    return torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None


def resolve_device(name: str) -> torch.device:
    """The torch device a `device` field names: auto (the first CUDA device when there is one, else
    the CPU), cpu, cuda (the current CUDA device) or cuda:N; InvalidArgument("device") for a device
    this worker does not have."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    kind, _, index = name.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise InvalidArgument("device", f"must be auto, cpu, cuda or cuda:N, got {name!r}")
    if not torch.cuda.is_available():
        raise InvalidArgument(
            "device", f"{name} was asked for, but this worker has no CUDA device (torch {torch.__version__}); use auto or cpu"
        )
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise InvalidArgument(
            "device", f"{name} was asked for, but this worker has {count} CUDA device(s): cuda:0…cuda:{count - 1}"
        )
    return torch.device(name)
