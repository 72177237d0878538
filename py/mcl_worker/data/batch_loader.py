"""The images of a batch plan, loaded ahead of the step that needs them.

A job knows its whole plan before its first step, so loader processes can read, decode and
resize the images of the next batches while the current step computes:

    pool = LoaderPool(LoaderOptions(workers=2))
    with closing(pool.load(dataset.get_images, batches, pin_memory=True)) as images_of:
        for batch, images in zip(batches, images_of): ...   # uint8 [B, C, H, W], plan order
    ...                                                     # the next plan: the same processes
    pool.close()

- workers = 0 loads each batch in the calling thread when the step asks for it (no processes).
- workers > 0 runs a torch DataLoader over the plan: each loader process loads whole batches,
  and keeps up to `prefetch` of them ready; batches come back in plan order. The images do not
  depend on the number of workers, and augmentation stays in the training loop, seeded by the
  step, so neither does training.
- A LoaderPool keeps its processes from one plan to the next (the train jobs of a stage reuse
  them: data/loader_pools.py); BatchLoader is one plan on processes of its own.

Loader processes start from a forkserver, not by forking the worker: the worker has threads
(ZeroMQ's, the server's, the job pool, decoding pools, torch's), and a child forked from a
threaded process can deadlock on a lock one of them held. The forkserver imports torch once, so
loader processes start without importing it again, where spawn would import it for every
process; the `get_images` callable, and with it the dataset, is pickled to them once (data/base.py,
folder.py).

Every wait has an end: a loader process that dies is reported within a few seconds, and a batch
that takes longer than LOAD_TIMEOUT_S is an error rather than a hang. An exception the dataset
raises in a loader process (a corrupt image: the file and the sample) reaches the job as itself.
Close the iterator (`closing`, as above) when the loop ends early: that ends the loader processes
at once, not when the exception that ended the loop is freed.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import ComputeError, InvalidArgument

GetImages = Callable[[torch.Tensor], torch.Tensor]  # sample indices [B] (int64, CPU) -> uint8 [B, C, H, W]

LOAD_TIMEOUT_S = 300.0  # longest wait for one batch (process start included) before the job fails
# DataLoader looks for dead loader processes only when a wait for a batch times out: short waits,
# repeated up to LOAD_TIMEOUT_S, find one within this many seconds.
LIVENESS_CHECK_S = 5.0
_TIMED_OUT = "DataLoader timed out"
MAX_WORKERS = 64
MAX_PREFETCH = 64
DEFAULT_PREFETCH = 2
# Modules the forkserver imports once, so that a loader process does not import torch itself.
_PRELOAD = ["torch", "numpy", "PIL.Image", "mcl_worker.data"]


@dataclass(frozen=True)
class LoaderOptions:
    """How a job loads its images: loader processes (0 = in the calling thread) and the batches
    each keeps ready. The wire's `data` object (workers, prefetch)."""

    workers: int = 0
    prefetch: int = DEFAULT_PREFETCH

    def __post_init__(self) -> None:
        for name, value, high in (("workers", self.workers, MAX_WORKERS), ("prefetch", self.prefetch, MAX_PREFETCH)):
            low = 0 if name == "workers" else 1
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidArgument(f"data.{name}", f"must be an integer in [{low}, {high}], got {value!r}")


def default_workers(decodes: bool) -> int:
    """Loader processes when a job leaves data.workers out: none for images already in memory
    (shipping a batch between processes costs more than gathering it), else one per CPU this
    process may use but one (left to the training loop), at most 4."""
    if not decodes:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cpus - 1))


def loader_options(body: dict[str, Any], decodes: bool) -> LoaderOptions:
    """A job body's `data` object as LoaderOptions; an absent workers takes default_workers."""
    data = body.get("data", {})
    return LoaderOptions(
        workers=data.get("workers", default_workers(decodes)), prefetch=data.get("prefetch", DEFAULT_PREFETCH),
    )


class DataLoadingError(ComputeError):
    """The loader processes failed (one died, or a batch took longer than LOAD_TIMEOUT_S)."""

    def __init__(self, workers: int, reason: str) -> None:
        super().__init__(
            f"data.workers: the {workers} loader process(es) failed: {reason}; if it recurs, set data.workers to 0 "
            "to load in the training process",
            details={"path": "data.workers"},
        )


class LoaderPool:
    """Loader processes kept from one plan to the next: `load` hands out the images of a plan's
    batches, in order, and leaves the processes running for the next plan of the same
    `get_images`; close() ends them. One plan at a time (LoaderPools lends a pool to one job).

    The processes are a torch DataLoader with persistent workers whose sampler yields the rows of
    the current plan's batches: a new plan costs a message to each process, not new processes
    and a new copy of the dataset. A plan that ends early (an error, the job cancelled or
    failed) ends the processes too, so that no batch of it is still loading when the next
    plan starts.
    """

    def __init__(self, options: LoaderOptions) -> None:
        self.options = options
        self._plan = _Plan()
        self._source: tuple[GetImages, bool] | None = None  # what the running processes load
        self._loader: DataLoader[Any] | None = None
        self._batches: Iterator[Any] | None = None  # the DataLoader's iterator, reset for every plan

    def load(
        self, get_images: GetImages, batches: Sequence[torch.Tensor], *, pin_memory: bool = False,
    ) -> Generator[torch.Tensor, None, None]:
        """The images of `batches` (int64 index tensors), in order, as uint8 [B, C, H, W] CPU tensors."""
        if self.options.workers == 0 or not batches:
            return (get_images(batch) for batch in batches)
        return self._prefetched(get_images, batches, pin_memory)

    def close(self) -> None:
        """Ends the loader processes, if any run; the next plan starts new ones."""
        batches, self._batches, self._loader, self._source = self._batches, None, None, None
        if batches is not None:
            # Its __del__ would do the same, but only once nothing refers to it any more (a
            # traceback can hold it for as long as an error lives).
            batches._shutdown_workers()  # type: ignore[attr-defined]

    def _prefetched(
        self, get_images: GetImages, batches: Sequence[torch.Tensor], pin_memory: bool,
    ) -> Generator[torch.Tensor, None, None]:
        workers = self.options.workers
        if self._source != (get_images, pin_memory):
            self.close()
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)  # no effect once the forkserver runs
            self._loader = DataLoader(
                _Images(get_images), sampler=self._plan, batch_size=None, num_workers=workers,
                prefetch_factor=self.options.prefetch, pin_memory=pin_memory, timeout=LIVENESS_CHECK_S,
                multiprocessing_context=context, persistent_workers=True,
            )
            self._source = (get_images, pin_memory)
        assert self._loader is not None
        self._plan.batches = [batch.numpy() for batch in batches]
        # Errors are raised outside their `except` block: as their __context__, DataLoader's
        # exception would keep the loader processes alive for as long as the error lives.
        failure: str | None = None
        try:
            self._batches = iter(self._loader)  # the first plan starts the processes; later ones resume them
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # pickling the dataset for the loader processes
            failure = f"the dataset cannot be sent to them ({exc})"
        except RuntimeError as exc:  # one exited since the last plan
            failure = str(exc)
        if failure is not None:
            self.close()
            raise DataLoadingError(workers, failure)
        delivered = 0
        try:
            waited = 0.0
            while True:
                try:
                    item = next(self._batches)
                except StopIteration:
                    return
                except RuntimeError as exc:  # DataLoader's: a process exited, or a wait timed out
                    timed_out = str(exc).startswith(_TIMED_OUT)
                    if timed_out and waited + LIVENESS_CHECK_S < LOAD_TIMEOUT_S:
                        waited += LIVENESS_CHECK_S  # every process alive: wait on
                        continue
                    failure = f"no batch came within {LOAD_TIMEOUT_S:.0f} s" if timed_out else str(exc)
                except (ConnectionError, EOFError) as exc:
                    failure = f"one ended while handing over a batch ({exc})"
                if failure is not None:
                    raise DataLoadingError(workers, failure)
                if isinstance(item, _Failure):
                    raise item.rebuilt()
                waited = 0.0
                delivered += 1
                yield item
        finally:
            if delivered < len(batches):  # the plan ended early: some of its batches may still be loading
                self.close()


class BatchLoader:
    """The images of `batches` (int64 index tensors), in order, as uint8 [B, C, H, W] CPU tensors,
    from loader processes of its own that end with the iteration."""

    def __init__(
        self, get_images: GetImages, batches: Sequence[torch.Tensor], options: LoaderOptions, *, pin_memory: bool = False,
    ) -> None:
        self._get_images = get_images
        self._batches = batches
        self._options = options
        self._pin_memory = pin_memory

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[torch.Tensor]:
        pool = LoaderPool(self._options)
        try:
            yield from pool.load(self._get_images, self._batches, pin_memory=self._pin_memory)
        finally:
            pool.close()


class _Plan(Sampler[np.ndarray]):
    """The sampler of a pool's DataLoader: the rows of each batch of the current plan, as one
    index (a loader process loads whole batches). Read in this process only, when a plan starts."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _Images(Dataset[Any]):
    """The images of the rows a loader process is sent, or the exception loading them raised."""

    def __init__(self, get_images: GetImages) -> None:
        self.get_images = get_images

    def __getitem__(self, rows: np.ndarray) -> torch.Tensor | _Failure:  # type: ignore[override]
        try:
            return self.get_images(torch.from_numpy(rows))
        except Exception as exc:  # noqa: BLE001 - carried back to the job, which raises it
            return _Failure.of(exc)


@dataclass(frozen=True)
class _Failure:
    """An exception the dataset raised in a loader process, carried back whole (class, args,
    fields) rather than as DataLoader's RuntimeError holding its traceback text, which would read
    as a failure of the loader processes."""

    error: type[Exception]
    args: tuple[Any, ...]
    fields: dict[str, Any]

    @staticmethod
    def of(exc: Exception) -> _Failure:
        failure = _Failure(type(exc), exc.args, dict(vars(exc)))
        try:
            pickle.dumps(failure)
        except Exception:  # noqa: BLE001 - a class or a field that does not pickle: its text still does
            return _Failure(RuntimeError, (f"{type(exc).__name__}: {exc}",), {})
        return failure

    def rebuilt(self) -> Exception:
        exc = self.error.__new__(self.error)
        exc.args = self.args
        vars(exc).update(self.fields)
        return exc
