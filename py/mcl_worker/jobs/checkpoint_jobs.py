"""checkpoint.save / checkpoint.load: a model and its optimizer in one safetensors file.

The write is atomic (mcl_worker.checkpoint): a crash or a refused save keeps the previous file,
and a model holding NaN or infinity is never saved, so the last good checkpoint survives a
diverged run. Paths are the worker's: relative ones resolve against its working directory.
Metadata keys starting with "mcl." are the checkpoint format's own. The optimizer's learning-rate
schedule is saved with it; loading an optimizer whose schedule differs is refused, naming it.

A save holds the model only while it copies the tensors to host memory; it writes the file after
releasing it, so the next train job can run while the file is written. With `notify_copied` it
says when that moment comes, in one progress message; the result comes once the file is durable.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import (
    CheckpointError,
    ScheduleMismatch,
    copy_checkpoint,
    load_checkpoint,
    restore_training_state,
    training_state,
)
from ..wire import WireError
from .handles import ModelEntry, OptimizerEntry, held
from .registry import Body, JobContext, job

_RESERVED = "mcl."


def _optimizer_of(body: Body, ctx: JobContext) -> OptimizerEntry | None:
    if "optimizer" not in body:
        return None
    entry = held(ctx, body, "optimizer", OptimizerEntry)
    if entry.model_handle != body["model"]:
        raise WireError(
            "INVALID_BODY",
            f"optimizer: {body['optimizer']} optimizes {entry.model_handle}, not {body['model']}",
            details={"path": "optimizer"},
        )
    return entry


@job("checkpoint.save")
def checkpoint_save(body: Body, ctx: JobContext) -> Body:
    model_entry = held(ctx, body, "model", ModelEntry)
    optimizer_entry = _optimizer_of(body, ctx)
    user_metadata: dict[str, str] = body.get("metadata", {})
    for key in user_metadata:
        if key.startswith(_RESERVED):
            raise WireError(
                "INVALID_BODY", f"metadata.{key}: keys starting with {_RESERVED!r} are reserved; rename it",
                details={"path": f"metadata.{key}"},
            )
    path = Path(body["path"]).absolute()
    try:
        with model_entry.use(body["model"], "checkpoint.save") as model:
            if optimizer_entry is None:
                tensors, metadata = training_state(model)
            else:
                tensors, metadata = training_state(model, optimizer_entry.optimizer, optimizer_entry.schedule)
            copy = copy_checkpoint(path, tensors, {**user_metadata, **model_entry.checkpoint_metadata(), **metadata})
        if body.get("notify_copied", False):
            ctx.progress({"copied": True})
        copy.write()
    except CheckpointError as exc:
        # NON_FINITE_TENSOR (the weights diverged), DISK_FULL or CHECKPOINT_WRITE_FAILED: the
        # previous file at `path` is kept.
        raise WireError("JOB_FAILED", exc.message, details={"reason": exc.code}) from None
    return {"path": str(path), "bytes": path.stat().st_size}


@job("checkpoint.load")
def checkpoint_load(body: Body, ctx: JobContext) -> Body:
    model_entry = held(ctx, body, "model", ModelEntry)
    optimizer_entry = _optimizer_of(body, ctx)
    with model_entry.use(body["model"], "checkpoint.load") as model:
        try:
            tensors, metadata = load_checkpoint(Path(body["path"]).absolute(), device=model_entry.device)
            restore_training_state(
                model, optimizer_entry.optimizer if optimizer_entry else None, tensors, metadata,
                optimizer_entry.schedule if optimizer_entry else None,
            )
        except ScheduleMismatch as exc:
            raise WireError(
                "INVALID_BODY", f"optimizer: {exc.message}", details={"path": "optimizer", "reason": exc.code}
            ) from None
        except CheckpointError as exc:
            raise WireError(
                "INVALID_BODY", f"path: {exc.message}", details={"path": "path", "reason": exc.code}
            ) from None
    return {"metadata": {k: v for k, v in metadata.items() if not k.startswith(_RESERVED)}}
