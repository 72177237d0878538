"""BatchLoader: the images of a plan in plan order, the same with and without loader processes;
training that does not depend on the number of workers; clear errors, never a hang."""

from __future__ import annotations

import math
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from loader_faults import DyingImages, FailingImages, SlowImages
from mcl_worker.data import (
    BatchLoader, DataLoadingError, ImageDecodeError, LoaderOptions, open_dataset,
)
from mcl_worker.data import batch_loader
from mcl_worker.data.batch_loader import default_workers, loader_options
from mcl_worker.errors import InvalidArgument, NonFiniteLoss
from mcl_worker.losses import nt_xent
from mcl_worker.train import train_steps

N = 40


def write_folder(root: Path, n: int = N, corrupt: int | None = None) -> Path:
    """n JPEGs of 24×20 noise in the files layout (two shards); sample `corrupt` truncated."""
    rng = np.random.default_rng(0)
    for i in range(n):
        shard = root / f"{i // 25:05d}"
        shard.mkdir(parents=True, exist_ok=True)
        path = shard / f"{i:09d}.jpg"
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path, quality=90)
        if i == corrupt:
            path.write_bytes(path.read_bytes()[:40])
    return root


def uneven_batches() -> list[torch.Tensor]:
    order = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    return list(order.split([8, 5, 8, 2, 8, 9]))


def loaded(get_images, batches: list[torch.Tensor], workers: int, prefetch: int = 2) -> list[torch.Tensor]:
    return list(BatchLoader(get_images, batches, LoaderOptions(workers, prefetch)))


def test_the_images_of_the_plan_in_order_whatever_the_workers(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    batches = uneven_batches()
    expected = [dataset.get_images(b) for b in batches]
    for workers, prefetch in ((0, 2), (1, 1), (2, 4)):
        got = loaded(dataset.get_images, batches, workers, prefetch)
        assert len(got) == len(batches)
        assert all(g.dtype == torch.uint8 and torch.equal(g, e) for g, e in zip(got, expected)), (workers, prefetch)


def test_a_memory_mapped_npz_travels_by_reference(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (N, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=images)
    dataset = open_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert isinstance(dataset.images, np.memmap)
    state = dataset.__getstate__()
    assert state["images"][0] == "memmap"  # a few numbers, not N images
    batches = uneven_batches()
    got = loaded(dataset.get_images, batches, workers=2)
    assert all(torch.equal(g, dataset.get_images(b)) for g, b in zip(got, batches))


def _train(get_images, workers: int, nan_at: int | None = None) -> tuple[list[float], list[torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    plan = torch.stack([torch.randperm(N, generator=g)[:8] for _ in range(6)])
    losses: list[float] = []

    calls = [0]

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = images.float() / 255
        calls[0] += 1
        if calls[0] == nan_at:
            x = x * math.nan
        return x + 0.1 * torch.randn(x.shape, generator=generator)

    train_steps(model, optimizer, plan, get_images, augment, nt_xent, seed=3, progress_every=1,
                on_progress=lambda s: losses.append(s.loss), loader=LoaderOptions(workers=workers))
    return losses, [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]


def test_a_chunk_trains_the_same_with_0_and_2_workers(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    losses_0, weights_0 = _train(dataset.get_images, workers=0)
    losses_2, weights_2 = _train(dataset.get_images, workers=2)
    assert len(losses_0) == 6 and all(math.isfinite(x) for x in losses_0)
    assert losses_0 == losses_2
    assert all(torch.equal(a, b) for a, b in zip(weights_0, weights_2))


@pytest.mark.parametrize("failure", ["non-finite loss", "corrupt image"])
def test_a_train_call_that_raises_mid_plan_leaves_no_loader_process(tmp_path: Path, failure: str) -> None:
    # Checked while the exception is still held: the loader processes end with the loop, not
    # when the exception's traceback is freed.
    corrupt = 13 if failure == "corrupt image" else None
    dataset = open_dataset(f"folder:{write_folder(tmp_path, corrupt=corrupt)}?size=16")
    expected = NonFiniteLoss if failure == "non-finite loss" else ImageDecodeError
    with pytest.raises(expected) as caught:
        _train(dataset.get_images, workers=2, nan_at=5 if corrupt is None else None)
    assert caught.value.__traceback__ is not None  # still held
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []


def test_any_exception_of_the_dataset_reaches_the_job_as_itself() -> None:
    batches = [torch.arange(i, i + 4) for i in range(0, 40, 4)]
    with pytest.raises(RuntimeError) as caught:
        for _ in BatchLoader(FailingImages(bad=9).get_images, batches, LoaderOptions(workers=2)):
            pass
    assert not isinstance(caught.value, DataLoadingError)
    assert str(caught.value) == "sample 9 is out of reach"
    assert caught.value.sample == 9  # type: ignore[attr-defined]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_image_mid_epoch_names_the_file_and_the_sample(tmp_path: Path, workers: int) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path, corrupt=13)}?size=16")
    batches = [torch.arange(i, i + 4) for i in range(0, N, 4)]  # sample 13 is in the fourth batch
    got: list[torch.Tensor] = []
    started = time.monotonic()
    with pytest.raises(ImageDecodeError) as caught:
        for images in BatchLoader(dataset.get_images, batches, LoaderOptions(workers)):
            got.append(images)
    assert time.monotonic() - started < 60
    assert len(got) == 3  # the batches before it, in order
    error = caught.value
    assert error.code == "INVALID_BODY" and error.field == "dataset"
    assert str(error).startswith("dataset: ") and "000000013.jpg: cannot decode the image of sample 13" in str(error)
    assert error.details == {"path": "dataset", "index": 13, "scheme": "folder",
                             "file": str(tmp_path / "00000" / "000000013.jpg")}


def test_a_loader_process_that_dies_is_an_error_not_a_hang() -> None:
    batches = [torch.arange(i, i + 4) for i in range(0, 40, 4)]
    started = time.monotonic()
    with pytest.raises(DataLoadingError, match=r"data\.workers: the 2 loader process\(es\) failed: .*(exited unexpectedly|ended while handing over a batch)"):
        for _ in BatchLoader(DyingImages(fatal=21).get_images, batches, LoaderOptions(workers=2)):
            pass
    assert time.monotonic() - started < 60


def test_a_batch_slower_than_the_liveness_check_still_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_loader, "LIVENESS_CHECK_S", 0.5)  # several short waits for the slow batch
    batches = [torch.arange(i, i + 4) for i in range(0, 16, 4)]
    loaded = list(BatchLoader(SlowImages(slow=5, seconds=2.0).get_images, batches, LoaderOptions(workers=1)))
    assert [int(images[0, 0, 0, 0]) for images in loaded] == [0, 4, 8, 12]


def test_a_batch_that_never_comes_ends_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_loader, "LIVENESS_CHECK_S", 0.5)
    monkeypatch.setattr(batch_loader, "LOAD_TIMEOUT_S", 2.0)
    batches = [torch.arange(i, i + 4) for i in range(0, 16, 4)]
    with pytest.raises(DataLoadingError, match=r"data\.workers: .*no batch came within 2 s"):
        list(BatchLoader(SlowImages(slow=5, seconds=30.0).get_images, batches, LoaderOptions(workers=1)))


def test_a_dataset_that_cannot_pickle_is_refused_naming_data_workers() -> None:
    images = torch.zeros(8, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(DataLoadingError, match=r"data\.workers: .*cannot be sent to them") as caught:
        list(BatchLoader(lambda rows: images[rows], [torch.arange(4)], LoaderOptions(workers=1)))
    assert caught.value.details == {"path": "data.workers"}


@pytest.mark.parametrize("field, value", [("workers", -1), ("workers", 65), ("workers", 1.5), ("prefetch", 0),
                                          ("prefetch", True)])
def test_bad_options_name_their_field(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument, match=rf"^data\.{field}: must be an integer"):
        LoaderOptions(**{field: value})  # type: ignore[arg-type]


def test_defaults_load_in_memory_images_in_process() -> None:
    assert default_workers(decodes=False) == 0
    assert 1 <= default_workers(decodes=True) <= 4
    assert loader_options({}, decodes=False) == LoaderOptions(0, 2)
    assert loader_options({"data": {"workers": 3, "prefetch": 5}}, decodes=False) == LoaderOptions(3, 5)
