"""`python -m mcl_worker` as a process: the listening line, refusing an unauthenticated public
bind, and stopping on SIGTERM or, with --exit-with-parent, on stdin end of file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from mcl_worker.wire import PROTOCOL_VERSION, Header, Message, decode_message, encode_message


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mcl_worker", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def listening(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else b""
    event: dict[str, object] = json.loads(line)
    return event


def ping(endpoint: str, key: bytes | None = None) -> Message:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    try:
        socket.connect(endpoint)
        socket.send_multipart(encode_message(Message(Header(PROTOCOL_VERSION, 1, "request", "ping"), {}), key=key))
        assert socket.poll(10_000), "no answer within 10 s"
        return decode_message(socket.recv_multipart(), key=key)
    finally:
        socket.close()


def test_announces_its_endpoint_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = spawn("--ready-file", str(ready))
    try:
        event = listening(proc)
        assert event["event"] == "listening" and event["pid"] == proc.pid
        endpoint = str(event["endpoint"])
        assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith(":0")
        assert json.loads(ready.read_text()) == event
        assert ping(endpoint).header.kind == "result"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_refuses_a_public_bind_without_auth() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mcl_worker", "--bind", "tcp://0.0.0.0:0"], capture_output=True, timeout=60,
    )
    assert proc.returncode == 2
    assert b"--auth" in proc.stderr and proc.stdout == b""


@pytest.mark.parametrize(
    ("content", "says"),
    [(b" \n", "is empty; write the shared key into it"), (None, "cannot read the key file")],
    ids=["empty", "missing"],
)
def test_a_bad_key_file_is_one_clear_line_and_exit_code_2(tmp_path: Path, content: bytes | None, says: str) -> None:
    key_file = tmp_path / "key"
    if content is not None:
        key_file.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "mcl_worker", "--auth", str(key_file)], capture_output=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], proc.stderr
    assert lines[0].startswith("mcl-worker: --auth: ") and str(key_file) in lines[0] and says in lines[0]
    assert proc.stdout == b""


def test_public_bind_with_auth_exits_when_its_parent_closes_stdin(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"  shared-secret\n")
    proc = spawn("--bind", "tcp://0.0.0.0:0", "--auth", str(key_file), "--exit-with-parent")
    try:
        port = str(listening(proc)["endpoint"]).rsplit(":", 1)[1]
        assert ping(f"tcp://127.0.0.1:{port}", key=b"shared-secret").header.kind == "result"
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        proc.kill()
