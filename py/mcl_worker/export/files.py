"""Export files, written atomically, and `load_encoder`, which reads either kind back.

    safetensors   the weights of each exported encoder in its peer's names (layouts.py), under a
                  prefix: none for one encoder, "stage-<s>." for several; metadata["mcl.export"]
                  holds the document below as JSON
    TorchScript   torch.jit.script of ExportedEncoder (encoder.py) over the encoders traced at the
                  run's input size; the document is the archive's extra file "mcl_export.json"

The document (format "mcl-export/1"):
    kind          "stage" or "integrated"
    file          "safetensors" or "torchscript"
    input         image_size, in_channels, mean, std, interpolation, crop_pct: the eval transform
    integration   stages (numbered as the run's summary.json numbers them), weights, normalize
    encoders      per stage: stage, prefix, family, architecture, stem, spec, feature_dim, and the
                  peer that loads its weights (library, name, kwargs, load, absent_keys) or why
                  none does (no_peer)
    dim           the width of the embedding the module returns
    run           what the caller records about the run (its name, config hash, ...)
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..checkpoint import FORMAT_KEY, CheckpointError, _write_atomically, load_checkpoint, save_checkpoint
from .encoder import ExportedEncoder
from .errors import ExportError
from .layouts import EncoderLayout, rebuild_encoder

FORMAT = "mcl-export/1"
EXPORT_KEY = "mcl.export"  # the safetensors metadata key of the document
DOCUMENT_FILE = "mcl_export.json"  # the TorchScript archive's extra file
FileFormat = Literal["safetensors", "torchscript"]
Kind = Literal["stage", "integrated"]


@dataclass(frozen=True)
class InputSpec:
    """The run's eval transform: what every exported encoder expects its images to go through."""

    image_size: int
    in_channels: int
    mean: list[float]
    std: list[float]
    interpolation: str
    crop_pct: float | None


@dataclass(frozen=True)
class ExportPart:
    """One stage's encoder: its layout and its weights (on the CPU)."""

    stage: int
    layout: EncoderLayout
    state: dict[str, Tensor]


def write_export(
    path: str | os.PathLike[str],
    parts: Sequence[ExportPart],
    *,
    kind: Kind,
    file: FileFormat,
    preprocess: InputSpec,
    weights: Sequence[float],
    normalize: str,
    run: Mapping[str, str],
) -> dict[str, Any]:
    """Writes the export of `parts` to `path` atomically and returns its document. CheckpointError
    when the file cannot be written (DISK_FULL, CHECKPOINT_WRITE_FAILED); ExportError NOT_TRACEABLE
    when an encoder cannot be traced to TorchScript."""
    prefixes = [""] if len(parts) == 1 else [f"stage-{part.stage}." for part in parts]
    document = {
        "format": FORMAT,
        "kind": kind,
        "file": file,
        "input": asdict(preprocess),
        "integration": {"stages": [part.stage for part in parts], "weights": list(weights), "normalize": normalize},
        "encoders": [{"stage": part.stage, "prefix": prefix, **part.layout.to_json()} for part, prefix in zip(parts, prefixes)],
        "dim": sum(part.layout.feature_dim for part in parts),
        "run": dict(run),
    }
    target = Path(path)
    if file == "safetensors":
        tensors = {f"{prefix}{key}": value for part, prefix in zip(parts, prefixes) for key, value in part.state.items()}
        save_checkpoint(target, tensors, {EXPORT_KEY: json.dumps(document)})
        return document
    traced = [_traced(rebuild_encoder(part.layout, part.state), preprocess, part) for part in parts]
    module = torch.jit.script(_exported_encoder(document, traced))
    archive = io.BytesIO()
    torch.jit.save(module, archive, _extra_files={DOCUMENT_FILE: json.dumps(document)})
    _write_atomically(target, lambda tmp: tmp.write_bytes(archive.getvalue()))
    return document


def load_encoder(path: str | os.PathLike[str]) -> nn.Module:
    """An export of `mcl export` as a module in eval mode that maps images (uint8 [B, C, H, W], or
    float in [0, 1]) to the embedding the run computes: a TorchScript file as torch.jit.load gives
    it, a safetensors file as an ExportedEncoder whose `encoders` are our encoders holding its
    weights. The document is the module's `export_document`."""
    source = Path(path)
    if not source.is_file():
        raise CheckpointError("CHECKPOINT_NOT_FOUND", f"no export file at {source}", path=str(source))
    if zipfile.is_zipfile(source):
        return _load_torchscript(source)
    tensors, metadata = load_checkpoint(source)
    text = metadata.get(EXPORT_KEY)
    if text is None:
        what = "an MCL training checkpoint" if FORMAT_KEY in metadata else "a safetensors file"
        raise ExportError(
            "NOT_AN_EXPORT",
            f"{source} is {what} without the {EXPORT_KEY!r} metadata that mcl export writes; export the run with"
            " `mcl export <runDir>` and load that file",
        )
    document = _document(text, source)
    encoders: list[nn.Module] = []
    for j, entry in enumerate(document["encoders"]):
        try:
            prefix, layout = entry["prefix"], EncoderLayout.from_json({k: v for k, v in entry.items() if k not in ("stage", "prefix")})
        except (KeyError, TypeError) as exc:
            raise ExportError("EXPORT_INVALID", f"{source}: encoders[{j}] of its {EXPORT_KEY} metadata is not valid ({exc})") from None
        state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
        try:
            encoders.append(rebuild_encoder(layout, state))
        except RuntimeError as exc:  # load_state_dict: the tensors do not fit the architecture recorded
            raise ExportError("EXPORT_INVALID", f"{source}: the weights of encoders[{j}] do not fit {layout.architecture}: {exc}") from None
    module = _exported_encoder(document, encoders)
    module.export_document = document
    return module.eval()


def _load_torchscript(source: Path) -> nn.Module:
    extra: dict[str, Any] = {DOCUMENT_FILE: ""}
    try:
        module = torch.jit.load(str(source), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE", f"{source} is a zip archive that torch.jit.load cannot read ({exc})", path=str(source)
        ) from None
    text = extra[DOCUMENT_FILE]
    if not text:
        raise ExportError(
            "NOT_AN_EXPORT", f"{source} is a TorchScript archive without {DOCUMENT_FILE}: mcl export did not write it"
        )
    module.export_document = _document(text.decode() if isinstance(text, bytes) else text, source)
    return module.eval()


def _document(text: str, source: Path) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ExportError("EXPORT_INVALID", f"{source}: its export document is not JSON ({exc})") from None
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT:
        raise ExportError("EXPORT_INVALID", f"{source}: its export document has format {found!r}, this worker reads {FORMAT!r}")
    return document


def _exported_encoder(document: Mapping[str, Any], encoders: list[nn.Module]) -> ExportedEncoder:
    source = document["input"]
    integration = document["integration"]
    return ExportedEncoder(
        encoders, weights=integration["weights"], normalize=integration["normalize"], size=source["image_size"],
        in_channels=source["in_channels"], mean=source["mean"], std=source["std"],
        interpolation=source["interpolation"], crop_pct=source["crop_pct"],
    )


def _traced(encoder: nn.Module, preprocess: InputSpec, part: ExportPart) -> torch.jit.ScriptModule:
    """The encoder recorded on images of the run's size (what it always sees after the transform);
    the batch size stays free."""
    example = torch.rand(2, preprocess.in_channels, preprocess.image_size, preprocess.image_size)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The shape checks of a forward are constants at one input size, as they are here.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return torch.jit.trace(encoder, example, check_trace=False)
    except Exception as exc:  # tracing fails in many ways on code it cannot record
        raise ExportError(
            "NOT_TRACEABLE",
            f"stage {part.stage}'s encoder {part.layout.architecture} cannot be traced to TorchScript ({type(exc).__name__}:"
            f" {exc}); export it as safetensors and load it with mcl_worker.load_encoder",
        ) from None
