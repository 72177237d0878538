from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest

from mcl_worker.wire import (
    AUTH_BYTES,
    PROTOCOL_VERSION,
    REPLAY_WINDOW_MS,
    AuthTag,
    Header,
    Message,
    ReplayGuard,
    WireError,
    auth_frame,
    decode_message,
    encode_message,
    load_key_file,
    sign_frames,
    verify_auth,
)


def tag(byte: int, timestamp_ms: int) -> AuthTag:
    return AuthTag(bytes([byte]) * 16, timestamp_ms)


def test_auth_frame_is_nonce_timestamp_and_hmac_over_both_and_the_length_prefixed_frames() -> None:
    frames = [b"header", b"", b"\x00" * 5]
    t = tag(7, 1_700_000_000_000)
    prefix = t.nonce + t.timestamp_ms.to_bytes(8, "little")
    mac = hmac.new(b"k", prefix + b"".join(len(f).to_bytes(8, "little") + f for f in frames), hashlib.sha256).digest()
    assert auth_frame(b"k", frames, t) == prefix + mac
    assert len(prefix + mac) == AUTH_BYTES


def test_verify_auth_returns_the_tag_and_refuses_others() -> None:
    frames = [b"a", memoryview(b"bc")]
    good = auth_frame(b"key", frames, tag(1, 5))
    assert verify_auth(b"key", good, frames) == tag(1, 5)
    assert verify_auth(b"other", good, frames) is None
    assert verify_auth(b"key", good[:-1], frames) is None
    assert verify_auth(b"key", b"", frames) is None
    assert verify_auth(b"key", good, [b"ab", b"c"]) is None  # lengths are signed too
    later = good[:16] + (6).to_bytes(8, "little") + good[24:]
    assert verify_auth(b"key", later, frames) is None  # so are the nonce and timestamp


def test_sign_frames_appends_a_fresh_auth_frame() -> None:
    frames = [b"head"]
    before = time.time_ns() // 1_000_000
    first, second = sign_frames(b"key", frames), sign_frames(b"key", frames)
    assert first[:-1] == frames
    a, b = verify_auth(b"key", first[-1], frames), verify_auth(b"key", second[-1], frames)
    assert a is not None and b is not None and a.nonce != b.nonce
    assert before <= a.timestamp_ms <= time.time_ns() // 1_000_000


def refusal(guard: ReplayGuard, t: AuthTag) -> tuple[str, str] | None:
    try:
        guard.accept(t)
    except WireError as exc:
        return exc.code, (exc.details or {})["reason"]
    return None


def test_replay_guard_accepts_the_edges_of_the_window_and_refuses_beyond_them() -> None:
    guard = ReplayGuard(now=lambda: 1_000_000)
    assert refusal(guard, tag(1, 1_000_000 - REPLAY_WINDOW_MS)) is None
    assert refusal(guard, tag(2, 1_000_000 + REPLAY_WINDOW_MS)) is None
    assert refusal(guard, tag(3, 1_000_000 - REPLAY_WINDOW_MS - 1)) == ("AUTH_FAILED", "window")
    assert refusal(guard, tag(4, 1_000_000 + REPLAY_WINDOW_MS + 1)) == ("AUTH_FAILED", "window")
    with pytest.raises(WireError, match="1000.0 s behind this side's clock, outside the window of ±60 s"):
        guard.accept(tag(5, 0))


def test_replay_guard_refuses_a_nonce_it_accepted_whatever_the_timestamp() -> None:
    guard = ReplayGuard(now=lambda: 1_000_000)
    guard.accept(tag(1, 1_000_000))
    assert refusal(guard, tag(1, 1_000_000)) == ("AUTH_FAILED", "replay")
    assert refusal(guard, tag(1, 1_000_500)) == ("AUTH_FAILED", "replay")
    assert refusal(guard, tag(2, 1_000_000)) is None


def test_replay_guard_forgets_nonces_that_left_the_window() -> None:
    now = 1_000_000
    guard = ReplayGuard(window_ms=1000, now=lambda: now)
    for i in range(100):
        guard.accept(tag(i, now))
    assert len(guard) == 100
    now += 1001  # every nonce so far is outside the window now
    assert refusal(guard, tag(0, now - 1001)) == ("AUTH_FAILED", "window")
    guard.accept(tag(200, now))
    assert len(guard) == 1


def test_the_replay_check_comes_after_the_signature() -> None:
    key, guard = b"key", ReplayGuard()
    frames = encode_message(Message(Header(PROTOCOL_VERSION, 3, "request", "ping"), {}), key=key)
    forged = [*frames[:-1], bytes(frames[-1])[:24] + bytes(32)]
    with pytest.raises(WireError, match="signature does not match"):
        decode_message(forged, key=key, replay=guard)
    assert len(guard) == 0
    assert decode_message(frames, key=key, replay=guard).header.id == 3
    with pytest.raises(WireError) as caught:
        decode_message(frames, key=key, replay=guard)
    assert (caught.value.code, caught.value.header.id if caught.value.header else None) == ("AUTH_FAILED", 3)


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
