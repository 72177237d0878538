"""The error raised when an encoder cannot be exported, or a file cannot be read back as one."""

from __future__ import annotations

from typing import Literal

ExportCode = Literal[
    "NOT_AN_EXPORT",  # the file holds no export document: it was not written by mcl export
    "EXPORT_INVALID",  # its document or tensors do not fit each other (edited or damaged)
    "NOT_TRACEABLE",  # torch.jit.trace cannot record an encoder (a plugin's, say)
]


class ExportError(Exception):
    """An export that cannot be written or read; `code` says which, the message names the file."""

    def __init__(self, code: ExportCode, message: str) -> None:
        super().__init__(message)
        self.code: ExportCode = code
        self.message = message
