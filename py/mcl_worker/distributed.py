"""Data-parallel workers: one `mcl-worker` process per device under torchrun.

Rank 0 serves ZeroMQ as a single worker does; ranks > 0 run `follow()`. Every `collective`
job (see jobs/registry.py) that rank 0 starts is first broadcast to all ranks, each of which
runs the same job function on the same body; only rank 0 replies. Inside such a job the
functions below let the compute code split its work: `rank()`/`world_size()`, `shard()` for a
rank's contiguous slice, `all_gather_with_grad` for contrastive negatives across ranks,
`average_gradients` where no DistributedDataParallel wraps the model (clip.train).
Outside torch.distributed (a single worker) they are identities: rank 0 of 1.

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
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgpack
import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import ComputeError
from .wire import WireError

if TYPE_CHECKING:
    from .jobs.registry import Body, JobContext, JobSpec, WorkerState

log = logging.getLogger("mcl_worker.distributed")


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def shard(n: int, of_rank: int | None = None, ranks: int | None = None) -> slice:
    """The contiguous slice of n items that rank `of_rank` (default: this rank) of `ranks`
    handles: rank r gets [r*n//W, (r+1)*n//W), as ts/control/shard.ts cuts a batch."""
    r = rank() if of_rank is None else of_rank
    w = world_size() if ranks is None else ranks
    return slice(r * n // w, (r + 1) * n // w)


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenation over ranks along dim 0 of slices of known sizes; the backward is all_gather's
    adjoint: each rank gets the sum over ranks of the gradient of its own slice (a reduce-scatter)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, t: Tensor, sizes: list[int]
    ) -> Tensor:
        ctx.sizes = sizes  # type: ignore[attr-defined]
        ctx.rank = dist.get_rank()  # type: ignore[attr-defined]
        parts = [t.new_empty((n, *t.shape[1:])) for n in sizes]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, None]:
        # gloo has no reduce_scatter: all-reduce the whole (small) gradient and keep our rows.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        sizes: list[int] = ctx.sizes  # type: ignore[attr-defined]
        start = sum(sizes[: ctx.rank])  # type: ignore[attr-defined]
        return grad[start : start + sizes[ctx.rank]], None  # type: ignore[attr-defined]


class _AllReduceSumWithGrad(torch.autograd.Function):
    """Σ over ranks of `t`, on every rank. Each rank's loss reads the same sum, so the gradient
    of a rank's `t` is the sum over ranks of the gradients of the sum: another all-reduce."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, t: Tensor) -> Tensor:  # type: ignore[override]
        total = t.contiguous().clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def _shard_sizes(t: Tensor, total: int) -> list[int]:
    """The rows each rank holds when every rank holds its shard(total) of `total` rows; checks
    that `t` is this rank's."""
    slices = [shard(total, r) for r in range(world_size())]
    sizes = [s.stop - s.start for s in slices]
    if t.shape[0] != sizes[rank()]:
        raise ValueError(f"rank {rank()} holds {t.shape[0]} rows, but its shard of {total} has {sizes[rank()]}")
    return sizes


def all_gather_with_grad(t: Tensor, total: int) -> Tensor:
    """Every rank's `t`, its shard(total) of `total` rows, concatenated along dim 0 in rank order
    (the sizes follow from `total`: no collective to learn them), with the gradient flowing back
    to each rank's slice; `t` itself when not distributed.

    When every rank computes the same loss over the gathered tensor (open_clip's
    gather-with-grad), the backward sums the W identical gradients of a rank's slice, and
    DistributedDataParallel's mean divides by W again: the parameters get exactly the
    single-process gradient of that loss, with no rescaling.
    """
    if not is_distributed():
        return t
    return _AllGatherWithGrad.apply(t, _shard_sizes(t, total))


def all_gather(t: Tensor, total: int) -> Tensor:
    """Like all_gather_with_grad, without the gradient (for embeddings)."""
    if not is_distributed():
        return t
    with torch.no_grad():
        return _AllGatherWithGrad.apply(t.detach(), _shard_sizes(t, total))


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sums `t` over ranks in place and returns it; `t` itself when not distributed."""
    if is_distributed():
        dist.all_reduce(t)
    return t


def all_reduce_sum_with_grad(t: Tensor) -> Tensor:
    """The sum of `t` over ranks as a new tensor, with the gradient flowing back to every rank's
    `t` (see all_gather_with_grad for why no rescaling); `t` itself when not distributed."""
    if not is_distributed():
        return t
    return _AllReduceSumWithGrad.apply(t)


def average_gradients(params: Iterable[Tensor]) -> None:
    """Replaces each parameter's gradient by its mean over ranks; nothing when not distributed.
    Gradients of one device and dtype go flattened into buckets of about 25 MiB (DDP's default),
    one all-reduce a bucket: few collectives, and never more than a bucket copied at once."""
    if not is_distributed():
        return
    buckets: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    filled: dict[tuple[torch.device, torch.dtype], int] = {}
    for p in params:
        if p.grad is None:
            continue
        key = (p.grad.device, p.grad.dtype)
        buckets.setdefault(key, []).append(p.grad)
        filled[key] = filled.get(key, 0) + p.grad.numel() * p.grad.element_size()
        if filled[key] >= _GRADIENT_BUCKET_BYTES:
            _average(buckets.pop(key))
            del filled[key]
    for grads in buckets.values():
        _average(grads)


_GRADIENT_BUCKET_BYTES = 25 << 20


def _average(grads: list[Tensor]) -> None:
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, mean in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(mean.view_as(g))


def any_rank(flag: bool) -> bool:
    """True on every rank if `flag` is true on any (e.g. "cancelled", known to rank 0 alone)."""
    if not is_distributed():
        return flag
    t = torch.tensor([int(flag)], device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


# -- training -----------------------------------------------------------------------------------


def data_parallel(model: nn.Module) -> nn.Module:
    """`model` in DistributedDataParallel (gradients averaged over ranks); `model` itself alone."""
    if not is_distributed():
        return model
    device = next(model.parameters()).device
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


@contextmanager
def synced_batch_norm(model: nn.Module) -> Iterator[None]:
    """While open, every BatchNorm of `model` normalises a training batch with the statistics of
    the global batch (all ranks' samples), so W ranks train as one process would. torch's
    SyncBatchNorm does this on GPUs only; this works with any backend, and leaves the module
    tree (and so checkpoints) unchanged."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not is_distributed() or not norms:
        yield
        return
    for m in norms:
        m.forward = types.MethodType(_global_batch_norm, m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def _global_batch_norm(self: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    if not self.training:
        return type(self).forward(self, x)
    # mean = Σx / n, var = Σx² / n − mean², the sums and n taken over every rank's batch.
    dims = [0, *range(2, x.dim())]
    channels = x.shape[1]
    # The count travels with the sums: one all-reduce for the three.
    count = torch.tensor([x.numel() // channels], device=x.device, dtype=torch.float32)
    local = torch.cat([x.sum(dims).float(), x.square().sum(dims).float(), count])
    totals = all_reduce_sum_with_grad(local)
    n = totals[-1:].detach()
    mean = totals[:channels] / n
    var = totals[channels : 2 * channels] / n - mean.square()
    if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
        with torch.no_grad():
            assert self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
            unbiased = var * n / (n - 1).clamp(min=1)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
    shape = [1, channels] + [1] * (x.dim() - 2)
    y = (x - mean.view(shape).to(x.dtype)) * torch.rsqrt(var.view(shape) + self.eps).to(x.dtype)
    if self.affine:
        y = y * self.weight.view(shape) + self.bias.view(shape)
    return y


# -- the process group ------------------------------------------------------------------------


class RankLost(ComputeError):
    """A rank died, or left after an error of its own, during a collective job: the group is
    unusable. `error` is what the rank reported before leaving, if it could."""

    def __init__(self, job_type: str, lost: list[int], cause: BaseException, error: str | None) -> None:
        who = f"rank {lost[0]}" if len(lost) == 1 else (f"ranks {lost}" if lost else "a rank on another host")
        what = (f"failed during {job_type} ({error}) and left" if error
                else f"died during {job_type} ({type(cause).__name__}: {cause})")
        super().__init__(
            f"{who} of {world_size_at_start()} {what}; "
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


class _Group:
    """What rank 0 and the followers share besides the process group."""

    def __init__(self) -> None:
        self.store: dist.Store | None = None
        self.size = 1
        self.processes: dict[int, tuple[str, int]] = {}  # rank -> (host, pid)
        self.seq = 0  # collective jobs started (rank 0) / run (followers)
        self.lock = threading.Lock()  # one collective job at a time, in the order they get it
        self.broken: RankLost | None = None


_group = _Group()


def world_size_at_start() -> int:
    return _group.size


def launched() -> bool:
    """True when torchrun (or equivalent RANK / WORLD_SIZE variables) asks for several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def init(timeout_s: float | None = None) -> int:
    """Joins the process group named by the environment (torchrun's RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT; LOCAL_RANK picks the GPU) and returns this rank. gloo on CPUs,
    nccl on GPUs. Rank 0 then runs collective jobs on every rank (jobs/registry.py).
    `timeout_s` (default MCL_DIST_TIMEOUT_S, else 600) bounds a collective that waits on a
    rank which is alive but stuck."""
    from .jobs import registry

    timeout = timedelta(seconds=timeout_s or float(os.environ.get("MCL_DIST_TIMEOUT_S", "600")))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    store, my_rank, size = next(dist.rendezvous("env://", timeout=timeout))
    dist.init_process_group("nccl" if cuda else "gloo", store=store, rank=my_rank, world_size=size, timeout=timeout)
    _group.store = dist.PrefixStore("mcl/", store)
    _group.size = size
    _group.store.set(f"process/{my_rank}", f"{socket.gethostname()} {os.getpid()}")
    dist.barrier()
    for r in range(size):
        host, pid = _group.store.get(f"process/{r}").decode().rsplit(" ", 1)
        _group.processes[r] = (host, int(pid))
    if my_rank == 0:
        registry.set_collective_runner(_run_on_every_rank)
    return my_rank


def stop_after_collective(stop: Callable[[], None], grace_s: float = 5.0) -> None:
    """Calls `stop` (rank 0's server) once the collective job in flight, if any, has ended, or
    after `grace_s`. torchrun stops every rank when one dies: this lets rank 0 first answer the
    job that the dead rank broke with RANK_LOST. Immediate when not distributed."""
    if not is_distributed():
        stop()
        return

    def wait_then_stop() -> None:
        if _group.lock.acquire(timeout=grace_s):
            _group.lock.release()
            time.sleep(0.2)  # the job's pool thread encodes and queues its reply just after
        stop()

    threading.Thread(target=wait_then_stop, name="mcl-dist-stop", daemon=True).start()


def shutdown() -> None:
    """Rank 0: tells the followers to exit, then leaves the group. A no-op when not distributed."""
    if not is_distributed():
        return
    from .jobs import registry

    registry.set_collective_runner(None)
    if dist.get_rank() == 0 and _group.store is not None and _group.broken is None:
        with _group.lock:
            _group.seq += 1
            _group.store.set(f"job/{_group.seq}", msgpack.packb({"type": ""}))
    dist.destroy_process_group()


# -- rank 0: running a collective job everywhere -------------------------------------------------


def _run_on_every_rank(spec: JobSpec, body: Body, ctx: JobContext) -> Body:
    from .jobs.registry import collective_scope

    assert _group.store is not None
    with _group.lock:
        if _group.broken is not None:
            raise _group.broken
        _group.seq += 1
        seq = _group.seq
        tensors: list[Tensor] = []
        message = {
            "type": spec.type,
            "body": _without_tensors(body, tensors),
            "shared": _rank0_tensors(body, ctx.state, tensors),
            "freed": ctx.state.take_freed_collective(),
        }
        message["tensors"] = [[_dtype_name(t.dtype), list(t.shape)] for t in tensors]
        try:
            _group.store.set(f"job/{seq}", msgpack.packb(message))
            for t in tensors:
                dist.broadcast(t.contiguous().to(_device()), src=0)
            with collective_scope():
                result = spec.run_here(body, ctx)
            failed = _failed_ranks(ok=True)
        except Exception as exc:
            if not _is_transport_error(exc):
                try:
                    _failed_ranks(ok=False)  # an error of the job itself: the others say how they did
                except Exception as agreeing:
                    exc = agreeing
            if _is_transport_error(exc):
                lost = _lost_ranks()
                _group.broken = RankLost(spec.type, lost, exc, _reported_error(seq, lost))
                raise _group.broken from exc
            raise
        finally:
            if _group.broken is None:
                _group.store.delete_key(f"job/{seq - 1}")
        if failed:
            errors = [f"error/{seq}/{r}" for r in failed]
            message_of = _group.store.get(errors[0]).decode()
            for key in errors:
                _group.store.delete_key(key)
            raise RankFailed(spec.type, failed[0], message_of)
        return result


def _failed_ranks(ok: bool) -> list[int]:
    """Every rank says whether its part of the job succeeded; the ranks that failed."""
    flags = [torch.zeros(1, dtype=torch.int32, device=_device()) for _ in range(dist.get_world_size())]
    dist.all_gather(flags, torch.tensor([int(ok)], dtype=torch.int32, device=_device()))
    return [r for r, flag in enumerate(flags) if not int(flag.item())]


def _reported_error(seq: int, ranks: list[int]) -> str | None:
    """What the first of `ranks` reported about job `seq` before leaving, if anything."""
    assert _group.store is not None
    keys = [f"error/{seq}/{r}" for r in ranks]
    if not keys or not _group.store.check(keys[:1]):
        return None
    return _group.store.get(keys[0]).decode()


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
        lost = [r for r, (host, pid) in sorted(_group.processes.items()) if r and host == here and not _alive(pid)]
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
    from .jobs import WorkerConfig, lookup
    from .jobs.registry import JobContext, collective_scope

    assert _group.store is not None
    store = _group.store
    me = dist.get_rank()
    config = WorkerConfig(max_message_bytes=0, jobs=1)
    while True:
        seq = _group.seq = _group.seq + 1
        try:
            message = msgpack.unpackb(_wait_for(store, f"job/{seq}"))
            if message["type"] == "":
                dist.destroy_process_group()
                return 0
            received = []
            for dtype, shape in message["tensors"]:
                t = torch.empty(shape, dtype=getattr(torch, dtype), device=_device())
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
                spec.run_here(_with_tensors(message["body"], received), ctx)
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
