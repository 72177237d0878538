"""Python plugins: an encoder, a dataset or a loss named by a reference `py:<module>:<attr>`.

    backbone = build_encoder("py:my_pkg.models:make_encoder", {"width": 32}, image_size=32, in_channels=3)
    dataset = open_plugin_dataset("py:my_pkg.data:CsvImages", {"csv": "/data/labels.csv"})
    loss = load_loss("py:my_pkg.losses:my_loss", {"margin": 0.1})

A plugin is arbitrary code that runs inside the worker with the worker's rights: the worker imports
only the modules its $MCL_WORKER_PLUGINS names, and nothing of Python's standard library
(mcl_worker.plugin_ref resolves references). The adapters: mcl_worker.models.plugin_encoder and
mcl_worker.data.plugin_dataset.

The contracts (`args` are the keyword arguments from the config):

  encoder  a callable(**args) -> nn.Module mapping float images [B, C, H, W], normalised as for
           the built-in encoders, to features [B, D]. It is also given `image_size=` and
           `in_channels=` when its signature names them. D is the module's `feature_dim`
           attribute when it declares one, else it is read from a forward pass of one blank
           image. The worker puts its projection head on top, as on every built-in backbone.
  dataset  a callable(**args) -> a map-style dataset: `len(ds) >= 2`, and `ds[i]` is the image
           (uint8, numpy array or tensor, [H, W, C], [C, H, W] or [H, W] with C = 1 or 3), or a
           dict {"image": ..., "caption": str}. Optional attributes: `labels`, {attribute name:
           one int >= 0 per sample}, and `class_names`, {attribute name: [class names]}.
  loss     a callable with the built-in signature, loss(z_a, z_b, *, temperature, labels=None,
           **args) -> a scalar tensor (mcl_worker.losses).

`check_plugins` runs every check the TypeScript side asks for before a run starts (through
pythonia, in a short-lived interpreter of the worker's environment) and answers in JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .data import open_dataset
from .data.augmentation import AugmentConfig, eval_transform
from .data.base import ImageDataset
from .data.plugin_dataset import PluginDataset, open_plugin_dataset
from .errors import InvalidArgument
from .models.plugin_encoder import build_encoder, forward_encoder
from .plugin_ref import (
    ALLOW_ENV,
    PREFIX,
    JsonArgs,
    PluginError,
    PluginKind,
    allowed_modules,
    describe_value,
    exception_text,
    is_plugin,
    load_loss,
    resolve,
)


@dataclass(frozen=True)
class Check:
    plugin: PluginKind
    ref: str
    check: str
    ok: bool
    expected: str
    got: str


def check_plugins(request_json: str) -> str:
    """Every check of the plugins the request names; JSON {"ok", "checks": [Check...]}.

    The request: {"seed", "dataset", "dataset_args", "encoder", "encoder_args", "loss",
    "loss_args", "temperature"}; a name without the py: prefix is a built-in and only serves
    (the dataset) to give the encoder two real images for its dry forward pass.
    """
    request = json.loads(request_json)
    seed = int(request["seed"])
    checks: list[Check] = []
    dataset: ImageDataset | None = None
    if is_plugin(request["dataset"]):
        dataset = _run(checks, "dataset", request["dataset"], lambda: _check_dataset(request["dataset"], request["dataset_args"], seed))
    if is_plugin(request["encoder"]):
        ref = request["encoder"]
        _run(checks, "encoder", ref, lambda: _check_encoder(ref, request["encoder_args"], seed, _samples(ref, request["dataset"], dataset)))
    if is_plugin(request["loss"]):
        ref = request["loss"]
        _run(checks, "loss", ref, lambda: _check_loss(ref, request["loss_args"], float(request["temperature"]), seed))
    return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})


def _run(checks: list[Check], kind: PluginKind, ref: str, body: Callable[[], tuple[Any, list[tuple[str, str, str]]]]) -> Any:
    """Runs one plugin's checks, recording the passed ones and the first failure."""
    try:
        value, passed = body()
    except PluginError as exc:
        checks.append(Check(kind, ref, exc.check, False, exc.expected, exc.got))
        return None
    checks.extend(Check(kind, ref, name, True, expected, got) for name, expected, got in passed)
    return value


def _check_dataset(ref: str, args: JsonArgs, seed: int) -> tuple[ImageDataset, list[tuple[str, str, str]]]:
    torch.manual_seed(seed)
    dataset = open_plugin_dataset(ref, args)  # import, build, length, item 0, labels
    first = dataset.get_images([0, 1])  # item 1 has item 0's shape
    captions = dataset.captions([0, 1])
    torch.manual_seed(seed)
    again = open_plugin_dataset(ref, args)
    if not torch.equal(first, again.get_images([0, 1])) or captions != again.captions([0, 1]) or not _same_labels(dataset, again):
        raise PluginError("dataset", ref, "deterministic", f"the same items 0 and 1 and labels when built twice with seed {seed}", "different ones")
    passed = [
        ("import", "an importable callable", "ok"),
        ("length", "len(dataset) >= 2", str(len(dataset))),
        ("items", "uint8 images of one shape", f"[C, H, W] = {list(dataset.image_shape)}"),
        ("labels", "ints >= 0, one per sample", ", ".join(dataset.attributes) or "none"),
        ("deterministic", f"the same items when built twice with seed {seed}", "the same"),
    ]
    return dataset, passed


def _same_labels(a: ImageDataset, b: ImageDataset) -> bool:
    return a.attributes.keys() == b.attributes.keys() and all(
        np.array_equal(a.attributes[k].labels, b.attributes[k].labels) for k in a.attributes
    )


def _samples(ref: str, uri: str, dataset: ImageDataset | None) -> Tensor:
    """Two uint8 images [2, 3, H, W] for the encoder's dry forward: the run's own when its dataset
    opens; random 32 x 32 ones when it is a plugin that failed its checks (reported there)."""
    if dataset is None and not is_plugin(uri):
        try:
            dataset = open_dataset(uri)
        except InvalidArgument as exc:
            raise PluginError("encoder", ref, "samples", f"two images of the run's dataset {uri}", exc.message) from None
    if dataset is not None:
        return dataset.get_images([0, 1])
    return torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def _check_encoder(ref: str, args: JsonArgs, seed: int, images: Tensor) -> tuple[None, list[tuple[str, str, str]]]:
    _, channels, size, _ = images.shape
    x = eval_transform(images, AugmentConfig(size=size))

    def run() -> Tensor:
        torch.manual_seed(seed)
        module = build_encoder(ref, args, image_size=size, in_channels=channels).train()
        torch.manual_seed(seed)
        out = forward_encoder("encoder", ref, module, x)
        if out.shape[1] != module.feature_dim:
            raise PluginError("encoder", ref, "feature_dim", f"outputs of width feature_dim = {module.feature_dim}", f"[2, {out.shape[1]}]")
        if not torch.isfinite(out).all():
            raise PluginError("encoder", ref, "finite", "finite features", "NaN or infinite values")
        out.float().square().mean().backward()
        if not any(p.grad is not None for p in module.parameters()):
            raise PluginError("encoder", ref, "backward", "gradients reaching its parameters", "no gradient")
        return out.detach()

    out = run()
    if not torch.equal(out, run()):
        raise PluginError("encoder", ref, "deterministic", f"the same features when built and run twice with seed {seed}", "different ones")
    passed = [
        ("import", "an importable callable", "ok"),
        ("forward", f"a float tensor [2, D] from images {list(x.shape)}", f"{out.dtype} {list(out.shape)}"),
        ("backward", "gradients reaching its parameters", "ok"),
        ("deterministic", f"the same features when built twice with seed {seed}", "the same"),
    ]
    return None, passed


def _check_loss(ref: str, args: JsonArgs, temperature: float, seed: int) -> tuple[None, list[tuple[str, str, str]]]:
    loss = load_loss(ref, args)
    generator = torch.Generator().manual_seed(seed)
    z_a, z_b = torch.randn(4, 8, generator=generator), torch.randn(4, 8, generator=generator)

    def run() -> float:
        a, b = z_a.clone().requires_grad_(), z_b.clone().requires_grad_()
        try:
            value = loss(a, b, temperature=temperature)
        except Exception as exc:
            raise PluginError("loss", ref, "call", "loss(z_a, z_b, temperature=...) on two [4, 8] batches", exception_text(exc)) from None
        if not isinstance(value, Tensor) or value.dim() != 0 or not value.is_floating_point():
            raise PluginError("loss", ref, "call", "a float scalar tensor", describe_value(value))
        if not math.isfinite(float(value.detach())):
            raise PluginError("loss", ref, "finite", "a finite loss", str(float(value)))
        value.backward()
        if a.grad is None or not torch.isfinite(a.grad).all():
            raise PluginError("loss", ref, "backward", "finite gradients with respect to z_a", "none" if a.grad is None else "non-finite ones")
        return float(value.detach())

    value = run()
    if run() != value:
        raise PluginError("loss", ref, "deterministic", "the same loss for the same inputs", "different values")
    passed = [
        ("import", "an importable callable", "ok"),
        ("call", "a float scalar tensor", f"{value:.4g}"),
        ("backward", "finite gradients", "ok"),
        ("deterministic", "the same loss for the same inputs", "the same"),
    ]
    return None, passed


__all__ = [
    "ALLOW_ENV",
    "PREFIX",
    "PluginDataset",
    "PluginError",
    "allowed_modules",
    "build_encoder",
    "check_plugins",
    "is_plugin",
    "load_loss",
    "open_plugin_dataset",
    "resolve",
]
