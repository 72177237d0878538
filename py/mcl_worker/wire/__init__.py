"""The wire protocol of the MCL bridge (proto/PROTOCOL.md): codecs, signatures, body schemas."""

from .codec import (
    KINDS,
    MAX_REQUEST_ID,
    MAX_TENSOR_BYTES,
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
from .replay import REPLAY_WINDOW_MS, ReplayGuard
from .schema import body_schema, validate_body
from .signing import AUTH_BYTES, AuthTag, auth_frame, load_key_file, new_auth_tag, sign_frames, verify_auth

__all__ = [
    "AUTH_BYTES",
    "AuthTag",
    "CLIENT_ERROR_CODES",
    "DTYPES",
    "ERROR_CODES",
    "Frame",
    "Header",
    "KINDS",
    "MAX_REQUEST_ID",
    "MAX_TENSOR_BYTES",
    "Message",
    "PROTOCOL_VERSION",
    "REPLAY_WINDOW_MS",
    "ReplayGuard",
    "SUPPORTED_VERSIONS",
    "WireError",
    "auth_frame",
    "body_schema",
    "check_header",
    "decode_message",
    "encode_message",
    "itemsize",
    "load_key_file",
    "new_auth_tag",
    "sign_frames",
    "torch_dtype",
    "try_read_header",
    "validate_body",
    "verify_auth",
    "wire_dtype",
]
