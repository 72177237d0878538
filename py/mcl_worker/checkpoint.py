"""Checkpoints: safetensors files written atomically, and the training state they hold.

A checkpoint is one safetensors file: a flat map of named tensors plus string metadata.
`training_state` lays a model and its optimiser out in that form:
    model.<state-dict key>                 every model tensor (parameters and buffers)
    optimizer.state.<param index>.<name>   every tensor of the optimiser state (exp_avg, step, ...)
    metadata["mcl.format"]    = "mcl-checkpoint/1"
    metadata["mcl.optimizer"] = JSON of the param groups and the non-tensor state values
    metadata["mcl.schedule"]  = JSON of the optimiser's learning-rate schedule, when it has one
so that `restore_training_state` continues training bit for bit. Restoring an optimiser checks
its schedule against the recorded one: a resumed stage must continue the schedule it started.

A save never leaves a partial file under the final name: it writes a temporary file in the
same folder, flushes it to disk, renames it over the target and flushes the folder. A crash
at any point keeps the previous checkpoint. A save refuses non-finite tensors by default, so
a diverged run cannot overwrite the last good checkpoint.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .errors import InvalidArgument
from .lr_schedule import LrSchedule

CheckpointCode = Literal[
    "CHECKPOINT_NOT_FOUND",  # no file at the path
    "CHECKPOINT_UNREADABLE",  # the file exists but is not a readable checkpoint / weight file
    "CHECKPOINT_MISMATCH",  # its tensors do not fit the model or optimiser (names or shapes)
    "CHECKPOINT_INVALID",  # what was asked to be saved is not a valid checkpoint
    "NON_FINITE_TENSOR",  # a tensor to be saved holds NaN or infinity
    "DISK_FULL",  # the file system (or quota) has no room for the file (ENOSPC, EDQUOT)
    "CHECKPOINT_WRITE_FAILED",  # the file could not be written for another reason (permissions, I/O)
]

FORMAT = "mcl-checkpoint/1"
MODEL_PREFIX = "model."
OPTIMIZER_PREFIX = "optimizer."
FORMAT_KEY = "mcl.format"  # metadata key of every MCL checkpoint (models.clip reads it too)
_OPTIMIZER_KEY = "mcl.optimizer"
_SCHEDULE_KEY = "mcl.schedule"
# Param-group options that choose torch's implementation of the step, not the training: the
# optimiser being restored keeps its own.
_IMPLEMENTATION_OPTIONS = ("fused", "foreach", "capturable", "differentiable")


class CheckpointError(Exception):
    """A checkpoint or weight file that cannot be written, read or applied; `code` says which."""

    def __init__(self, code: CheckpointCode, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.code: CheckpointCode = code
        self.message = message
        self.path = path


class ScheduleMismatch(CheckpointError):
    """The optimiser's learning-rate schedule differs from the checkpoint's; `field` names the
    schedule's field that differs (name, lr, warmup_steps, total_steps)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("CHECKPOINT_MISMATCH", message)
        self.field = field


# --- files -------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    require_finite: bool = True,
) -> Path:
    """Write `tensors` and string `metadata` to a safetensors file at `path`, atomically.

    A write that fails raises CheckpointError naming the file (DISK_FULL when there is no room,
    else CHECKPOINT_WRITE_FAILED); the previous file at `path` is kept and no temporary file is left.
    """
    return copy_checkpoint(path, tensors, metadata, require_finite=require_finite).write()


class CheckpointCopy:
    """A checkpoint's tensors copied to host memory, checked, and not yet written: the training
    that follows may change the originals while `write()` runs on another thread."""

    def __init__(self, target: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        self.target = target
        self._tensors = tensors
        self._metadata = metadata

    def write(self) -> Path:
        """Writes the copy to its target atomically (see save_checkpoint)."""
        _write_atomically(self.target, lambda tmp: save_file(self._tensors, str(tmp), metadata=self._metadata))
        return self.target


def copy_checkpoint(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    require_finite: bool = True,
) -> CheckpointCopy:
    """The first half of save_checkpoint: checks `tensors` and `metadata` and copies every tensor
    to the CPU (a copy even of a CPU tensor), refusing non-finite ones unless told otherwise."""
    target = Path(path)
    metadata = dict(metadata or {})
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise CheckpointError(
                "CHECKPOINT_INVALID",
                f"metadata must map strings to strings; {key!r} -> {type(value).__name__}. Encode other values"
                " as JSON strings.",
                path=str(target),
            )
    copied: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not name:
            raise CheckpointError(
                "CHECKPOINT_INVALID", f"tensor names must be non-empty strings, got {name!r}", path=str(target)
            )
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                "CHECKPOINT_INVALID", f"{name!r} is a {type(tensor).__name__}, not a tensor", path=str(target)
            )
        # A copy of its own for every tensor: safetensors refuses tensors that share memory (tied
        # weights, views), and the original may change once the copy is taken.
        copied[name] = tensor.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
    if require_finite:
        bad = [
            n for n, t in copied.items() if (t.is_floating_point() or t.is_complex()) and not torch.isfinite(t).all()
        ]
        if bad:
            shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            raise CheckpointError(
                "NON_FINITE_TENSOR",
                f"refusing to save: {len(bad)} tensor(s) hold NaN or infinity ({shown}); the previous checkpoint"
                f" at {target} is kept",
                path=str(target),
            )
    return CheckpointCopy(target, copied, metadata)


def load_checkpoint(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file: (tensors, metadata)."""
    source = Path(path)
    if not source.is_file():
        raise CheckpointError("CHECKPOINT_NOT_FOUND", f"no checkpoint file at {source}", path=str(source))
    try:
        with safe_open(str(source), framework="pt", device=str(device)) as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE", f"{source} is not a readable safetensors file: {e}", path=str(source)
        ) from e
    return tensors, metadata


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as e:
        raise _write_failure(target, e) from e
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except (OSError, SafetensorError) as e:
        tmp.unlink(missing_ok=True)
        raise _write_failure(target, e) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# The errno in safetensors' I/O errors, which carry only Rust's text: "... (os error 28)".
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def _write_failure(target: Path, error: OSError | SafetensorError) -> CheckpointError:
    """A failed write of `target` as a CheckpointError naming it: DISK_FULL when there is no room."""
    number = error.errno if isinstance(error, OSError) else None
    if number is None and (found := _RUST_OS_ERROR.search(str(error))) is not None:
        number = int(found.group(1))
    if number in (errno.ENOSPC, errno.EDQUOT):
        return CheckpointError(
            "DISK_FULL",
            f"cannot write checkpoint {target}: its disk is full ({error}); the previous checkpoint there is kept"
            " and the temporary file removed: free space and resume the run",
            path=str(target),
        )
    return CheckpointError(
        "CHECKPOINT_WRITE_FAILED",
        f"cannot write checkpoint {target} ({error}); the previous checkpoint there is kept",
        path=str(target),
    )


# --- state-dict comparison (shared with pretrained-weight loading) --------------------------


def describe_mismatch(
    expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, keys present in both whose shapes differ)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [k for k in expected if k in found and expected[k].shape != found[k].shape]
    return missing, unexpected, shapes


def mismatch_message(
    what: str,
    missing: list[str],
    unexpected: list[str],
    shapes: list[str],
    expected: Mapping[str, torch.Tensor],
    found: Mapping[str, torch.Tensor],
) -> str:
    lines = [f"{what} does not fit the model:"]
    if shapes:
        lines.append(f"  {len(shapes)} shape mismatch(es):")
        lines += [f"    {k}: expected {tuple(expected[k].shape)}, found {tuple(found[k].shape)}" for k in shapes]
    if missing:
        lines.append(f"  {len(missing)} missing key(s): {', '.join(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected key(s): {', '.join(unexpected)}")
    return "\n".join(lines)


# --- optimiser state --------------------------------------------------------------------


def flatten_optimizer_state(
    state_dict: Mapping[str, Any], prefix: str = OPTIMIZER_PREFIX
) -> tuple[dict[str, torch.Tensor], str]:
    """Split an optimiser state dict into named tensors and a JSON string of everything else."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}state.{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    payload = {"param_groups": state_dict["param_groups"], "state": scalars}
    try:
        encoded = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            "CHECKPOINT_INVALID", f"the optimiser state holds a value that is neither a tensor nor JSON: {e}"
        ) from e
    return tensors, encoded


def unflatten_optimizer_state(
    tensors: Mapping[str, torch.Tensor], encoded: str, prefix: str = OPTIMIZER_PREFIX
) -> dict[str, Any]:
    """The inverse of flatten_optimizer_state: a dict for `optimizer.load_state_dict`."""
    try:
        payload = json.loads(encoded)
        param_groups = payload["param_groups"]
        scalars: dict[str, dict[str, Any]] = payload["state"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError("CHECKPOINT_UNREADABLE", f"the optimiser metadata is not valid: {e}") from e
    state: dict[int, dict[str, Any]] = {int(pid): dict(values) for pid, values in scalars.items()}
    state_prefix = f"{prefix}state."
    for key, tensor in tensors.items():
        if not key.startswith(state_prefix):
            continue
        param_id, _, name = key[len(state_prefix) :].partition(".")
        if not param_id.isdigit() or not name:
            raise CheckpointError("CHECKPOINT_UNREADABLE", f"bad optimiser tensor name {key!r}")
        state.setdefault(int(param_id), {})[name] = tensor
    return {"state": dict(sorted(state.items())), "param_groups": param_groups}


# --- model + optimiser ------------------------------------------------------------------


def training_state(
    model: nn.Module, optimizer: torch.optim.Optimizer | None = None, schedule: LrSchedule | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a checkpoint for `model` (and `optimizer`, and the schedule of its
    learning rate); add your own metadata."""
    tensors = {f"{MODEL_PREFIX}{k}": v for k, v in model.state_dict().items()}
    metadata = {FORMAT_KEY: FORMAT}
    if optimizer is not None:
        optimizer_tensors, metadata[_OPTIMIZER_KEY] = flatten_optimizer_state(optimizer.state_dict())
        tensors.update(optimizer_tensors)
        if schedule is not None:
            metadata[_SCHEDULE_KEY] = schedule.to_json()
    return tensors, metadata


def check_schedule(metadata: Mapping[str, str], schedule: LrSchedule | None) -> None:
    """Refuses to continue a checkpoint's training under another learning-rate schedule.

    No schedule on either side means the constant rate the optimiser was made with, no warm-up
    (checkpoints written before schedules were recorded trained that way): it matches a constant
    schedule without warm-up, whose base rate and length are then not compared.
    """
    recorded: LrSchedule | None = None
    if _SCHEDULE_KEY in metadata:
        try:
            recorded = LrSchedule.from_json(metadata[_SCHEDULE_KEY])
        except InvalidArgument as exc:
            raise CheckpointError("CHECKPOINT_UNREADABLE", f"the schedule metadata is not valid: {exc.reason}") from None
    if recorded is None and schedule is None:
        return
    fields: tuple[str, ...] = ("name", "warmup_steps")
    if recorded is not None and schedule is not None:
        fields += ("lr", "total_steps")
    plain = {"name": "constant", "warmup_steps": 0}
    for field in fields:
        saved = getattr(recorded, field) if recorded is not None else plain[field]
        wanted = getattr(schedule, field) if schedule is not None else plain[field]
        if saved != wanted:
            trained = (
                f"the checkpoint was trained with {field} {saved!r}" if recorded is not None
                else "the checkpoint records no schedule (a constant rate, no warm-up)"
            )
            has = (
                f"this optimizer's schedule has {field} {wanted!r}" if schedule is not None
                else "this optimizer has no schedule (a constant rate)"
            )
            raise ScheduleMismatch(
                field,
                f"schedule.{field}: {trained}, {has}; create the optimizer with the checkpoint's schedule to"
                " continue its stage, or load the weights without the optimizer to start a new one",
            )


def restore_training_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str],
    schedule: LrSchedule | None = None,
) -> None:
    """Load what `training_state` produced into `model` (and `optimizer`, whose learning-rate
    `schedule` must be the checkpoint's), checking that it fits."""
    if metadata.get(FORMAT_KEY) != FORMAT:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"not an MCL training checkpoint: metadata {FORMAT_KEY!r} is {metadata.get(FORMAT_KEY)!r},"
            f" expected {FORMAT!r}",
        )
    model_tensors = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    expected = model.state_dict()
    missing, unexpected, shapes = describe_mismatch(expected, model_tensors)
    if missing or unexpected or shapes:
        raise CheckpointError(
            "CHECKPOINT_MISMATCH",
            mismatch_message("the checkpoint", missing, unexpected, shapes, expected, model_tensors),
        )
    if optimizer is not None and _OPTIMIZER_KEY not in metadata:
        raise CheckpointError("CHECKPOINT_MISMATCH", "the checkpoint holds no optimiser state")
    if optimizer is not None:
        check_schedule(metadata, schedule)
    model.load_state_dict(model_tensors)
    if optimizer is None:
        return
    state = unflatten_optimizer_state(tensors, metadata[_OPTIMIZER_KEY])
    for saved, current in zip(state["param_groups"], optimizer.param_groups):
        # How this optimiser runs its step here is its own, not the checkpoint's: a fused one stays
        # fused (its step takes a GradScaler's found_inf) after loading an unfused checkpoint.
        for name in _IMPLEMENTATION_OPTIONS:
            if name in current:
                saved[name] = current[name]
        # JSON turned tuples (Adam's betas) into lists: give back the optimiser's own types.
        for name, value in current.items():
            if isinstance(value, tuple) and isinstance(saved.get(name), list):
                saved[name] = tuple(saved[name])
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError("CHECKPOINT_MISMATCH", f"the optimiser state does not fit this optimiser: {e}") from e
