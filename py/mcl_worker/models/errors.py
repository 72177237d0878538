"""The error raised when a model cannot be built as asked."""

from __future__ import annotations

from typing import Literal

ModelConfigCode = Literal["UNKNOWN_ARCH", "BAD_IMAGE_SIZE", "BAD_OPTION"]


class ModelConfigError(ValueError):
    """A model configuration the worker cannot build.

    code: UNKNOWN_ARCH (no such architecture; the message lists the valid ones),
    BAD_IMAGE_SIZE (the encoder cannot take that image size; the message states the rule),
    BAD_OPTION (an option is unknown, out of range or does not apply to the architecture).
    `field` names the offending argument so a caller can point the user at it.
    """

    def __init__(self, code: ModelConfigCode, field: str, message: str) -> None:
        super().__init__(message)
        self.code: ModelConfigCode = code
        self.field = field
        self.message = message
