"""A plugin encoder (mcl_worker.plugins) as a backbone: built, and its feature width known."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..eval_mode import eval_mode
from ..plugin_ref import JsonArgs, PluginError, PluginKind, call_plugin, describe_value, exception_text, resolve


def build_encoder(ref: str, args: JsonArgs, *, image_size: int, in_channels: int) -> nn.Module:
    """The backbone `ref` builds, with an int `feature_dim` (declared or read from a forward pass)."""
    target = resolve("encoder", ref)
    named = _parameter_names(target)
    sizes = {"image_size": image_size, "in_channels": in_channels}
    module = call_plugin("encoder", ref, target, {**args, **{k: v for k, v in sizes.items() if k in named}})
    if not isinstance(module, nn.Module):
        raise PluginError("encoder", ref, "build", "an nn.Module", type(module).__name__)
    declared = getattr(module, "feature_dim", None)
    if declared is not None and (isinstance(declared, bool) or not isinstance(declared, int) or declared < 1):
        raise PluginError("encoder", ref, "feature_dim", "feature_dim to be a positive int (or absent)", repr(declared))
    if declared is None:
        blank = torch.zeros(1, in_channels, image_size, image_size)
        with eval_mode(module), torch.no_grad():
            out = forward_encoder("encoder", ref, module, blank)
        module.feature_dim = int(out.shape[1])
    return module


def _parameter_names(target: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(target).parameters)
    except (TypeError, ValueError):  # a builtin without a signature takes only what it is given
        return set()


def forward_encoder(kind: PluginKind, ref: str, module: nn.Module, x: Tensor) -> Tensor:
    try:
        out = module(x)
    except Exception as exc:
        raise PluginError(kind, ref, "forward", f"a forward pass on float images {list(x.shape)}", exception_text(exc)) from None
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0] or not out.is_floating_point():
        raise PluginError(kind, ref, "forward", f"a float tensor [{x.shape[0]}, D]", describe_value(out))
    return out
