"""handle.put / handle.get: tensors uploaded to the worker and fetched back, through a real server."""

from __future__ import annotations

import pytest
import torch

from mcl_worker.jobs import lookup
from mcl_worker.server import Server

from .conftest import Peer


@pytest.mark.parametrize(
    "tensor",
    [
        torch.arange(12, dtype=torch.float32).reshape(3, 4),
        torch.arange(6, dtype=torch.int64).reshape(2, 3) - 3,
        torch.tensor(1.5, dtype=torch.bfloat16),
        torch.zeros((2, 0), dtype=torch.uint8),
        torch.tensor([True, False, True]),
    ],
    ids=["float32", "int64", "bfloat16-0d", "empty", "bool"],
)
def test_put_then_get_round_trips(peer: Peer, server: Server, tensor: torch.Tensor) -> None:
    put = peer.call("handle.put", {"tensor": tensor})
    assert put["handle"].startswith("tensor:")
    assert (put["dtype"], put["shape"]) == (str(tensor.dtype).removeprefix("torch."), list(tensor.shape))
    stored = server.state.get(put["handle"], torch.Tensor)
    assert torch.equal(stored, tensor)
    back = peer.call("handle.get", {"handle": put["handle"]})["tensor"]
    assert back.dtype == tensor.dtype and torch.equal(back, tensor)
    assert peer.call("handle.free", {"handle": put["handle"]}) == {}
    peer.fail("handle.get", {"handle": put["handle"]}, "NOT_FOUND", "handle")


def test_put_refuses_a_body_without_a_tensor(peer: Peer) -> None:
    peer.fail("handle.put", {}, "INVALID_BODY", "tensor")
    peer.fail("handle.put", {"tensor": [1, 2]}, "INVALID_BODY", "tensor")
    peer.fail("handle.put", {"tensor": torch.zeros(1), "extra": 1}, "INVALID_BODY", "extra")


def test_handle_jobs_run_on_the_io_thread() -> None:
    # Dictionary operations: a hop to a pool thread would cost more than the job.
    for job_type in ("handle.get", "handle.put", "handle.free", "handle.list"):
        spec = lookup(job_type)
        assert spec is not None and spec.inline, job_type
