"""The loader processes a worker keeps between jobs: one LoaderPool per dataset handle.

Loader processes take a second or so to start and deliver their first batch; a stage runs many
train jobs on one dataset, so the jobs borrow the pool of their dataset handle and hand it back
with its processes still running:

    with pools.borrowed("dataset:1", LoaderOptions(workers=2)) as pool:
        for images in pool.load(dataset.get_images, batches): ...

A pool serves one job at a time: a job that finds it lent (another job on the same dataset)
gets a pool of its own, ended when it hands it back. A job with other options than the kept
pool's ends the kept one and keeps its own. Only the pool of the dataset handle used last is kept
idle: a job on another handle ends the idle pools of the others, so that a worker serving run
after run (a connected one, whose clients may not free their dataset handles) holds the loader
processes of one dataset at most. release(handle) ends the pool of a freed handle, at once or,
if a job holds it, when the job hands it back; close() ends every pool (worker shutdown).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .batch_loader import LoaderOptions, LoaderPool


class LoaderPools:
    """LoaderPools by dataset handle; thread-safe (jobs on different pool threads share one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, LoaderPool] = {}
        self._lent: set[str] = set()
        self._closed = False

    @contextmanager
    def borrowed(self, handle: str, options: LoaderOptions) -> Iterator[LoaderPool]:
        """The pool kept for `handle` with these options (a new one if none is), lent to the caller
        until the block ends; a pool of its own, ended then, if another job holds the kept one."""
        with self._lock:
            own = self._closed or handle in self._lent
            stale = [self._kept.pop(other) for other in list(self._kept) if other != handle and other not in self._lent]
            pool = None if own else self._kept.get(handle)
            if pool is not None and pool.options != options:
                stale.append(self._kept.pop(handle))
                pool = None
            if pool is None:
                pool = LoaderPool(options)
                if not own:
                    self._kept[handle] = pool
            if not own:
                self._lent.add(handle)
        for idle in stale:
            idle.close()
        try:
            yield pool
        finally:
            with self._lock:
                if not own:
                    self._lent.discard(handle)
                kept = self._kept.get(handle) is pool
            if not kept:
                pool.close()

    def release(self, handle: str) -> None:
        """Ends the pool of `handle` (freed): now, or when the job that holds it hands it back."""
        with self._lock:
            pool = self._kept.pop(handle, None)
            lent = handle in self._lent
        if pool is not None and not lent:
            pool.close()

    def close(self) -> None:
        """Ends every pool not lent now, and each lent one when its job hands it back."""
        with self._lock:
            self._closed = True
            idle = [pool for handle, pool in self._kept.items() if handle not in self._lent]
            self._kept.clear()
        for pool in idle:
            pool.close()
