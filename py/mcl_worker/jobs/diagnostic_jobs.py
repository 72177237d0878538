"""The diagnostic jobs of the protocol: hello, ping, echo, generate, sleep (proto/PROTOCOL.md)."""

from __future__ import annotations

import math
import platform

import torch
import zmq

from .. import __version__
from ..errors import InvalidArgument
from ..wire import MAX_TENSOR_BYTES, SUPPORTED_VERSIONS, WireError, itemsize, torch_dtype
from .registry import Body, JobContext, job

# Room kept in a reply for its head (header, signature, tensor descriptor) beside the tensor's bytes.
REPLY_HEAD_BYTES = 4096


def devices() -> list[Body]:
    found: list[Body] = [{"index": 0, "type": "cpu", "name": platform.processor() or platform.machine()}]
    if torch.cuda.is_available():
        found += [
            {"index": i, "type": "cuda", "name": torch.cuda.get_device_name(i)}
            for i in range(torch.cuda.device_count())
        ]
    return found


@job("hello")
def hello(body: Body, ctx: JobContext) -> Body:
    common = set(body["protocols"]) & set(SUPPORTED_VERSIONS)
    if not common:
        raise WireError(
            "UNSUPPORTED_VERSION",
            f"the worker speaks protocol versions {list(SUPPORTED_VERSIONS)}, the client offered "
            f"{body['protocols']}: upgrade the older side",
            details={"supported": list(SUPPORTED_VERSIONS)},
        )
    return {
        "protocol": max(common),
        "worker_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "zmq_version": zmq.zmq_version(),
        "devices": devices(),
        "world_size": ctx.config.world_size,
        "max_message_bytes": ctx.config.max_message_bytes,
    }


@job("ping", inline=True)
def ping(body: Body, ctx: JobContext) -> Body:
    return {}


@job("echo", inline=True)
def echo(body: Body, ctx: JobContext) -> Body:
    # The tensors in `body` are views over the received frames: sending them back copies nothing.
    return body


@job("generate")
def generate(body: Body, ctx: JobContext) -> Body:
    shape = [int(d) for d in body["shape"]]
    # The reply must fit one message, its head included, and a shape with a 0 must still be one the
    # client can hold.
    size = itemsize(body["dtype"]) * math.prod(shape)
    span = itemsize(body["dtype"]) * math.prod(d or 1 for d in shape)
    room = ctx.config.max_message_bytes - REPLY_HEAD_BYTES
    if size > room or span > MAX_TENSOR_BYTES:
        raise InvalidArgument(
            "shape",
            f"a {body['dtype']} tensor of shape {shape} would not fit one reply: it spans {span} bytes "
            f"(each 0 counted as 1), over max_message_bytes {ctx.config.max_message_bytes} less "
            f"{REPLY_HEAD_BYTES} for the reply's head, or 2^53 - 1",
        )
    return {"tensor": arange_as(torch_dtype(body["dtype"]), shape)}


def arange_as(dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    """torch.arange(n).to(dtype).reshape(shape) without materialising n int64s where the result is
    the same (the transport benchmark asks for hundreds of MiB)."""
    n = math.prod(shape)
    if dtype == torch.uint8:
        # int64 -> uint8 wraps modulo 256.
        flat = torch.arange(256, dtype=torch.uint8).repeat(-(-n // 256))[:n]
    elif n <= 2**31:
        # Every index fits int32 exactly, so converting from int32 rounds as from int64.
        flat = torch.arange(n, dtype=torch.int32).to(dtype)
    else:
        flat = torch.arange(n).to(dtype)
    return flat.reshape(shape)


# Steps shorter than this are slept together, with one progress after the last of them: any
# number of steps then costs at most one wake-up per millisecond.
MIN_SLEEP_S = 0.001


@job("sleep")
def sleep(body: Body, ctx: JobContext) -> Body:
    steps = int(body["steps"])
    step_s = float(body["seconds"]) / steps
    together = steps if step_s == 0 else min(steps, max(1, math.ceil(MIN_SLEEP_S / step_s)))
    done = 0
    while done < steps:
        n = min(together, steps - done)
        ctx.sleep(step_s * n)
        done += n
        ctx.progress({"step": done})
    return {"steps": steps}
