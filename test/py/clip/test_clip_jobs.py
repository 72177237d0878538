"""The CLIP jobs through the real server: a tiny CLIP trained on trifeature captions, the MCL
pieces around it (image embeddings for k-means, integration of stages, checkpoints), the
evaluations per category, the logit scale's clamp, and bad input."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mcl_worker.jobs.clip_jobs import ClipEntry, _using
from mcl_worker.models.clip import create_clip
from mcl_worker.wire import WireError

from .conftest import Peer
from .test_evaluation import write_mmvp

DATA = "synthetic:trifeature?n=384&size=32&seed=5"
BATCH, STEPS = 64, 16


def plan(n: int, batch: int, steps: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    indices = torch.cat([torch.randperm(n, generator=g)[:batch] for _ in range(steps)]).to(torch.int32)
    return {"indices": indices, "offsets": torch.arange(0, batch * steps + 1, batch, dtype=torch.int32)}


def create(peer: Peer, dataset: str, **extra: Any) -> dict[str, Any]:
    return peer.call("clip.create", {"config": "clip-tiny", "seed": 0, "tokenizer": {"kind": "words", "dataset": dataset}, **extra})


@pytest.fixture(scope="module")
def trained(server: Any) -> dict[str, Any]:
    """Stage 0 (the initial model) and a copy trained STEPS steps, on one worker."""
    peer = Peer(server.endpoint)
    try:
        data = peer.call("dataset.open", {"uri": DATA})
        initial = create(peer, data["dataset"])
        model = create(peer, data["dataset"])
        optimizer = peer.call("optimizer.create", {"model": model["model"], "name": "adamw", "lr": 2e-3})
        progress, msg = peer.run("clip.train", {
            "model": model["model"], "optimizer": optimizer["optimizer"], "dataset": data["dataset"],
            **plan(data["size"], BATCH, STEPS, seed=1), "loss": {"name": "clip"}, "seed": 0,
        })
        assert msg.header.kind == "result", msg.body
        return {"data": data, "initial": initial, "model": model, "optimizer": optimizer, "progress": progress, "result": msg.body}
    finally:
        peer.close()


def test_a_tiny_clip_learns_the_captions(trained: dict[str, Any]) -> None:
    model, result, progress = trained["model"], trained["result"], trained["progress"]
    assert (model["config"], model["tokenizer"], model["image_size"], model["embed_dim"]) == ("clip-tiny", "words", 32, 64)
    assert model["activation"] == "quick_gelu"
    assert model["trainable_parameters"] == model["parameters"] > 0
    assert result["steps"] == STEPS and result["samples"] == BATCH * STEPS and result["truncated_captions"] == 0
    losses = [p["loss"] for p in progress]
    assert [p["step"] for p in progress] == list(range(1, STEPS + 1))
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.3, losses
    assert result["logit_scale"] > 0


def test_zero_shot_and_mmvp_score_every_category_for_stages_and_integration(peer: Peer, trained: dict[str, Any]) -> None:
    dataset = trained["data"]["dataset"]
    stages = [trained["initial"]["model"], trained["model"]["model"]]
    for models in ([stages[1]], stages):
        zero = peer.call("clip.zero_shot", {"models": models, "dataset": dataset})
        assert [a["name"] for a in zero["attributes"]] == ["shape", "color", "texture", "background"]
        assert all(0 <= a["accuracy"] <= 1 and a["n"] == 384 for a in zero["attributes"])
        assert [a["prompts"] for a in zero["attributes"]] == ["captions"] * 3 + ["template"]
        pairs = peer.call("clip.mmvp", {"models": models, "dataset": dataset, "seed": 0, "pairs_per_category": 20})
        assert [c["name"] for c in pairs["categories"]] == ["shape", "color", "texture"]
        assert all(0 <= c["score"] <= 1 and 1 <= c["pairs"] <= 20 for c in pairs["categories"])
        assert pairs["average"] == pytest.approx(np.mean([c["score"] for c in pairs["categories"]]))
    trained_zero = peer.call("clip.zero_shot", {"models": stages[1:], "dataset": dataset, "attributes": ["color"]})
    initial_zero = peer.call("clip.zero_shot", {"models": stages[:1], "dataset": dataset, "attributes": ["color"]})
    # Colour, the easy feature, is learnt within a few steps; the initial model is at chance (1/8).
    assert trained_zero["attributes"][0]["accuracy"] > initial_zero["attributes"][0]["accuracy"] + 0.1


def test_mmvp_vlm_is_scored_per_category_from_a_local_folder(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    rows = [(1, "Color and Appearance", "a red circle"), (2, "Color and Appearance", "a blue circle"),
            (3, "Quantity and Count", "a red ring"), (4, "Quantity and Count", "a red star"),
            (5, "Quantity and Count", "a red cross"), (6, "Quantity and Count", "a green ring")]
    stages = [trained["initial"]["model"], trained["model"]["model"]]
    out = peer.call("clip.mmvp_vlm", {"models": stages, "weights": [1, 2], "path": str(write_mmvp(tmp_path, rows)), "prefix": ""})
    assert [(c["name"], c["pairs"]) for c in out["categories"]] == [("Color and Appearance", 1), ("Quantity and Count", 2)]
    assert all(c["score"] in (0.0, 0.5, 1.0) for c in out["categories"]) and out["skipped"] == []
    peer.fail("clip.mmvp_vlm", {"models": stages, "path": str(tmp_path / "nowhere")}, "INVALID_BODY", "path")


def test_image_and_text_embeddings_feed_the_generic_jobs(peer: Peer, trained: dict[str, Any]) -> None:
    model, dataset = trained["model"]["model"], trained["data"]["dataset"]
    images = peer.call("embed", {"model": model, "dataset": dataset, "normalize": True})
    texts = peer.call("clip.embed_text", {"model": model, "dataset": dataset, "normalize": True})
    assert images["shape"] == texts["shape"] == [384, 64] and texts["truncated_captions"] == 0
    clusters = peer.call("kmeans", {"embedding": images["embedding"], "k": 4, "seed": 0})
    assert clusters["assignments"].shape == (384,)
    z_image = peer.call("handle.get", {"handle": images["embedding"]})["tensor"]
    z_text = peer.call("handle.get", {"handle": texts["embedding"]})["tensor"]
    # Trained: an image is closer to its own caption than to the average caption.
    assert float((z_image * z_text).sum(1).mean()) > float((z_image @ z_text.T).mean()) + 0.05


def test_a_clip_checkpoint_round_trips_through_the_checkpoint_jobs(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    dataset = trained["data"]["dataset"]
    saved = peer.call("checkpoint.save", {"model": trained["model"]["model"], "path": str(tmp_path / "clip.safetensors")})
    fresh = create(peer, dataset, seed=9)
    peer.call("checkpoint.load", {"model": fresh["model"], "path": saved["path"]})
    embeddings = [
        peer.call("handle.get", {"handle": peer.call("clip.embed_text", {"model": m, "dataset": dataset})["embedding"]})["tensor"]
        for m in (trained["model"]["model"], fresh["model"])
    ]
    torch.testing.assert_close(embeddings[0], embeddings[1])


def test_stages_restart_from_the_initial_weights_with_frozen_towers(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    dataset = trained["data"]["dataset"]
    weights = tmp_path / "stage0.pt"
    torch.save({k: v for k, v in _state(peer, trained["initial"]["model"], tmp_path).items()}, weights)
    # open_clip's --lock-image --lock-image-unlocked-groups 2 --lock-text: the last block, ln_post and the projection train.
    stage = create(peer, dataset, seed=4, checkpoint=str(weights), lock_image=True, lock_image_unlocked_groups=2, lock_text=True)
    assert stage["checkpoint_loaded"] > 0 and 0 < stage["trainable_parameters"] < stage["parameters"]
    optimizer = peer.call("optimizer.create", {"model": stage["model"], "name": "adamw", "lr": 1e-3})
    result = peer.call("clip.train", {
        "model": stage["model"], "optimizer": optimizer["optimizer"], "dataset": dataset, **plan(384, 32, 3, seed=2),
        "loss": {"name": "xsample", "target_temperature": 0.1}, "seed": 1,
    })
    assert result["steps"] == 3 and np.isfinite(result["mean_loss"])
    texts = [
        peer.call("handle.get", {"handle": peer.call("clip.embed_text", {"model": m, "dataset": dataset})["embedding"]})["tensor"]
        for m in (trained["initial"]["model"], stage["model"])
    ]
    torch.testing.assert_close(texts[0], texts[1])  # the locked text tower did not move
    labelled = peer.call("clip.train", {
        "model": stage["model"], "optimizer": optimizer["optimizer"], "dataset": dataset, **plan(384, 32, 2, seed=3),
        "loss": {"name": "xsample", "graph": "labels", "attribute": "shape", "temperature": 0.07}, "seed": 1, "first_step": 3,
    })
    assert labelled["steps"] == 2


def _state(peer: Peer, model: str, tmp_path: Path) -> dict[str, torch.Tensor]:
    """A model's weights as a plain state dict, read back from checkpoint.save's file."""
    from safetensors.torch import load_file

    path = peer.call("checkpoint.save", {"model": model, "path": str(tmp_path / "initial.safetensors")})["path"]
    return {k[len("model."):]: v for k, v in load_file(path).items() if k.startswith("model.")}


# --- bad input -------------------------------------------------------------------------------------


def test_a_checkpoint_of_another_architecture_names_its_keys(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    dataset = trained["data"]["dataset"]
    weights = tmp_path / "other.pt"
    torch.save(_state(peer, trained["initial"]["model"], tmp_path), weights)
    error = peer.fail("clip.create", {"config": "clip-tiny", "seed": 0, "context_length": 8, "checkpoint": str(weights),
                                      "tokenizer": {"kind": "words", "dataset": dataset}}, "INVALID_BODY", "checkpoint")
    assert "positional_embedding: expected (8, 64), found (16, 64)" in error["message"]
    assert error["details"]["reason"] == "CHECKPOINT_MISMATCH"
    error = peer.fail("clip.create", {"config": "clip-tiny", "seed": 0, "image_size": 64, "checkpoint": str(weights),
                                      "tokenizer": {"kind": "words", "dataset": dataset}}, "INVALID_BODY", "image_size")
    assert "made for 32x32 images" in error["message"] and "clip.imageSize" in error["message"]


def test_a_clip_checkpoint_records_its_activation(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    dataset = trained["data"]["dataset"]
    saved = peer.call("checkpoint.save", {"model": trained["initial"]["model"], "path": str(tmp_path / "stage0.safetensors")})
    again = create(peer, dataset, checkpoint=saved["path"])
    assert again["checkpoint_loaded"] == len(_state(peer, trained["initial"]["model"], tmp_path))
    error = peer.fail("clip.create", {"config": "clip-tiny", "seed": 0, "activation": "gelu", "checkpoint": saved["path"],
                                      "tokenizer": {"kind": "words", "dataset": dataset}}, "INVALID_BODY", "activation")
    assert "trained with quick_gelu" in error["message"] and "mcl.clip" in error["message"]
    # A unimodal encoder's checkpoint is said to be one.
    cnn = peer.call("model.create", {"arch": "small-cnn", "image_size": 32, "seed": 0})["model"]
    other = peer.call("checkpoint.save", {"model": cnn, "path": str(tmp_path / "cnn.safetensors")})["path"]
    error = peer.fail("clip.create", {"config": "clip-tiny", "seed": 0, "checkpoint": other,
                                      "tokenizer": {"kind": "words", "dataset": dataset}}, "INVALID_BODY", "checkpoint")
    assert "not a CLIP checkpoint: it looks like an MCL checkpoint of a unimodal encoder" in error["message"]


def test_the_logit_scale_is_used_as_it_is_then_clamped_after_the_step(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    dataset = trained["data"]["dataset"]
    state = _state(peer, trained["initial"]["model"], tmp_path)
    state["logit_scale"] = torch.tensor(math.log(110.0))  # above open_clip's cap of 100
    torch.save(state, tmp_path / "hot.pt")
    model = create(peer, dataset, checkpoint=str(tmp_path / "hot.pt"))["model"]
    optimizer = peer.call("optimizer.create", {"model": model, "name": "sgd", "lr": 0.0})["optimizer"]
    body = {"model": model, "optimizer": optimizer, "dataset": dataset, **plan(384, 8, 1, seed=5), "loss": {"name": "clip"}, "seed": 0}
    first = peer.call("clip.train", body)
    assert first["logit_scale"] == pytest.approx(110.0, rel=1e-6)  # the step's loss used it unclamped
    assert float(_state(peer, model, tmp_path)["logit_scale"]) == pytest.approx(math.log(100.0))
    assert peer.call("clip.train", {**body, "first_step": 1})["logit_scale"] == pytest.approx(100.0, rel=1e-6)
    fixed = peer.call("clip.train", {**body, "loss": {"name": "clip", "temperature": 0.005}, "first_step": 2})
    assert fixed["logit_scale"] == pytest.approx(200.0)  # a fixed temperature is used as it is


def test_lock_and_activation_options_are_checked(peer: Peer, trained: dict[str, Any]) -> None:
    base = {"config": "clip-tiny", "seed": 0, "tokenizer": {"kind": "words", "dataset": trained["data"]["dataset"]}}
    error = peer.fail("clip.create", {**base, "lock_image_unlocked_groups": 1}, "INVALID_BODY", "lock_image_unlocked_groups")
    assert "lock_image (clip.lockImage)" in error["message"]
    peer.fail("clip.create", {**base, "activation": "relu"}, "INVALID_BODY", "activation")
    exact = peer.call("clip.create", {**base, "activation": "gelu", "lock_image": True})
    assert exact["activation"] == "gelu" and exact["trainable_parameters"] < exact["parameters"]


def test_a_missing_vocabulary_file_is_named(peer: Peer, tmp_path: Path) -> None:
    missing = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    error = peer.fail("clip.create", {"config": "clip-tiny", "seed": 0, "tokenizer": {"kind": "bpe", "vocab": str(missing)}},
                      "INVALID_BODY", "tokenizer.vocab")
    assert str(missing) in error["message"]


def test_captions_longer_than_the_context_are_cut_and_reported(peer: Peer, trained: dict[str, Any]) -> None:
    dataset = trained["data"]["dataset"]
    short = create(peer, dataset, context_length=4)
    optimizer = peer.call("optimizer.create", {"model": short["model"], "name": "adamw", "lr": 1e-3})
    result = peer.call("clip.train", {"model": short["model"], "optimizer": optimizer["optimizer"], "dataset": dataset,
                                      **plan(384, 16, 2, seed=4), "loss": {"name": "clip"}, "seed": 0})
    assert result["truncated_captions"] == 32  # every caption has 4 words + start + end > 4
    assert peer.call("clip.embed_text", {"model": short["model"], "dataset": dataset})["truncated_captions"] == 384


def test_a_dataset_without_captions_is_refused(peer: Peer, trained: dict[str, Any], tmp_path: Path) -> None:
    images = np.zeros((8, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "plain.npz", images=images, attr_kind=np.arange(8) % 2)
    plain = peer.call("dataset.open", {"uri": f"npz:{tmp_path / 'plain.npz'}"})["dataset"]
    error = peer.fail("clip.create", {"config": "clip-tiny", "seed": 0, "tokenizer": {"kind": "words", "dataset": plain}},
                      "INVALID_BODY", "tokenizer.dataset")
    assert "has no captions" in error["message"]
    model = trained["model"]["model"]
    optimizer = trained["optimizer"]["optimizer"]
    error = peer.fail("clip.train", {"model": model, "optimizer": optimizer, "dataset": plain, **plan(8, 4, 1, seed=0),
                                     "loss": {"name": "clip"}, "seed": 0}, "INVALID_BODY", "dataset")
    assert "captions" in error["message"]
    peer.fail("clip.mmvp", {"models": [model], "dataset": plain, "seed": 0}, "INVALID_BODY", "dataset")


def test_loss_options_are_checked(peer: Peer, trained: dict[str, Any]) -> None:
    base = {"model": trained["model"]["model"], "optimizer": trained["optimizer"]["optimizer"],
            "dataset": trained["data"]["dataset"], **plan(384, 4, 1, seed=0), "seed": 0}
    error = peer.fail("clip.train", {**base, "loss": {"name": "clip", "temperature": 0}}, "INVALID_BODY", "loss.temperature")
    assert "> 0" in error["message"]
    peer.fail("clip.train", {**base, "loss": {"name": "clip", "temperature": -1}}, "INVALID_BODY", "loss.temperature")
    peer.fail("clip.train", {**base, "loss": {"name": "xsample", "target_temperature": 0}}, "INVALID_BODY", "loss.target_temperature")
    peer.fail("clip.train", {**base, "loss": {"name": "clip", "graph": "labels"}}, "INVALID_BODY", "loss.graph")
    peer.fail("clip.train", {**base, "loss": {"name": "xsample", "graph": "captions"}}, "INVALID_BODY", "loss.graph")
    peer.fail("clip.train", {**base, "loss": {"name": "xsample", "graph": "labels", "attribute": "size"}},
              "INVALID_BODY", "loss.attribute")


def test_a_model_that_is_not_clip_is_refused(peer: Peer, trained: dict[str, Any]) -> None:
    cnn = peer.call("model.create", {"arch": "small-cnn", "image_size": 32, "seed": 0})["model"]
    peer.fail("clip.zero_shot", {"models": [cnn], "dataset": trained["data"]["dataset"]}, "INVALID_BODY", "models[0]")


def test_a_clip_model_is_refused_by_the_unimodal_train_job(peer: Peer, trained: dict[str, Any]) -> None:
    error = peer.fail("train", {"model": trained["model"]["model"], "optimizer": trained["optimizer"]["optimizer"],
                                "dataset": trained["data"]["dataset"], **plan(384, 4, 1, seed=0),
                                "loss": {"name": "nt-xent", "temperature": 0.2}, "seed": 0}, "INVALID_BODY", "model")
    assert "clip.train" in error["message"]


def test_an_evaluation_finding_a_model_busy_releases_and_restores_the_others() -> None:
    entries = [ClipEntry(create_clip("clip-tiny"), torch.device("cpu")) for _ in range(3)]
    entries[0].clip.train()
    entries[1].clip.eval()
    body = {"models": ["m:0", "m:1", "m:2"]}
    with _using(body, entries, "clip.zero_shot"):
        assert not any(e.clip.training for e in entries) and all(e.busy.locked() for e in entries)
    assert (entries[0].clip.training, entries[1].clip.training) == (True, False)
    assert not any(e.busy.locked() for e in entries)

    entries[2].busy.acquire()  # another job holds the last model
    with pytest.raises(WireError) as err, _using(body, entries, "clip.zero_shot"):
        pass
    assert err.value.code == "BUSY" and "m:2" in err.value.message
    assert entries[0].clip.training and not entries[0].busy.locked() and not entries[1].busy.locked()
