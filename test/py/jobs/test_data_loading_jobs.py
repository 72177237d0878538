"""The `data` options of the jobs that load images, through the real server: loader processes
give the train job's results of the in-process loader, are kept for the next train job on the
same dataset handle and end when it is freed, and a corrupt image mid-epoch is INVALID_BODY
naming the dataset, the file and the sample, whatever the number of workers."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import Peer

N = 24


def folder(root: Path, corrupt: int | None = None) -> Path:
    rng = np.random.default_rng(0)
    shard = root / "00000"
    shard.mkdir(parents=True)
    for i in range(N):
        path = shard / f"{i:09d}.jpg"
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path)
        if i == corrupt:
            path.write_bytes(b"not a jpeg")
    return root


def held(peer: Peer, root: Path) -> dict[str, Any]:
    data = peer.call("dataset.open", {"uri": f"folder:{root}?size=16"})
    model = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0,
                                       "options": {"widths": [8, 16]}})
    optimizer = peer.call("optimizer.create", {"model": model["model"], "name": "adamw", "lr": 1e-3})
    return {"model": model["model"], "optimizer": optimizer["optimizer"], "dataset": data["dataset"]}


def train_body(handles: dict[str, Any], **extra: Any) -> dict[str, Any]:
    indices = torch.randperm(N, generator=torch.Generator().manual_seed(0)).to(torch.int32)
    return {**handles, "indices": indices, "offsets": torch.tensor([0, 8, 16, 24], dtype=torch.int32),
            "loss": {"name": "nt-xent", "temperature": 0.2}, "seed": 1, **extra}


def test_train_and_embed_give_the_same_results_with_loader_processes(peer: Peer, tmp_path: Path) -> None:
    root = folder(tmp_path)
    results = []
    for workers in (0, 2):
        handles = held(peer, root)
        train = peer.call("train", train_body(handles, data={"workers": workers, "prefetch": 1}))
        embedded = peer.call("embed", {"model": handles["model"], "dataset": handles["dataset"], "batch_size": 5,
                                       "data": {"workers": workers}})
        embedding = peer.call("handle.get", {"handle": embedded["embedding"]})["tensor"]
        results.append((train["mean_loss"], train["last_loss"], embedding))
    (mean_0, last_0, z_0), (mean_2, last_2, z_2) = results
    assert (mean_0, last_0) == (mean_2, last_2)
    assert torch.equal(z_0, z_2)


def loader_pids() -> set[int]:
    # The server runs in this process: its loader processes are this process's children.
    return {process.pid for process in multiprocessing.active_children() if process.pid is not None}


def test_the_train_jobs_of_a_dataset_handle_keep_its_loader_processes_until_it_is_freed(
    peer: Peer, tmp_path: Path,
) -> None:
    root = folder(tmp_path)
    losses = {}
    for workers in (0, 2):
        handles = held(peer, root)
        before = loader_pids()
        first = peer.call("train", train_body(handles, data={"workers": workers}))
        started = loader_pids() - before
        second = peer.call("train", train_body(handles, data={"workers": workers}, first_step=3))
        assert loader_pids() - before == started
        losses[workers] = (first["mean_loss"], second["mean_loss"], second["last_loss"])
        peer.call("handle.free", {"handle": handles["dataset"]})
        deadline = time.monotonic() + 20
        while started & loader_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started & loader_pids() == set()
    assert len(started) == 2  # those of workers 2: the same processes served both jobs
    assert losses[0] == losses[2]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_image_mid_epoch_fails_the_job_naming_the_file(peer: Peer, tmp_path: Path, workers: int) -> None:
    root = folder(tmp_path, corrupt=int(torch.randperm(N, generator=torch.Generator().manual_seed(0))[10]))
    error = peer.fail("train", train_body(held(peer, root), data={"workers": workers}), "INVALID_BODY", "dataset")
    bad = error["details"]["index"]
    assert error["details"]["file"] == str(root / "00000" / f"{bad:09d}.jpg")
    assert f"{bad:09d}.jpg: cannot decode the image of sample {bad}" in error["message"]


def test_bad_data_options_are_refused_naming_the_field(peer: Peer, tmp_path: Path) -> None:
    handles = held(peer, folder(tmp_path))
    peer.fail("train", train_body(handles, data={"workers": -1}), "INVALID_BODY", "data.workers")
    peer.fail("train", train_body(handles, data={"prefetch": 0}), "INVALID_BODY", "data.prefetch")
