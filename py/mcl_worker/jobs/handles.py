"""What compute jobs keep on the worker between jobs, and the jobs that hand it out or drop it.

Bulk data stays where it was made: a job stores its object in the WorkerState and answers with a
handle (`dataset:1`, `model:2`, `optimizer:3`, `embedding:4`); later jobs name it. Tensors cross
the wire only on `handle.get` (worker -> client) and `handle.put` (client -> worker, `tensor:5`).
A model lives on the device its create job named (`device`, default auto: the first CUDA device
when there is one, else the CPU), and what is made from it beside it; an uploaded tensor stays
where it arrived, in host memory.

The handle jobs are dictionary operations, so they run inline on the I/O thread (no hop to a pool
thread): a tensor is sent as a view of its memory and received as a view of its frame. The one
exception to "microseconds" is handle.get of a CUDA tensor, whose copy to host memory runs there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from ..errors import InvalidArgument
from ..lr_schedule import LrSchedule
from ..models import ContrastiveModel
from ..precision import resolve_device
from ..wire import WireError, wire_dtype
from .registry import Body, JobContext, job

T = TypeVar("T")


def worker_device(body: Body, ctx: JobContext) -> torch.device:
    """The device the request's `device` field names (auto, cpu, cuda, cuda:N); INVALID_BODY naming
    `device` for one this worker does not have, or one GPU for several data-parallel ranks."""
    name = body.get("device", "auto")
    try:
        device = resolve_device(name)
    except InvalidArgument as exc:
        raise WireError("INVALID_BODY", exc.message, details={"path": "device"}) from None
    if device.index is not None and ctx.config.world_size > 1:
        raise WireError(
            "INVALID_BODY", f"device: {name} names one GPU, but this worker runs {ctx.config.world_size} data-parallel"
            " ranks, each on its own (LOCAL_RANK); use auto or cuda", details={"path": "device"},
        )
    return device


@dataclass(eq=False)
class ModelEntry:
    """A model on the worker's device. `busy` is held by the job using it (train, embed,
    checkpoint), so that two jobs never touch the same weights at once."""

    model: ContrastiveModel
    device: torch.device
    busy: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def use(self, handle: str, job_type: str) -> Iterator[ContrastiveModel]:
        if not self.busy.acquire(blocking=False):
            raise WireError(
                "BUSY",
                f"{handle} is in use by another job; run {job_type} after that job has finished",
                details={"handle": handle},
            )
        try:
            yield self.model
        finally:
            self.busy.release()

    def checkpoint_metadata(self) -> dict[str, str]:
        """What checkpoint.save records about the model itself, under "mcl." keys (none here)."""
        return {}


@dataclass(eq=False)
class OptimizerEntry:
    """An optimizer over the parameters of the model held under `model_handle`, and the schedule
    that sets its learning rate at every step of the train jobs (None: the rate it was made with)."""

    optimizer: torch.optim.Optimizer
    model_handle: str
    name: str
    schedule: LrSchedule | None = None


def held(ctx: JobContext, body: Body, path: str, kind: type[T]) -> T:
    """The object behind the handle at `path` of the body ("model", "embeddings[1]"); NOT_FOUND,
    or INVALID_BODY for a handle to something else, with details.path naming the field."""
    name, _, index = path.partition("[")
    handle = body[name][int(index.rstrip("]"))] if index else body[name]
    try:
        return ctx.state.get(handle, kind)
    except WireError as exc:
        raise WireError(exc.code, f"{path}: {exc.message}", details={"path": path, "handle": handle}) from None


@job("handle.get", inline=True)
def handle_get(body: Body, ctx: JobContext) -> Body:
    # A tensor is sent from CPU memory; the frame is a view of it, not a copy.
    tensor = held(ctx, body, "handle", torch.Tensor)
    return {"tensor": tensor if tensor.is_cpu else tensor.detach().to("cpu")}


@job("handle.put", inline=True)
def handle_put(body: Body, ctx: JobContext) -> Body:
    # Kept as decoded: a read-only view over the received frame, which it keeps alive (no copy).
    tensor: torch.Tensor = body["tensor"]
    return {"handle": ctx.state.put(tensor, "tensor"), "dtype": wire_dtype(tensor.dtype), "shape": list(tensor.shape)}


@job("handle.free", inline=True)
def handle_free(body: Body, ctx: JobContext) -> Body:
    try:
        ctx.state.free(body["handle"])
    except WireError as exc:
        raise WireError(exc.code, f"handle: {exc.message}", details={"path": "handle", "handle": body["handle"]}) from None
    return {}


@job("handle.list", inline=True)
def handle_list(body: Body, ctx: JobContext) -> Body:
    return {"handles": ctx.state.handles()}
