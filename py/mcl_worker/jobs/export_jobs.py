"""export: a run's encoders written to one file that peer libraries, or torch.jit.load, read.

The control plane builds each stage's encoder on the worker and loads its checkpoint (model.create
or clip.create, checkpoint.load), then names them here with the run's eval transform and
integration. A safetensors file holds the weights in the peer's names (mcl_worker.export.layouts);
a TorchScript file the whole module, images in and embedding out. Paths are the worker's, as
checkpoints' are. The job holds each model only while it copies the weights to host memory.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import CheckpointError
from ..data import AugmentConfig
from ..errors import InvalidArgument
from ..export import LOAD_ENCODER, OWN_FORMAT, ExportError, ExportPart, InputSpec, layout_of, weights_of, write_export
from ..wire import WireError
from .handles import ModelEntry, held
from .registry import Body, JobContext, job


@job("export")
def export(body: Body, ctx: JobContext) -> Body:
    handles: list[str] = body["models"]
    for name in ("stages", "weights"):
        if len(body[name]) != len(handles):
            raise _invalid(name, f"expected {len(handles)} entries (one per model), got {len(body[name])}")
    if all(w == 0 for w in body["weights"]):
        raise _invalid("weights", "at least one must be > 0")
    if body["kind"] == "stage" and len(handles) != 1:
        raise _invalid("models", f"a stage's export takes one model, got {len(handles)}")
    preprocess = _preprocess(body["preprocess"])
    parts: list[ExportPart] = []
    for j, (handle, stage) in enumerate(zip(handles, body["stages"])):
        entry = held(ctx, body, f"models[{j}]", ModelEntry)
        with entry.use(handle, "export") as model:
            spec = model.spec
            if (spec.image_size, spec.in_channels) != (preprocess.image_size, preprocess.in_channels):
                raise _invalid(
                    f"models[{j}]",
                    f"{handle} was built for {spec.in_channels}-channel {spec.image_size}x{spec.image_size} images, the"
                    f" export's preprocess for {preprocess.in_channels}-channel {preprocess.image_size}x{preprocess.image_size}",
                )
            state = {k: v.detach().to("cpu", copy=True) for k, v in weights_of(model).items()}
            parts.append(ExportPart(stage, layout_of(model), state))
    path = Path(body["path"]).absolute()
    try:
        document = write_export(
            path, parts, kind=body["kind"], file=body["format"], preprocess=preprocess,
            weights=body["weights"], normalize=body["normalize"], run=body.get("metadata", {}),
        )
    except (CheckpointError, ExportError) as exc:
        # DISK_FULL, CHECKPOINT_WRITE_FAILED, NOT_TRACEABLE: nothing is left at `path`.
        raise WireError("JOB_FAILED", exc.message, details={"reason": exc.code}) from None
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "format": body["format"],
        "dim": document["dim"],
        "load": _load_line(body["format"], parts),
        "encoders": [_described(part) for part in parts],
    }


def _preprocess(fields: Body) -> InputSpec:
    """The eval transform, checked as AugmentConfig checks it (std > 0, crop_pct in (0, 1])."""
    values = {"size": fields["size"], "mean": fields["mean"], "std": fields["std"], "interpolation": fields["interpolation"]}
    try:
        cfg = AugmentConfig(**values, crop_pct=fields.get("crop_pct"))
    except InvalidArgument as exc:
        raise _invalid(f"preprocess.{exc.field.removeprefix('augment.')}", exc.reason) from None
    channels = fields["in_channels"]
    for name in ("mean", "std"):
        if len(fields[name]) not in (1, channels):
            raise _invalid(f"preprocess.{name}", f"expected 1 value or {channels} (one per channel), got {len(fields[name])}")
    return InputSpec(fields["size"], channels, list(cfg.mean), list(cfg.std), cfg.interpolation, cfg.crop_pct)


def _load_line(file: str, parts: list[ExportPart]) -> str:
    """Python that loads the file: the peer's own code where one loads it alone."""
    if file == "torchscript":
        return "model = torch.jit.load(path)"
    peer = parts[0].layout.peer if len(parts) == 1 else None
    return peer.load if peer is not None else LOAD_ENCODER


def _described(part: ExportPart) -> Body:
    layout = part.layout
    described: Body = {"stage": part.stage, "architecture": layout.architecture}
    if layout.stem is not None:
        described["stem"] = layout.stem
    if layout.peer is None:
        return {**described, "library": OWN_FORMAT, "absent_keys": [], "no_peer": layout.no_peer}
    return {**described, "library": layout.peer.library, "name": layout.peer.name, "absent_keys": layout.peer.absent_keys}


def _invalid(path: str, message: str) -> WireError:
    return WireError("INVALID_BODY", f"{path}: {message}", details={"path": path})
