"""A CUDA out-of-memory error inside a job, through the real server: OUT_OF_MEMORY naming the job
and what lowers the memory a step needs, the cache emptied after it, and the worker and the
model free for the next job. torch.cuda.OutOfMemoryError exists in CPU builds too, so the error
is raised where a GPU would raise it: in the model's forward pass, mid-step."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mcl_worker.jobs.handles import ModelEntry
from mcl_worker.server import Server

from .conftest import Peer

N = 16


def handles(peer: Peer) -> dict[str, Any]:
    data = peer.call("dataset.open", {"uri": f"synthetic:trifeature?n={N}&size=16&seed=0"})
    model = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0,
                                       "options": {"widths": [8, 16]}})
    optimizer = peer.call("optimizer.create", {"model": model["model"], "name": "adamw", "lr": 1e-3})
    return {"model": model["model"], "optimizer": optimizer["optimizer"], "dataset": data["dataset"]}


def train_body(held: dict[str, Any]) -> dict[str, Any]:
    return {**held, "indices": torch.arange(N, dtype=torch.int32), "offsets": torch.tensor([0, 8, 16], dtype=torch.int32),
            "loss": {"name": "nt-xent", "temperature": 0.2}, "seed": 0}


def test_out_of_memory_in_a_step_names_the_job_and_the_fix(
    peer: Peer, server: Server, monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = handles(peer)
    model = server.state.get(held["model"], ModelEntry).model
    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))

    def out_of_memory(*args: Any, **kwargs: Any) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nmore text")

    monkeypatch.setattr(model, "forward", out_of_memory)
    error = peer.fail("train", train_body(held), "OUT_OF_MEMORY")
    assert error["details"] == {"job": "train"}
    assert error["message"].startswith("train: the device ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB)")
    for fix in ("batchSize", "compute.precision", "compute.gradCheckpointing"):
        assert fix in error["message"]
    assert emptied == [True]

    monkeypatch.delattr(model, "forward")  # the class's forward again: the model is free and trains
    result = peer.call("train", train_body(held))
    assert result["steps"] == 2
    assert emptied == [True]


def test_other_errors_stay_job_failed(peer: Peer, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    held = handles(peer)
    model = server.state.get(held["model"], ModelEntry).model

    def broken(*args: Any, **kwargs: Any) -> torch.Tensor:
        raise RuntimeError("a kernel failed")

    monkeypatch.setattr(model, "forward", broken)
    error = peer.fail("train", train_body(held), "JOB_FAILED")
    assert error["details"] == {"exception": "RuntimeError"}
