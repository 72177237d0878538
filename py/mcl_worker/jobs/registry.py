"""The job registry: what a job is, what it may ask of the worker, and how it reports.

A job is a function `run(body, ctx) -> result body`, registered under its wire `type`:

    @job("sleep")
    def sleep(body: Body, ctx: JobContext) -> Body: ...

It runs on a pool thread (or, for `inline=True`, directly on the server's I/O thread: only for
jobs that finish in microseconds and never block, such as `ping`). An exception becomes an
`error` reply: one that carries a wire `code` (WireError, mcl_worker.errors.ComputeError) keeps
its code, message and details; a CUDA out-of-memory error is `OUT_OF_MEMORY` naming the job
(jobs/out_of_memory.py); any other is `JOB_FAILED` with the exception's type.

A job's progress is paced (JobContext.progress), so a job that reports every tiny step cannot
flood the client or delay the replies queued behind it: the first PROGRESS_BURST messages go out
as they come, then at most one per PROGRESS_INTERVAL_S. One held back is replaced by the next,
and the last one held back goes out before the job's final reply. The jobs whose client sets the
rate itself (those whose request takes `progress_every`, CLIENT_RATED_JOBS) send every progress
it asked for: each is a training step's worth of compute apart, and a client may read every
step's loss from them.

Under torchrun a job is either *collective*, run by every rank on the same body
(mcl_worker.jobs.collective), or run by rank 0 alone. protocol.json marks the collective ones:
those that compute with the model or the data (each rank doing its share) and those that create
the objects they use, so every rank holds them under the same handle.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import distributed
from ..data.loader_pools import LoaderPools
from ..wire import WireError
from ..wire.protocol import load_protocol
from ..wire.schema import resolve
from .out_of_memory import naming_out_of_memory

Body = dict[str, Any]
JobFn = Callable[[Body, "JobContext"], Body]
T = TypeVar("T")

PROGRESS_BURST = 10
PROGRESS_INTERVAL_S = 0.05
_JOBS: dict[str, Any] = load_protocol()["jobs"]


def _request_fields(job_type: str) -> set[str]:
    request: dict[str, Any] = _JOBS[job_type]["request"]
    return set((resolve(request["$ref"]) if "$ref" in request else request).get("properties", {}))


# Jobs that take `progress_every`: their progress is not paced (see the module's docstring).
CLIENT_RATED_JOBS = frozenset(t for t in _JOBS if "progress_every" in _request_fields(t))
# Jobs every rank runs (see the module's docstring).
COLLECTIVE_JOBS = frozenset(t for t, spec in _JOBS.items() if spec["collective"])


@dataclass(frozen=True)
class WorkerConfig:
    """What jobs may read about the worker serving them."""

    max_message_bytes: int
    jobs: int
    world_size: int = field(default_factory=distributed.world_size)


class WorkerState:
    """Objects the worker keeps between jobs (models, datasets, embeddings), named by handle.

    Thread-safe: jobs on different pool threads share one instance.

    With several ranks, collective jobs number their handles from even numbers and the jobs of
    rank 0 alone from odd ones: collective jobs run in the same order on every rank, so the
    handles they make agree across ranks whatever rank 0 did meanwhile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, object] = {}
        self._ranks = distributed.world_size()
        self._counter = itertools.count(1, 2 if self._ranks > 1 else 1)
        self._collective_counter = itertools.count(2, 2) if self._ranks > 1 else self._counter
        self._on_every_rank: set[str] = set()  # handles made by collective jobs (with several ranks)
        self._freed_collective: list[str] = []
        # Loader processes kept between the jobs that load a dataset's images, by dataset handle.
        self.loaders = LoaderPools()

    def put(self, value: object, prefix: str) -> str:
        """Stores `value` and returns its new handle, e.g. `model:3`."""
        collective = _scope.collective and self._ranks > 1
        with self._lock:
            handle = f"{prefix}:{next(self._collective_counter if collective else self._counter)}"
            self._objects[handle] = value
            if collective:
                self._on_every_rank.add(handle)
        return handle

    def on_every_rank(self, handle: str) -> bool:
        """True for a handle that every rank holds (one that a collective job made)."""
        with self._lock:
            return handle in self._on_every_rank or self._ranks == 1

    def put_as(self, handle: str, value: object) -> None:
        """Stores `value` under a handle chosen elsewhere (rank 0's, on another rank)."""
        with self._lock:
            self._objects[handle] = value

    def take_freed_collective(self) -> list[str]:
        """Handles of collective jobs freed since the last call (other ranks drop them too)."""
        with self._lock:
            freed, self._freed_collective = self._freed_collective, []
        return freed

    def get(self, handle: str, kind: type[T]) -> T:
        """The object behind `handle`; NOT_FOUND if absent, INVALID_BODY if not a `kind`."""
        with self._lock:
            value = self._objects.get(handle)
        if value is None:
            raise WireError("NOT_FOUND", f"the worker holds no handle {handle!r}", details={"handle": handle})
        if not isinstance(value, kind):
            raise WireError(
                "INVALID_BODY",
                f"handle {handle!r} is a {type(value).__name__}, not a {kind.__name__}",
                details={"handle": handle},
            )
        return value

    def free(self, handle: str) -> None:
        """Drops `handle`; NOT_FOUND if the worker does not hold it."""
        with self._lock:
            if self._objects.pop(handle, None) is None:
                raise WireError("NOT_FOUND", f"the worker holds no handle {handle!r}", details={"handle": handle})
            if handle in self._on_every_rank:
                self._on_every_rank.discard(handle)
                if distributed.rank() == 0:
                    self._freed_collective.append(handle)
        self.loaders.release(handle)

    def handles(self) -> list[str]:
        with self._lock:
            return list(self._objects)


class JobContext:
    """What a running job may do besides computing: report progress, notice cancellation."""

    def __init__(
        self,
        job_id: int,
        job_type: str,
        state: WorkerState,
        config: WorkerConfig,
        send_progress: Callable[[Body], None],
    ) -> None:
        self.id = job_id
        self.type = job_type
        self.state = state
        self.config = config
        self._send_progress = send_progress
        self._paced = job_type not in CLIENT_RATED_JOBS
        self._progress_lock = threading.Lock()
        self._progress_sent = 0
        self._progress_at = 0.0
        self._progress_held: Body | None = None
        self._cancelled = False
        # Held until cancel() releases it, so sleep() can wait on it. A Lock, not an Event: one
        # context is made per request, and an Event costs forty times as much to create.
        self._cancel_signal = threading.Lock()
        self._cancel_signal.acquire()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Asks the job to stop at its next cancellation point (called by the server's I/O thread)."""
        if not self._cancelled:
            self._cancelled = True
            self._cancel_signal.release()

    def check_cancelled(self) -> None:
        """A cancellation point: raises CANCELLED once the client has cancelled the job. In a
        collective job it is one on every rank (which must all reach it equally often)."""
        if distributed.any_rank(self._cancelled) if _scope.collective else self._cancelled:
            raise WireError("CANCELLED", f"job {self.id} ({self.type}) was cancelled")

    def sleep(self, seconds: float) -> None:
        """Sleeps, waking at once to raise CANCELLED if the job is cancelled meanwhile."""
        if self._cancel_signal.acquire(timeout=seconds):
            self._cancel_signal.release()  # stays released for any other waiter
            self.check_cancelled()

    def progress(self, body: Body) -> None:
        """Sends a `progress` message for this job, or, past the burst of a paced job, holds it back
        if the last one went out less than PROGRESS_INTERVAL_S ago (see the module's docstring);
        safe from any thread."""
        with self._progress_lock:
            now = time.monotonic()
            if self._paced and self._progress_sent >= PROGRESS_BURST and now - self._progress_at < PROGRESS_INTERVAL_S:
                self._progress_held = body
                return
            self._progress_sent += 1
            self._progress_at = now
            self._progress_held = None
            self._send_progress(body)  # under the lock: two threads' messages go out in order

    def send_held_progress(self) -> None:
        """Sends the progress held back last, if any: called when the job ends, before its reply."""
        with self._progress_lock:
            held, self._progress_held = self._progress_held, None
            if held is not None:
                self._send_progress(held)


class _Scope(threading.local):
    collective = False


_scope = _Scope()


@contextmanager
def collective_scope() -> Iterator[None]:
    """Marks the current thread as running a collective job (for WorkerState's numbering)."""
    _scope.collective = True
    try:
        yield
    finally:
        _scope.collective = False


@dataclass(frozen=True)
class JobSpec:
    type: str
    run: JobFn  # runs the job on this rank (mcl_worker.jobs.collective runs a collective one on every rank)
    inline: bool
    collective: bool = False


_registry: dict[str, JobSpec] = {}


def job(job_type: str, *, inline: bool = False) -> Callable[[JobFn], JobFn]:
    """Registers `run` as the job `job_type`; `inline` jobs run on the I/O thread (see above)."""

    def register(run: JobFn) -> JobFn:
        if job_type in _registry:
            raise ValueError(f"job type {job_type!r} is already registered")
        collective = job_type in COLLECTIVE_JOBS
        if collective and inline:
            raise ValueError(f"job type {job_type!r}: a collective job (protocol.json) cannot run inline")
        run_here = _sending_held_progress(naming_out_of_memory(job_type, run))
        _registry[job_type] = JobSpec(job_type, run_here, inline, collective)
        return run

    return register


def _sending_held_progress(run: JobFn) -> JobFn:
    """`run`, then the progress it had held back: the last progress reaches the client before the reply."""

    def run_then_send(body: Body, ctx: JobContext) -> Body:
        try:
            return run(body, ctx)
        finally:
            ctx.send_held_progress()

    return run_then_send


def lookup(job_type: str) -> JobSpec | None:
    return _registry.get(job_type)


def registered() -> Mapping[str, JobSpec]:
    return dict(_registry)
