"""Encoding and decoding of wire messages: [head, *tensor frames, auth frame if signed].

The head is the msgpack array [header, body] of two maps, so that a message without tensors is a
single frame; each tensor travels as its own raw frame (little-endian, C-contiguous) and a
descriptor {"$tensor": k, "dtype": ..., "shape": [...]} stands in its place in the body.
Decoded tensors are views over the received frames (torch.frombuffer, no copy): treat them as
read-only and .clone() one before modifying it in place, since a frame received as bytes is
immutable memory.
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
from .protocol import load_protocol
from .replay import ReplayGuard
from .signing import AUTH_BYTES, AuthTag, auth_frame, verify_auth

if sys.byteorder != "little":
    raise ImportError("the MCL wire carries tensors little-endian, as their memory on the host; big-endian hosts are not supported")

PROTOCOL_VERSION: int = load_protocol()["version"]
SUPPORTED_VERSIONS: tuple[int, ...] = tuple(load_protocol()["supported_versions"])
KINDS: tuple[str, ...] = tuple(load_protocol()["kinds"])
MAX_REQUEST_ID = 0xFFFF_FFFF
MAX_DEPTH = 64  # maps and arrays nest at most this deep in a body
TENSOR_KEY = "$tensor"
MAX_HEADER_BYTES = 4096  # to find the id for an error reply, only this much of the head is read
# The most bytes a tensor may span, counting each 0 dimension as 1: 2^53 - 1, the largest size that
# JavaScript numbers hold exactly, and far inside what torch can allocate or stride (int64).
MAX_TENSOR_BYTES = 2**53 - 1
_HEADER_KEYS = ("v", "id", "kind", "type")
_UNTYPED_KINDS = ("heartbeat", "cancel")  # their type is ""
_HEAD_ITEMS = 2  # header, body

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
    """The first item of every message's head; immutable. A NamedTuple: one is made per message,
    and a frozen dataclass costs several times as much to construct."""

    v: int
    id: int
    kind: str
    type: str


@dataclass
class Message:
    header: Header
    body: dict[str, Any] = field(default_factory=dict)
    auth: AuthTag | None = None  # the nonce and timestamp of a signed message, as decoded (encoding ignores it)


def _version_fix(v: int) -> str:
    """What to do about a peer speaking version `v`: upgrade whichever end is older, since the SDK
    and the worker of one release speak one protocol version and each refuses any other."""
    older = "the other end" if v < min(SUPPORTED_VERSIONS) else "this side"
    return f"upgrade {older}, which is older (the SDK and the worker must speak the same protocol version)"


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
            f"protocol version {v} is not supported; this side speaks {', '.join(map(str, SUPPORTED_VERSIONS))}: {_version_fix(v)}",
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


def encode_message(msg: Message, key: bytes | None = None, auth: AuthTag | None = None) -> list[bytes | memoryview]:
    """[head, *tensor frames, auth frame if `key`], the auth frame with `auth`'s nonce and timestamp
    (golden vectors) or fresh ones. Each tensor frame is a memoryview of the tensor's own memory
    (after .detach().cpu().contiguous(), which copy only when they must): do not modify a tensor
    until its message is sent."""
    v, id_, kind, type_ = header = msg.header
    if not _is_well_formed(v, id_, kind, type_):
        check_header({"v": v, "id": id_, "kind": kind, "type": type_})  # raises, naming the field
    tensors: list[bytes | memoryview] = []
    try:
        if not isinstance(msg.body, dict):
            raise WireError("MALFORMED", f"body: expected a dict, got {describe(msg.body)}", details={"path": ""})
        body = _to_wire(msg.body, "", tensors, 0) if msg.body else {}  # most messages have an empty body
        frames: list[bytes | memoryview] = [_pack([{"v": v, "id": id_, "kind": kind, "type": type_}, body])]
    except WireError as error:
        raise error.with_header(header) from error.__cause__
    frames += tensors
    if key is not None:
        frames.append(auth_frame(key, frames, auth))
    return frames


_packers = threading.local()  # a Packer per thread: packb would build one per call


def _pack(value: Any) -> bytes:
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    try:
        packed: bytes = packer.pack(value)
    except (OverflowError, TypeError, ValueError) as exc:
        packer.reset()  # drop whatever it wrote before failing
        raise WireError("MALFORMED", f"body cannot be encoded: {exc}") from exc
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
    _check_span(dtype, list(tensor.shape), _at(path), path)  # the receiver would refuse it
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


def decode_message(
    frames: Sequence[Frame], key: bytes | None = None, max_bytes: int | None = None, replay: ReplayGuard | None = None
) -> Message:
    """Decodes [head, *tensor frames, auth frame if `key`]; with a key and a `replay` guard, the
    guard then refuses a message outside its window or seen before. Raises WireError, with `header`
    set whenever the header could be read. Tensors are views over their frames (read-only: .clone()
    before modifying one in place); a frame not aligned to the itemsize is copied."""
    # Frames go to msgpack and the HMAC as they are; only tensor frames become memoryviews, so a
    # message without tensors (the most common kind) costs no view at all.
    if not frames:
        raise WireError("MALFORMED", "a message has at least one frame (its head), got none", details={"frames": 0})
    head = frames[0]
    if max_bytes is not None:
        total = 0
        for frame in frames:  # len() is the byte count of all but a memoryview of wider items
            total += frame.nbytes if type(frame) is memoryview else len(frame)  # type: ignore[arg-type]
        if total > max_bytes:
            raise _head_error(head, "MESSAGE_TOO_LARGE", f"message of {total} bytes is over the limit of {max_bytes} bytes",
                              {"bytes": total, "max_bytes": max_bytes})
    tensor_frames = frames[1:] if len(frames) > 1 else ()
    auth = None
    if key is not None:
        auth = _authenticate(key, frames, replay)
        tensor_frames = tensor_frames[:-1]

    items = _unpack(head)
    if type(items) is not list or len(items) != _HEAD_ITEMS:
        raise _head_error(head, "MALFORMED", f"frame 0: expected the msgpack array [header, body], got {describe(items)}")
    fields, body = items
    header = _read_header(fields)
    if not body and not tensor_frames and type(body) is dict:  # ping, heartbeat, cancel, ...
        return Message(header, body, auth)
    try:
        if not isinstance(body, dict):
            raise WireError("MALFORMED", f"body: expected a msgpack map, got {describe(body)}")
        state = _ReadState([_buffer(frame) for frame in tensor_frames])
        decoded = _read_map(body, "", state, 0)
        if state.next < len(state.frames):
            unreferenced = state.frames[state.next :]
            if key is None and len(unreferenced) == 1 and unreferenced[0].nbytes == AUTH_BYTES:
                raise WireError(
                    "AUTH_FAILED",
                    "message is signed (its last frame is an auth frame no descriptor names), and this side has no key: give both ends the same key",
                    details={"reason": "no_key"},
                )
            raise WireError(
                "TENSOR_MISMATCH",
                f"tensor frames {state.next}..{len(state.frames) - 1} are not referenced by any descriptor in the body",
                details={"referenced": state.next, "frames": len(state.frames)},
            )
    except WireError as exc:
        raise exc.with_header(header) from exc.__cause__
    return Message(header=header, body=decoded, auth=auth)


def _authenticate(key: bytes, frames: Sequence[Frame], replay: ReplayGuard | None) -> AuthTag:
    """Checks the auth frame (the last frame) of a message and returns its tag; AUTH_FAILED naming
    why: unsigned, a wrong signature, then (with a guard) outside the window or a repeat."""
    head = frames[0]
    if len(frames) == 1:
        raise _auth_error(head, "message is not signed (it has no auth frame), and this side requires a key: give both ends the same key", "unsigned")
    *signed, last = frames
    size = memoryview(last).nbytes  # type: ignore[arg-type]
    if size != AUTH_BYTES:
        raise _auth_error(
            head,
            f"message is not signed: its last frame has {size} bytes, an auth frame {AUTH_BYTES} (nonce, timestamp, HMAC-SHA256); "
            "give both ends the same key",
            "unsigned",
        )
    tag = verify_auth(key, last, signed)  # type: ignore[arg-type]
    if tag is None:
        raise _auth_error(
            head, "message signature does not match the key (signed with another key, or altered): give both ends the same key", "signature"
        )
    if replay is not None:
        try:
            replay.accept(tag)
        except WireError as exc:
            header = try_read_header(head)
            raise exc if header is None else exc.with_header(header)
    return tag


def _auth_error(head: Frame, message: str, reason: str) -> WireError:
    return _head_error(head, "AUTH_FAILED", message, {"reason": reason})


def _head_error(head: Frame, code: str, message: str, details: dict[str, Any] | None = None) -> WireError:
    """An error about the message as a whole, attributed to its header when that can be read."""
    return WireError(code, message, details=details, header=try_read_header(head))


def _buffer(frame: Frame) -> memoryview:
    # A pyzmq Frame exports its memory itself: memoryview(frame) costs half of frame.buffer.
    view = memoryview(frame)  # type: ignore[arg-type]
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _reject_ext(code: int, data: bytes) -> Any:
    raise WireError("MALFORMED", f"msgpack extension types are not allowed (got type {code})")


# How a head is read, whole or only its header: strings as str, map keys of any type (the body
# walker names a non-string one), extension types refused (a timestamp comes back as
# msgpack.Timestamp, which the walker refuses too).
_UNPACK_OPTIONS: dict[str, Any] = {"raw": False, "strict_map_key": False, "ext_hook": _reject_ext, "timestamp": 0}


def try_read_header(head: Frame) -> Header | None:
    """The header at the start of a head that cannot be decoded whole (or need not be), reading at
    most MAX_HEADER_BYTES of it; None when it cannot be read."""
    unpacker = msgpack.Unpacker(**_UNPACK_OPTIONS)
    unpacker.feed(_buffer(head)[:MAX_HEADER_BYTES])
    try:
        if unpacker.read_array_header() != _HEAD_ITEMS:
            return None
        return check_header(unpacker.unpack())
    except WireError as exc:
        return exc.header
    except Exception:  # not msgpack, or the header does not end within MAX_HEADER_BYTES
        return None


def _unpack(head: Frame) -> Any:
    try:
        return msgpack.unpackb(head, **_UNPACK_OPTIONS)
    except WireError as exc:
        raise exc.with_header(try_read_header(head)) from None
    except Exception as exc:  # msgpack raises ValueError, TypeError, StackError, ExtraData, UnicodeDecodeError...
        header = try_read_header(head)
        if header is None and memoryview(head).nbytes == 0:  # type: ignore[arg-type]
            raise WireError(
                "MALFORMED",
                "frame 0 is empty: this looks like protocol version 1, whose frames are [signature, header, body]; "
                f"this side speaks version {', '.join(map(str, SUPPORTED_VERSIONS))} (update the other end)",
            ) from exc
        raise WireError("MALFORMED", f"frame 0 is not msgpack: {exc}", header=header) from exc


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
    _check_span(dtype, shape, at, path)
    return _view_frame(dtype, shape, state.frames[index], at, path)


def _check_span(dtype: str, shape: list[int], at: str, path: str) -> None:
    """Refuses a shape too large to exist, even one with a 0 (so an empty frame): torch overflows
    computing its strides, and the other end cannot hold its dimensions exactly."""
    span = itemsize(dtype)
    for d in shape:
        if d:
            span *= d
    if span > MAX_TENSOR_BYTES:
        raise WireError(
            "TENSOR_MISMATCH",
            f"{at}: a {dtype} tensor of shape [{', '.join(map(str, shape))}] is too large: its dimensions, "
            f"counting each 0 as 1, span {span} bytes, over the limit of {MAX_TENSOR_BYTES} (2^53 - 1)",
            details={"path": path, "max_bytes": MAX_TENSOR_BYTES},
        )


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
