"""Encoding and decoding of wire messages: [signature, header, body, *tensor frames].

Header and body are msgpack maps; each tensor travels as its own raw frame (little-endian,
C-contiguous) and a descriptor {"$tensor": k, "dtype": ..., "shape": [...]} stands in its place
in the body. Decoded tensors are views over the received frames (torch.frombuffer, no copy):
treat them as read-only and .clone() one before modifying it in place, since a frame received
as bytes is immutable memory.
"""

from __future__ import annotations

import math
import sys
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, Union

import msgpack
import numpy as np
import torch

from .describe import describe
from .dtypes import DTYPES, itemsize, torch_dtype, wire_dtype
from .errors import WireError
from .signing import sign, verify

if sys.byteorder != "little":
    raise ImportError("the MCL wire carries tensors little-endian, as their memory on the host; big-endian hosts are not supported")

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
KINDS: tuple[str, ...] = ("request", "cancel", "progress", "result", "error", "heartbeat")
MAX_REQUEST_ID = 0xFFFF_FFFF
FIXED_FRAMES = 3  # signature, header, body
MAX_DEPTH = 64  # maps and arrays nest at most this deep in a body
TENSOR_KEY = "$tensor"
MAX_HEADER_BYTES = 4096  # a longer header frame is not parsed just to find the id for an error reply
_HEADER_KEYS = ("v", "id", "kind", "type")
_UNTYPED_KINDS = ("heartbeat", "cancel")  # their type is ""
_EMPTY_MAP = b"\x80"  # msgpack of {}

# A frame received as bytes is immutable memory; torch warns (once per process) that it cannot
# mark a tensor over it read-only, and the module docstring says so instead. Filtered once here:
# warnings.catch_warnings() per tensor would mutate process-wide state while job threads run.
warnings.filterwarnings("ignore", message="The given buffer is not writable", category=UserWarning)


class FrameLike(Protocol):
    """A pyzmq Frame (recv(copy=False)): its memory is `.buffer`, and it exports that memory
    through the buffer protocol too, which decoding uses."""

    @property
    def buffer(self) -> memoryview: ...


Frame = Union[bytes, bytearray, memoryview, FrameLike]


class Header(NamedTuple):
    """Frame 1 of every message; immutable. A NamedTuple: one is made per message, and a frozen
    dataclass costs several times as much to construct."""

    v: int
    id: int
    kind: str
    type: str


@dataclass
class Message:
    header: Header
    body: dict[str, Any] = field(default_factory=dict)


def check_header(fields: Any) -> Header:
    """Checks a decoded header map field by field. Fields come before the version, whose layout
    never changes, so an UNSUPPORTED_VERSION error still carries the header."""
    if not isinstance(fields, dict):
        raise WireError("MALFORMED", f"header: expected a msgpack map, got {describe(fields)}")
    for key in fields:
        if key not in _HEADER_KEYS:
            raise WireError("MALFORMED", f"header: unexpected field {describe(str(key))}; a header holds v, id, kind, type")
    v, id_, kind, type_ = (fields.get(key) for key in _HEADER_KEYS)
    if not _is_int(v) or v < 0:
        raise WireError("MALFORMED", f"header.v: expected a protocol version (an integer >= 1), got {_describe_field(fields, 'v')}")
    if not _is_int(id_) or not 0 <= id_ <= MAX_REQUEST_ID:
        raise WireError("MALFORMED", f"header.id: expected an integer in [0, {MAX_REQUEST_ID}], got {_describe_field(fields, 'id')}")
    if kind not in KINDS:
        raise WireError("MALFORMED", f"header.kind: expected one of {', '.join(KINDS)}, got {_describe_field(fields, 'kind')}")
    if not isinstance(type_, str):
        raise WireError("MALFORMED", f"header.type: expected a string, got {_describe_field(fields, 'type')}")
    header = Header(v=v, id=id_, kind=kind, type=type_)
    if v not in SUPPORTED_VERSIONS:
        raise WireError(
            "UNSUPPORTED_VERSION",
            f"protocol version {v} is not supported; this side speaks {', '.join(map(str, SUPPORTED_VERSIONS))}",
            details={"version": v, "supported": list(SUPPORTED_VERSIONS)},
            header=header,
        )
    if kind in ("heartbeat", "cancel") and type_ != "":
        raise WireError("MALFORMED", f'header.type: a {kind} has type "", got {describe(type_)}', header=header)
    return header


def _read_header(fields: Any) -> Header:
    """check_header with a fast path for the common, well-formed header; anything unusual goes
    through check_header, which names what is wrong."""
    if type(fields) is dict and len(fields) == 4:
        v, id_, kind, type_ = fields.get("v"), fields.get("id"), fields.get("kind"), fields.get("type")
        if _is_well_formed(v, id_, kind, type_):
            return Header(v, id_, kind, type_)  # type: ignore[arg-type]
    return check_header(fields)


def _is_well_formed(v: Any, id_: Any, kind: Any, type_: Any) -> bool:
    """Whether check_header would accept these fields as they are (exact types only)."""
    return (
        type(v) is int
        and v in SUPPORTED_VERSIONS
        and type(id_) is int
        and 0 <= id_ <= MAX_REQUEST_ID
        and type(kind) is str
        and kind in KINDS
        and type(type_) is str
        and (type_ == "" or kind not in _UNTYPED_KINDS)
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe_field(fields: dict[Any, Any], key: str) -> str:
    return describe(fields[key]) if key in fields else "nothing"


# ---------------------------------------------------------------------------------------- encode


def encode_message(msg: Message, key: bytes | None = None) -> list[bytes | memoryview]:
    """[signature, header, body, *tensor frames]. Each tensor frame is a memoryview of the tensor's
    own memory (after .detach().cpu().contiguous(), which copy only when they must): do not modify
    a tensor until its message is sent."""
    v, id_, kind, type_ = msg.header
    if not _is_well_formed(v, id_, kind, type_):
        check_header({"v": v, "id": id_, "kind": kind, "type": type_})  # raises, naming the field
    header_frame = _pack({"v": v, "id": id_, "kind": kind, "type": type_}, "header")
    header = msg.header
    tensors: list[memoryview] = []
    try:
        if not isinstance(msg.body, dict):
            raise WireError("MALFORMED", f"body: expected a dict, got {describe(msg.body)}", details={"path": ""})
        body_frame = _pack(_to_wire(msg.body, "", tensors, 0), "body") if msg.body else _EMPTY_MAP
    except WireError as error:
        raise error.with_header(header) from error.__cause__
    frames: list[bytes | memoryview] = [header_frame, body_frame, *tensors]
    signature = b"" if key is None else sign(key, frames)
    return [signature, *frames]


_packers = threading.local()  # a Packer per thread: packb would build one per call


def _pack(value: Any, what: str) -> bytes:
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    try:
        packed: bytes = packer.pack(value)
    except (OverflowError, TypeError, ValueError) as exc:
        packer.reset()  # drop whatever it wrote before failing
        raise WireError("MALFORMED", f"{what} cannot be encoded: {exc}") from exc
    return packed


def _to_wire(value: Any, path: str, tensors: list[memoryview], depth: int) -> Any:
    """The body as msgpack sees it: tensors replaced by descriptors, their frames appended to `tensors`."""
    if value is None or isinstance(value, (bool, str, bytes, bytearray, memoryview)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise WireError(
                "MALFORMED", f"{_at(path)}: {value} does not fit in a msgpack integer (int64 or uint64)", details={"path": path}
            )
        return value
    if isinstance(value, float):
        return value
    if depth >= MAX_DEPTH:
        raise WireError("MALFORMED", f"{_at(path)}: body nests deeper than {MAX_DEPTH} levels", details={"path": path})
    if isinstance(value, torch.Tensor):
        return _descriptor(value, path, tensors)
    if isinstance(value, (list, tuple)):
        return [_to_wire(item, f"{path}[{i}]", tensors, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        if TENSOR_KEY in value:
            raise WireError("MALFORMED", f'{_at(path)}: the key "$tensor" is reserved for tensor descriptors', details={"path": path})
        wire: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError("MALFORMED", f"{_at(path)}: map keys must be strings, got {describe(key)}", details={"path": path})
            wire[key] = _to_wire(item, key if path == "" else f"{path}.{key}", tensors, depth + 1)
        return wire
    raise WireError(
        "MALFORMED",
        f"{_at(path)}: a {type(value).__name__} cannot be encoded; use None, bool, int, float, str, bytes, "
        "torch.Tensor, lists and dicts with str keys",
        details={"path": path},
    )


def _descriptor(tensor: torch.Tensor, path: str, tensors: list[memoryview]) -> dict[str, Any]:
    try:
        dtype = wire_dtype(tensor.dtype)
    except KeyError:
        raise WireError(
            "MALFORMED",
            f"{_at(path)}: {tensor.dtype} does not travel on the wire; convert to one of {', '.join(DTYPES)}",
            details={"path": path},
        ) from None
    if tensor.is_cpu and tensor.is_contiguous() and not tensor.requires_grad and dtype != "bfloat16":
        frame = memoryview(tensor.numpy().reshape(-1).view(np.uint8))  # the common case, in microseconds
    else:
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        # A uint8 view of the same memory: numpy has no bfloat16, and the frame is bytes anyway.
        frame = memoryview(flat.view(torch.uint8).numpy())
    tensors.append(frame)
    return {TENSOR_KEY: len(tensors) - 1, "dtype": dtype, "shape": list(tensor.shape)}


def _at(path: str) -> str:
    return path or "body"


# ---------------------------------------------------------------------------------------- decode


def decode_message(frames: Sequence[Frame], key: bytes | None = None, max_bytes: int | None = None) -> Message:
    """Decodes [signature, header, body, *tensor frames]; raises WireError, with `header` set
    whenever the header could be read. Tensors are views over their frames (read-only: .clone()
    before modifying one in place); a frame not aligned to the itemsize is copied."""
    buffers = [_buffer(frame) for frame in frames]
    if len(buffers) < FIXED_FRAMES:
        raise _frames_error(
            buffers,
            "MALFORMED",
            f"a message has at least {FIXED_FRAMES} frames (signature, header, body), got {len(buffers)}",
            {"frames": len(buffers)},
        )
    if max_bytes is not None:
        total = 0
        for buffer in buffers:
            total += buffer.nbytes
        if total > max_bytes:
            raise _frames_error(
                buffers,
                "MESSAGE_TOO_LARGE",
                f"message of {total} bytes is over the limit of {max_bytes} bytes",
                {"bytes": total, "max_bytes": max_bytes},
            )
    signature, header_frame, body_frame = buffers[:FIXED_FRAMES]
    if key is not None and not verify(key, signature, buffers[1:]):
        unsigned = signature.nbytes == 0
        raise _frames_error(buffers, "AUTH_FAILED", "message is not signed, and a key is required" if unsigned else "message signature does not match the key")

    header = _read_header(_unpack(header_frame, "header"))
    if len(buffers) == FIXED_FRAMES and body_frame == _EMPTY_MAP:  # ping, heartbeat, cancel, ...
        return Message(header, {})
    try:
        state = _ReadState(buffers[FIXED_FRAMES:])
        body = _unpack(body_frame, "body")
        if not isinstance(body, dict):
            raise WireError("MALFORMED", f"body: expected a msgpack map, got {describe(body)}")
        decoded = _read_map(body, "", state, 0)
        if state.next < len(state.frames):
            raise WireError(
                "TENSOR_MISMATCH",
                f"tensor frames {state.next}..{len(state.frames) - 1} are not referenced by any descriptor in the body",
                details={"referenced": state.next, "frames": len(state.frames)},
            )
    except WireError as exc:
        raise exc.with_header(header) from exc.__cause__
    return Message(header=header, body=decoded)


def _frames_error(buffers: list[memoryview], code: str, message: str, details: dict[str, Any] | None = None) -> WireError:
    """An error about the frames as a whole, attributed to the header when it can be read."""
    header = _try_read_header(buffers[1]) if len(buffers) >= 2 else None
    return WireError(code, message, details=details, header=header)


def _buffer(frame: Frame) -> memoryview:
    # A pyzmq Frame exports its memory itself: memoryview(frame) costs half of frame.buffer.
    view = memoryview(frame)  # type: ignore[arg-type]
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _try_read_header(frame: memoryview) -> Header | None:
    if frame.nbytes > MAX_HEADER_BYTES:
        return None
    try:
        return check_header(_unpack(frame, "header"))
    except WireError as exc:
        return exc.header


def _reject_ext(code: int, data: bytes) -> Any:
    raise WireError("MALFORMED", f"msgpack extension types are not allowed (got type {code})")


def _unpack(frame: memoryview, what: str) -> Any:
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False, ext_hook=_reject_ext, timestamp=0)
    except WireError:
        raise
    except Exception as exc:  # msgpack raises ValueError, TypeError, StackError, ExtraData, UnicodeDecodeError...
        raise WireError("MALFORMED", f"{what} frame is not msgpack: {exc}") from exc


class _ReadState:
    def __init__(self, frames: list[memoryview]) -> None:
        self.frames = frames
        self.next = 0  # descriptors number the frames 0, 1, ... in body order
        self.seen_at: list[str] = []  # body path of the descriptor of each frame seen so far


def _read_value(value: Any, path: str, state: _ReadState, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if depth >= MAX_DEPTH:
        raise WireError("MALFORMED", f"{_at(path)}: body nests deeper than {MAX_DEPTH} levels", details={"path": path})
    if isinstance(value, list):
        return [_read_value(item, f"{path}[{i}]", state, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return _read_descriptor(value, path, state) if TENSOR_KEY in value else _read_map(value, path, state, depth + 1)
    raise WireError(
        "MALFORMED", f"{_at(path)}: msgpack extension types are not allowed (got {describe(value)})", details={"path": path}
    )


def _read_map(fields: dict[Any, Any], path: str, state: _ReadState, depth: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if not isinstance(key, str):
            raise WireError("MALFORMED", f"{_at(path)}: map keys must be strings, got {describe(key)}", details={"path": path})
        body[key] = _read_value(value, key if path == "" else f"{path}.{key}", state, depth)
    return body


def _read_descriptor(fields: dict[Any, Any], path: str, state: _ReadState) -> torch.Tensor:
    at = _at(path)

    def bad(why: str) -> WireError:
        return WireError("MALFORMED", f"{at}: bad tensor descriptor: {why}", details={"path": path})

    if set(fields) != {TENSOR_KEY, "dtype", "shape"}:
        raise bad(f"expected exactly the keys $tensor, dtype, shape, got {', '.join(map(str, fields))}")
    index, dtype, shape = fields[TENSOR_KEY], fields["dtype"], fields["shape"]
    if not _is_int(index) or index < 0:
        raise bad(f"$tensor: expected a frame index (an integer >= 0), got {describe(index)}")
    if dtype not in DTYPES:
        raise bad(f"dtype: expected one of {', '.join(DTYPES)}, got {describe(dtype)}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise bad(f"shape: expected a list of integers >= 0, got {describe(shape)}")

    if index != state.next:
        if index < len(state.seen_at):
            why = f"tensor frame {index} is referenced twice, at {_at(state.seen_at[index])} and at {at}"
        else:
            why = (
                f"{at} refers to tensor frame {index}; descriptors must number the frames 0, 1, ... in body order, "
                f"expected {state.next}"
            )
        raise WireError("TENSOR_MISMATCH", why, details={"path": path, "index": index, "expected": state.next})
    if index >= len(state.frames):
        raise WireError(
            "TENSOR_MISMATCH",
            f"{at} refers to tensor frame {index}, but the message has {len(state.frames)} tensor frames",
            details={"path": path, "index": index, "frames": len(state.frames)},
        )
    state.seen_at.append(path)
    state.next += 1
    return _view_frame(dtype, shape, state.frames[index], at, path)


def _view_frame(dtype: str, shape: list[int], frame: memoryview, at: str, path: str) -> torch.Tensor:
    """The frame as a tensor: a view when aligned to the itemsize, else an aligned copy."""
    n = math.prod(shape)
    expected = n * itemsize(dtype)
    if frame.nbytes != expected:
        raise WireError(
            "TENSOR_MISMATCH",
            f"{at}: a {dtype} tensor of shape [{', '.join(map(str, shape))}] needs {expected} bytes, its frame has {frame.nbytes}",
            details={"path": path, "expected_bytes": expected, "frame_bytes": frame.nbytes},
        )
    if n == 0:  # frombuffer refuses an empty buffer; there is no memory to share
        return torch.empty(shape, dtype=torch_dtype(dtype))
    flat = torch.frombuffer(frame, dtype=torch_dtype(dtype))  # read-only frames: see the filter above
    if flat.data_ptr() % itemsize(dtype) != 0:
        flat = flat.clone()
    return flat if len(shape) == 1 else flat.view(shape)
