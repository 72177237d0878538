"""HMAC-SHA256 signatures over the frames (the last frame of a signed message)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from pathlib import Path

from .errors import WireError

SIGNATURE_BYTES = 32

Buffer = bytes | bytearray | memoryview


def sign(key: bytes, frames: Sequence[Buffer]) -> bytes:
    """HMAC-SHA256(key, for each frame f: u64le(len(f)) || f) over [head, *tensors]."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for frame in frames:
        mac.update(memoryview(frame).nbytes.to_bytes(8, "little"))
        mac.update(frame)
    return mac.digest()


def verify(key: bytes, signature: Buffer, frames: Sequence[Buffer]) -> bool:
    """Whether `signature` signs `frames` under `key`; constant time."""
    if memoryview(signature).nbytes != SIGNATURE_BYTES:
        return False
    return hmac.compare_digest(sign(key, frames), bytes(signature))


def load_key_file(path: str | Path) -> bytes:
    """The key in a key file: its bytes with surrounding ASCII whitespace trimmed."""
    key = Path(path).read_bytes().strip()
    if not key:
        raise WireError("AUTH_FAILED", f"key file {path} is empty; write the shared key into it (e.g. 32 random bytes, hex)")
    return key
