"""WireError and the error codes of protocol.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .codec import Header

ERROR_CODES: tuple[str, ...] = (
    "MALFORMED",
    "UNSUPPORTED_VERSION",
    "UNKNOWN_JOB",
    "INVALID_BODY",
    "TENSOR_MISMATCH",
    "MESSAGE_TOO_LARGE",
    "AUTH_FAILED",
    "CANCELLED",
    "JOB_FAILED",
    "NOT_FOUND",
    "NON_FINITE_LOSS",
    "BUSY",
    "TIMEOUT",
    "WORKER_LOST",
)

# Raised by the TypeScript client itself, never sent on the wire.
CLIENT_ERROR_CODES: tuple[str, ...] = ("TIMEOUT", "WORKER_LOST")


class WireError(Exception):
    """An error of the wire protocol. `header` is the header of the message at fault when it could
    be read, so that the error reply goes to that message's id."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        header: Header | None = None,
    ) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}; known: {', '.join(ERROR_CODES)}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.header = header

    def with_header(self, header: Header) -> WireError:
        """The same error, attributed to the message with this header."""
        error = WireError(self.code, self.message, details=self.details, header=header)
        error.__cause__ = self.__cause__
        return error

    def __repr__(self) -> str:
        return f"WireError({self.code!r}, {self.message!r})"
