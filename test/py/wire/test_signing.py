from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from mcl_worker.wire import SIGNATURE_BYTES, WireError, load_key_file, sign, verify


def test_signature_is_hmac_over_length_prefixed_frames() -> None:
    frames = [b"header", b"", b"\x00" * 5]
    expected = hmac.new(b"k", b"".join(len(f).to_bytes(8, "little") + f for f in frames), hashlib.sha256).digest()
    assert sign(b"k", frames) == expected
    assert len(expected) == SIGNATURE_BYTES


def test_verify_accepts_the_signature_and_refuses_others() -> None:
    frames = [b"a", memoryview(b"bc")]
    good = sign(b"key", frames)
    assert verify(b"key", good, frames)
    assert not verify(b"other", good, frames)
    assert not verify(b"key", good[:-1], frames)
    assert not verify(b"key", b"", frames)
    assert not verify(b"key", good, [b"ab", b"c"])  # lengths are signed too


def test_key_file_is_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"\n  s3cret key\t\r\n")
    assert load_key_file(path) == b"s3cret key"


def test_empty_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b" \n")
    with pytest.raises(WireError) as caught:
        load_key_file(path)
    assert caught.value.code == "AUTH_FAILED"
    assert "is empty" in caught.value.message
