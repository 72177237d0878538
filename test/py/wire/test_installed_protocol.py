"""Where the worker reads the wire contract: a clone reads proto/protocol.json itself. A worker
installed from a wheel (as on a GPU box, with no repository beside it) reads the copy the wheel
carries: test/ts/package/wheel.test.ts builds, installs and checks it."""

from __future__ import annotations

from pathlib import Path

from mcl_worker.wire.protocol import protocol_path

ROOT = Path(__file__).resolve().parents[3]


def test_a_clone_reads_proto_itself() -> None:
    assert protocol_path() == ROOT / "proto" / "protocol.json"
