"""Plugins over the wire: the jobs take a py: reference and JSON arguments, and the worker imports
only what its own MCL_WORKER_PLUGINS allows."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from jobs.conftest import Peer
from mcl_worker.server import ServerConfig
from serving import serving

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugins"


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Peer]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv("MCL_WORKER_PLUGINS", "my_plugins.encoders,mcl_worker.losses")
    with serving(ServerConfig(jobs=1)) as (server, _):
        peer = Peer(server.endpoint)
        yield peer
        peer.close()
    for name in [m for m in sys.modules if m.startswith("my_plugins")]:
        del sys.modules[name]


def test_jobs_build_allowed_plugins_with_their_arguments(peer: Peer) -> None:
    data = peer.call("dataset.open", {"uri": "synthetic:trifeature?n=32&size=16"})
    created = peer.call(
        "model.create", {"arch": "py:my_plugins.encoders:depthwise_cnn", "image_size": 16, "seed": 0, "args": {"widths": [8, 12]}}
    )
    assert created["arch"] == "py:my_plugins.encoders:depthwise_cnn" and created["feature_dim"] == 12
    optimizer = peer.call("optimizer.create", {"model": created["model"], "name": "adam", "lr": 1e-3})["optimizer"]
    plan = {"indices": torch.arange(16, dtype=torch.int32), "offsets": torch.tensor([0, 8, 16], dtype=torch.int32)}
    result = peer.call("train", {
        "model": created["model"], "optimizer": optimizer, "dataset": data["dataset"], **plan, "seed": 0,
        "loss": {"name": "py:mcl_worker.losses:dcl", "temperature": 0.5},
    })
    assert result["steps"] == 2 and torch.isfinite(torch.tensor(result["mean_loss"]))


def test_a_module_the_worker_does_not_allow_is_refused_naming_the_field(peer: Peer) -> None:
    error = peer.fail("dataset.open", {"uri": "py:my_plugins.data:CsvImages", "args": {"csv_path": "x.csv"}}, "INVALID_BODY", "uri")
    assert error["details"]["check"] == "allowed" and "my_plugins.data" in error["message"]
    error = peer.fail("model.create", {"arch": "py:subprocess:run", "image_size": 16, "seed": 0, "args": {"args": ["true"]}}, "INVALID_BODY", "arch")
    assert error["details"]["check"] == "stdlib"
    peer.fail("dataset.open", {"uri": "synthetic:trifeature?n=8", "args": {"x": 1}}, "INVALID_BODY", "uri")
    peer.fail("model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0, "args": {"widths": [8]}}, "INVALID_BODY", "args")
    peer.fail("model.create", {"arch": "py:my_plugins.encoders:depthwise_cnn", "image_size": 16, "seed": 0, "options": {"widths": [8]}}, "INVALID_BODY", "options")
