"""model.create and optimizer.create: encoders and their optimizers, kept on the worker.

An optimizer may carry a learning-rate schedule (mcl_worker.lr_schedule) over the steps of one
stage: the train jobs then set the rate of every step from it, and checkpoints record it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..checkpoint import CheckpointError
from ..errors import InvalidArgument
from ..lr_schedule import LrSchedule
from ..models import (
    ContrastiveModel, ModelConfigError, count_parameters, create_model, set_grad_checkpointing, use_channels_last,
)
from ..plugin_ref import is_plugin
from ..wire import WireError
from .handles import ModelEntry, OptimizerEntry, held, worker_device
from .registry import Body, JobContext, job

_OPTIONS = ("widths", "stem", "patch_size")
# torch.manual_seed sets the global generator: two seeded creations (model.create, clip.create) must not interleave.
_seeding = threading.Lock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seeds torch's global generator for the parameters created inside, holding the lock while they are."""
    with _seeding:
        torch.manual_seed(seed)
        yield


@job("model.create")
def model_create(body: Body, ctx: JobContext) -> Body:
    # A plugin encoder's keyword arguments come as `args`; a built-in's as `options`.
    plugin = is_plugin(body["arch"])
    wrong = "options" if plugin else "args"
    if wrong in body:
        fix = "give its keyword arguments as args" if plugin else "only a py:<module>:<attr> plugin takes args"
        raise WireError("INVALID_BODY", f"{wrong}: {body['arch']} takes no {wrong}; {fix}", details={"path": wrong})
    options = body.get("args", {}) if plugin else body.get("options", {})
    device = worker_device(body, ctx)
    try:
        with seeded(body["seed"]):
            model = create_model(
                body["arch"],
                image_size=body["image_size"],
                in_channels=body.get("in_channels", 3),
                proj_dim=body.get("proj_dim", 128),
                proj_hidden=body.get("proj_hidden"),
                head_batch_norm=body.get("head_batch_norm", True),
                pretrained=body.get("pretrained"),
                **options,
            )
        if body.get("grad_checkpointing", False):
            set_grad_checkpointing(model)
        if body.get("channels_last", False):
            use_channels_last(model)
    except ModelConfigError as exc:
        path = f"options.{exc.field}" if exc.field in _OPTIONS else exc.field
        raise WireError("INVALID_BODY", f"{path}: {exc.message}", details={"path": path, "reason": exc.code}) from None
    except CheckpointError as exc:  # the pretrained weight file
        raise WireError(
            "INVALID_BODY", f"pretrained: {exc.message}", details={"path": "pretrained", "reason": exc.code}
        ) from None
    model.to(device)
    if body.get("compile", False):
        model.backbone.compile()  # in place: parameter names and state dict unchanged; compiled at the first call
    result: Body = {
        "model": ctx.state.put(ModelEntry(model, device), "model"),
        "arch": model.spec.arch,
        "feature_dim": model.feature_dim,
        "proj_dim": model.proj_dim,
        "parameters": count_parameters(model),
        "device": str(device),
    }
    if model.pretrained_report is not None:
        result["pretrained_loaded"] = len(model.pretrained_report.loaded)
    return result


@job("optimizer.create")
def optimizer_create(body: Body, ctx: JobContext) -> Body:
    model: ContrastiveModel = held(ctx, body, "model", ModelEntry).model
    name, lr = body["name"], body["lr"]
    weight_decay = body.get("weight_decay", 0.0)
    momentum = body.get("momentum")
    if momentum is not None and name != "sgd":
        raise WireError(
            "INVALID_BODY", f"momentum: only sgd takes a momentum, not {name}; leave it out",
            details={"path": "momentum"},
        )
    schedule = None
    if "schedule" in body:
        spec = body["schedule"]
        try:
            schedule = LrSchedule(spec["name"], lr, spec.get("warmup_steps", 0), spec["total_steps"])
        except InvalidArgument as exc:
            path = "lr" if exc.field == "lr" else f"schedule.{exc.field}"
            raise WireError("INVALID_BODY", f"{path}: {exc.reason}", details={"path": path}) from None
    params = model.parameters()
    # Fused: one kernel per step, and a step skipped on the device after a non-finite loss
    # (mcl_worker.step_guard) instead of a host synchronisation before every update.
    optimizer: torch.optim.Optimizer
    if name == "adamw":
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    elif name == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    else:
        optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum or 0.0, fused=True)
    return {"optimizer": ctx.state.put(OptimizerEntry(optimizer, body["model"], name, schedule), "optimizer")}
