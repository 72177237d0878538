"""Auth frames: the last frame of a signed message, nonce || timestamp || HMAC-SHA256 over both and the frames."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .errors import WireError

NONCE_BYTES = 16
TIMESTAMP_BYTES = 8  # u64le milliseconds since the Unix epoch
MAC_BYTES = 32
AUTH_BYTES = NONCE_BYTES + TIMESTAMP_BYTES + MAC_BYTES
_SIGNED = NONCE_BYTES + TIMESTAMP_BYTES  # the part of the auth frame the MAC covers

Buffer = bytes | bytearray | memoryview


class AuthTag(NamedTuple):
    """The nonce and timestamp an auth frame carries: what a receiver checks against replays."""

    nonce: bytes
    timestamp_ms: int


def now_ms() -> int:
    """This side's clock, in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def new_auth_tag() -> AuthTag:
    """A fresh tag: a random nonce and this side's clock."""
    return AuthTag(os.urandom(NONCE_BYTES), now_ms())


def auth_frame(key: bytes, frames: Sequence[Buffer], tag: AuthTag | None = None) -> bytes:
    """The auth frame of `frames` ([head, *tensors]): nonce || u64le(timestamp) || HMAC-SHA256(key,
    nonce || u64le(timestamp) || for each frame f: u64le(len(f)) || f). `tag` is fresh unless given
    (golden vectors)."""
    nonce, timestamp_ms = tag if tag is not None else new_auth_tag()
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"an auth nonce has {NONCE_BYTES} bytes, got {len(nonce)}")
    if not 0 <= timestamp_ms < 2**64:
        raise ValueError(f"an auth timestamp is a u64 of milliseconds, got {timestamp_ms}")
    prefix = bytes(nonce) + timestamp_ms.to_bytes(TIMESTAMP_BYTES, "little")
    return prefix + _mac(key, prefix, frames)


def sign_frames(key: bytes, frames: Sequence[Buffer]) -> list[Buffer]:
    """`frames` ([head, *tensors]) with their auth frame appended: a fresh nonce and the current time."""
    return [*frames, auth_frame(key, frames)]


def verify_auth(key: bytes, auth: Buffer, frames: Sequence[Buffer]) -> AuthTag | None:
    """The tag of `auth` when it is the auth frame of `frames` under `key` (compared in constant
    time), else None."""
    view = memoryview(auth)
    if view.nbytes != AUTH_BYTES:
        return None
    data = view.tobytes()
    if not hmac.compare_digest(_mac(key, data[:_SIGNED], frames), data[_SIGNED:]):
        return None
    return AuthTag(data[:NONCE_BYTES], int.from_bytes(data[NONCE_BYTES:_SIGNED], "little"))


def _mac(key: bytes, prefix: bytes, frames: Sequence[Buffer]) -> bytes:
    mac = hmac.new(key, prefix, digestmod=hashlib.sha256)
    for frame in frames:
        mac.update(memoryview(frame).nbytes.to_bytes(8, "little"))
        mac.update(frame)
    return mac.digest()


def load_key_file(path: str | Path) -> bytes:
    """The key in a key file: its bytes with surrounding ASCII whitespace trimmed."""
    key = Path(path).read_bytes().strip()
    if not key:
        raise WireError("AUTH_FAILED", f"key file {path} is empty; write the shared key into it (e.g. 32 random bytes, hex)")
    return key
