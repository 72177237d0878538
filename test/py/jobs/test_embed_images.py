"""embed over images uploaded with handle.put: the same representation as over the dataset they
came from, and bad uploads refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mcl_worker.data import open_dataset

from .conftest import Peer

URI = "synthetic:trifeature?n=12&size=16&seed=5"


@pytest.fixture
def model(peer: Peer) -> str:
    created = peer.call("model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0, "options": {"widths": [8, 16]}})
    return created["model"]


def upload(peer: Peer, images: torch.Tensor) -> str:
    return peer.call("handle.put", {"tensor": images})["handle"]


def embedding(peer: Peer, body: dict[str, Any]) -> torch.Tensor:
    return peer.call("handle.get", {"handle": peer.call("embed", body)["embedding"]})["tensor"]


def test_uploaded_images_embed_like_the_dataset_they_came_from(peer: Peer, model: str) -> None:
    images = open_dataset(URI).get_images(torch.arange(12))
    dataset = peer.call("dataset.open", {"uri": URI})["dataset"]
    from_dataset = embedding(peer, {"model": model, "dataset": dataset, "normalize": True})
    uploaded = upload(peer, images.contiguous())
    out = peer.call("embed", {"model": model, "images": uploaded, "batch_size": 5, "normalize": True})
    assert out["shape"] == [12, 16]
    torch.testing.assert_close(peer.call("handle.get", {"handle": out["embedding"]})["tensor"], from_dataset)


def test_uploaded_images_of_another_size_are_resized_to_the_model(peer: Peer, model: str) -> None:
    images = torch.randint(0, 256, (3, 3, 24, 20), dtype=torch.uint8)
    z = embedding(peer, {"model": model, "images": upload(peer, images), "augment": {"size": 16}})
    assert tuple(z.shape) == (3, 16)
    # without augment.size the model would see 24x20 images: refused, not guessed
    peer.fail("embed", {"model": model, "images": upload(peer, images)}, "INVALID_BODY", "augment.size")


@pytest.mark.parametrize(
    ("images", "why"),
    [
        (torch.zeros(2, 3, 16, 16, dtype=torch.float32), "float32 [2, 3, 16, 16]"),
        (torch.zeros(2, 16, 16, 3, dtype=torch.uint8), "uint8 [2, 16, 16, 3]"),
        (torch.zeros(3, 16, 16, dtype=torch.uint8), "uint8 [3, 16, 16]"),
        (torch.zeros(0, 3, 16, 16, dtype=torch.uint8), "uint8 [0, 3, 16, 16]"),
    ],
)
def test_bad_uploads_are_refused_naming_images(peer: Peer, model: str, images: torch.Tensor, why: str) -> None:
    body = peer.fail("embed", {"model": model, "images": upload(peer, images)}, "INVALID_BODY", "images")
    assert why in body["message"] and "C = 3" in body["message"]


def test_exactly_one_of_dataset_and_images(peer: Peer, model: str) -> None:
    dataset = peer.call("dataset.open", {"uri": URI})["dataset"]
    images = upload(peer, torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    both = peer.fail("embed", {"model": model, "dataset": dataset, "images": images}, "INVALID_BODY", "dataset")
    assert "got both" in both["message"]
    neither = peer.fail("embed", {"model": model}, "INVALID_BODY", "dataset")
    assert "got neither" in neither["message"]
    peer.fail("embed", {"model": model, "images": dataset}, "INVALID_BODY", "images")
    peer.fail("embed", {"model": model, "images": "tensor:999999"}, "NOT_FOUND", "images")
