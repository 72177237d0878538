"""The compute jobs driven through the real server, as the control plane drives them.

A tiny end-to-end flow (open, create, train, embed, integrate, k-means, probe, checkpoint, handles)
and every bad input a job can receive, each answered with a structured error naming the field.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from mcl_worker.checkpoint import CheckpointCopy

from .conftest import Peer

DATA = "synthetic:trifeature?n=48&size=16&seed=3"


@pytest.fixture
def held(peer: Peer) -> dict[str, Any]:
    """A dataset, a small-cnn and its optimizer, opened afresh for each test."""
    data = peer.call("dataset.open", {"uri": DATA})
    model = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0,
                                       "options": {"widths": [8, 16]}})
    optimizer = peer.call("optimizer.create", {"model": model["model"], "name": "adamw", "lr": 1e-3})
    return {"data": data, "model": model, **data, **model, **optimizer}


def test_dataset_open_describes_the_dataset(peer: Peer) -> None:
    data = peer.call("dataset.open", {"uri": DATA})
    assert data["dataset"].startswith("dataset:")
    assert (data["size"], data["image_shape"], data["has_captions"]) == (48, [3, 16, 16], True)
    assert [a["name"] for a in data["attributes"]] == ["shape", "color", "texture", "background"]
    assert [a["num_classes"] for a in data["attributes"]] == [8, 8, 8, 16]
    assert all(a["num_classes"] == len(a["class_names"]) for a in data["attributes"])


def test_model_create_reports_the_model(peer: Peer) -> None:
    model = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0})
    assert model["model"].startswith("model:")
    assert (model["arch"], model["feature_dim"], model["proj_dim"]) == ("small-cnn", 256, 8)
    assert model["parameters"] > 0
    assert model["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_the_same_seed_builds_the_same_weights(peer: Peer, tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b"):
        model = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "seed": 7})
        paths.append(peer.call("checkpoint.save", {"model": model["model"], "path": str(tmp_path / name)})["path"])
    with safe_open(paths[0], "pt") as a, safe_open(paths[1], "pt") as b:
        assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())


def test_embed_keeps_the_embedding_on_the_worker_until_asked(peer: Peer, held: dict[str, Any]) -> None:
    out = peer.call("embed", {"model": held["model"], "dataset": held["dataset"], "batch_size": 20, "normalize": True})
    assert out["embedding"].startswith("embedding:") and out["shape"] == [48, 16] and out["dtype"] == "float32"
    assert out["embedding"] in peer.call("handle.list", {})["handles"]
    z = peer.call("handle.get", {"handle": out["embedding"]})["tensor"]
    assert z.dtype == torch.float32 and tuple(z.shape) == (48, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(48))
    # batch size does not change the result; the head gives proj_dim columns; float16 on request
    again = peer.call("embed", {"model": held["model"], "dataset": held["dataset"], "batch_size": 48, "normalize": True})
    torch.testing.assert_close(peer.call("handle.get", {"handle": again["embedding"]})["tensor"], z)
    head = peer.call("embed", {"model": held["model"], "dataset": held["dataset"], "use_head": True, "dtype": "float16"})
    assert head["shape"] == [48, 8] and head["dtype"] == "float16"
    assert peer.call("handle.get", {"handle": head["embedding"]})["tensor"].dtype == torch.float16


def test_integrate_follows_the_spec(peer: Peer, held: dict[str, Any]) -> None:
    features = peer.call("embed", {"model": held["model"], "dataset": held["dataset"]})["embedding"]
    head = peer.call("embed", {"model": held["model"], "dataset": held["dataset"], "use_head": True})["embedding"]
    a, b = (peer.call("handle.get", {"handle": h})["tensor"] for h in (features, head))
    for normalize in ("concat-then-l2", "per-stage-l2", "none"):
        out = peer.call("integrate", {"embeddings": [features, head], "weights": [1, 0.5], "normalize": normalize})
        assert out["shape"] == [48, 24]
        z = peer.call("handle.get", {"handle": out["embedding"]})["tensor"]
        if normalize == "per-stage-l2":
            a_, b_ = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
        else:
            a_, b_ = a, b
        expected = torch.cat([a_, 0.5 * b_], dim=1)
        if normalize == "concat-then-l2":
            expected = torch.nn.functional.normalize(expected, dim=1)
        torch.testing.assert_close(z, expected)


def test_kmeans_returns_assignments_centroids_and_inertia(peer: Peer, held: dict[str, Any]) -> None:
    emb = peer.call("embed", {"model": held["model"], "dataset": held["dataset"], "normalize": True})["embedding"]
    out = peer.call("kmeans", {"embedding": emb, "k": 4, "seed": 0})
    a, c = out["assignments"], out["centroids"]
    assert a.dtype == torch.int32 and tuple(a.shape) == (48,) and set(a.tolist()) <= {0, 1, 2, 3}
    assert c.dtype == torch.float32 and tuple(c.shape) == (4, 16)
    x = peer.call("handle.get", {"handle": emb})["tensor"]
    inertia = float(((x - c[a.long()]) ** 2).sum())
    assert out["inertia"] == pytest.approx(inertia, rel=1e-4)
    assert out["iterations"] >= 1 and isinstance(out["converged"], bool) and out["empty_clusters"] == 0
    same = peer.call("kmeans", {"embedding": emb, "k": 4, "seed": 0})
    assert torch.equal(same["assignments"], a)


def test_kmeans_says_how_many_clusters_came_out_empty(peer: Peer) -> None:
    # Two distinct rows and k = 4: two clusters can hold no row, and the result says so.
    rows = peer.call("handle.put", {"tensor": torch.tensor([[0.0, 1.0]] * 5 + [[1.0, 0.0]] * 5)})["handle"]
    out = peer.call("kmeans", {"embedding": rows, "k": 4, "seed": 0})
    assert out["empty_clusters"] == 2 and out["inertia"] == 0.0
    peer.call("handle.free", {"handle": rows})


def test_checkpoint_round_trip_restores_weights_and_metadata(peer: Peer, held: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "stage1.safetensors"
    saved = peer.call("checkpoint.save", {"model": held["model"], "optimizer": held["optimizer"], "path": str(path),
                                          "metadata": {"stage": "1"}})
    assert saved["path"] == str(path) and saved["bytes"] == path.stat().st_size > 0
    assert [p.name for p in path.parent.iterdir()] == ["stage1.safetensors"]  # no temporary left behind
    before = peer.call("handle.get", {"handle": peer.call("embed", {"model": held["model"], "dataset": held["dataset"]})["embedding"]})

    other = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 1,
                                       "options": {"widths": [8, 16]}})["model"]
    optimizer = peer.call("optimizer.create", {"model": other, "name": "adamw", "lr": 1e-3})["optimizer"]
    loaded = peer.call("checkpoint.load", {"path": str(path), "model": other, "optimizer": optimizer})
    assert loaded == {"metadata": {"stage": "1"}}
    after = peer.call("handle.get", {"handle": peer.call("embed", {"model": other, "dataset": held["dataset"]})["embedding"]})
    torch.testing.assert_close(after["tensor"], before["tensor"])


def test_a_save_frees_the_model_once_copied_and_writes_the_copy(
    peer: Peer, held: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tmp_path / "before.safetensors"
    peer.call("checkpoint.save", {"model": held["model"], "optimizer": held["optimizer"], "path": str(before)})
    release = threading.Event()
    write = CheckpointCopy.write

    def write_when_released(copy: CheckpointCopy) -> Path:
        assert release.wait(60)
        return write(copy)

    monkeypatch.setattr(CheckpointCopy, "write", write_when_released)
    path = tmp_path / "background.safetensors"
    save = peer.send("checkpoint.save", {"model": held["model"], "optimizer": held["optimizer"], "path": str(path),
                                         "notify_copied": True})
    copied = peer.receive()
    assert (copied.header.id, copied.header.kind, copied.body) == (save, "progress", {"copied": True})
    assert not path.exists()
    # The model trains on while its file waits to be written: no BUSY, and the file holds the copy.
    peer.call("train", train_body(held, steps=2))
    release.set()
    result = peer.receive()
    assert (result.header.id, result.header.kind) == (save, "result")
    with safe_open(str(before), "pt") as a, safe_open(str(path), "pt") as b:
        assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())
    monkeypatch.undo()
    assert changed_since(peer, held, path, tmp_path, keep=lambda k: k.startswith("model.")) != []


def test_handles_are_freed(peer: Peer, held: dict[str, Any]) -> None:
    emb = peer.call("embed", {"model": held["model"], "dataset": held["dataset"]})["embedding"]
    assert peer.call("handle.free", {"handle": emb}) == {}
    assert emb not in peer.call("handle.list", {})["handles"]
    peer.fail("handle.get", {"handle": emb}, "NOT_FOUND", "handle")
    peer.fail("handle.free", {"handle": emb}, "NOT_FOUND", "handle")


# -- bad input: a structured error naming the field, and the worker keeps serving ------------------


def test_an_unknown_architecture_is_refused(peer: Peer) -> None:
    body = peer.fail("model.create", {"arch": "resnet7", "image_size": 32, "seed": 0}, "INVALID_BODY", "arch")
    assert body["details"]["reason"] == "UNKNOWN_ARCH" and "small-cnn" in body["message"]


def test_an_image_size_the_encoder_cannot_take_is_refused(peer: Peer) -> None:
    body = peer.fail("model.create", {"arch": "small-cnn", "image_size": 8, "seed": 0}, "INVALID_BODY", "image_size")
    assert body["details"]["reason"] == "BAD_IMAGE_SIZE" and ">= 16" in body["message"]
    peer.fail("model.create", {"arch": "vit-tiny", "image_size": 30, "seed": 0, "options": {"patch_size": 4}},
              "INVALID_BODY", "image_size")
    peer.fail("model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0, "options": {"stem": "cifar"}},
              "INVALID_BODY", "options.stem")


def test_k_larger_than_n_is_refused(peer: Peer, held: dict[str, Any]) -> None:
    emb = peer.call("embed", {"model": held["model"], "dataset": held["dataset"]})["embedding"]
    body = peer.fail("kmeans", {"embedding": emb, "k": 49, "seed": 0}, "INVALID_BODY", "k")
    assert "N = 48" in body["message"]


def test_a_dataset_uri_that_does_not_exist_is_refused(peer: Peer, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    body = peer.fail("dataset.open", {"uri": f"npz:{missing}"}, "INVALID_BODY", "uri")
    assert str(missing) in body["message"]
    peer.fail("dataset.open", {"uri": "synthetic:nosuch"}, "INVALID_BODY", "uri")
    peer.fail("dataset.open", {"uri": "synthetic:trifeature?n=0"}, "INVALID_BODY", "uri")


def test_handles_of_the_wrong_kind_or_absent_are_refused(peer: Peer, held: dict[str, Any]) -> None:
    peer.fail("embed", {"model": held["dataset"], "dataset": held["dataset"]}, "INVALID_BODY", "model")
    peer.fail("embed", {"model": held["model"], "dataset": "dataset:999999"}, "NOT_FOUND", "dataset")
    peer.fail("kmeans", {"embedding": held["model"], "k": 2, "seed": 0}, "INVALID_BODY", "embedding")
    peer.fail("integrate", {"embeddings": [held["model"]], "weights": [1], "normalize": "none"}, "INVALID_BODY", "embeddings[0]")


def test_other_bad_arguments_name_their_field(peer: Peer, held: dict[str, Any], tmp_path: Path) -> None:
    m, d = held["model"], held["dataset"]
    peer.fail("embed", {"model": m, "dataset": d, "augment": {"size": 32}}, "INVALID_BODY", "augment.size")
    peer.fail("embed", {"model": m, "dataset": d, "augment": {"crop_scale": [0.9, 0.1]}}, "INVALID_BODY", "augment.crop_scale")
    peer.fail("embed", {"model": m, "dataset": d, "batch_size": 0}, "INVALID_BODY", "batch_size")
    emb = peer.call("embed", {"model": m, "dataset": d})["embedding"]
    peer.fail("integrate", {"embeddings": [emb, emb], "weights": [1], "normalize": "none"}, "INVALID_BODY", "weights")
    peer.fail("integrate", {"embeddings": [emb], "weights": [0], "normalize": "none"}, "INVALID_BODY", "weights")
    peer.fail("optimizer.create", {"model": m, "name": "adamw", "lr": 1e-3, "momentum": 0.9}, "INVALID_BODY", "momentum")
    peer.fail("checkpoint.load", {"model": m, "path": str(tmp_path / "none.safetensors")}, "INVALID_BODY", "path")
    peer.fail("checkpoint.save", {"model": m, "path": str(tmp_path / "x"), "metadata": {"mcl.format": "x"}},
              "INVALID_BODY", "metadata.mcl.format")
    other = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0})["model"]
    peer.fail("checkpoint.save", {"model": other, "optimizer": held["optimizer"], "path": str(tmp_path / "y")},
              "INVALID_BODY", "optimizer")
    saved = peer.call("checkpoint.save", {"model": m, "path": str(tmp_path / "small")})["path"]
    body = peer.fail("checkpoint.load", {"model": other, "path": saved}, "INVALID_BODY", "path")
    assert body["details"]["reason"] == "CHECKPOINT_MISMATCH"
    assert peer.call("ping", {}) == {}


# -- train and probe ------------------------------------------------------------------------------


def plan(steps: int, batch: int, n: int = 48, seed: int = 0) -> dict[str, torch.Tensor]:
    """`steps` batches of `batch` samples, laid out as the control plane's batch planner does."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.cat([torch.randperm(n, generator=generator)[:batch] for _ in range(steps)]).to(torch.int32)
    return {"indices": indices, "offsets": torch.arange(0, steps * batch + 1, batch, dtype=torch.int32)}


def train_body(held: dict[str, Any], steps: int = 3, **extra: Any) -> dict[str, Any]:
    return {"model": held["model"], "optimizer": held["optimizer"], "dataset": held["dataset"], **plan(steps, 16),
            "loss": {"name": "nt-xent", "temperature": 0.2}, "seed": 1, **extra}


def test_train_streams_progress_and_learns(peer: Peer, held: dict[str, Any]) -> None:
    progress, msg = peer.run("train", train_body(held, steps=6, progress_every=2, first_step=10))
    assert msg.header.kind == "result", msg.body
    assert [p["step"] for p in progress] == [12, 14, 16] and {p["steps"] for p in progress} == {16}
    assert all(p["loss"] > 0 and p["samples_per_s"] > 0 for p in progress)
    result = msg.body
    assert (result["steps"], result["samples"]) == (6, 96)
    assert result["last_loss"] == progress[-1]["loss"] and result["seconds"] > 0
    # uneven batches (a `shrink` plan) train too
    uneven = {"indices": torch.arange(0, 20, dtype=torch.int32), "offsets": torch.tensor([0, 16, 20], dtype=torch.int32)}
    out = peer.call("train", {**train_body(held), **uneven})
    assert (out["steps"], out["samples"]) == (2, 20)


def test_train_is_cancellable_between_steps(peer: Peer, held: dict[str, Any]) -> None:
    id_ = peer.send("train", train_body(held, steps=10_000))
    first = peer.receive()
    assert (first.header.kind, first.body["step"]) == ("progress", 1)
    peer.send("", {}, kind="cancel", id_=id_)
    while (msg := peer.receive()).header.kind == "progress":
        pass
    assert (msg.header.id, msg.header.kind, msg.body["code"]) == (id_, "error", "CANCELLED")
    assert peer.call("train", train_body(held, steps=1))["steps"] == 1  # the model is free again


def test_a_non_finite_loss_stops_training_and_the_last_checkpoint_survives(
    peer: Peer, held: dict[str, Any], tmp_path: Path
) -> None:
    peer.call("train", train_body(held, steps=2))
    path = tmp_path / "last-good.safetensors"
    peer.call("checkpoint.save", {"model": held["model"], "optimizer": held["optimizer"], "path": str(path)})
    good = path.read_bytes()
    # A temperature this small overflows the similarities to infinity: the loss is NaN at once.
    diverging = train_body(held, steps=3, first_step=5, loss={"name": "nt-xent", "temperature": 1e-45})
    body = peer.fail("train", diverging, "NON_FINITE_LOSS")
    assert body["details"]["step"] == 5 and "step 5" in body["message"]
    assert path.read_bytes() == good
    # The failed step's update was not applied: weights and optimizer state equal the checkpoint's.
    assert changed_since(peer, held, path, tmp_path, keep=lambda k: not k.endswith(BATCH_NORM_STATS)) == []
    other = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 5,
                                       "options": {"widths": [8, 16]}})["model"]
    assert peer.call("checkpoint.load", {"path": str(path), "model": other}) == {"metadata": {}}


BATCH_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


def changed_since(peer: Peer, held: dict[str, Any], path: Path, tmp_path: Path, keep: Any) -> list[str]:
    """Names of the checkpoint tensors that differ between `path` and the held model now."""
    now = tmp_path / "now.safetensors"
    peer.call("checkpoint.save", {"model": held["model"], "optimizer": held["optimizer"], "path": str(now)})
    with safe_open(str(path), "pt") as a, safe_open(str(now), "pt") as b:
        return [k for k in a.keys() if keep(k) and not torch.equal(a.get_tensor(k), b.get_tensor(k))]


def test_a_non_finite_step_leaves_batch_norm_statistics_alone(peer: Peer, held: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "before.safetensors"
    peer.call("checkpoint.save", {"model": held["model"], "optimizer": held["optimizer"], "path": str(path)})
    peer.fail("train", train_body(held, loss={"name": "nt-xent", "temperature": 1e-45}), "NON_FINITE_LOSS")
    assert changed_since(peer, held, path, tmp_path, keep=lambda k: True) == []


def test_bad_train_arguments_name_their_field(peer: Peer, held: dict[str, Any]) -> None:
    body = train_body(held)
    peer.fail("train", {**body, "indices": body["indices"].long()}, "INVALID_BODY", "indices")
    peer.fail("train", {**body, "indices": body["indices"] + 100}, "INVALID_BODY", "indices")
    peer.fail("train", {**body, "offsets": torch.tensor([0], dtype=torch.int32)}, "INVALID_BODY", "offsets")
    peer.fail("train", {**body, "offsets": torch.tensor([0, 1, 48], dtype=torch.int32)}, "INVALID_BODY", "offsets")
    peer.fail("train", {**body, "loss": {"name": "nt-xent", "temperature": 0}}, "INVALID_BODY", "loss.temperature")
    peer.fail("train", {**body, "loss": {"name": "supcon", "temperature": 0.2}}, "INVALID_BODY", "loss.attribute")
    peer.fail("train", {**body, "augment": {"size": 32}}, "INVALID_BODY", "augment.size")
    peer.fail("train", {**body, "dataset": "dataset:424242"}, "NOT_FOUND", "dataset")
    other = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0})["model"]
    peer.fail("train", {**body, "model": other}, "INVALID_BODY", "optimizer")


def test_probe_scores_every_attribute(peer: Peer, held: dict[str, Any]) -> None:
    emb = peer.call("embed", {"model": held["model"], "dataset": held["dataset"]})["embedding"]
    out = peer.call("probe", {"embedding": emb, "dataset": held["dataset"], "seed": 0, "knn_k": 5})
    assert [a["name"] for a in out["attributes"]] == ["shape", "color", "texture", "background"]
    for scores, classes in zip(out["attributes"], [8, 8, 8, 16]):
        assert 0 <= scores["linear"] <= 1 and 0 <= scores["knn"] <= 1
        assert scores["n_train"] + scores["n_test"] == 48 and scores["n_classes"] <= classes
    one = peer.call("probe", {"embedding": emb, "dataset": held["dataset"], "seed": 0, "knn_k": 5, "attributes": ["color"]})
    assert one["attributes"] == [out["attributes"][1]]
    peer.fail("probe", {"embedding": emb, "dataset": held["dataset"], "seed": 0, "attributes": ["size"]},
              "INVALID_BODY", "attributes[0]")
    peer.fail("probe", {"embedding": emb, "dataset": held["dataset"], "seed": 0, "knn_k": 1000}, "INVALID_BODY", "knn_k")
    peer.fail("probe", {"embedding": emb, "dataset": held["dataset"], "seed": 0, "test_fraction": 0}, "INVALID_BODY",
              "test_fraction")
