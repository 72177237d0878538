"""An in-process worker server and a raw pyzmq DEALER that calls its jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from mcl_worker.server import Server, ServerConfig
from mcl_worker.wire import PROTOCOL_VERSION, Header, Message, decode_message, encode_message
from serving import serving

TIMEOUT_MS = 60_000


class Peer:
    def __init__(self, endpoint: str) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(endpoint)
        self._next_id = 1

    def send(self, type_: str, body: dict[str, Any], kind: str = "request", id_: int | None = None) -> int:
        if id_ is None:
            id_, self._next_id = self._next_id, self._next_id + 1
        self.socket.send_multipart(encode_message(Message(Header(v=PROTOCOL_VERSION, id=id_, kind=kind, type=type_), body)))
        return id_

    def receive(self) -> Message:
        if not self.socket.poll(TIMEOUT_MS):
            raise AssertionError("the worker did not answer within 60 s")
        return decode_message(self.socket.recv_multipart())

    def run(self, type_: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], Message]:
        """Sends a request; returns its progress bodies and its final message (result or error)."""
        id_ = self.send(type_, body)
        progress: list[dict[str, Any]] = []
        while True:
            msg = self.receive()
            assert msg.header.id == id_, f"a message for job {msg.header.id} while waiting for {id_}"
            if msg.header.kind != "progress":
                return progress, msg
            progress.append(msg.body)

    def call(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """The result body of a job that must succeed."""
        _, msg = self.run(type_, body)
        assert msg.header.kind == "result", f"{type_} failed: {msg.body}"
        return msg.body

    def fail(self, type_: str, body: dict[str, Any], code: str, path: str | None = None) -> dict[str, Any]:
        """The error body of a job that must fail with `code` (and details.path `path`)."""
        _, msg = self.run(type_, body)
        assert msg.header.kind == "error", f"{type_} succeeded: {msg.body}"
        assert msg.body["code"] == code, msg.body
        if path is not None:
            assert msg.body["details"]["path"] == path, msg.body
            assert msg.body["message"].startswith(f"{path}: ") or path in msg.body["message"], msg.body
        return msg.body

    def close(self) -> None:
        self.socket.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serving(ServerConfig(jobs=2)) as (server, _):
        yield server


@pytest.fixture
def peer(server: Server) -> Iterator[Peer]:
    peer = Peer(server.endpoint)
    yield peer
    peer.close()
