"""The wire protocol of the MCL bridge (proto/PROTOCOL.md): codecs, signatures, body schemas."""

from .codec import (
    KINDS,
    MAX_REQUEST_ID,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    Frame,
    Header,
    Message,
    check_header,
    decode_message,
    encode_message,
    try_read_header,
)
from .dtypes import DTYPES, itemsize, torch_dtype, wire_dtype
from .errors import CLIENT_ERROR_CODES, ERROR_CODES, WireError
from .schema import body_schema, validate_body
from .signing import SIGNATURE_BYTES, load_key_file, sign, verify

__all__ = [
    "CLIENT_ERROR_CODES",
    "DTYPES",
    "ERROR_CODES",
    "Frame",
    "Header",
    "KINDS",
    "MAX_REQUEST_ID",
    "Message",
    "PROTOCOL_VERSION",
    "SIGNATURE_BYTES",
    "SUPPORTED_VERSIONS",
    "WireError",
    "body_schema",
    "check_header",
    "decode_message",
    "encode_message",
    "itemsize",
    "load_key_file",
    "sign",
    "torch_dtype",
    "try_read_header",
    "validate_body",
    "verify",
    "wire_dtype",
]
