"""The Python codec beyond the golden vectors: zero copy, alignment, pyzmq frames, encode errors."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest
import torch
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from mcl_worker.wire import PROTOCOL_VERSION, Header, Message, WireError, decode_message, encode_message

V = PROTOCOL_VERSION
ECHO = Header(v=V, id=7, kind="request", type="echo")


def head(header: dict[str, Any], body: bytes) -> bytes:
    """Frame 0 built by hand: the msgpack array [header, body] from the body's bytes."""
    return b"\x92" + msgpack.packb(header) + body


def roundtrip(body: dict[str, Any], **kwargs: Any) -> Message:
    return decode_message([bytes(f) for f in encode_message(Message(ECHO, body))], **kwargs)


def test_decoded_tensor_shares_memory_with_its_frame() -> None:
    frames = encode_message(Message(ECHO, {"x": torch.arange(6, dtype=torch.float32).reshape(2, 3)}))
    frame = bytearray(bytes(frames[1]))  # a writable frame, as zmq.Frame memory is
    x = decode_message([frames[0], frame]).body["x"]
    address = np.frombuffer(frame, dtype=np.uint8).ctypes.data
    assert address <= x.data_ptr() < address + len(frame)
    assert np.shares_memory(x.numpy(), np.frombuffer(frame, dtype=np.uint8))
    frame[0:4] = np.float32(42.5).tobytes()
    assert x[0, 0].item() == 42.5


def test_encoded_frame_is_the_tensors_own_memory() -> None:
    for dtype in (torch.float32, torch.bfloat16, torch.bool, torch.int64):
        t = torch.zeros(4, dtype=dtype)
        frame = encode_message(Message(ECHO, {"t": t}))[1]
        assert isinstance(frame, memoryview)
        assert np.frombuffer(frame, dtype=np.uint8).ctypes.data == t.data_ptr()


def test_non_contiguous_tensor_is_sent_in_c_order() -> None:
    t = torch.arange(6, dtype=torch.int32).reshape(2, 3).t()
    assert not t.is_contiguous()
    back = roundtrip({"t": t}).body["t"]
    assert torch.equal(back, t)


def test_tensor_that_requires_grad_is_sent_detached() -> None:
    t = torch.ones(3, requires_grad=True)
    assert torch.equal(roundtrip({"t": t}).body["t"], torch.ones(3))


def test_misaligned_frame_is_copied_to_aligned_memory() -> None:
    frames = encode_message(Message(ECHO, {"x": torch.tensor([1.5, -2.0, 3.25], dtype=torch.float64).float()}))
    backing = bytearray(1 + 12)
    backing[1:] = bytes(frames[1])
    misaligned = memoryview(backing)[1:]
    x = decode_message([frames[0], misaligned]).body["x"]
    assert x.data_ptr() % 4 == 0
    assert x.tolist() == [1.5, -2.0, 3.25]


def test_pyzmq_frames_are_read_through_their_buffer() -> None:
    frames = encode_message(Message(ECHO, {"x": torch.arange(4, dtype=torch.int64)}))
    zmq_frames = [zmq.Frame(bytes(f)) for f in frames]
    x = decode_message(zmq_frames).body["x"]
    assert x.tolist() == [0, 1, 2, 3]
    address = np.frombuffer(zmq_frames[1].buffer, dtype=np.uint8).ctypes.data
    assert x.data_ptr() == address


def test_bfloat16_round_trips_bit_for_bit() -> None:
    bits = torch.tensor([0x3F80, 0x7FC0, -0x8000, 0x0001], dtype=torch.int16)
    back = roundtrip({"b": bits.view(torch.bfloat16)}).body["b"]
    assert back.dtype == torch.bfloat16
    assert torch.equal(back.view(torch.int16), bits)


def test_body_error_carries_the_header() -> None:
    frames = [head({"v": V, "id": 99, "kind": "request", "type": "echo"}, b"\xc1")]
    with pytest.raises(WireError) as caught:
        decode_message(frames)
    assert (caught.value.code, caught.value.header) == ("MALFORMED", Header(V, 99, "request", "echo"))


def test_header_is_read_from_the_head_for_errors_before_decoding_it() -> None:
    body = msgpack.packb({"pad": "x" * 10_000})  # a head far longer than the part read for the id
    frames = [head({"v": V, "id": 5, "kind": "request", "type": "echo"}, body)]
    with pytest.raises(WireError) as caught:
        decode_message(frames, max_bytes=1000)
    assert (caught.value.code, caught.value.header) == ("MESSAGE_TOO_LARGE", Header(V, 5, "request", "echo"))


def test_version_1_framing_is_named_in_the_error() -> None:
    old = [b"", msgpack.packb({"v": 1, "id": 5, "kind": "request", "type": "ping"}), b"\x80"]
    with pytest.raises(WireError, match="looks like protocol version 1") as caught:
        decode_message(old)
    assert caught.value.code == "MALFORMED"


def test_a_signature_sent_to_a_receiver_without_a_key_is_named() -> None:
    frames = encode_message(Message(ECHO, {}), key=b"k")
    with pytest.raises(WireError, match="is signed .* and this side has no key") as caught:
        decode_message(frames)
    assert (caught.value.code, caught.value.header) == ("AUTH_FAILED", ECHO)


def test_tensor_mismatch_names_the_field_and_sizes() -> None:
    body = msgpack.packb({"batch": {"x": {"$tensor": 0, "dtype": "float32", "shape": [2, 2]}}})
    with pytest.raises(WireError) as caught:
        decode_message([head({"v": V, "id": 3, "kind": "request", "type": "echo"}, body), b"\x00" * 15])
    assert caught.value.code == "TENSOR_MISMATCH"
    assert caught.value.message == "batch.x: a float32 tensor of shape [2, 2] needs 16 bytes, its frame has 15"
    assert caught.value.details == {"path": "batch.x", "expected_bytes": 16, "frame_bytes": 15}


def test_unsupported_version_reports_version_and_header() -> None:
    frames = [head({"v": V + 1, "id": 5, "kind": "request", "type": "ping"}, b"\x80")]
    with pytest.raises(WireError) as caught:
        decode_message(frames)
    assert caught.value.code == "UNSUPPORTED_VERSION"
    assert caught.value.header == Header(V + 1, 5, "request", "ping")
    assert caught.value.details == {"version": V + 1, "supported": [V]}
    assert caught.value.message.endswith(f"this side speaks {V}: upgrade this side, which is older"
                                         " (the SDK and the worker must speak the same protocol version)")


def test_the_previous_version_s_hello_is_refused_naming_both_versions_and_the_fix() -> None:
    hello = msgpack.packb({"protocols": [V - 1], "client": "mcl-bridge/0.1.0"})
    with pytest.raises(WireError) as caught:
        decode_message([head({"v": V - 1, "id": 1, "kind": "request", "type": "hello"}, hello)])
    assert caught.value.code == "UNSUPPORTED_VERSION"
    assert caught.value.header == Header(V - 1, 1, "request", "hello")  # so the refusal answers the hello
    assert caught.value.message == (
        f"protocol version {V - 1} is not supported; this side speaks {V}: upgrade the other end, which is older"
        " (the SDK and the worker must speak the same protocol version)"
    )


def test_max_bytes_counts_every_frame() -> None:
    frames = [bytes(f) for f in encode_message(Message(ECHO, {"x": torch.zeros(4)}))]
    total = sum(len(f) for f in frames)
    assert decode_message(frames, max_bytes=total).body["x"].shape == (4,)
    with pytest.raises(WireError) as caught:
        decode_message(frames, max_bytes=total - 1)
    assert caught.value.code == "MESSAGE_TOO_LARGE"
    assert caught.value.header == ECHO


def test_signed_round_trip_and_tampered_tensor() -> None:
    frames = [bytes(f) for f in encode_message(Message(ECHO, {"x": torch.ones(2)}), key=b"k")]
    assert decode_message(frames, key=b"k").body["x"].tolist() == [1.0, 1.0]
    frames[1] = b"\x01" + frames[1][1:]  # 1.0 starts with 0x00
    with pytest.raises(WireError) as caught:
        decode_message(frames, key=b"k")
    assert caught.value.code == "AUTH_FAILED"
    assert caught.value.header == ECHO


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": torch.zeros(2, dtype=torch.float64)}, "x: torch.float64 does not travel on the wire"),
        ({"m": {"$tensor": 0}}, 'm: the key "$tensor" is reserved'),
        ({"s": {1, 2}}, "s: a set cannot be encoded"),
        ({"n": [2**64]}, "n[0]: 18446744073709551616 does not fit"),
        ({"k": {3: "x"}}, "k: map keys must be strings"),
    ],
)
def test_encode_refuses_what_the_wire_cannot_carry(body: dict[str, Any], message: str) -> None:
    with pytest.raises(WireError) as caught:
        encode_message(Message(ECHO, body))
    assert caught.value.code == "MALFORMED"
    assert caught.value.message.startswith(message)
    assert caught.value.header == ECHO


def test_encode_checks_the_header() -> None:
    with pytest.raises(WireError, match="a heartbeat has type"):
        encode_message(Message(Header(V, 1, "heartbeat", "ping"), {}))
    with pytest.raises(WireError, match="header.id"):
        encode_message(Message(Header(V, -1, "request", "ping"), {}))


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text().filter(lambda k: k != "$tensor"), children, max_size=4),
    max_leaves=12,
)
tensors = st.builds(
    lambda dtype, n: (torch.arange(n) % 3).to(dtype),
    st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.uint8, torch.bool]),
    st.integers(0, 5),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(), json_like | tensors, max_size=5).filter(lambda b: "$tensor" not in b))
def test_any_body_round_trips(body: dict[str, Any]) -> None:
    frames = [bytes(f) for f in encode_message(Message(ECHO, body))]
    decoded = decode_message(frames)
    assert [bytes(f) for f in encode_message(decoded)] == frames
    for key, value in body.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(decoded.body[key], value)


# The same bytes as in test/ts/wire/codec.unit.test.ts: wider msgpack forms than needed (array16,
# map16, int8, uint64, str8, int64) are accepted, and re-encoding writes the canonical ones.
# The version byte follows V, a positive fixint below 128 either way.
NONCANONICAL_HEAD = (
    "dc0002"
    f"de0004a176d0{V:02x}a26964cf000000000000002aa46b696e64d90772657175657374a474797065a46563686f"
    "de0002a178d3fffffffffffffffed9017ac40100"
)


def test_wider_msgpack_forms_are_accepted_and_reencoded_canonically() -> None:
    msg = decode_message([bytes.fromhex(NONCANONICAL_HEAD)])
    assert msg == Message(Header(V, 42, "request", "echo"), {"x": -2, "z": b"\x00"})
    (frame,) = encode_message(msg)
    assert bytes(frame).hex() == "92" f"84a176{V:02x}a269642aa46b696e64a772657175657374a474797065a46563686f" "82a178fea17ac40100"
