"""The worker's server, driven through a raw pyzmq DEALER: every job path and every bad input.

After each bad message the same connection must still get a good answer (`assert_serving`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import torch
import zmq

from mcl_worker.errors import NonFiniteLoss
from mcl_worker.jobs import registry
from mcl_worker.jobs.diagnostic_jobs import arange_as
from mcl_worker.server import ConfigError, Server, ServerConfig, is_loopback
from mcl_worker.wire import PROTOCOL_VERSION, AuthTag, Header, Message, WireError, decode_message, encode_message, new_auth_tag
from serving import serving

KEY = b"test-key-0123456789abcdef"
TIMEOUT_MS = 10_000


class Peer:
    """A raw DEALER talking to one in-process server."""

    def __init__(self, endpoint: str, key: bytes | None = None) -> None:
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(endpoint)
        self.key = key

    def send_frames(self, frames: list[Any]) -> None:
        self.socket.send_multipart(frames)

    def send(self, id_: int, kind: str, type_: str, body: dict[str, Any], v: int = PROTOCOL_VERSION) -> None:
        self.send_frames(encode_message(Message(Header(v=v, id=id_, kind=kind, type=type_), body), key=self.key))

    def receive(self) -> Message:
        if not self.socket.poll(TIMEOUT_MS):
            raise AssertionError("the worker did not answer within 10 s")
        return decode_message(self.socket.recv_multipart(), key=self.key)

    def call(self, id_: int, type_: str, body: dict[str, Any]) -> Message:
        self.send(id_, "request", type_, body)
        return self.receive()

    def assert_serving(self) -> None:
        reply = self.call(4242, "ping", {})
        assert (reply.header.kind, reply.header.id, reply.body) == ("result", 4242, {})

    def close(self) -> None:
        self.socket.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serving(ServerConfig(max_message_bytes=1 << 20, jobs=2)) as (server, _):
        yield server


@pytest.fixture
def peer(server: Server) -> Iterator[Peer]:
    peer = Peer(server.endpoint)
    yield peer
    peer.close()


def assert_error(reply: Message, code: str, id_: int) -> dict[str, Any]:
    assert reply.header.kind == "error", reply
    assert reply.body["code"] == code, reply.body
    assert reply.header.id == id_
    assert isinstance(reply.body["message"], str) and reply.body["message"]
    return reply.body


# -- jobs ------------------------------------------------------------------------------------


def test_hello_negotiates_and_describes_the_worker(peer: Peer) -> None:
    reply = peer.call(1, "hello", {"protocols": [PROTOCOL_VERSION, 7], "client": "test/0"})
    assert reply.header.kind == "result"
    assert reply.body["protocol"] == PROTOCOL_VERSION
    assert reply.body["torch_version"] == torch.__version__
    assert reply.body["zmq_version"] == zmq.zmq_version()
    assert reply.body["max_message_bytes"] == 1 << 20
    assert reply.body["devices"][0]["type"] == "cpu"


def test_hello_without_a_common_version_is_unsupported(peer: Peer) -> None:
    body = assert_error(peer.call(2, "hello", {"protocols": [99], "client": "test/0"}), "UNSUPPORTED_VERSION", 2)
    assert body["details"]["supported"] == [PROTOCOL_VERSION]
    peer.assert_serving()


def test_echo_returns_tensors_bit_for_bit(peer: Peer) -> None:
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    reply = peer.call(3, "echo", {"x": x, "nested": [{"y": torch.tensor([True, False])}], "s": "text"})
    assert torch.equal(reply.body["x"], x)
    assert torch.equal(reply.body["nested"][0]["y"], torch.tensor([True, False]))
    assert reply.body["s"] == "text"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int64", "int32", "uint8", "bool"])
def test_generate_makes_arange_of_the_dtype(peer: Peer, dtype: str) -> None:
    reply = peer.call(4, "generate", {"dtype": dtype, "shape": [3, 100]})
    expected = torch.arange(300).to(getattr(torch, dtype)).reshape(3, 100)
    assert torch.equal(reply.body["tensor"], expected)


@pytest.mark.parametrize(
    "shape",
    [[0, 2**53], [0, 2**62], [2**21], [1, 2**63 - 1]],  # too large to hold, even empty; over 1 MiB; overflowing
)
def test_generate_refuses_a_reply_that_cannot_travel(peer: Peer, shape: list[int]) -> None:
    body = assert_error(peer.call(4, "generate", {"dtype": "uint8", "shape": shape}), "INVALID_BODY", 4)
    assert body["details"]["path"] == "shape"
    peer.assert_serving()


def test_a_result_with_an_impossible_shape_is_refused_when_encoded() -> None:
    empty = torch.empty(0, dtype=torch.uint8).as_strided([0, 2**53], [1, 1])
    with pytest.raises(WireError) as refused:
        encode_message(Message(Header(PROTOCOL_VERSION, 1, "result", "generate"), {"tensor": empty}))
    assert refused.value.code == "TENSOR_MISMATCH"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.uint8, torch.bool, torch.int64])
def test_arange_fast_paths_equal_the_formula(dtype: torch.dtype) -> None:
    n = 2**24 + 17  # past the integers float32 holds exactly
    assert torch.equal(arange_as(dtype, [n]), torch.arange(n).to(dtype))


def test_sleep_streams_progress_before_its_result(peer: Peer) -> None:
    peer.send(5, "request", "sleep", {"seconds": 0.03, "steps": 3})
    replies = [peer.receive() for _ in range(4)]
    assert [(r.header.kind, r.body) for r in replies] == [
        ("progress", {"step": 1}),
        ("progress", {"step": 2}),
        ("progress", {"step": 3}),
        ("result", {"steps": 3}),
    ]
    assert {r.header.id for r in replies} == {5}


def test_jobs_in_flight_complete_out_of_order_and_heartbeats_pass_them(peer: Peer) -> None:
    peer.send(6, "request", "sleep", {"seconds": 0.5, "steps": 1})
    peer.send(7, "heartbeat", "", {})
    peer.send(8, "request", "ping", {})
    first, second, third = peer.receive(), peer.receive(), peer.receive()
    assert (first.header.kind, first.header.id) == ("heartbeat", 7)
    assert (second.header.kind, second.header.id) == ("result", 8)
    assert third.header.id == 6 and third.header.kind == "progress"
    assert peer.receive().header.kind == "result"


def test_cancel_stops_a_running_job(peer: Peer) -> None:
    peer.send(9, "request", "sleep", {"seconds": 50, "steps": 1000})
    assert peer.receive().header.kind == "progress"
    peer.send(9, "cancel", "", {})
    reply = peer.receive()
    while reply.header.kind == "progress":  # steps of 50 ms may finish before the cancel lands
        reply = peer.receive()
    assert_error(reply, "CANCELLED", 9)
    peer.assert_serving()


def test_a_failing_job_answers_job_failed_with_its_exception_type(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(body: dict[str, Any], ctx: registry.JobContext) -> dict[str, Any]:
        raise KeyError("no such thing")

    monkeypatch.setitem(registry._registry, "ping", registry.JobSpec("ping", fail, inline=False))
    body = assert_error(peer.call(10, "ping", {}), "JOB_FAILED", 10)
    assert body["details"] == {"exception": "KeyError"}
    assert "no such thing" in body["message"]


def test_a_coded_exception_keeps_its_code_and_details(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    def diverge(body: dict[str, Any], ctx: registry.JobContext) -> dict[str, Any]:
        raise NonFiniteLoss(step=3, loss=float("nan"))

    monkeypatch.setitem(registry._registry, "ping", registry.JobSpec("ping", diverge, inline=True))
    body = assert_error(peer.call(11, "ping", {}), "NON_FINITE_LOSS", 11)
    assert body["details"]["step"] == 3


def test_a_result_the_wire_cannot_carry_is_job_failed(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._registry, "ping", registry.JobSpec("ping", lambda body, ctx: {"x": {1, 2}}, inline=True))
    assert_error(peer.call(12, "ping", {}), "MALFORMED", 12)
    monkeypatch.undo()
    peer.assert_serving()


def test_state_handles_are_typed_and_missing_ones_not_found() -> None:
    state = registry.WorkerState()
    handle = state.put([1, 2], prefix="dataset")
    assert state.get(handle, list) == [1, 2]
    with pytest.raises(Exception) as wrong_type:
        state.get(handle, dict)
    assert getattr(wrong_type.value, "code") == "INVALID_BODY"
    state.free(handle)
    with pytest.raises(Exception) as missing:
        state.get(handle, list)
    assert getattr(missing.value, "code") == "NOT_FOUND"


# -- bad input: each gets its error, then the worker still serves ------------------------------


def head(id_: int, body: bytes = b"\x80", kind: str = "request", type_: str = "ping", v: int = PROTOCOL_VERSION) -> bytes:
    """Frame 0 built by hand: the msgpack array [header, body] from the body's bytes."""
    return b"\x92" + msgpack.packb({"v": v, "id": id_, "kind": kind, "type": type_}) + body


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([b""], id="empty-head"),
        pytest.param([b"\xc1"], id="head-not-msgpack"),
        pytest.param([msgpack.packb({"v": PROTOCOL_VERSION, "id": 1, "kind": "request", "type": "ping"})], id="head-not-an-array"),
        pytest.param([b"\x92" + msgpack.packb([1, 2]) + b"\x80"], id="header-not-a-map"),
        pytest.param([msgpack.packb([{"v": PROTOCOL_VERSION, "id": "x", "kind": "request", "type": "ping"}, {}])], id="id-not-int"),
        pytest.param([b"", msgpack.packb({"v": 1, "id": 3, "kind": "request", "type": "ping"}), b"\x80"], id="version-1-framing"),
    ],
)
def test_unreadable_headers_are_malformed_with_id_0(peer: Peer, frames: list[bytes]) -> None:
    peer.send_frames(frames)
    assert_error(peer.receive(), "MALFORMED", 0)
    peer.assert_serving()


def test_a_body_that_is_not_a_map_is_malformed_with_its_id(peer: Peer) -> None:
    peer.send_frames([head(20, msgpack.packb([1]))])
    assert_error(peer.receive(), "MALFORMED", 20)
    peer.assert_serving()


def test_a_wrong_protocol_version_is_unsupported(peer: Peer) -> None:
    peer.send_frames([head(21, v=PROTOCOL_VERSION + 1)])
    assert_error(peer.receive(), "UNSUPPORTED_VERSION", 21)
    peer.assert_serving()


def test_an_unknown_job_type_is_unknown_job(peer: Peer) -> None:
    body = assert_error(peer.call(22, "no.such.job", {}), "UNKNOWN_JOB", 22)
    assert body["details"] == {"type": "no.such.job"}
    peer.assert_serving()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"seconds": -1, "steps": 1}, "seconds"),
        ({"seconds": 1}, "steps"),
        ({"seconds": 1, "steps": 1, "extra": 0}, "extra"),
        ({"seconds": "1", "steps": 1}, "seconds"),
    ],
)
def test_a_body_violating_the_schema_is_invalid_body_naming_the_field(peer: Peer, body: dict[str, Any], path: str) -> None:
    reply = assert_error(peer.call(23, "sleep", body), "INVALID_BODY", 23)
    assert reply["details"]["path"] == path
    peer.assert_serving()


def test_a_tensor_frame_of_the_wrong_length_is_tensor_mismatch(peer: Peer) -> None:
    body = msgpack.packb({"x": {"$tensor": 0, "dtype": "float32", "shape": [4]}})
    peer.send_frames([head(24, body, type_="echo"), b"\0" * 15])
    assert_error(peer.receive(), "TENSOR_MISMATCH", 24)
    peer.assert_serving()


def test_a_tensor_frame_without_descriptor_is_tensor_mismatch(peer: Peer) -> None:
    peer.send_frames([head(25, type_="echo"), b"\0" * 4])
    assert_error(peer.receive(), "TENSOR_MISMATCH", 25)
    peer.assert_serving()


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param([0, 2**63], id="dim-beyond-int64-beside-0"),
        pytest.param([0, 2**64 - 1], id="dim-uint64-max-beside-0"),
        pytest.param([0, 2**40, 2**40], id="strides-overflow-beside-0"),
        pytest.param([2**32, 2**32], id="elements-beyond-int64"),
        pytest.param([2**61], id="bytes-beyond-int64"),
        pytest.param([0, 2**53], id="dim-beyond-2^53-beside-0"),
    ],
)
def test_a_shape_too_large_to_exist_is_tensor_mismatch_naming_the_tensor(peer: Peer, shape: list[int]) -> None:
    body = msgpack.packb({"nested": {"x": {"$tensor": 0, "dtype": "float32", "shape": shape}}})
    peer.send_frames([head(29, body, type_="echo"), b""])
    reply = assert_error(peer.receive(), "TENSOR_MISMATCH", 29)
    assert reply["details"]["path"] == "nested.x"
    assert reply["message"].startswith("nested.x: ")
    peer.assert_serving()


def test_a_negative_dimension_is_malformed_naming_the_tensor(peer: Peer) -> None:
    body = msgpack.packb({"x": {"$tensor": 0, "dtype": "float32", "shape": [0, -1]}})
    peer.send_frames([head(30, body, type_="echo"), b""])
    assert assert_error(peer.receive(), "MALFORMED", 30)["details"]["path"] == "x"
    peer.assert_serving()


def test_a_message_whose_handling_raises_is_answered_job_failed(peer: Peer, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(peer_: bytes, header: Header, body: dict[str, Any]) -> None:
        raise OverflowError("a bug in the server")

    monkeypatch.setattr(server, "_start_job", broken)
    reply = assert_error(peer.call(31, "ping", {}), "JOB_FAILED", 31)
    assert "a bug in the server" in reply["message"] and reply["details"] == {"exception": "OverflowError"}
    monkeypatch.undo()
    peer.assert_serving()


def test_an_oversized_message_is_refused_and_the_worker_keeps_serving(peer: Peer) -> None:
    big = torch.zeros(1 << 20, dtype=torch.uint8)  # the fixture's limit is 1 MiB in all frames
    body = assert_error(peer.call(26, "echo", {"x": big}), "MESSAGE_TOO_LARGE", 26)
    assert body["details"]["max_bytes"] == 1 << 20
    peer.assert_serving()


def test_a_client_may_not_send_results(peer: Peer) -> None:
    peer.send(27, "result", "ping", {})
    assert_error(peer.receive(), "MALFORMED", 27)
    peer.assert_serving()


def test_a_cancel_for_an_unknown_job_is_ignored(peer: Peer) -> None:
    peer.send(28, "cancel", "", {})
    peer.assert_serving()


# -- authentication ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_server() -> Iterator[Server]:
    with serving(ServerConfig(key=KEY)) as (server, _):
        yield server


def test_signed_messages_are_served_and_replies_signed(signed_server: Server) -> None:
    peer = Peer(signed_server.endpoint, key=KEY)
    try:
        peer.assert_serving()  # receive() verifies the reply's signature with KEY
    finally:
        peer.close()


@pytest.mark.parametrize("key", [None, b"some-other-key"], ids=["unsigned", "wrong-key"])
def test_unsigned_or_wrongly_signed_messages_fail_auth(signed_server: Server, key: bytes | None) -> None:
    intruder = Peer(signed_server.endpoint, key=key)
    honest = Peer(signed_server.endpoint, key=KEY)
    try:
        intruder.send(30, "request", "ping", {})
        assert intruder.socket.poll(TIMEOUT_MS)
        reply = decode_message(intruder.socket.recv_multipart(), key=KEY)  # the worker signs with its own key
        body = assert_error(reply, "AUTH_FAILED", 30)
        assert body["details"]["reason"] == ("unsigned" if key is None else "signature")
        honest.assert_serving()
    finally:
        intruder.close()
        honest.close()


def test_a_replayed_message_is_refused_on_its_connection_and_on_a_new_one(signed_server: Server) -> None:
    honest, replayer = Peer(signed_server.endpoint, key=KEY), Peer(signed_server.endpoint, key=KEY)
    try:
        frames = [bytes(f) for f in encode_message(Message(Header(PROTOCOL_VERSION, 31, "request", "echo"), {"n": 1}), key=KEY)]
        honest.send_frames(frames)
        assert honest.receive().body == {"n": 1}
        for peer in (honest, replayer):  # the same frames again: the echo does not run again
            peer.send_frames(frames)
            body = assert_error(peer.receive(), "AUTH_FAILED", 31)
            assert body["details"]["reason"] == "replay", body
        honest.assert_serving()
    finally:
        honest.close()
        replayer.close()


@pytest.mark.parametrize("skew_ms", [-61_000, 61_000], ids=["old", "from-the-future"])
def test_a_message_outside_the_window_is_refused(signed_server: Server, skew_ms: int) -> None:
    peer = Peer(signed_server.endpoint, key=KEY)
    try:
        fresh = new_auth_tag()
        peer.send_frames(encode_message(Message(Header(PROTOCOL_VERSION, 32, "request", "ping"), {}), key=KEY,
                                        auth=AuthTag(fresh.nonce, fresh.timestamp_ms + skew_ms)))
        body = assert_error(peer.receive(), "AUTH_FAILED", 32)
        assert body["details"]["reason"] == "window" and "outside the window of ±60 s" in body["message"]
        peer.assert_serving()
    finally:
        peer.close()


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:0", True),
        ("tcp://127.5.0.1:5555", True),
        ("tcp://localhost:5555", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/mcl.sock", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://10.0.0.2:5555", False),
        ("tcp://eth0:5555", False),
    ],
)
def test_is_loopback(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback


def test_a_non_loopback_bind_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="--auth"):
        Server(ServerConfig(bind="tcp://0.0.0.0:0"))


def test_a_non_loopback_bind_with_a_key_serves() -> None:
    with serving(ServerConfig(bind="tcp://0.0.0.0:0", key=KEY)) as (server, thread):
        port = server.endpoint.rsplit(":", 1)[1]
        peer = Peer(f"tcp://127.0.0.1:{port}", key=KEY)
        try:
            peer.assert_serving()
        finally:
            peer.close()
    assert not thread.is_alive()


def test_stop_ends_serve_forever_with_a_job_running() -> None:
    with serving(ServerConfig()) as (server, thread):
        peer = Peer(server.endpoint)
        peer.send(1, "request", "sleep", {"seconds": 30, "steps": 1})
        time.sleep(0.1)
        server.stop()
        thread.join(5)
        peer.close()
        assert not thread.is_alive()
