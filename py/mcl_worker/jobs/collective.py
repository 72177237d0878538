"""Collective jobs: jobs that every rank of a data-parallel worker runs (protocol.json marks
them `collective`), each rank doing its share through mcl_worker.distributed.

Rank 0 serves ZeroMQ as a single worker does; ranks > 0 run `follow()`. Every collective job
that rank 0 starts (`run_job`) is first broadcast to all ranks, each of which runs the same job
function on the same body; only rank 0 replies. Collective jobs run one at a time, in the order
rank 0 starts them; any other job runs on rank 0 alone.

A job crosses from rank 0 to the others as msgpack in torch.distributed's key-value store
(its type, body without tensors, tensor shapes; the followers wait on the store, so an idle
worker never hits a collective timeout) plus one broadcast per tensor: never pickle, so nothing
from the wire is ever unpickled. Tensors that only rank 0 holds (handle.put's) go along with
the job that names them. After each job every rank says whether its part succeeded.

Failures: an error every rank raises alike (a bad body, a missing handle, cancel, a non-finite
loss) ends the job everywhere and the group goes on. A rank that dies, or fails alone, leaves
the group; rank 0 answers RANK_LOST naming it (found by its process, on the same host) and
refuses later collective jobs. Multi-node: ranks on other hosts are named -1, and
`checkpoint.load` / `dataset.open` paths must be readable on every node.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import msgpack
import torch
import torch.distributed as dist
from torch import Tensor

from .. import distributed
from ..errors import ComputeError
from ..wire import WireError
from .registry import Body, JobContext, JobSpec, WorkerConfig, WorkerState, collective_scope, lookup

log = logging.getLogger("mcl_worker.collective")


class RankLost(ComputeError):
    """A rank died, or left after an error of its own, during a collective job: the group is
    unusable. `error` is what the rank reported before leaving, if it could."""

    def __init__(self, job_type: str, lost: list[int], cause: BaseException, error: str | None) -> None:
        who = f"rank {lost[0]}" if len(lost) == 1 else (f"ranks {lost}" if lost else "a rank on another host")
        what = (f"failed during {job_type} ({error}) and left" if error
                else f"died during {job_type} ({type(cause).__name__}: {cause})")
        super().__init__(
            f"{who} of {distributed.world_size_at_start()} {what}; "
            "the data-parallel group is broken: restart the worker (torchrun) and resume the run, "
            "which continues from its last completed stage or checkpoint",
            details={"reason": "RANK_LOST", "rank": lost[0] if lost else -1, "ranks": lost},
        )


class RankFailed(ComputeError):
    """The job failed on another rank (but not on rank 0)."""

    def __init__(self, job_type: str, rank: int, message: str) -> None:
        super().__init__(
            f"{job_type} failed on rank {rank}: {message}", details={"reason": "RANK_FAILED", "rank": rank}
        )


class _Jobs:
    """The collective jobs of this rank."""

    def __init__(self) -> None:
        self.seq = 0  # collective jobs started (rank 0) / run (followers)
        self.lock = threading.Lock()  # one collective job at a time, in the order they get it
        self.broken: RankLost | None = None


_jobs = _Jobs()


def stop_after_collective(stop: Callable[[], None], grace_s: float = 5.0) -> None:
    """Calls `stop` (rank 0's server) once the collective job in flight, if any, has ended, or
    after `grace_s`. torchrun stops every rank when one dies: this lets rank 0 first answer the
    job that the dead rank broke with RANK_LOST. Immediate when not distributed."""
    if not distributed.is_distributed():
        stop()
        return

    def wait_then_stop() -> None:
        if _jobs.lock.acquire(timeout=grace_s):
            _jobs.lock.release()
            time.sleep(0.2)  # the job's pool thread encodes and queues its reply just after
        stop()

    threading.Thread(target=wait_then_stop, name="mcl-dist-stop", daemon=True).start()


def shutdown() -> None:
    """Rank 0: tells the followers to exit, then leaves the group. A no-op when not distributed."""
    if not distributed.is_distributed():
        return
    if dist.get_rank() == 0 and _jobs.broken is None:
        with _jobs.lock:
            _jobs.seq += 1
            distributed.store().set(f"job/{_jobs.seq}", msgpack.packb({"type": ""}))
    dist.destroy_process_group()


# -- rank 0: running a collective job everywhere -------------------------------------------------


def run_job(spec: JobSpec, body: Body, ctx: JobContext) -> Body:
    """Runs a job the server received: a collective one on every rank when there are several,
    any other on this rank alone."""
    if spec.collective and distributed.is_distributed():
        return _run_on_every_rank(spec, body, ctx)
    return spec.run(body, ctx)


def _run_on_every_rank(spec: JobSpec, body: Body, ctx: JobContext) -> Body:
    store = distributed.store()
    with _jobs.lock:
        if _jobs.broken is not None:
            raise _jobs.broken
        _jobs.seq += 1
        seq = _jobs.seq
        tensors: list[Tensor] = []
        message = {
            "type": spec.type,
            "body": _without_tensors(body, tensors),
            "shared": _rank0_tensors(body, ctx.state, tensors),
            "freed": ctx.state.take_freed_collective(),
        }
        message["tensors"] = [[_dtype_name(t.dtype), list(t.shape)] for t in tensors]
        try:
            store.set(f"job/{seq}", msgpack.packb(message))
            for t in tensors:
                dist.broadcast(t.contiguous().to(distributed.comm_device()), src=0)
            with collective_scope():
                result = spec.run(body, ctx)
            failed = _failed_ranks(ok=True)
        except Exception as exc:
            if not _is_transport_error(exc):
                try:
                    _failed_ranks(ok=False)  # an error of the job itself: the others say how they did
                except Exception as agreeing:
                    exc = agreeing
            if _is_transport_error(exc):
                lost = _lost_ranks()
                _jobs.broken = RankLost(spec.type, lost, exc, _reported_error(seq, lost))
                raise _jobs.broken from exc
            raise
        finally:
            if _jobs.broken is None:
                store.delete_key(f"job/{seq - 1}")
        if failed:
            errors = [f"error/{seq}/{r}" for r in failed]
            message_of = store.get(errors[0]).decode()
            for key in errors:
                store.delete_key(key)
            raise RankFailed(spec.type, failed[0], message_of)
        return result


def _failed_ranks(ok: bool) -> list[int]:
    """Every rank says whether its part of the job succeeded; the ranks that failed."""
    flags = [torch.zeros(1, dtype=torch.int32, device=distributed.comm_device()) for _ in range(dist.get_world_size())]
    dist.all_gather(flags, torch.tensor([int(ok)], dtype=torch.int32, device=distributed.comm_device()))
    return [r for r, flag in enumerate(flags) if not int(flag.item())]


def _reported_error(seq: int, ranks: list[int]) -> str | None:
    """What the first of `ranks` reported about job `seq` before leaving, if anything."""
    store = distributed.store()
    keys = [f"error/{seq}/{r}" for r in ranks]
    if not keys or not store.check(keys[:1]):
        return None
    return store.get(keys[0]).decode()


def _is_transport_error(exc: BaseException) -> bool:
    """A collective failed: a peer's connection closed or timed out (gloo raises a plain
    RuntimeError naming itself)."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or (isinstance(exc, RuntimeError) and ("gloo" in text or "NCCL" in text))


def _lost_ranks(wait_s: float = 2.0) -> list[int]:
    """Ranks on this host whose process is gone (others cannot be checked from here). A peer's
    sockets close before its process has finished exiting, so this waits up to `wait_s` for one."""
    here = socket.gethostname()
    deadline = time.monotonic() + wait_s
    while True:
        lost = [r for r, (host, pid) in sorted(distributed.processes().items()) if r and host == here and not _alive(pid)]
        if lost or time.monotonic() > deadline:
            return lost
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie has exited
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _without_tensors(value: Any, tensors: list[Tensor]) -> Any:
    """The body with each tensor replaced by {"$tensor": k} (its index in `tensors`)."""
    if isinstance(value, Tensor):
        tensors.append(value)
        return {"$tensor": len(tensors) - 1}
    if isinstance(value, dict):
        return {k: _without_tensors(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_tensors(v, tensors) for v in value]
    return value


def _rank0_tensors(body: Body, state: WorkerState, tensors: list[Tensor]) -> dict[str, int]:
    """Tensors the body names by a handle that only rank 0 holds (handle.put's): they go along."""
    shared: dict[str, int] = {}
    for name in _strings(body):
        if name not in shared and not state.on_every_rank(name):
            try:
                tensor = state.get(name, Tensor)
            except WireError:  # not a handle, or not a tensor's: the job will say so
                continue
            shared[name] = len(tensors)
            tensors.append(tensor)
    return shared


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# -- ranks > 0: following rank 0 -----------------------------------------------------------------


def follow(state: WorkerState) -> int:
    """Ranks > 0: runs every collective job rank 0 starts, until rank 0 shuts down (returns 0)
    or the group breaks (returns 1)."""
    store = distributed.store()
    me = dist.get_rank()
    config = WorkerConfig(max_message_bytes=0, jobs=1)
    while True:
        seq = _jobs.seq = _jobs.seq + 1
        try:
            message = msgpack.unpackb(_wait_for(store, f"job/{seq}"))
            if message["type"] == "":
                dist.destroy_process_group()
                return 0
            received = []
            for dtype, shape in message["tensors"]:
                t = torch.empty(shape, dtype=getattr(torch, dtype), device=distributed.comm_device())
                dist.broadcast(t, src=0)
                received.append(t.cpu())
        except Exception as exc:
            log.error("rank %d: lost rank 0 (%s); exiting", me, exc)
            return 1
        for handle in message["freed"]:
            try:
                state.free(handle)
            except WireError:  # made by a job that failed here: nothing to drop
                pass
        for handle, k in message["shared"].items():
            state.put_as(handle, received[k])
        spec = lookup(message["type"])
        assert spec is not None and spec.collective, message["type"]
        ctx = JobContext(seq, spec.type, state, config, lambda progress: None)
        ok = True
        try:
            with collective_scope():
                spec.run(_with_tensors(message["body"], received), ctx)
        except Exception as exc:
            if _is_transport_error(exc):
                log.error("rank %d: the group broke during %s (%s); exiting", me, spec.type, exc)
                return 1
            ok = False
            store.set(f"error/{seq}/{me}", f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}")
            if getattr(exc, "code", None) not in _SYMMETRIC_CODES:
                # Rank 0 may be inside a collective this rank will never join: leaving is the one
                # way to end it (rank 0 then answers RANK_LOST with the error stored above).
                log.error("rank %d: %s failed; leaving the group", me, spec.type, exc_info=exc)
                return 1
        for handle in message["shared"]:
            state.free(handle)
        try:
            _failed_ranks(ok)
        except Exception as exc:
            log.error("rank %d: the group broke after %s (%s); exiting", me, spec.type, exc)
            return 1


# Errors every rank raises at the same point of a job, from the same body and state (validation,
# handles) or from values that agree across ranks (the loss, the cancel flag): after them every
# rank goes on to the next job together. Any other error ends the rank that raised it.
_SYMMETRIC_CODES = frozenset({"INVALID_BODY", "NOT_FOUND", "CANCELLED", "NON_FINITE_LOSS"})


def _wait_for(store: dist.Store, key: str) -> bytes:
    """The value of `key`, waiting as long as it takes (the worker may idle for hours)."""
    while True:
        try:
            store.wait([key], timedelta(seconds=60))
        except dist.DistStoreError as exc:
            if "timeout" not in str(exc).lower():
                raise
            continue
        return store.get(key)


def _with_tensors(value: Any, tensors: list[Tensor]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$tensor"}:
            return tensors[value["$tensor"]]
        return {k: _with_tensors(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_tensors(v, tensors) for v in value]
    return value
