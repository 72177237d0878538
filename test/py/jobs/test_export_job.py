"""export: the integrated encoder as one TorchScript module gives what embed + integrate give on the
worker, for images of another size, every normalisation and crop; its safetensors form read by
load_encoder gives the same; a stage of our own format (small-cnn, the CIFAR-stem ResNet) comes back
as the stage's embedding; bad requests are refused naming the field, bad files naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from mcl_worker import load_encoder
from mcl_worker.checkpoint import CheckpointError
from mcl_worker.export import ExportError

from .conftest import Peer

SIZE = 16


def models(peer: Peer) -> list[str]:
    """Two stages of different architectures (their weights are random: nothing depends on training)."""
    small = peer.call("model.create", {"arch": "small-cnn", "image_size": SIZE, "seed": 1, "options": {"widths": [8, 16]}})
    resnet = peer.call("model.create", {"arch": "resnet18", "image_size": SIZE, "seed": 2})  # the CIFAR stem at 16 px
    return [small["model"], resnet["model"]]


def tensor(peer: Peer, handle: str) -> torch.Tensor:
    result: torch.Tensor = peer.call("handle.get", {"handle": handle})["tensor"]
    return result


def preprocess(crop_pct: float | None, interpolation: str) -> dict[str, Any]:
    fields = {"size": SIZE, "in_channels": 3, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3], "interpolation": interpolation}
    return fields if crop_pct is None else {**fields, "crop_pct": crop_pct}


def export_body(handles: list[str], path: Path, fmt: str, transform: dict[str, Any], weights: list[float], normalize: str) -> dict[str, Any]:
    return {
        "models": handles, "stages": [1, 2][: len(handles)], "kind": "integrated", "format": fmt, "path": str(path),
        "preprocess": transform, "weights": weights, "normalize": normalize, "metadata": {"config_hash": "sha256:0"},
    }


@pytest.mark.parametrize(
    ("normalize", "weights", "crop_pct", "interpolation"),
    [("concat-then-l2", [1.0, 1.0], None, "bilinear"), ("per-stage-l2", [0.5, 2.0], 0.875, "bicubic"), ("none", [1.0, 0.0], 1.0, "bilinear")],
)
def test_the_integrated_module_gives_embed_then_integrate(
    peer: Peer, tmp_path: Path, normalize: str, weights: list[float], crop_pct: float | None, interpolation: str
) -> None:
    handles = models(peer)
    images = torch.randint(0, 256, (5, 3, 21, 26), dtype=torch.uint8)  # another size: resized as run.embed does
    uploaded = peer.call("handle.put", {"tensor": images})["handle"]
    augment = {k: v for k, v in preprocess(crop_pct, interpolation).items() if k != "in_channels"}
    stages = [peer.call("embed", {"model": m, "images": uploaded, "augment": augment, "normalize": True, "batch_size": 2})["embedding"] for m in handles]
    integrated = tensor(peer, peer.call("integrate", {"embeddings": stages, "weights": weights, "normalize": normalize})["embedding"])

    path = tmp_path / "integrated.pt"
    result = peer.call("export", export_body(handles, path, "torchscript", preprocess(crop_pct, interpolation), weights, normalize))
    assert (result["format"], result["dim"], result["load"]) == ("torchscript", 16 + 512, "model = torch.jit.load(path)")
    assert [(e["stage"], e["architecture"], e["library"]) for e in result["encoders"]] == [(1, "small-cnn", "mcl"), (2, "resnet18", "mcl")]
    module = torch.jit.load(str(path))
    with torch.no_grad():
        torch.testing.assert_close(module(images), integrated, rtol=0, atol=1e-6)
        torch.testing.assert_close(module(images.float() / 255), integrated, rtol=0, atol=1e-5)  # float images in [0, 1]
    assert load_encoder(path).export_document["run"] == {"config_hash": "sha256:0"}

    weights_only = tmp_path / "integrated.safetensors"
    result = peer.call("export", export_body(handles, weights_only, "safetensors", preprocess(crop_pct, interpolation), weights, normalize))
    assert result["load"] == "model = mcl_worker.load_encoder(path)"
    with torch.no_grad():
        torch.testing.assert_close(load_encoder(weights_only)(images), integrated, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript"])
def test_a_stage_of_our_own_format_comes_back_as_its_embedding(peer: Peer, tmp_path: Path, fmt: str) -> None:
    _, resnet = models(peer)
    images = torch.randint(0, 256, (3, 3, SIZE, SIZE), dtype=torch.uint8)
    uploaded = peer.call("handle.put", {"tensor": images})["handle"]
    transform = preprocess(None, "bilinear")
    augment = {k: v for k, v in transform.items() if k != "in_channels"}
    expected = tensor(peer, peer.call("embed", {"model": resnet, "images": uploaded, "augment": augment, "normalize": True})["embedding"])
    path = tmp_path / f"stage.{fmt}"
    body = {**export_body([resnet], path, fmt, transform, [1.0], "none"), "kind": "stage", "stages": [3]}
    result = peer.call("export", body)
    (encoder,) = result["encoders"]
    assert (encoder["stage"], encoder["stem"], encoder["library"], encoder["absent_keys"]) == (3, "cifar", "mcl", [])
    assert "CIFAR stem" in encoder["no_peer"]
    loaded = load_encoder(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), expected, rtol=0, atol=1e-6)
    assert loaded.export_document["integration"] == {"stages": [3], "weights": [1.0], "normalize": "none"}
    if fmt == "safetensors":  # the backbone, our own names, unprefixed
        assert torch.allclose(F.normalize(loaded.encoders[0](loaded.transform(images)), dim=1), expected, atol=1e-6)


def test_bad_requests_are_refused_naming_the_field(peer: Peer, tmp_path: Path) -> None:
    small, resnet = models(peer)
    good = export_body([small, resnet], tmp_path / "x.pt", "torchscript", preprocess(None, "bilinear"), [1.0, 1.0], "none")
    peer.fail("export", {**good, "stages": [1]}, "INVALID_BODY", "stages")
    peer.fail("export", {**good, "weights": [1.0]}, "INVALID_BODY", "weights")
    peer.fail("export", {**good, "weights": [0.0, 0.0]}, "INVALID_BODY", "weights")
    peer.fail("export", {**good, "kind": "stage"}, "INVALID_BODY", "models")
    peer.fail("export", {**good, "preprocess": {**preprocess(None, "bilinear"), "size": 32}}, "INVALID_BODY", "models[0]")
    peer.fail("export", {**good, "preprocess": {**preprocess(None, "bilinear"), "std": [0.0]}}, "INVALID_BODY", "preprocess.std")
    peer.fail("export", {**good, "preprocess": {**preprocess(None, "bilinear"), "mean": [0.1, 0.2]}}, "INVALID_BODY", "preprocess.mean")
    peer.fail("export", {**good, "models": [small, "model:999"]}, "NOT_FOUND", "models[1]")
    peer.fail("export", {**good, "format": "onnx"}, "INVALID_BODY", "format")
    failed = peer.fail("export", {**good, "path": str(tmp_path)}, "JOB_FAILED")  # a directory: not writable as a file
    assert failed["details"]["reason"] == "CHECKPOINT_WRITE_FAILED" and str(tmp_path) in failed["message"]


def test_load_encoder_refuses_files_mcl_export_did_not_write(peer: Peer, tmp_path: Path) -> None:
    small, _ = models(peer)
    checkpoint = tmp_path / "stage-1-epoch-1.safetensors"
    peer.call("checkpoint.save", {"model": small, "path": str(checkpoint)})
    with pytest.raises(ExportError, match="an MCL training checkpoint without the 'mcl.export' metadata") as caught:
        load_encoder(checkpoint)
    assert caught.value.code == "NOT_AN_EXPORT"
    scripted = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(scripted))
    with pytest.raises(ExportError, match="TorchScript archive without mcl_export.json") as caught:
        load_encoder(scripted)
    with pytest.raises(CheckpointError, match="no export file at") as missing:
        load_encoder(tmp_path / "absent.safetensors")
    assert missing.value.code == "CHECKPOINT_NOT_FOUND"
