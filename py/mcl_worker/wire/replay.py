"""A receiver's memory of the signed messages it accepted, against replays (proto/PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import Callable

from .errors import WireError
from .signing import AuthTag, now_ms

REPLAY_WINDOW_MS = 60_000  # a signed message's timestamp must be within this many ms of the receiver's clock


class ReplayGuard:
    """Refuses a message whose timestamp is outside the window and one whose nonce it accepted
    before. A nonce is kept only while its timestamp is inside the window (past that, the window
    refuses the message anyway), so memory is bounded by the messages of about two windows. One
    guard per receiver, across connections; not thread-safe (the worker's I/O thread alone decodes)."""

    def __init__(self, window_ms: int = REPLAY_WINDOW_MS, now: Callable[[], int] = now_ms) -> None:
        if window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {window_ms}")
        self.window_ms = window_ms
        self._now = now
        self._seen: dict[bytes, int] = {}  # accepted nonce -> its timestamp
        self._last_prune_ms: float = float("-inf")

    def __len__(self) -> int:
        """Nonces remembered now."""
        return len(self._seen)

    def accept(self, tag: AuthTag) -> None:
        """Records `tag`'s nonce, or raises AUTH_FAILED (details.reason "window" or "replay")."""
        now = self._now()
        skew_ms = tag.timestamp_ms - now
        if abs(skew_ms) > self.window_ms:
            direction = "ahead of" if skew_ms > 0 else "behind"
            raise WireError(
                "AUTH_FAILED",
                f"message timestamp is {abs(skew_ms) / 1000:.1f} s {direction} this side's clock, outside the window of "
                f"±{self.window_ms / 1000:g} s: synchronise the two ends' clocks (e.g. NTP), or this is an old message replayed",
                details={"reason": "window", "skew_ms": skew_ms, "window_ms": self.window_ms},
            )
        self._prune(now)
        if tag.nonce in self._seen:
            raise WireError(
                "AUTH_FAILED", "message repeats the nonce of a message already accepted: a replay, refused", details={"reason": "replay"}
            )
        self._seen[tag.nonce] = tag.timestamp_ms

    def _prune(self, now: int) -> None:
        """Forgets the nonces whose timestamps have left the window; a full pass at most every quarter window."""
        if now - self._last_prune_ms < self.window_ms / 4 and now >= self._last_prune_ms:
            return
        self._last_prune_ms = now
        for nonce in [nonce for nonce, timestamp_ms in self._seen.items() if now - timestamp_ms > self.window_ms]:
            del self._seen[nonce]
