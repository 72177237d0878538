"""Data-parallel workers on the CPU (gloo), 2 ranks against 1 with the same global batch and seed.

Tolerance: after 3 SGD steps (lr 0.1, momentum 0.9) of a small-cnn with BatchNorm on a global
batch of 16, the 2-rank losses agree with the 1-rank ones to a relative 1e-4, and the final
embeddings to 1e-3 absolute (their entries reach about 3): the two runs differ only in the order
of float sums (gloo's all-reduce, the BatchNorm statistics summed over ranks), measured at about
1e-5 and 1e-4. The k-means assignments are equal.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import zmq

from mcl_worker import distributed
from mcl_worker.wire import PROTOCOL_VERSION, Header, Message, decode_message, encode_message

RANKS = Path(__file__).with_name("ranks.py")
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ranks(scenario: str, out: Path, world_size: int) -> list[subprocess.Popen[bytes]]:
    """Starts ranks.py as `world_size` ranks (one plain process when 1), as torchrun would."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if world_size == 1:
        return [subprocess.Popen([PYTHON, str(RANKS), scenario, str(out)], env=env)]
    env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(world_size)}
    return [
        subprocess.Popen([PYTHON, str(RANKS), scenario, str(out)], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
        for r in range(world_size)
    ]


def finish(procs: list[subprocess.Popen[bytes]], timeout: float = 120) -> list[int]:
    try:
        return [p.wait(timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_two_ranks_train_clip_as_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert finish(start_ranks("clip", one, 1) + start_ranks("clip", two, 2)) == [0, 0, 0]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert (a["world_size"], b["world_size"], len(b["losses"])) == (1, 2, 6)
    torch.testing.assert_close(torch.tensor(b["losses"]), torch.tensor(a["losses"]), rtol=1e-4, atol=0)
    assert a["losses"][0] != a["losses"][-1]  # the model did change


def test_two_ranks_train_embed_and_cluster_as_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    single, pair = start_ranks("flow", one, 1), start_ranks("flow", two, 2)  # both at once: half the wait
    assert finish(single + pair) == [0, 0, 0]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["samples"] == b["samples"] == 48
    assert len(b["losses"]) == 3
    torch.testing.assert_close(torch.tensor(b["losses"]), torch.tensor(a["losses"]), rtol=1e-4, atol=0)
    assert a["losses"][0] != a["losses"][-1]  # the model did change
    torch.testing.assert_close(torch.tensor(b["embedding"]), torch.tensor(a["embedding"]), rtol=0, atol=1e-3)
    assert b["assignments"] == a["assignments"] and len(set(a["assignments"])) == 4
    assert b["inertia"] == pytest.approx(a["inertia"], rel=1e-4)
    # Collective jobs number their handles evenly on every rank; rank 0's own (handle.put) oddly.
    data, model, optimizer, embedding, uploaded = b["handles"]
    assert all(int(h.split(":")[1]) % 2 == 0 for h in (data, model, optimizer, embedding))
    assert int(uploaded.split(":")[1]) % 2 == 1
    assert b["leftover"] == sorted(b["handles"])  # the spare model was freed


def test_a_rank_that_fails_alone_is_named_and_ends_the_group(tmp_path: Path) -> None:
    out = tmp_path / "die.json"
    assert finish(start_ranks("die", out, 2)) == [0, 1]
    result = json.loads(out.read_text())
    assert result["refused"] == {"code": "INVALID_BODY", "details": {"path": "augment.size"}}
    failed = result["failed"]
    assert failed["code"] == "JOB_FAILED"
    assert failed["details"] == {"reason": "RANK_LOST", "rank": 1, "ranks": [1]}, failed
    assert failed["message"].startswith(
        "rank 1 of 2 failed during embed (OSError: the disk of rank 1 is full) and left;"
    ), failed["message"]
    assert "resume" in failed["message"]
    assert result["after"]["details"]["reason"] == "RANK_LOST"  # later collective jobs fail at once


def test_alone_the_collectives_are_identities() -> None:
    t = torch.randn(5, 3, requires_grad=True)
    assert distributed.all_gather_with_grad(t, 5) is t and distributed.all_gather(t, 5) is t
    assert (distributed.world_size(), distributed.rank()) == (1, 0)
    assert distributed.shard(10) == slice(0, 10)
    assert not distributed.any_rank(False) and distributed.any_rank(True)


def test_shards_cut_a_batch_as_the_planner_does() -> None:
    # Rank r of W takes the r-th of W equal consecutive slices (ts/control/batch-planner.ts's layout).
    assert [distributed.shard(12, r, 3) for r in range(3)] == [slice(0, 4), slice(4, 8), slice(8, 12)]
    assert [distributed.shard(5, r, 2) for r in range(2)] == [slice(0, 2), slice(2, 5)]


# -- the real entry point: torchrun -m mcl_worker, driven over ZeroMQ ------------------------------


def send(sock: zmq.Socket[bytes], id_: int, type_: str, body: dict[str, Any]) -> None:
    sock.send_multipart(encode_message(Message(Header(v=PROTOCOL_VERSION, id=id_, kind="request", type=type_), body)))


def answer(sock: zmq.Socket[bytes]) -> Message:
    """The next result or error, past progress messages."""
    while True:
        assert sock.poll(120_000), "no answer within 120 s"
        msg = decode_message(sock.recv_multipart())
        if msg.header.kind != "progress":
            return msg


def request(sock: zmq.Socket[bytes], id_: int, type_: str, body: dict[str, Any]) -> Message:
    send(sock, id_, type_, body)
    msg = answer(sock)
    assert msg.header.kind == "result", msg.body
    return msg


def train_body(held: dict[str, str], steps: int) -> dict[str, Any]:
    return {**held, "seed": 0, "loss": {"name": "nt-xent", "temperature": 0.2},
            "indices": torch.arange(32, dtype=torch.int32).repeat(steps // 2),
            "offsets": torch.arange(0, 16 * steps + 1, 16, dtype=torch.int32)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds rank 1 through /proc")
def test_torchrun_serves_one_endpoint_for_two_ranks(tmp_path: Path) -> None:
    """`torchrun -m mcl_worker` answers hello with world_size 2 and trains; when rank 1 is
    killed mid-train, rank 0 answers that job RANK_LOST naming rank 1 before torchrun stops it."""
    ready = tmp_path / "ready.json"
    torchrun = Path(PYTHON).with_name("torchrun")
    proc = subprocess.Popen(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "mcl_worker", "--ready-file", str(ready)],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, start_new_session=True,
    )
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "torchrun did not start the worker"
            time.sleep(0.1)
        sock.connect(json.loads(ready.read_text())["endpoint"])
        hello = request(sock, 1, "hello", {"protocols": [PROTOCOL_VERSION], "client": "test"}).body
        assert hello["world_size"] == 2
        data = request(sock, 2, "dataset.open", {"uri": "synthetic:trifeature?n=32&size=16&seed=3"}).body["dataset"]
        model = request(sock, 3, "model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0,
                                                  "options": {"widths": [8]}}).body["model"]
        optimizer = request(sock, 4, "optimizer.create", {"model": model, "name": "sgd", "lr": 0.1}).body["optimizer"]
        held = {"model": model, "optimizer": optimizer, "dataset": data}
        trained = request(sock, 5, "train", train_body(held, 2)).body
        assert (trained["steps"], trained["samples"]) == (2, 32)

        send(sock, 6, "train", train_body(held, 10_000))
        assert sock.poll(120_000)  # the first progress: both ranks are training
        rank0 = json.loads(ready.read_text())["pid"]
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            (rank1,) = [int(pid) for pid in f.read().split() if int(pid) != rank0]
        os.kill(rank1, signal.SIGKILL)
        lost = answer(sock)
        assert lost.header.kind == "error" and lost.body["code"] == "JOB_FAILED", lost.body
        assert lost.body["details"]["reason"] == "RANK_LOST" and lost.body["details"]["rank"] == 1, lost.body
        assert lost.body["message"].startswith("rank 1 of 2 died during train")
        assert proc.wait(60) != 0  # torchrun ends the group
    finally:
        sock.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
