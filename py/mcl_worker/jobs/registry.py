"""The job registry: what a job is, what it may ask of the worker, and how it reports.

A job is a function `run(body, ctx) -> result body`, registered under its wire `type`:

    @job("sleep")
    def sleep(body: Body, ctx: JobContext) -> Body: ...

It runs on a pool thread (or, for `inline=True`, directly on the server's I/O thread: only for
jobs that finish in microseconds and never block, such as `ping`). An exception becomes an
`error` reply: one that carries a wire `code` (WireError, mcl_worker.errors.ComputeError) keeps
its code, message and details; any other is `JOB_FAILED` with the exception's type.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..wire import WireError

Body = dict[str, Any]
JobFn = Callable[[Body, "JobContext"], Body]
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerConfig:
    """What jobs may read about the worker serving them."""

    max_message_bytes: int
    jobs: int
    world_size: int = 1


class WorkerState:
    """Objects the worker keeps between jobs (models, datasets, embeddings), named by handle.

    Thread-safe: jobs on different pool threads share one instance.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, object] = {}
        self._counter = itertools.count(1)

    def put(self, value: object, prefix: str) -> str:
        """Stores `value` and returns its new handle, e.g. `model:3`."""
        with self._lock:
            handle = f"{prefix}:{next(self._counter)}"
            self._objects[handle] = value
        return handle

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
        """A cancellation point: raises CANCELLED once the client has cancelled the job."""
        if self._cancelled:
            raise WireError("CANCELLED", f"job {self.id} ({self.type}) was cancelled")

    def sleep(self, seconds: float) -> None:
        """Sleeps, waking at once to raise CANCELLED if the job is cancelled meanwhile."""
        if self._cancel_signal.acquire(timeout=seconds):
            self._cancel_signal.release()  # stays released for any other waiter
            self.check_cancelled()

    def progress(self, body: Body) -> None:
        """Sends a `progress` message for this job; safe from any thread."""
        self._send_progress(body)


@dataclass(frozen=True)
class JobSpec:
    type: str
    run: JobFn
    inline: bool


_registry: dict[str, JobSpec] = {}


def job(job_type: str, *, inline: bool = False) -> Callable[[JobFn], JobFn]:
    """Registers `run` as the job `job_type`; `inline` jobs run on the I/O thread (see above)."""

    def register(run: JobFn) -> JobFn:
        if job_type in _registry:
            raise ValueError(f"job type {job_type!r} is already registered")
        _registry[job_type] = JobSpec(job_type, run, inline)
        return run

    return register


def lookup(job_type: str) -> JobSpec | None:
    return _registry.get(job_type)


def registered() -> Mapping[str, JobSpec]:
    return dict(_registry)
