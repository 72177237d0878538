"""Writes the golden vectors of the wire into proto/golden:
vectors.json (messages to decode and re-encode byte for byte; a signed one with the nonce and
timestamp of its auth frame), invalid.json (frames that decoding must refuse, with the error code,
the header id the error carries and, for AUTH_FAILED, details.reason; `now` is the receiver's
clock when it decodes with a replay guard, and a `replayed` case is decoded once, accepted, and
then refused the second time by the same guard) and invalid_bodies.json
(decoded bodies that validation must refuse, with the exact path and message on both sides).

Run from the repository root:  .venv/bin/python proto/golden/generate.py
Tests never run this: they read the committed files. The frames are built here straight from
PROTOCOL.md with msgpack and numpy, independently of either codec, so that both codecs are
checked against the spec rather than against each other.

JSON forms used in both files:
- an integer beyond +-(2^53 - 1) is {"$int": "<decimal>"}; raw bytes are {"$bytes": "<hex>"};
- tensor values: float32 as numbers, float16/bfloat16 as raw uint16 bits, int64 as decimal
  strings, int32/uint8 as numbers, bool as true/false, flattened in C order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

HERE = Path(__file__).resolve().parent
SAFE = 2**53 - 1
SIGNING_KEY = b"golden-key \x00\x01\xff not secret"
VERSION = 4
NONCE = bytes(range(16))
TIMESTAMP_MS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z
REPLAY_WINDOW_MS = 60_000


class T:
    """A tensor to place in a body: its dtype, shape and flat values in the JSON form above."""

    def __init__(self, dtype: str, shape: list[int], values: list[Any]) -> None:
        self.dtype, self.shape, self.values = dtype, shape, values
        assert len(values) == int(np.prod(shape)), (dtype, shape, values)

    def raw(self) -> bytes:
        if self.dtype in ("float16", "bfloat16"):
            return np.array(self.values, dtype="<u2").tobytes()
        if self.dtype == "int64":
            return np.array([int(v) for v in self.values], dtype="<i8").tobytes()
        numpy_dtype = {"float32": "<f4", "int32": "<i4", "uint8": "u1", "bool": "?"}[self.dtype]
        array = np.array(self.values, dtype=numpy_dtype)
        if self.dtype == "float32":
            assert [float(x) for x in array] == self.values, "float32 values must be exactly representable"
        return array.tobytes()


def wire_body(value: Any, tensors: list[T]) -> Any:
    """The body as it goes into msgpack: each T replaced by its descriptor, k in depth-first order."""
    if isinstance(value, T):
        tensors.append(value)
        return {"$tensor": len(tensors) - 1, "dtype": value.dtype, "shape": value.shape}
    if isinstance(value, dict):
        return {key: wire_body(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [wire_body(item, tensors) for item in value]
    if isinstance(value, float):
        # JavaScript cannot tell 2.0 from 2: an integral float within the safe range would come back as an int.
        integral = value.is_integer() and abs(value) <= SAFE and str(value) != "-0.0"
        assert not integral, f"golden vectors hold no integral floats within +-(2^53 - 1): {value}"
    return value


def to_json(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -SAFE <= value <= SAFE else {"$int": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    raise TypeError(type(value))


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def hmac_sha256(key: bytes, prefix: bytes, frames: list[bytes]) -> bytes:
    """HMAC-SHA256(key, prefix || for each frame: u64le(len) || frame)."""
    mac = hmac.new(key, prefix, digestmod=hashlib.sha256)
    for frame in frames:
        mac.update(len(frame).to_bytes(8, "little"))
        mac.update(frame)
    return mac.digest()


def auth_frame(key: bytes, frames: list[bytes], nonce: bytes = NONCE, timestamp_ms: int = TIMESTAMP_MS) -> bytes:
    """nonce || u64le(timestamp) || HMAC-SHA256(key, nonce || u64le(timestamp) || the frames, length-prefixed)."""
    signed = nonce + timestamp_ms.to_bytes(8, "little")
    return signed + hmac_sha256(key, signed, frames)


def header(kind: str, type_: str, id_: int = 1, v: int = VERSION) -> dict[str, Any]:
    return {"v": v, "id": id_, "kind": kind, "type": type_}


def head(header_: Any, body_bytes: bytes = b"\x80") -> bytes:
    """Frame 0: the msgpack array [header, body], from the header's value and the body's bytes."""
    return b"\x92" + pack(header_) + body_bytes


def signed(key: bytes, frames: list[bytes], **tag: Any) -> list[bytes]:
    return [*frames, auth_frame(key, frames, **tag)]


def case(name: str, description: str, header_: dict[str, Any], body: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    tensors: list[T] = []
    wire = wire_body(body, tensors)
    frames = [head(header_, pack(wire)), *(t.raw() for t in tensors)]
    return {
        "name": name,
        "description": description,
        "key": None if key is None else key.hex(),
        "auth": None if key is None else {"nonce": NONCE.hex(), "timestamp": TIMESTAMP_MS},
        "frames": [f.hex() for f in (frames if key is None else signed(key, frames))],
        "header": header_,
        "body": to_json(wire),
        "tensors": [{"dtype": t.dtype, "shape": t.shape, "values": t.values} for t in tensors],
    }


F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.float32(1.401298464324817e-45))  # smallest subnormal


def valid_cases() -> list[dict[str, Any]]:
    dtype_tensors = {
        "float32": T("float32", [2, 3], [0.0, -1.5, 3.25, F32_MAX, F32_TINY, float(np.float32(0.1))]),
        # 0, 1, -2, 65504 (max), +inf, a NaN, -0, smallest subnormal
        "float16": T("float16", [8], [0x0000, 0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x7E00, 0x8000, 0x0001]),
        # 0, 1, -2, pi (rounded), +inf, a NaN, -0
        "bfloat16": T("bfloat16", [7], [0x0000, 0x3F80, 0xC000, 0x4049, 0x7F80, 0x7FC0, 0x8000]),
        "int64": T("int64", [5], [str(-(2**63)), "-1", "0", str(2**53 + 1), str(2**63 - 1)]),
        "int32": T("int32", [2, 2], [-(2**31), -1, 0, 2**31 - 1]),
        "uint8": T("uint8", [4], [0, 1, 128, 255]),
        "bool": T("bool", [3], [True, False, True]),
    }
    cases = [
        case(f"tensor_{dtype}", f"one {dtype} tensor with edge values", header("result", "generate", 3), {"tensor": t})
        for dtype, t in dtype_tensors.items()
    ]
    cases += [
        case("tensor_0d", "0-d tensors: shape [] and one element", header("request", "echo", 4),
             {"f": T("float32", [], [2.5]), "i": T("int64", [], ["-7"]), "b": T("bool", [], [True])}),
        case("tensor_empty", "empty tensors: shape [0] and [2, 0, 3], empty frames", header("request", "echo", 5),
             {"a": T("float32", [0], []), "b": T("int32", [2, 0, 3], []), "c": T("bfloat16", [0, 4], [])}),
        case("tensors_nested", "tensors at several depths, numbered depth-first in key / item order", header("request", "echo", 6), {
            "first": {"inner": [T("uint8", [2], [7, 9]), {"deep": T("int32", [1], [42])}]},
            "plain": "text between tensors",
            "list": [[T("float32", [1, 2], [0.5, -0.25])], T("bool", [2], [False, True])],
            "last": T("int64", [2], ["1", "2"]),
        }),
        case("strings_unicode", "UTF-8 strings and keys; fixstr / str8 / str16 boundaries", header("request", "echo", 7), {
            "ascii": "hello",
            "accents": "héllo wörld",
            "cjk": "日本語のテキスト",
            "emoji": "rocket 🚀 and ✓",
            "ключ": "значение",
            "empty": "",
            "len31": "a" * 31,
            "len32": "b" * 32,
            "len255": "c" * 255,
            "len256": "d" * 256,
            "len65536": "e" * 65536,
        }),
        case("nested_containers", "maps and arrays nested, empty ones, null and booleans; fixmap / map16 / fixarray / array16 boundaries",
             header("request", "echo", 8), {
                 "empty_map": {},
                 "empty_list": [],
                 "null": None,
                 "yes": True,
                 "no": False,
                 "map15": {f"k{i:02d}": i for i in range(15)},
                 "map16": {f"k{i:02d}": i for i in range(16)},
                 "list15": list(range(15)),
                 "list16": list(range(16)),
                 "deep": {"a": [{"b": [[{"c": [None, {"d": "bottom"}]}]]}]},
             }),
        case("integers", "the smallest msgpack form of each integer, at every boundary up to int64 / uint64",
             header("request", "echo", 9), {
                 "positive": [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1],
                 "negative": [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**53 - 1), -(2**53), -(2**63)],
             }),
        case("floats", "non-integral numbers as float64, and -0.0", header("request", "echo", 10), {
            "values": [0.5, -1.25, 3.141592653589793, 1e-300, 1.7976931348623157e308, 5e-324, -2.5e-8, 123456.789, 2.0**53, -1e20],
            "negative_zero": -0.0,
        }),
        case("binary", "raw bytes as bin; bin8 / bin16 boundaries", header("request", "echo", 11), {
            "empty": b"", "small": b"\x00\x01\xff", "len255": bytes(range(255)), "len256": bytes(i % 256 for i in range(256)),
        }),
        case("signed_hello", "a hello request signed with the golden key", header("request", "hello", 1),
             {"protocols": [VERSION], "client": "mcl-bridge/0.1.0"}, key=SIGNING_KEY),
        case("signed_tensors", "a signed message with tensor frames: the signature covers them", header("request", "echo", 12),
             {"x": T("float32", [2], [1.5, -2.5]), "y": T("uint8", [0], [])}, key=SIGNING_KEY),
        case("hello_result", "the worker's answer to hello", header("result", "hello", 1), {
            "protocol": VERSION, "worker_version": "0.1.0", "torch_version": "2.13.0+cpu", "python_version": "3.11.9",
            "zmq_version": "4.3.5", "devices": [{"index": 0, "type": "cpu", "name": "cpu"}], "world_size": 1,
            "max_message_bytes": 1073741824,
        }),
        case("error_reply", "an error reply naming the field at fault", header("error", "sleep", 13), {
            "code": "INVALID_BODY", "message": "seconds: expected a number >= 0, got -1", "details": {"path": "seconds"},
        }),
        case("error_unknown_id", "an error about a message whose id could not be read: id 0", header("error", "", 0),
             {"code": "MALFORMED", "message": "frame 0 is not msgpack"}),
        case("progress", "a progress event of a sleep job", header("progress", "sleep", 14), {"step": 2}),
        case("sleep_request", "a sleep request with a non-integral number of seconds", header("request", "sleep", 15), {"seconds": 0.25, "steps": 3}),
        case("heartbeat", "a heartbeat: type empty, body empty, largest id", header("heartbeat", "", 2**32 - 1), {}),
        case("cancel", "a cancel of job 14", header("cancel", "", 14), {}),
        case("ping", "a ping request", header("request", "ping", 16), {}),
    ]
    return cases


def bad(name: str, code: str, frames: list[bytes], header_id: int | None, description: str, **options: Any) -> dict[str, Any]:
    """A message that decoding must refuse with `code`; header_id is the id the error carries (null: none)."""
    return {
        "name": name,
        "description": description,
        "frames": [f.hex() for f in frames],
        "key": options["key"].hex() if "key" in options else None,
        "max_bytes": options.get("max_bytes"),
        "now": options.get("now"),
        "replayed": options.get("replayed", False),
        "code": code,
        "header_id": header_id,
        "reason": options.get("reason"),
    }


def invalid_cases() -> list[dict[str, Any]]:
    h = header("request", "echo", 42)
    ok = head(h)
    f32 = {"$tensor": 0, "dtype": "float32", "shape": [2]}
    two_floats = np.array([1, 2], dtype="<f4").tobytes()

    def with_body(body: Any) -> bytes:
        return head(h, pack(body))

    good_auth = auth_frame(SIGNING_KEY, [ok])
    v3_head = head(header("request", "echo", 42, v=3))
    deep: Any = "bottom"
    for _ in range(70):
        deep = [deep]
    return [
        bad("no_frames", "MALFORMED", [], None, "an empty multipart message"),
        bad("version_1_framing", "MALFORMED", [b"", pack({**h, "v": 1}), pack({})], None,
            "protocol version 1's frames [signature, header, body]: frame 0 is empty"),
        bad("head_not_msgpack", "MALFORMED", [b"\xc1"], None, "0xc1 is never used in msgpack"),
        bad("head_truncated", "MALFORMED", [ok[:-3]], None, "frame 0 ends inside the header map"),
        bad("head_trailing_bytes", "MALFORMED", [ok + b"\x00"], 42, "bytes after the body; the header is still read for the id"),
        bad("head_not_array", "MALFORMED", [pack(h)], None, "frame 0 is the header map alone"),
        bad("head_one_item", "MALFORMED", [pack([h])], None, "an array of one item"),
        bad("head_three_items", "MALFORMED", [pack([h, {}, {}])], None, "an array of three items"),
        bad("header_not_map", "MALFORMED", [head([VERSION, 42, "request", "echo"])], None, "the header is an array"),
        bad("header_missing_field", "MALFORMED", [head({"v": VERSION, "id": 42, "kind": "request"})], None, "no type"),
        bad("header_extra_field", "MALFORMED", [head({**h, "x": 1})], None, "an unknown header field"),
        bad("header_bad_kind", "MALFORMED", [head(header("shout", "echo", 42))], None, "an unknown kind"),
        bad("header_id_too_large", "MALFORMED", [head(header("request", "echo", 2**32))], None, "id beyond uint32"),
        bad("header_id_not_int", "MALFORMED", [head({"v": VERSION, "id": "42", "kind": "request", "type": "echo"})], None, "id as a string"),
        bad("heartbeat_with_type", "MALFORMED", [head(header("heartbeat", "echo", 42))], 42, "heartbeat carries type \"\""),
        bad("unsupported_version", "UNSUPPORTED_VERSION", [head(header("request", "echo", 42, v=VERSION + 1))], 42,
            "a later version: refused, with the id so that the error reply reaches the sender"),
        bad("previous_version_hello", "UNSUPPORTED_VERSION",
            [head(header("request", "hello", 7, v=VERSION - 1), pack({"protocols": [VERSION - 1], "client": "mcl-bridge/0.1.0"}))], 7,
            "the previous version's hello: refused at the header, with the id so that the refusal reaches the sender"),
        bad("body_not_msgpack", "MALFORMED", [head(h, b"\x81\xa1")], 42, "the body ends mid-map"),
        bad("body_not_msgpack_after_wide_header", "MALFORMED",
            [b"\x92" + bytes.fromhex("de0004a176d002a26964cf000000000000002aa46b696e64a772657175657374a474797065a46563686f") + b"\x81\xa1"],
            42, "the body ends mid-map after a header in wider msgpack forms (map16, int8, uint64): the id is still read"),
        bad("body_not_map", "MALFORMED", [with_body([1, 2])], 42, "the body is an array"),
        bad("body_int_key", "MALFORMED", [with_body({1: "one"})], 42, "a map key that is not a string"),
        bad("body_ext_type", "MALFORMED", [with_body({"t": msgpack.ExtType(5, b"x")})], 42, "extension types are not allowed"),
        bad("body_timestamp", "MALFORMED", [head(h, bytes.fromhex("81a174d6ff00000001"))], 42, "the timestamp extension is not allowed either"),
        bad("body_too_deep", "MALFORMED", [with_body({"deep": deep})], 42, "arrays nested 70 deep (the limit is 64)"),
        bad("descriptor_extra_key", "MALFORMED", [with_body({"x": {**f32, "strides": [1]}}), two_floats], 42, "a descriptor with a fourth key"),
        bad("descriptor_bad_dtype", "MALFORMED", [with_body({"x": {**f32, "dtype": "float64"}}), two_floats], 42, "float64 is not a wire dtype"),
        bad("descriptor_negative_dim", "MALFORMED", [with_body({"x": {**f32, "shape": [-2]}}), two_floats], 42, "a negative dimension"),
        bad("descriptor_bad_index", "MALFORMED", [with_body({"x": {**f32, "$tensor": "0"}}), two_floats], 42, "a frame index as a string"),
        bad("tensor_dim_beyond_int64_beside_0", "TENSOR_MISMATCH", [with_body({"x": {**f32, "shape": [0, 2**63]}}), b""], 42,
            "an empty tensor whose other dimension overflows int64: too large to exist, though its frame is empty"),
        bad("tensor_strides_overflow_beside_0", "TENSOR_MISMATCH", [with_body({"x": {**f32, "shape": [0, 2**40, 2**40]}}), b""], 42,
            "an empty tensor whose other dimensions multiply beyond int64"),
        bad("tensor_dim_beyond_safe_beside_0", "TENSOR_MISMATCH", [with_body({"x": {**f32, "shape": [0, 2**53]}}), b""], 42,
            "an empty tensor spanning over 2^53 - 1 bytes (counting the 0 as 1): beyond what JavaScript numbers hold exactly"),
        bad("tensor_elements_beyond_int64", "TENSOR_MISMATCH", [with_body({"x": {**f32, "shape": [2**32, 2**32]}}), b""], 42,
            "an element count beyond int64"),
        bad("tensor_bytes_beyond_int64", "TENSOR_MISMATCH", [with_body({"x": {**f32, "shape": [2**61]}}), b""], 42,
            "an element count within int64 whose byte size is beyond it"),
        bad("tensor_frame_too_short", "TENSOR_MISMATCH", [with_body({"x": f32}), two_floats[:7]], 42, "7 bytes for float32 [2]"),
        bad("tensor_frame_too_long", "TENSOR_MISMATCH", [with_body({"x": f32}), two_floats + b"\x00"], 42, "9 bytes for float32 [2]"),
        bad("tensor_frame_missing", "TENSOR_MISMATCH", [with_body({"x": f32})], 42, "a descriptor but no tensor frame"),
        bad("tensor_frame_unreferenced", "TENSOR_MISMATCH", [with_body({"x": f32}), two_floats, two_floats], 42, "a second frame no descriptor names"),
        bad("tensor_frame_doubly_referenced", "TENSOR_MISMATCH", [with_body({"x": f32, "y": f32}), two_floats, two_floats], 42,
            "two descriptors name frame 1"),
        bad("tensor_frames_out_of_order", "TENSOR_MISMATCH",
            [with_body({"x": {**f32, "$tensor": 1}, "y": f32}), two_floats, two_floats], 42, "descriptors must number frames in body order"),
        bad("too_large", "MESSAGE_TOO_LARGE", [with_body({"x": f32}), two_floats], 42, "over max_bytes; the id is still read", max_bytes=16),
        bad("signed_without_key", "AUTH_FAILED", signed(SIGNING_KEY, [ok]), 42,
            "a signed message to a receiver without a key: a last 56-byte frame that no descriptor names", reason="no_key"),
        bad("unsigned_with_key", "AUTH_FAILED", [ok], 42, "a key is required and there is no auth frame", key=SIGNING_KEY, reason="unsigned"),
        bad("wrong_key", "AUTH_FAILED", signed(b"another key", [ok]), 42, "signed with another key", key=SIGNING_KEY, reason="signature"),
        bad("auth_frame_truncated", "AUTH_FAILED", [ok, auth_frame(SIGNING_KEY, [ok])[:55]], 42, "an auth frame one byte short",
            key=SIGNING_KEY, reason="unsigned"),
        bad("version_3_signature", "AUTH_FAILED", [v3_head, hmac_sha256(SIGNING_KEY, b"", [v3_head])], 42,
            "version 3's 32-byte signature, no nonce nor timestamp: refused before the header's version is read",
            key=SIGNING_KEY, reason="unsigned"),
        bad("signature_over_other_frames", "AUTH_FAILED", [ok, auth_frame(SIGNING_KEY, [with_body({"a": 1})])], 42,
            "a valid auth frame of a different body", key=SIGNING_KEY, reason="signature"),
        bad("frames_moved_between", "AUTH_FAILED", [ok, b"\x01\x02\x03", auth_frame(SIGNING_KEY, [ok, b"\x01\x02", b"\x03"])], 42,
            "the same bytes split differently: lengths are signed too", key=SIGNING_KEY, reason="signature"),
        bad("timestamp_altered", "AUTH_FAILED", [ok, good_auth[:16] + (TIMESTAMP_MS + 1).to_bytes(8, "little") + good_auth[24:]], 42,
            "the timestamp moved by 1 ms after signing: the MAC covers it", key=SIGNING_KEY, reason="signature"),
        bad("nonce_altered", "AUTH_FAILED", [ok, b"\xff" + good_auth[1:]], 42,
            "the nonce changed after signing: the MAC covers it", key=SIGNING_KEY, reason="signature"),
        bad("timestamp_too_old", "AUTH_FAILED", signed(SIGNING_KEY, [ok]), 42,
            "signed 60.001 s before the receiver's clock: outside the window", key=SIGNING_KEY, now=TIMESTAMP_MS + REPLAY_WINDOW_MS + 1, reason="window"),
        bad("timestamp_in_the_future", "AUTH_FAILED", signed(SIGNING_KEY, [ok]), 42,
            "signed 60.001 s after the receiver's clock: outside the window", key=SIGNING_KEY, now=TIMESTAMP_MS - REPLAY_WINDOW_MS - 1, reason="window"),
        bad("replayed", "AUTH_FAILED", signed(SIGNING_KEY, [ok]), 42,
            "the same signed message twice: the first is accepted, the second refused", key=SIGNING_KEY, now=TIMESTAMP_MS + 1000,
            replayed=True, reason="replay"),
        bad("unsigned_malformed_with_key", "AUTH_FAILED", [b"\xc1"], None,
            "the auth frame is checked before the head: an unsigned message is AUTH_FAILED whatever it holds", key=SIGNING_KEY, reason="unsigned"),
    ]


def body_case(kind: str, type_: str, body: dict[str, Any], code: str, path: str | None, message: str) -> dict[str, Any]:
    """A decoded body that validation must refuse: both sides give this code, path and message."""
    return {"kind": kind, "type": type_, "body": body, "code": code, "path": path, "message": message}


def invalid_body_cases() -> list[dict[str, Any]]:
    """The first offending field is reported: properties in schema order, then unexpected fields."""
    return [
        body_case("request", "sleep", {"seconds": -1, "steps": 1}, "INVALID_BODY", "seconds", "seconds: expected a number >= 0, got -1"),
        body_case("request", "sleep", {"seconds": "1", "steps": 1}, "INVALID_BODY", "seconds", 'seconds: expected a number, got "1"'),
        body_case("request", "sleep", {"seconds": 1}, "INVALID_BODY", "steps", "steps: expected an integer, got nothing"),
        body_case("request", "sleep", {"seconds": 1, "steps": 0.5}, "INVALID_BODY", "steps", "steps: expected an integer, got 0.5"),
        body_case("request", "sleep", {"seconds": 1, "steps": 0}, "INVALID_BODY", "steps", "steps: expected a number >= 1, got 0"),
        body_case("request", "sleep", {"seconds": 1, "steps": 2, "speed": 3}, "INVALID_BODY", "speed", "speed: unexpected field"),
        body_case("request", "sleep", {"steps": -1, "seconds": -1}, "INVALID_BODY", "seconds", "seconds: expected a number >= 0, got -1"),
        body_case("request", "hello", {"protocols": [], "client": "x"}, "INVALID_BODY", "protocols", "protocols: expected at least 1 items, got 0"),
        body_case("request", "hello", {"protocols": [VERSION, 0], "client": "x"}, "INVALID_BODY", "protocols[1]", "protocols[1]: expected a number >= 1, got 0"),
        body_case("request", "hello", {"protocols": [VERSION], "client": None}, "INVALID_BODY", "client", "client: expected a string, got null"),
        body_case("request", "hello", {"protocols": "1", "client": "x"}, "INVALID_BODY", "protocols", 'protocols: expected an array, got "1"'),
        body_case("result", "hello", {
            "protocol": VERSION, "worker_version": "0.1.0", "torch_version": "2", "python_version": "3", "zmq_version": "4",
            "devices": [{"index": 0, "type": "tpu", "name": "x"}], "world_size": 1, "max_message_bytes": 1,
        }, "INVALID_BODY", "devices[0].type", 'devices[0].type: expected one of "cpu", "cuda", got "tpu"'),
        body_case("result", "hello", {
            "protocol": VERSION, "worker_version": "0.1.0", "torch_version": "2", "python_version": "3", "zmq_version": "4",
            "devices": [{"index": 0, "type": "cpu"}], "world_size": 1, "max_message_bytes": 1,
        }, "INVALID_BODY", "devices[0].name", "devices[0].name: expected a string, got nothing"),
        body_case("request", "generate", {"dtype": "float64", "shape": [2]}, "INVALID_BODY", "dtype",
                  'dtype: expected one of "float32", "float16", "bfloat16", "int64", "int32", "uint8", "bool", got "float64"'),
        body_case("request", "generate", {"dtype": "int32", "shape": [2, -1]}, "INVALID_BODY", "shape[1]", "shape[1]: expected a number >= 0, got -1"),
        body_case("result", "generate", {"tensor": [1, 2]}, "INVALID_BODY", "tensor", "tensor: expected a tensor, got an array"),
        body_case("result", "generate", {}, "INVALID_BODY", "tensor", "tensor: expected a tensor, got nothing"),
        body_case("request", "ping", {"x": 1}, "INVALID_BODY", "x", "x: unexpected field"),
        body_case("progress", "sleep", {"step": True}, "INVALID_BODY", "step", "step: expected an integer, got true"),
        body_case("progress", "ping", {}, "INVALID_BODY", "", 'job "ping" sends no progress'),
        body_case("request", "fly", {}, "UNKNOWN_JOB", None, 'no job of type "fly"'),
        body_case("error", "sleep", {"code": "OOPS", "message": "m"}, "INVALID_BODY", "code",
                  'code: expected one of "MALFORMED", "UNSUPPORTED_VERSION", "UNKNOWN_JOB", "INVALID_BODY", "TENSOR_MISMATCH", '
                  '"MESSAGE_TOO_LARGE", "AUTH_FAILED", "CANCELLED", "JOB_FAILED", "NOT_FOUND", "NON_FINITE_LOSS", "BUSY", '
                  '"OUT_OF_MEMORY", got "OOPS"'),
        body_case("error", "", {"code": "TIMEOUT", "message": "m"}, "INVALID_BODY", "code",
                  'code: expected one of "MALFORMED", "UNSUPPORTED_VERSION", "UNKNOWN_JOB", "INVALID_BODY", "TENSOR_MISMATCH", '
                  '"MESSAGE_TOO_LARGE", "AUTH_FAILED", "CANCELLED", "JOB_FAILED", "NOT_FOUND", "NON_FINITE_LOSS", "BUSY", '
                  '"OUT_OF_MEMORY", got "TIMEOUT"'),
        body_case("error", "", {"code": "BUSY", "message": "m", "details": 3}, "INVALID_BODY", "details", "details: expected a map, got 3"),
        body_case("heartbeat", "", {"beat": 1}, "INVALID_BODY", "beat", "beat: unexpected field"),
        body_case("cancel", "", {"why": "bored"}, "INVALID_BODY", "why", "why: unexpected field"),
    ]


def write_json(path: Path, value: Any) -> None:
    """Atomic write: a temp file in the same folder, then rename."""
    text = json.dumps(value, indent=1, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> None:
    note = "Generated by proto/golden/generate.py; see its docstring for the JSON forms. Do not edit by hand."
    write_json(HERE / "vectors.json", {"about": note, "protocol_version": VERSION, "cases": valid_cases()})
    write_json(HERE / "invalid.json", {"about": note, "protocol_version": VERSION, "replay_window_ms": REPLAY_WINDOW_MS, "cases": invalid_cases()})
    write_json(HERE / "invalid_bodies.json", {"about": note, "protocol_version": VERSION, "cases": invalid_body_cases()})


if __name__ == "__main__":
    main()
