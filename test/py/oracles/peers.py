"""The peer libraries, imported as they are installed in the test environment (peers.txt).

Each is the oracle for one of our compatibility claims. Where a peer cannot be imported whole
on the CPU build of torch, it is imported part by part, and this module says how:
- torchvision 0.28 exists only as a CUDA build: its compiled ops need a CUDA library the CPU
  torch lacks, and its import fails while it registers fake kernels for them. With torch.library's
  registration decorators made no-ops during the import, `torchvision.models` and
  `torchvision.transforms` (pure Python) work; `torchvision.ops` does not. open_clip and timm
  import torchvision, so they are imported the same way.
- openai-clip's package `__init__` needs pkg_resources, which current setuptools no longer has:
  its modules (`clip/model.py`, `clip/simple_tokenizer.py`, `clip/clip.py` with `tokenize`) are
  loaded on their own under a package stub whose `__path__` is the installed `clip/` folder, and
  `clip/clip.py` gets, for its import alone, a stand-in `pkg_resources` holding the one thing it
  reads from it, `packaging`.
- img2dataset's package `__init__` imports its whole downloader (fire, pandas, wandb, ...); its
  `writer.py`, which lays out the datasets it writes, is loaded on its own the same way.
A missing peer is an error, never a skip: run `node scripts/bootstrap.mjs --oracles`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import torch.library

_REGISTRARS = ("register_fake", "register_autograd", "impl_abstract")
HOW_TO_INSTALL = "install the oracle peers with `node scripts/bootstrap.mjs --oracles` (test/py/oracles/peers.txt)"


@contextlib.contextmanager
def _no_fake_kernels() -> Iterator[None]:
    def passthrough(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda fn: fn

    saved = {name: getattr(torch.library, name) for name in _REGISTRARS if hasattr(torch.library, name)}
    for name in saved:
        setattr(torch.library, name, passthrough)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.library, name, fn)


def _import(name: str) -> types.ModuleType:
    try:
        with _no_fake_kernels():
            return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"the oracle peer {name!r} cannot be imported ({exc}); {HOW_TO_INSTALL}") from exc


@cache
def torchvision() -> types.ModuleType:
    module = _import("torchvision")
    _import("torchvision.models")
    _import("torchvision.transforms")
    return module


@cache
def open_clip() -> types.ModuleType:
    torchvision()
    return _import("open_clip")


@cache
def open_clip_scheduler() -> types.ModuleType:
    """open_clip's learning-rate schedules (open_clip_train/scheduler.py: const_lr, cosine_lr), shipped
    in the open_clip_torch wheel; the module needs nothing beyond `math`."""
    return _import("open_clip_train.scheduler")


@cache
def timm() -> types.ModuleType:
    torchvision()
    return _import("timm")


def _package_stub(name: str, distribution: str) -> types.ModuleType:
    """An empty package `name` over its installed folder, so that its modules load without its __init__."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the oracle peer {distribution!r} is not installed; {HOW_TO_INSTALL}")
    stub = types.ModuleType(name)
    stub.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = stub
    return stub


@cache
def _openai_clip_package() -> types.ModuleType:
    return _package_stub("clip", "openai-clip")


@cache
def img2dataset_writer() -> types.ModuleType:
    """img2dataset's writer.py (FilesSampleWriter, WebDatasetSampleWriter, ParquetSampleWriter)."""
    _package_stub("img2dataset", "img2dataset")
    return _import("img2dataset.writer")


@cache
def openai_clip_model() -> types.ModuleType:
    """OpenAI's clip/model.py (CLIP, build_model, convert_weights)."""
    _openai_clip_package()
    return _import("clip.model")


@cache
def openai_clip_tokenizer() -> types.ModuleType:
    """OpenAI's clip/simple_tokenizer.py (SimpleTokenizer)."""
    _openai_clip_package()
    return _import("clip.simple_tokenizer")


@cache
def openai_clip_api() -> types.ModuleType:
    """OpenAI's clip/clip.py (tokenize, load); it only reads `pkg_resources.packaging`."""
    _openai_clip_package()
    torchvision()
    if importlib.util.find_spec("pkg_resources") is not None:
        return _import("clip.clip")
    import packaging.version

    stand_in = types.ModuleType("pkg_resources")
    stand_in.packaging = packaging  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = stand_in
    try:
        return _import("clip.clip")
    finally:  # only for this import: others (pytest's monkeypatch) take it for the real one
        del sys.modules["pkg_resources"]


def openai_bpe_vocab() -> Path:
    """The real OpenAI BPE vocabulary, as the openai-clip wheel ships it (MIT)."""
    path = Path(openai_clip_tokenizer().__file__).with_name("bpe_simple_vocab_16e6.txt.gz")
    if not path.is_file():
        raise ImportError(f"openai-clip ships no {path.name} at {path}; {HOW_TO_INSTALL}")
    return path


@cache
def lightly_loss() -> types.ModuleType:
    return _import("lightly.loss")


@cache
def metric_learning_losses() -> types.ModuleType:
    return _import("pytorch_metric_learning.losses")


def version(distribution: str) -> str:
    from importlib.metadata import version as installed

    return installed(distribution)
