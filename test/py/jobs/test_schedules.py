"""Learning-rate schedules and supcon's labels through the real server, as the control plane drives them.

optimizer.create takes the stage's schedule; train and clip.train set every step's rate from the
step's index within the stage (first_step onwards) and report it. The rates are checked against
open_clip's const_lr / cosine_lr (open_clip_torch 3.3.0) themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from oracles.schedules import open_clip_rates

from .conftest import Peer

DATA = "synthetic:trifeature?n=48&size=16&seed=3"
SCHEDULE: dict[str, Any] = {"name": "cosine", "warmup_steps": 3, "total_steps": 8}
LR = 1e-3


def plan(steps: int, batch: int = 16, n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    indices = torch.cat([torch.randperm(n, generator=generator)[:batch] for _ in range(steps)]).to(torch.int32)
    return indices, torch.arange(0, steps * batch + 1, batch, dtype=torch.int32)


def steps_of(steps: int, first: int, count: int) -> dict[str, torch.Tensor]:
    """Steps first…first+count-1 of a `steps`-step plan, as a train job's indices and offsets."""
    indices, offsets = plan(steps)
    chunk = offsets[first : first + count + 1]
    return {"indices": indices[int(chunk[0]) : int(chunk[-1])].clone(), "offsets": chunk - chunk[0]}


def small_cnn(peer: Peer, dataset: str, schedule: dict[str, Any] | None) -> dict[str, str]:
    model = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0,
                                       "options": {"widths": [8, 16]}})["model"]
    request = {"model": model, "name": "adamw", "lr": LR, **({} if schedule is None else {"schedule": schedule})}
    return {"model": model, "optimizer": peer.call("optimizer.create", request)["optimizer"], "dataset": dataset}


def train(peer: Peer, held: dict[str, str], first: int, count: int, **extra: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    body = {**held, **steps_of(SCHEDULE["total_steps"], first, count), "seed": 1, "first_step": first,
            "loss": {"name": "nt-xent", "temperature": 0.2}, **extra}
    progress, msg = peer.run("train", body)
    assert msg.header.kind == "result", msg.body
    return progress, msg.body


def model_tensors(peer: Peer, model: str, path: Path) -> dict[str, torch.Tensor]:
    peer.call("checkpoint.save", {"model": model, "path": str(path)})
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_train_follows_the_schedule_across_jobs_and_a_resume(peer: Peer, tmp_path: Path) -> None:
    dataset = peer.call("dataset.open", {"uri": DATA})["dataset"]
    expected = open_clip_rates(SCHEDULE["name"], LR, SCHEDULE["warmup_steps"], SCHEDULE["total_steps"])
    whole = small_cnn(peer, dataset, SCHEDULE)
    progress, result = train(peer, whole, 0, 8)
    assert [p["lr"] for p in progress] == expected
    assert (result["first_lr"], result["last_lr"]) == (expected[0], expected[-1])

    # Steps 0-4 in one job, then a fresh worker-side model resumes from its checkpoint for steps 5-7.
    first = small_cnn(peer, dataset, SCHEDULE)
    before, _ = train(peer, first, 0, 5)
    checkpoint = str(tmp_path / "epoch.safetensors")
    peer.call("checkpoint.save", {"model": first["model"], "optimizer": first["optimizer"], "path": checkpoint})
    resumed = small_cnn(peer, dataset, SCHEDULE)
    peer.call("checkpoint.load", {"model": resumed["model"], "optimizer": resumed["optimizer"], "path": checkpoint})
    after, _ = train(peer, resumed, 5, 3)
    assert [p["lr"] for p in before + after] == expected
    assert [p["step"] for p in after] == [6, 7, 8]
    ours, theirs = model_tensors(peer, resumed["model"], tmp_path / "a"), model_tensors(peer, whole["model"], tmp_path / "b")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)

    # Another schedule cannot continue the stage; the weights alone (a new stage) load.
    other = small_cnn(peer, dataset, {**SCHEDULE, "warmup_steps": 4})
    error = peer.fail("checkpoint.load", {"model": other["model"], "optimizer": other["optimizer"], "path": checkpoint},
                      "INVALID_BODY", "optimizer")
    assert "schedule.warmup_steps: the checkpoint was trained with warmup_steps 3" in error["message"]
    assert error["details"]["reason"] == "CHECKPOINT_MISMATCH"
    peer.call("checkpoint.load", {"model": other["model"], "path": checkpoint})


def test_without_a_schedule_the_optimizers_rate_is_reported(peer: Peer) -> None:
    dataset = peer.call("dataset.open", {"uri": DATA})["dataset"]
    progress, result = train(peer, small_cnn(peer, dataset, None), 0, 2)
    assert [p["lr"] for p in progress] == [LR, LR] and (result["first_lr"], result["last_lr"]) == (LR, LR)


def test_bad_schedules_and_steps_past_the_stage_are_named(peer: Peer) -> None:
    dataset = peer.call("dataset.open", {"uri": DATA})["dataset"]
    held = small_cnn(peer, dataset, SCHEDULE)
    body = {**held, **steps_of(8, 5, 3), "seed": 1, "first_step": 6, "loss": {"name": "nt-xent", "temperature": 0.2}}
    error = peer.fail("train", body, "INVALID_BODY", "first_step")
    assert "steps 6..8 run past the optimizer's schedule of 8 steps" in error["message"]
    model = held["model"]
    peer.fail("optimizer.create", {"model": model, "name": "sgd", "lr": LR, "schedule": {"name": "cosine"}},
              "INVALID_BODY", "schedule.total_steps")
    peer.fail("optimizer.create", {"model": model, "name": "sgd", "lr": LR, "schedule": {"name": "step", "total_steps": 4}},
              "INVALID_BODY", "schedule.name")
    peer.fail("optimizer.create", {"model": model, "name": "sgd", "lr": LR,
                                   "schedule": {"name": "cosine", "total_steps": 0}}, "INVALID_BODY", "schedule.total_steps")


def test_supcon_trains_on_the_classes_of_the_named_attribute(peer: Peer) -> None:
    dataset = peer.call("dataset.open", {"uri": DATA})["dataset"]

    def first_loss(attribute: str) -> float:
        progress, result = train(peer, small_cnn(peer, dataset, None), 0, 2,
                                 loss={"name": "supcon", "temperature": 0.2, "attribute": attribute})
        assert result["steps"] == 2 and all(torch.isfinite(torch.tensor(p["loss"])) for p in progress)
        return float(progress[0]["loss"])

    # Same weights, views and batch: only the labels differ, and so does the loss.
    assert first_loss("shape") != first_loss("background")

    held = small_cnn(peer, dataset, None)
    body = {**held, **steps_of(8, 0, 1), "seed": 1}
    error = peer.fail("train", {**body, "loss": {"name": "supcon", "temperature": 0.2}}, "INVALID_BODY", "loss.attribute")
    assert "the dataset has: shape, color, texture, background" in error["message"]
    error = peer.fail("train", {**body, "loss": {"name": "supcon", "temperature": 0.2, "attribute": "size"}},
                      "INVALID_BODY", "loss.attribute")
    assert "no attribute 'size'; it has: shape, color, texture, background" in error["message"]
    peer.fail("train", {**body, "loss": {"name": "nt-xent", "temperature": 0.2, "attribute": "shape"}},
              "INVALID_BODY", "loss.attribute")


def test_clip_train_follows_the_schedule(peer: Peer) -> None:
    data = peer.call("dataset.open", {"uri": "synthetic:trifeature?n=64&size=32&seed=5"})
    schedule: dict[str, Any] = {"name": "constant", "warmup_steps": 3, "total_steps": 5}
    model = peer.call("clip.create", {"config": "clip-tiny", "seed": 0,
                                      "tokenizer": {"kind": "words", "dataset": data["dataset"]}})["model"]
    optimizer = peer.call("optimizer.create", {"model": model, "name": "adamw", "lr": LR, "schedule": schedule})["optimizer"]
    indices, offsets = plan(5, batch=16, n=64)
    body = {"model": model, "optimizer": optimizer, "dataset": data["dataset"], "loss": {"name": "clip"}, "seed": 0}
    progress, msg = peer.run("clip.train", {**body, "indices": indices[:32].clone(), "offsets": offsets[:3]})
    assert msg.header.kind == "result", msg.body
    rest, msg = peer.run("clip.train", {**body, "indices": indices[32:].clone(), "offsets": offsets[2:] - 32, "first_step": 2})
    assert msg.header.kind == "result", msg.body
    assert [p["lr"] for p in progress + rest] == open_clip_rates(
        schedule["name"], LR, schedule["warmup_steps"], schedule["total_steps"]
    )
    assert (msg.body["first_lr"], msg.body["last_lr"]) == (rest[0]["lr"], rest[-1]["lr"])
    error = peer.fail("clip.train", {**body, "indices": indices.clone(), "offsets": offsets, "first_step": 1},
                      "INVALID_BODY", "first_step")
    assert "steps 1..5 run past" in error["message"]
