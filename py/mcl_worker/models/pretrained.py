"""Loading pretrained weights from a local file into an encoder.

Reads .safetensors files with safetensors, anything else with
torch.load(map_location="cpu", weights_only=True) (which refuses pickled code), and only files
that look like what torch.save writes (a zip archive, or a pickle in its legacy format): a file
that is empty, text or anything else is refused by what it is, before any reader parses it. Common
wrappers are unwrapped: {"state_dict": ...}, {"model": ...}, {"module": ...} and the
"module." prefix that DistributedDataParallel adds. Every key must then fit: a shape
mismatch, a missing key or an unexpected key raises CheckpointError("CHECKPOINT_MISMATCH")
listing all of them, except keys the encoder declares as not its own (a classifier:
torchvision's `fc.*`, timm's `head.*`), which are skipped and reported.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..checkpoint import CheckpointError, describe_mismatch, mismatch_message

_CONTAINER_KEYS = ("state_dict", "model", "module", "model_state_dict")
_EXPECTED = "Expected a state dict saved with torch.save(model.state_dict(), path) or a .safetensors file."
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = b"\x80"  # every pickle from protocol 2 on starts so, torch.save's legacy format too


@dataclass
class LoadReport:
    """What load_pretrained did: every list names state-dict keys, `notes` are for the user."""

    loaded: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # in the file, skipped on purpose
    skipped_shape: list[str] = field(default_factory=list)  # only with strict_shapes=False
    missing: list[str] = field(default_factory=list)  # only with strict_keys=False
    notes: list[str] = field(default_factory=list)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} from a local weight file, unwrapped from the usual containers."""
    source = Path(path)
    if source.is_dir():
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE", f"pretrained weights {source} is a directory, not a weight file. {_EXPECTED}",
            path=str(source),
        )
    if not source.is_file():
        raise CheckpointError(
            "CHECKPOINT_NOT_FOUND", f"pretrained weights not found: no file at {source}", path=str(source)
        )
    raw = _load(source)
    while isinstance(raw, Mapping) and not any(isinstance(v, torch.Tensor) for v in raw.values()):
        inner = next((raw[k] for k in _CONTAINER_KEYS if isinstance(raw.get(k), Mapping)), None)
        if inner is None:
            break
        raw = inner
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: it holds a {type(raw).__name__}, not a state dict"
            f" of tensors. {_EXPECTED}",
            path=str(source),
        )
    if not raw:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: it holds an empty state dict, no tensors. {_EXPECTED}",
            path=str(source),
        )
    not_tensors = [f"{k} ({type(v).__name__})" for k, v in raw.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: entries that are not tensors: {', '.join(not_tensors[:10])}"
            + (f" and {len(not_tensors) - 10} more" if len(not_tensors) > 10 else "")
            + f". {_EXPECTED}",
            path=str(source),
        )
    state = {str(k): v for k, v in raw.items()}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _load(source: Path) -> Any:
    """What the file holds, read with safetensors or torch.load(weights_only=True); CHECKPOINT_UNREADABLE
    naming what the file is when it cannot be read."""
    with source.open("rb") as f:
        head = f.read(512)
    size = source.stat().st_size
    kind = _describe(head, size)
    if size == 0:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE", f"cannot read pretrained weights from {source}: it is {kind}. {_EXPECTED}",
            path=str(source),
        )
    safetensors = source.suffix == ".safetensors" or _looks_safetensors(head, size)
    if not safetensors and not head.startswith((_ZIP_MAGIC, _PICKLE_PROTOCOL)):
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: it is {kind}, not a file torch.save writes. {_EXPECTED}",
            path=str(source),
        )
    reader = "safetensors" if safetensors else "torch.load(weights_only=True)"
    try:
        return load_file(str(source), device="cpu") if safetensors else torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses pickled objects (a whole nn.Module, custom classes) and opcodes
        # torch.save does not write; torch's long message names the culprit on an "Unsupported" line.
        culprit = next((line.strip() for line in str(e).splitlines() if "Unsupported" in line), _first_line(e))
        if "Unsupported global" not in culprit:
            raise _unreadable(source, kind, reader, culprit) from e
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: {reader} refuses it ({culprit}); it pickles"
            " Python objects, which could run code when loaded."
            " Save the weights with torch.save(model.state_dict(), path) or as .safetensors.",
            path=str(source),
        ) from e
    except Exception as e:  # a damaged file makes the readers raise anything: IndexError, KeyError, OSError, ...
        raise _unreadable(source, kind, reader, _first_line(e)) from e


def _unreadable(source: Path, kind: str, reader: str, reason: str) -> CheckpointError:
    return CheckpointError(
        "CHECKPOINT_UNREADABLE",
        f"cannot read pretrained weights from {source}: it is {kind}, which {reader} cannot read"
        f" ({reason}): truncated, damaged or not a weight file. {_EXPECTED}",
        path=str(source),
    )


def _describe(head: bytes, size: int) -> str:
    """What a file is, judged by its size and first bytes, for a message."""
    if size == 0:
        return "an empty file (0 bytes)"
    if head.startswith(_ZIP_MAGIC):
        what = "a zip archive"
    elif head.startswith(b"\x93NUMPY"):
        what = "a NumPy .npy array"
    elif head.startswith(_PICKLE_PROTOCOL):
        what = "a Python pickle"
    elif _looks_safetensors(head, size):
        what = "a .safetensors file"
    elif _is_text(head):
        what = "a text file"
    else:
        what = "binary data of an unknown format"
    return f"{what} ({size} bytes)"


def _looks_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file starts with its JSON header's length (8 bytes, little-endian), then the header."""
    return len(head) > 8 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:  # perhaps a character cut at the end of `head`
        text = head[:-3].decode("utf-8", errors="replace")
        if "\ufffd" in text:
            return False
    return all(c.isprintable() or c in "\t\r\n\f" for c in text)


def _first_line(error: Exception) -> str:
    """The first line of an error's message, at most 200 characters; its type when it has none."""
    line = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    text = f"{type(error).__name__}: {line}" if line else type(error).__name__
    return text if len(text) <= 200 else f"{text[:199]}…"


def load_pretrained(
    module: nn.Module,
    path: str | os.PathLike[str],
    *,
    strict_shapes: bool = True,
    strict_keys: bool = True,
    prefix_map: Mapping[str, str] | None = None,
) -> LoadReport:
    """Copy the weights in `path` into `module`; returns what was loaded, skipped and why.

    prefix_map: keep only the file's keys that start with one of its prefixes, renamed to the
    mapped prefix, e.g. {"model.backbone.": ""} takes the backbone out of an MCL checkpoint.
    strict_shapes=False skips keys whose shape differs (reported) instead of raising;
    strict_keys=False tolerates missing and unexpected keys (reported) instead of raising.
    """
    state = read_state_dict(path)
    report = LoadReport()
    if prefix_map is not None:
        renamed: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            old = next((p for p in prefix_map if key.startswith(p)), None)
            if old is None:
                report.ignored.append(key)
            else:
                renamed[prefix_map[old] + key[len(old) :]] = value
        state = renamed

    adapt = getattr(module, "adapt_pretrained", None)
    if callable(adapt):
        report.notes += adapt(state)

    expected = module.state_dict()
    missing, unexpected, shapes = describe_mismatch(expected, state)
    # BatchNorm's batch counter is not a weight; older torchvision files lack it.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    own_prefixes: tuple[str, ...] = getattr(module, "pretrained_ignored_prefixes", ())
    foreign = [k for k in unexpected if k.startswith(own_prefixes)]
    unexpected = [k for k in unexpected if not k.startswith(own_prefixes)]
    if foreign:
        report.ignored += foreign
        report.notes.append(f"skipped {len(foreign)} key(s) of a classifier the backbone does not have")

    if (shapes and strict_shapes) or ((missing or unexpected) and strict_keys):
        raise CheckpointError(
            "CHECKPOINT_MISMATCH",
            mismatch_message(
                f"pretrained weights {path}",
                missing if strict_keys else [],
                unexpected if strict_keys else [],
                shapes if strict_shapes else [],
                expected,
                state,
            )
            + "\nBuild the model with the configuration the file was made for (stem, patch_size,"
            " in_channels, widths), or pass prefix_map when its keys carry a prefix.",
            path=str(path),
        )
    report.ignored += unexpected
    report.skipped_shape = shapes
    report.missing = missing
    skipped = set(shapes)
    to_load = {k: v for k, v in state.items() if k in expected and k not in skipped}
    module.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    return report
