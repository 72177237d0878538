"""BatchLoader and LoaderPool: the images of a plan in plan order, the same with and without loader
processes, and from processes kept between plans; training that does not depend on the number of
workers; clear errors, never a hang; no loader process outlives its pool."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from loader_faults import DyingImages, FailingImages, SlowImages
from mcl_worker.data import (
    BatchLoader, DataLoadingError, ImageDecodeError, LoaderOptions, LoaderPool, open_dataset,
)
from mcl_worker.data import batch_loader
from mcl_worker.data.batch_loader import default_workers, loader_options
from mcl_worker.data.loader_pools import LoaderPools
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


def _train(get_images, workers: int, nan_at: int | None = None, chunks: int = 1,
           pool: LoaderPool | None = None) -> tuple[list[float], list[torch.Tensor]]:
    """Six steps in `chunks` train calls, on `pool` (kept after the call) or a pool of `workers`."""
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

    with closing(LoaderPool(LoaderOptions(workers=workers))) as own:
        step = 0
        for part in plan.chunk(chunks):
            train_steps(model, optimizer, part, get_images, augment, nt_xent, seed=3, first_step=step, progress_every=1,
                        on_progress=lambda s: losses.append(s.loss), loader=pool or own)
            step += part.shape[0]
    return losses, [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]


def test_a_chunk_trains_the_same_with_0_and_2_workers(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    losses_0, weights_0 = _train(dataset.get_images, workers=0)
    losses_2, weights_2 = _train(dataset.get_images, workers=2)
    assert len(losses_0) == 6 and all(math.isfinite(x) for x in losses_0)
    assert losses_0 == losses_2
    assert all(torch.equal(a, b) for a, b in zip(weights_0, weights_2))


def loader_pids() -> set[int]:
    return {process.pid for process in multiprocessing.active_children() if process.pid is not None}


def still_running(pids: set[int], seconds: float = 20.0) -> set[int]:
    """Those of `pids` still running after waiting up to `seconds` for them to end."""
    deadline = time.monotonic() + seconds
    while pids & loader_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids & loader_pids()


def other_batches() -> list[torch.Tensor]:
    order = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    return list(order.split([7, 3, 9, 12, 9]))


def test_a_pool_serves_the_next_plan_from_the_same_processes(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    plans = [uneven_batches(), other_batches(), uneven_batches()[:2]]
    before = loader_pids()
    pool = LoaderPool(LoaderOptions(workers=2, prefetch=1))
    try:
        got = [list(pool.load(dataset.get_images, plans[0]))]
        started = loader_pids() - before
        for plan in plans[1:]:
            images_of = pool.load(dataset.get_images, plan)
            got.append([next(images_of) for _ in plan])  # as a train loop takes them: no StopIteration
            images_of.close()
            assert loader_pids() - before == started
    finally:
        pool.close()
    assert len(started) == 2
    assert still_running(started) == set()
    for plan, images in zip(plans, got, strict=True):
        fresh = list(BatchLoader(dataset.get_images, plan, LoaderOptions(workers=1)))
        assert len(images) == len(plan) and all(torch.equal(a, b) for a, b in zip(images, fresh, strict=True))


def test_a_plan_that_ends_early_ends_the_processes_and_the_next_starts_new_ones(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    batches = uneven_batches()
    before = loader_pids()
    with closing(LoaderPool(LoaderOptions(workers=2))) as pool:
        with closing(pool.load(dataset.get_images, batches)) as images_of:
            next(images_of)
            started = loader_pids() - before
        assert len(started) == 2 and still_running(started, seconds=0) == set()
        got = list(pool.load(dataset.get_images, batches))
        assert len(loader_pids() - before) == 2
    assert all(torch.equal(g, dataset.get_images(b)) for g, b in zip(got, batches, strict=True))
    assert still_running(loader_pids() - before) == set()


def test_a_process_killed_between_plans_is_an_error_then_a_fresh_start(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    batches = uneven_batches()
    before = loader_pids()
    with closing(LoaderPool(LoaderOptions(workers=2))) as pool:
        list(pool.load(dataset.get_images, batches))
        victim = next(iter(loader_pids() - before))
        os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(DataLoadingError, match=r"data\.workers: the 2 loader process\(es\) failed"):
            list(pool.load(dataset.get_images, batches))
        assert time.monotonic() - started < 60
        assert still_running(loader_pids() - before) == set()
        got = list(pool.load(dataset.get_images, batches))
    assert all(torch.equal(g, dataset.get_images(b)) for g, b in zip(got, batches, strict=True))


def test_training_in_chunks_on_one_kept_pool_is_training_in_one_call_in_process(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    losses_0, weights_0 = _train(dataset.get_images, workers=0)
    before = loader_pids()
    with closing(LoaderPool(LoaderOptions(workers=2))) as pool:
        losses_2, weights_2 = _train(dataset.get_images, workers=0, chunks=3, pool=pool)
        assert len(loader_pids() - before) == 2  # kept after the last chunk
    assert losses_0 == losses_2
    assert all(torch.equal(a, b) for a, b in zip(weights_0, weights_2, strict=True))


def test_the_worker_keeps_one_pool_per_dataset_handle_until_it_is_freed(tmp_path: Path) -> None:
    dataset = open_dataset(f"folder:{write_folder(tmp_path)}?size=16")
    batches, one = uneven_batches(), LoaderOptions(workers=1)
    pools = LoaderPools()
    before = loader_pids()

    def run(pool: LoaderPool) -> set[int]:
        assert all(torch.equal(g, dataset.get_images(b)) for g, b in zip(pool.load(dataset.get_images, batches), batches))
        return loader_pids() - before

    try:
        with pools.borrowed("dataset:1", one) as kept:
            first = run(kept)
            with pools.borrowed("dataset:1", one) as lent:  # held by the job above: one of its own
                assert lent is not kept
                own = run(lent) - first
        assert len(first) == 1 and len(own) == 1 and still_running(own) == set()
        with pools.borrowed("dataset:1", one) as again:
            assert again is kept and run(again) == first
        with pools.borrowed("dataset:1", LoaderOptions(workers=2)) as wider:  # other options replace it
            assert still_running(first, seconds=0) == set()
            second = run(wider)
            pools.release("dataset:1")  # freed while a job holds it: ends when handed back
            assert loader_pids() - before == second
        assert still_running(second) == set()
        with pools.borrowed("dataset:1", one) as kept:
            last = run(kept)
        with pools.borrowed("dataset:2", one) as other:  # the idle pool of another handle ends
            assert still_running(last, seconds=0) == set()
            third = run(other)
        pools.close()
        assert still_running(third, seconds=0) == set()
        with pools.borrowed("dataset:2", one) as closed:  # after close: nothing is kept
            fourth = run(closed)
        assert still_running(fourth) == set()
    finally:
        pools.close()


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
