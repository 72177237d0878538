"""The process group of data-parallel workers (one `mcl-worker` process per device under
torchrun) and the primitives compute code splits its work with: `rank()`/`world_size()`,
`shard()` for a rank's contiguous slice, `all_gather_with_grad` for contrastive negatives across
ranks, `average_gradients` where no DistributedDataParallel wraps the model (clip.train),
`any_rank` for a flag one rank knows. Outside torch.distributed (a single worker) they are
identities: rank 0 of 1. Running a job on every rank is mcl_worker.jobs.collective's.
"""

from __future__ import annotations

import os
import socket
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def shard(n: int, of_rank: int | None = None, ranks: int | None = None) -> slice:
    """The contiguous slice of n items that rank `of_rank` (default: this rank) of `ranks`
    handles: rank r gets [r*n//W, (r+1)*n//W); the batch planner makes every batch a multiple of W."""
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
    t = torch.tensor([int(flag)], device=comm_device())
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


class _Group:
    """What init learned about the group besides torch's own state."""

    def __init__(self) -> None:
        self.store: dist.Store | None = None
        self.size = 1
        self.processes: dict[int, tuple[str, int]] = {}  # rank -> (host, pid)


_group = _Group()


def world_size_at_start() -> int:
    return _group.size


def store() -> dist.Store:
    """The key-value store of the group (keys under mcl/); only after init."""
    if _group.store is None:
        raise RuntimeError("the process group is not initialised: call distributed.init() first")
    return _group.store


def processes() -> dict[int, tuple[str, int]]:
    """Each rank's host and process id, as the ranks announced them at init."""
    return dict(_group.processes)


def launched() -> bool:
    """True when torchrun (or equivalent RANK / WORLD_SIZE variables) asks for several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def comm_device() -> torch.device:
    """Where the group's collectives take their tensors: the current GPU under nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def init(timeout_s: float | None = None) -> int:
    """Joins the process group named by the environment (torchrun's RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT; LOCAL_RANK picks the GPU) and returns this rank. gloo on CPUs,
    nccl on GPUs. `timeout_s` (default MCL_DIST_TIMEOUT_S, else 600) bounds a collective that
    waits on a rank which is alive but stuck."""
    timeout = timedelta(seconds=timeout_s or float(os.environ.get("MCL_DIST_TIMEOUT_S", "600")))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    rendezvous_store, my_rank, size = next(dist.rendezvous("env://", timeout=timeout))
    dist.init_process_group("nccl" if cuda else "gloo", store=rendezvous_store, rank=my_rank, world_size=size, timeout=timeout)
    _group.store = dist.PrefixStore("mcl/", rendezvous_store)
    _group.size = size
    _group.store.set(f"process/{my_rank}", f"{socket.gethostname()} {os.getpid()}")
    dist.barrier()
    for r in range(size):
        host, pid = _group.store.get(f"process/{r}").decode().rsplit(" ", 1)
        _group.processes[r] = (host, int(pid))
    return my_rank
