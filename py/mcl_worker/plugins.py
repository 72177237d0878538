"""Python plugins: an encoder, a dataset or a loss named by a reference `py:<module>:<attr>`.

    backbone = build_encoder("py:my_pkg.models:make_encoder", {"width": 32}, image_size=32, in_channels=3)
    dataset = open_plugin_dataset("py:my_pkg.data:CsvImages", {"csv": "/data/labels.csv"})
    loss = load_loss("py:my_pkg.losses:my_loss", {"margin": 0.1})

A plugin is arbitrary code that runs inside the worker with the worker's rights, so the worker
imports only modules its own configuration names: $MCL_WORKER_PLUGINS in its environment, a
comma-separated list of modules or packages (`my_pkg` allows `my_pkg.models`). It imports the
module a reference names when it is first used, from its own Python path (the package installed
in the worker's environment or on its PYTHONPATH). A reference is a string and the keyword
arguments are JSON values: no code or pickled object crosses the wire.

A reference into Python's standard library or builtins (`py:os:system`, `py:builtins:eval`) is
refused whatever $MCL_WORKER_PLUGINS says, before anything is imported; so is an allowed module's
attribute that is defined there (`from subprocess import run` in a plugin module): those would
turn a config's arguments into commands.

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

import importlib
import inspect
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from .data.augmentation import AugmentConfig, eval_transform
from .data.base import AttributeInfo, ImageDataset, Indices, check_indices
from .errors import InvalidArgument
from .eval_mode import eval_mode

PREFIX = "py:"
ALLOW_ENV = "MCL_WORKER_PLUGINS"
PluginKind = Literal["encoder", "dataset", "loss"]
JsonArgs = Mapping[str, Any]
_REFERENCE = re.compile(r"^py:([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")
# Where each kind's reference travels in a job body (wire details.path).
_FIELD: dict[PluginKind, str] = {"encoder": "arch", "dataset": "uri", "loss": "loss"}


def is_plugin(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


class PluginError(InvalidArgument):
    """A plugin failed one of its checks; the message names the plugin, the check and what was expected."""

    def __init__(self, kind: PluginKind, ref: str, check: str, expected: str, got: str) -> None:
        super().__init__(_FIELD[kind], f"{kind} plugin {ref} failed the {check!r} check: expected {expected}, got {got}")
        self.kind = kind
        self.ref = ref
        self.check = check
        self.expected = expected
        self.got = got
        self.details.update({"plugin": kind, "ref": ref, "check": check, "expected": expected, "got": got})


def allowed_modules() -> tuple[str, ...]:
    """The modules and packages this worker may import plugins from ($MCL_WORKER_PLUGINS)."""
    return tuple(name.strip() for name in os.environ.get(ALLOW_ENV, "").split(",") if name.strip())


def resolve(kind: PluginKind, ref: str) -> Callable[..., Any]:
    """The callable `ref` names: its module imported (only that one), its attribute looked up."""
    match = _REFERENCE.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise PluginError(kind, str(ref), "reference", "py:<module.path>:<attribute>", repr(ref))
    module_name, attr = match.groups()
    if _is_stdlib(module_name):
        raise PluginError(
            kind, ref, "stdlib", "a module of your own (Python's standard library and builtins are never plugins)", module_name
        )
    allowed = allowed_modules()
    if not any(module_name == name or module_name.startswith(name + ".") for name in allowed):
        raise PluginError(
            kind, ref, "allowed", f"a module the worker's ${ALLOW_ENV} names (it names {', '.join(allowed) or 'none'})",
            module_name,
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error while importing user code is the plugin's
        raise PluginError(
            kind, ref, "import", f"module {module_name!r} importable by the worker's Python (installed, or on PYTHONPATH)",
            _exception(exc),
        ) from None
    if not hasattr(module, attr):
        raise PluginError(kind, ref, "attribute", f"{module_name} to define {attr!r}", "no such attribute")
    target = getattr(module, attr)
    if not callable(target):
        raise PluginError(kind, ref, "callable", f"{attr} to be callable", type(target).__name__)
    defined_in = _defining_module(target)
    if _is_stdlib(defined_in):
        raise PluginError(
            kind, ref, "stdlib", f"{attr} defined in your own module, not taken from Python's standard library or builtins",
            f"{attr} from {defined_in}",
        )
    return target


def _is_stdlib(module_name: str) -> bool:
    """Whether `module_name` is (inside) a module of Python's standard library or a builtin one."""
    top = module_name.split(".", 1)[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__main__"


def _defining_module(target: Callable[..., Any]) -> str:
    """The module that defines `target`, seen through functools.partial (which stdlib itself defines)."""
    while isinstance(target, partial):
        target = target.func
    return str(getattr(target, "__module__", None) or type(target).__module__)


def _call(kind: PluginKind, ref: str, target: Callable[..., Any], args: JsonArgs) -> Any:
    try:
        return target(**args)
    except Exception as exc:
        raise PluginError(kind, ref, "build", f"{ref.rsplit(':', 1)[1]}(**{_json(args)}) to succeed", _exception(exc)) from None


# ---- encoders -------------------------------------------------------------------------------


def build_encoder(ref: str, args: JsonArgs, *, image_size: int, in_channels: int) -> nn.Module:
    """The backbone `ref` builds, with an int `feature_dim` (declared or read from a forward pass)."""
    target = resolve("encoder", ref)
    named = _parameter_names(target)
    sizes = {"image_size": image_size, "in_channels": in_channels}
    module = _call("encoder", ref, target, {**args, **{k: v for k, v in sizes.items() if k in named}})
    if not isinstance(module, nn.Module):
        raise PluginError("encoder", ref, "build", "an nn.Module", type(module).__name__)
    declared = getattr(module, "feature_dim", None)
    if declared is not None and (isinstance(declared, bool) or not isinstance(declared, int) or declared < 1):
        raise PluginError("encoder", ref, "feature_dim", "feature_dim to be a positive int (or absent)", repr(declared))
    if declared is None:
        blank = torch.zeros(1, in_channels, image_size, image_size)
        with eval_mode(module), torch.no_grad():
            out = _forward("encoder", ref, module, blank)
        module.feature_dim = int(out.shape[1])
    return module


def _parameter_names(target: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(target).parameters)
    except (TypeError, ValueError):  # a builtin without a signature takes only what it is given
        return set()


def _forward(kind: PluginKind, ref: str, module: nn.Module, x: Tensor) -> Tensor:
    try:
        out = module(x)
    except Exception as exc:
        raise PluginError(kind, ref, "forward", f"a forward pass on float images {list(x.shape)}", _exception(exc)) from None
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0] or not out.is_floating_point():
        raise PluginError(kind, ref, "forward", f"a float tensor [{x.shape[0]}, D]", _describe(out))
    return out


# ---- datasets -------------------------------------------------------------------------------


def open_plugin_dataset(ref: str, args: JsonArgs) -> PluginDataset:
    """The dataset `ref` builds, adapted to the worker's ImageDataset (uint8 [B, 3, H, W] batches)."""
    return PluginDataset(ref, _call("dataset", ref, resolve("dataset", ref), args))


class PluginDataset(ImageDataset):
    """A user's map-style dataset seen as an ImageDataset: images in one layout, labels checked once."""

    def __init__(self, ref: str, source: Any) -> None:
        self.uri = ref
        self.source = source
        try:
            size = len(source)
        except Exception as exc:
            raise PluginError("dataset", ref, "length", "len(dataset) to work", _exception(exc)) from None
        if not isinstance(size, int) or size < 2:
            raise PluginError("dataset", ref, "length", "len(dataset) >= 2", repr(size))
        self._size = size
        first = self._item(0)
        self._shape: tuple[int, int, int] = tuple(first[0].shape)  # type: ignore[assignment]
        self._has_captions = first[1] is not None
        self.attributes = self._attributes()

    def __len__(self) -> int:
        return self._size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def has_captions(self) -> bool:
        return self._has_captions

    def get_images(self, indices: Indices) -> Tensor:
        rows = check_indices(indices, len(self))
        images = [self._item(int(i))[0] for i in rows]
        for i, image in zip(rows, images):
            if tuple(image.shape) != self._shape:
                raise PluginError(
                    "dataset", self.uri, "items", f"every image of shape [C, H, W] = {list(self._shape)} (as item 0)",
                    f"{list(image.shape)} at item {int(i)}",
                )
        return torch.stack(images) if images else torch.empty(0, *self._shape, dtype=torch.uint8)

    def captions(self, indices: Indices) -> list[str] | None:
        if not self._has_captions:
            return None
        return [str(self._item(int(i))[1]) for i in check_indices(indices, len(self))]

    def _item(self, index: int) -> tuple[Tensor, str | None]:
        try:
            item = self.source[index]
        except Exception as exc:
            raise PluginError("dataset", self.uri, "items", f"dataset[{index}] to work", _exception(exc)) from None
        caption = None
        if isinstance(item, Mapping):
            if "image" not in item:
                raise PluginError("dataset", self.uri, "items", 'an image, or a dict with an "image"', f"keys {sorted(item)}")
            caption = item.get("caption")
            if caption is not None and not isinstance(caption, str):
                raise PluginError("dataset", self.uri, "captions", "a str caption", f"{type(caption).__name__} at item {index}")
            item = item["image"]
        return _image_chw(self.uri, item, index), caption

    def _attributes(self) -> dict[str, AttributeInfo]:
        labels = getattr(self.source, "labels", None)
        names = getattr(self.source, "class_names", None) or {}
        if labels is None:
            return {}
        if not isinstance(labels, Mapping):
            raise PluginError("dataset", self.uri, "labels", "labels to be {attribute: [int per sample]}", type(labels).__name__)
        attributes: dict[str, AttributeInfo] = {}
        for name, values in labels.items():
            array = np.asarray(values)
            if array.shape != (self._size,) or array.dtype.kind not in "iu" or (array.size and array.min() < 0):
                raise PluginError(
                    "dataset", self.uri, "labels", f"labels[{name!r}]: {self._size} ints >= 0 (one per sample)",
                    f"{array.dtype} {list(array.shape)}",
                )
            count = int(array.max()) + 1
            classes = tuple(str(c) for c in names.get(name, range(count)))
            if len(classes) < count:
                raise PluginError(
                    "dataset", self.uri, "labels", f"class_names[{name!r}] to name every label (>= {count} names)",
                    f"{len(classes)} names",
                )
            attributes[str(name)] = AttributeInfo(str(name), array.astype(np.int64), classes)
        return attributes


def _image_chw(ref: str, image: Any, index: int) -> Tensor:
    """One uint8 image as [3, H, W]: [H, W, C] and [H, W] are moved into place, one channel repeated."""
    t = image.detach().cpu() if isinstance(image, Tensor) else torch.from_numpy(np.array(image))
    if t.dtype != torch.uint8:
        raise PluginError("dataset", ref, "items", "uint8 images", f"{t.dtype} at item {index}")
    if t.dim() == 2:
        t = t[None]
    elif t.dim() == 3 and t.shape[-1] in (1, 3):
        t = t.permute(2, 0, 1)
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise PluginError("dataset", ref, "items", "an image [H, W, C], [C, H, W] or [H, W] with C = 1 or 3",
                          f"{list(t.shape)} at item {index}")
    return t.expand(3, -1, -1).contiguous()


# ---- losses ---------------------------------------------------------------------------------


def load_loss(ref: str, args: JsonArgs) -> Callable[..., Tensor]:
    """The loss `ref` names with its keyword arguments bound."""
    return partial(resolve("loss", ref), **args)


# ---- checks ---------------------------------------------------------------------------------


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
        from .data import open_dataset  # the built-in dataset the run will use

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
        out = _forward("encoder", ref, module, x)
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
            raise PluginError("loss", ref, "call", "loss(z_a, z_b, temperature=...) on two [4, 8] batches", _exception(exc)) from None
        if not isinstance(value, Tensor) or value.dim() != 0 or not value.is_floating_point():
            raise PluginError("loss", ref, "call", "a float scalar tensor", _describe(value))
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


def _exception(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor {list(value.shape)}"
    return type(value).__name__


def _json(args: JsonArgs) -> str:
    return json.dumps(dict(args), sort_keys=True)


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
