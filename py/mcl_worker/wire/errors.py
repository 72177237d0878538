"""WireError and the error codes, read from protocol.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .protocol import load_protocol

if TYPE_CHECKING:
    from .codec import Header

_PROTOCOL = load_protocol()
ERROR_CODES: tuple[str, ...] = tuple(_PROTOCOL["error_codes"])
# Raised by the TypeScript client itself, never sent on the wire.
CLIENT_ERROR_CODES: tuple[str, ...] = tuple(_PROTOCOL["client_error_codes"])


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
