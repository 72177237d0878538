"""Short renderings of values for error messages, the same as ts/wire/describe.ts."""

from __future__ import annotations

import json
import math
from typing import Any

import torch

MISSING: Any = object()
"""Stands for an absent value (rendered "nothing")."""


def describe(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value[:40] + "…" if len(value) > 40 else value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{memoryview(value).nbytes} bytes"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, torch.Tensor):
        return "a tensor"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__
