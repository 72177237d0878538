"""Loading pretrained weights from a local file into an encoder.

Reads .safetensors files with safetensors, anything else with
torch.load(map_location="cpu", weights_only=True) (which refuses pickled code). Common
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
    if not source.is_file():
        raise CheckpointError(
            "CHECKPOINT_NOT_FOUND", f"pretrained weights not found: no file at {source}", path=str(source)
        )
    try:
        if source.suffix == ".safetensors":
            raw: Any = load_file(str(source), device="cpu")
        else:
            raw = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses pickled objects (a whole nn.Module, custom classes); torch's long
        # message names the culprit on its "Unsupported ..." line.
        culprit = next((line.strip() for line in str(e).splitlines() if "Unsupported" in line), "")
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: torch.load(weights_only=True) refuses it"
            f" ({culprit or str(e).splitlines()[0]}); it is corrupt or pickles Python objects."
            " Save the weights with torch.save(model.state_dict(), path) or as .safetensors.",
            path=str(source),
        ) from e
    except (SafetensorError, OSError, RuntimeError, EOFError, ValueError) as e:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"cannot read pretrained weights from {source}: {e}. Expected a .safetensors file or a state dict"
            " saved with torch.save(model.state_dict(), path).",
            path=str(source),
        ) from e
    while isinstance(raw, Mapping) and not any(isinstance(v, torch.Tensor) for v in raw.values()):
        inner = next((raw[k] for k in _CONTAINER_KEYS if isinstance(raw.get(k), Mapping)), None)
        if inner is None:
            break
        raw = inner
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"{source} holds a {type(raw).__name__}, not a state dict of tensors",
            path=str(source),
        )
    not_tensors = [str(k) for k, v in raw.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"{source}: entries that are not tensors: {', '.join(not_tensors[:10])}"
            + (f" and {len(not_tensors) - 10} more" if len(not_tensors) > 10 else ""),
            path=str(source),
        )
    state = {str(k): v for k, v in raw.items()}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


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
