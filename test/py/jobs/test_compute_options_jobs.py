"""The compute options of model.create, clip.create, train and clip.train through the real server:
device, precision, compile, grad_checkpointing and channels_last, and their refusals by name."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from .conftest import Peer
from .test_compute_jobs import DATA, train_body

SMALL = {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0, "options": {"widths": [8, 16]}}


def held_with(peer: Peer, **create: Any) -> dict[str, Any]:
    data = peer.call("dataset.open", {"uri": DATA})
    model = peer.call("model.create", {**SMALL, **create})
    optimizer = peer.call("optimizer.create", {"model": model["model"], "name": "adamw", "lr": 1e-3})
    return {**data, **model, **optimizer}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a worker without CUDA")
def test_a_cuda_device_on_a_worker_without_one_is_refused_by_name(peer: Peer) -> None:
    for device in ("cuda", "cuda:1"):
        error = peer.fail("model.create", {**SMALL, "device": device}, "INVALID_BODY", "device")
        assert error["message"] == (
            f"device: {device} was asked for, but this worker has no CUDA device (torch {torch.__version__}); use auto or cpu"
        )
    data = peer.call("dataset.open", {"uri": DATA})
    clip = {"config": "clip-tiny", "seed": 0, "tokenizer": {"kind": "words", "dataset": data["dataset"]}}
    peer.fail("clip.create", {**clip, "device": "cuda"}, "INVALID_BODY", "device")


def test_a_device_of_another_form_is_refused_and_cpu_is_taken(peer: Peer) -> None:
    error = peer.fail("model.create", {**SMALL, "device": "gpu0"}, "INVALID_BODY", "device")
    assert "auto, cpu, cuda or cuda:N" in error["message"]
    assert peer.call("model.create", {**SMALL, "device": "cpu"})["device"] == "cpu"


def test_options_the_encoder_cannot_take_are_refused_by_name(peer: Peer) -> None:
    peer.fail("model.create", {**SMALL, "grad_checkpointing": True}, "INVALID_BODY", "grad_checkpointing")
    vit = {"arch": "vit-tiny", "image_size": 16, "seed": 0, "options": {"patch_size": 8}}
    peer.fail("model.create", {**vit, "channels_last": True}, "INVALID_BODY", "channels_last")
    assert peer.call("model.create", {**vit, "grad_checkpointing": True})["arch"] == "vit-tiny"


def test_channels_last_trains(peer: Peer) -> None:
    held = held_with(peer, channels_last=True)
    result = peer.call("train", train_body(held, steps=2))
    assert result["steps"] == 2 and math.isfinite(result["mean_loss"])


def test_a_compiled_encoder_keeps_its_parameter_names(peer: Peer, tmp_path: Path) -> None:
    # Compiling takes about a minute on two CPU cores, at the first call: this checks the wiring only.
    names = []
    for compiled in (False, True):
        model = peer.call("model.create", {**SMALL, "compile": compiled})["model"]
        path = peer.call("checkpoint.save", {"model": model, "path": str(tmp_path / str(compiled))})["path"]
        with safe_open(path, "pt") as f:
            names.append(sorted(f.keys()))
    assert names[0] == names[1]


def test_train_runs_bf16_on_the_cpu_and_refuses_fp16_there(peer: Peer) -> None:
    held = held_with(peer)
    result = peer.call("train", train_body(held, steps=2, precision="bf16"))
    assert result["steps"] == 2 and math.isfinite(result["mean_loss"])
    if not torch.cuda.is_available():
        error = peer.fail("train", train_body(held, precision="fp16"), "INVALID_BODY", "precision")
        assert "fp16 needs a CUDA device" in error["message"]
    peer.fail("train", train_body(held, precision="fp8"), "INVALID_BODY", "precision")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a worker without CUDA")
def test_clip_train_refuses_fp16_on_the_cpu(peer: Peer) -> None:
    data = peer.call("dataset.open", {"uri": DATA})
    model = peer.call("clip.create", {"config": "clip-tiny", "seed": 0, "grad_checkpointing": True,
                                      "tokenizer": {"kind": "words", "dataset": data["dataset"]}})
    optimizer = peer.call("optimizer.create", {"model": model["model"], "name": "adamw", "lr": 1e-3})
    body = {"model": model["model"], "optimizer": optimizer["optimizer"], "dataset": data["dataset"],
            "indices": torch.arange(8, dtype=torch.int32), "offsets": torch.tensor([0, 8], dtype=torch.int32),
            "loss": {"name": "clip"}, "seed": 0, "augment": {"size": 32}}
    peer.fail("clip.train", {**body, "precision": "fp16"}, "INVALID_BODY", "precision")
    result = peer.call("clip.train", {**body, "precision": "bf16"})
    assert result["steps"] == 1 and math.isfinite(result["last_loss"])
