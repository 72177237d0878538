"""Errors of the dataset library.

Every error at open time is about the URI the user passed, so all of them are `InvalidArgument`s
of the field "uri" (wire `INVALID_BODY`, `details.path` = "uri"); `details` adds what the fix
needs: the scheme, the query parameter, the file and the array at fault.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument


class DatasetError(InvalidArgument):
    """A dataset URI cannot be opened; the message names the part of it to fix."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("uri", message)
        self.details.update({k: v for k, v in details.items() if v is not None})


class DatasetUriError(DatasetError):
    """The URI is malformed: unknown scheme or generator, unknown or mistyped query parameter."""


class DatasetNotFound(DatasetError):
    """The file or folder the URI names does not exist."""


class DatasetContentError(DatasetError):
    """The data exists but is unusable: wrong shape or dtype, non-finite values, bad labels."""


class ImageDecodeError(DatasetContentError):
    """An image of an open dataset cannot be read or decoded; it names the file and the sample.
    It is about the dataset a job uses (details.path "dataset"), not about a URI."""

    def __init__(self, message: str, *, index: int, **details: Any) -> None:
        InvalidArgument.__init__(self, "dataset", message)
        self.details.update({"index": index, **{k: v for k, v in details.items() if v is not None}})
