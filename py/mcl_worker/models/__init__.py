"""Encoders with a projection head, built by name.

    model = create_model("resnet18", image_size=32, proj_dim=128)
    z = model(x)            # projections, what the contrastive loss sees   [B, proj_dim]
    h = model.features(x)   # backbone features, for k-means / probes / embed [B, feature_dim]

Architectures: small-cnn (the fast CPU default), resnet18, resnet50 (torchvision names),
vit-tiny, vit-small, vit-base (timm names), or a user's backbone py:<module>:<attr> whose
keyword arguments are the options (mcl_worker.plugins). `pretrained` is a local weight file for the
backbone (see pretrained.py). Bad configurations raise ModelConfigError with a code.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from ..plugin_ref import is_plugin
from .errors import ModelConfigError
from .heads import ProjectionHead
from .plugin_encoder import build_encoder
from .pretrained import LoadReport, load_pretrained, read_state_dict
from .resnet import ResNet, build_resnet
from .small_cnn import SmallCNN, build_small_cnn
from .vit import VisionTransformer, build_vit

__all__ = [
    "ARCHITECTURES",
    "Backbone",
    "ContrastiveModel",
    "LoadReport",
    "ModelConfigError",
    "ModelSpec",
    "ProjectionHead",
    "ResNet",
    "SmallCNN",
    "VisionTransformer",
    "count_parameters",
    "create_model",
    "set_grad_checkpointing",
    "use_channels_last",
    "load_pretrained",
    "read_state_dict",
]

Backbone = SmallCNN | ResNet | VisionTransformer

# name -> builder(image_size=, in_channels=, **options) -> backbone with a `feature_dim`.
ARCHITECTURES: dict[str, Callable[..., Backbone]] = {
    "small-cnn": build_small_cnn,
    "resnet18": partial(build_resnet, depth=18),
    "resnet50": partial(build_resnet, depth=50),
    "vit-tiny": partial(build_vit, size="tiny"),
    "vit-small": partial(build_vit, size="small"),
    "vit-base": partial(build_vit, size="base"),
}


@dataclass(frozen=True)
class ModelSpec:
    """Everything create_model was given except `pretrained`: enough to build the model again."""

    arch: str
    image_size: int
    in_channels: int = 3
    proj_dim: int = 128
    proj_hidden: int | None = None
    head_batch_norm: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # arch-specific: stem, patch_size, widths

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> ModelSpec:
        return ModelSpec(**json.loads(text))


class ContrastiveModel(nn.Module):
    """A backbone (images -> features) followed by a projection head (features -> projections)."""

    def __init__(self, backbone: nn.Module, head: ProjectionHead, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.spec = spec
        self.feature_dim: int = head.in_dim
        self.proj_dim: int = head.out_dim
        self.pretrained_report: LoadReport | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def embed(self, x: torch.Tensor, use_head: bool = False) -> torch.Tensor:
        """The representation downstream jobs use: backbone features, or projections with use_head."""
        return self.forward(x) if use_head else self.features(x)


def create_model(
    arch: str,
    *,
    image_size: int,
    in_channels: int = 3,
    proj_dim: int = 128,
    proj_hidden: int | None = None,
    head_batch_norm: bool = True,
    pretrained: str | os.PathLike[str] | None = None,
    **options: Any,
) -> ContrastiveModel:
    """Build `arch` for square images of `image_size` pixels with a projection head on top.

    proj_hidden defaults to the backbone's feature width. options are arch-specific:
      resnet18/resnet50: stem="cifar"|"imagenet" (default cifar when image_size <= 64)
      vit-*:             patch_size (default 16; e.g. 4 for 32x32 images)
      small-cnn:         widths (default (32, 64, 128, 256))
    pretrained: a local weight file for the backbone; what was loaded is in model.pretrained_report.
    """
    _check_positive_int("image_size", image_size)
    _check_positive_int("in_channels", in_channels)
    _check_positive_int("proj_dim", proj_dim)
    if proj_hidden is not None:
        _check_positive_int("proj_hidden", proj_hidden)
    backbone: nn.Module
    if is_plugin(arch):  # a user's backbone (mcl_worker.plugins); options are its keyword arguments
        backbone = build_encoder(arch, options, image_size=image_size, in_channels=in_channels)
    else:
        backbone, options = _build_backbone(arch, image_size, in_channels, options)

    feature_dim = backbone.feature_dim
    head = ProjectionHead(feature_dim, proj_hidden or feature_dim, proj_dim, batch_norm=head_batch_norm)
    # Stored as JSON gives it back (tuples become lists), so that a spec equals its round trip.
    options = json.loads(json.dumps(options))
    spec = ModelSpec(arch, image_size, in_channels, proj_dim, proj_hidden, head_batch_norm, options)
    model = ContrastiveModel(backbone, head, spec)
    if pretrained is not None:
        model.pretrained_report = load_pretrained(backbone, pretrained)
    return model


def _build_backbone(arch: str, image_size: int, in_channels: int, options: dict[str, Any]) -> tuple[Backbone, dict[str, Any]]:
    """A built-in backbone, and its options as chosen (a default stem made explicit)."""
    builder = ARCHITECTURES.get(arch)
    if builder is None:
        raise ModelConfigError(
            "UNKNOWN_ARCH", "arch", f"unknown architecture {arch!r}; valid: {', '.join(ARCHITECTURES)} or a plugin py:<module>:<attr>"
        )
    accepted = [
        name
        for name, p in inspect.signature(builder).parameters.items()
        if p.kind == p.KEYWORD_ONLY and name not in ("image_size", "in_channels") and not _bound(builder, name)
    ]
    for name in options:
        if name not in accepted:
            raise ModelConfigError(
                "BAD_OPTION",
                name,
                f"{arch} has no option {name!r}; its options: {', '.join(accepted) or 'none'}",
            )
    # `stem=None` means "the default for this image size"; record the choice actually made.
    options = {k: v for k, v in options.items() if v is not None}
    backbone = builder(image_size=image_size, in_channels=in_channels, **options)
    if isinstance(backbone, ResNet):
        options["stem"] = backbone.stem
    return backbone, options


def set_grad_checkpointing(model: ContrastiveModel) -> None:
    """Gradient checkpointing of a ViT's blocks (torch.utils.checkpoint, non-reentrant): the
    same gradients for less activation memory. Other encoders refuse it, naming the field."""
    if not isinstance(model.backbone, VisionTransformer):
        raise ModelConfigError(
            "BAD_OPTION", "grad_checkpointing",
            f"{model.spec.arch} has no transformer blocks to checkpoint; only the vit-* encoders and CLIP take it",
        )
    model.backbone.grad_checkpointing = True


def use_channels_last(model: ContrastiveModel) -> None:
    """The convolutional backbone's weights and input in channels-last memory format (NHWC)."""
    if not isinstance(model.backbone, ResNet | SmallCNN):
        raise ModelConfigError(
            "BAD_OPTION", "channels_last",
            f"{model.spec.arch} is not a convolutional encoder; only small-cnn, resnet18 and resnet50 take it",
        )
    model.backbone.use_channels_last()


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _bound(builder: Callable[..., Backbone], name: str) -> bool:
    return isinstance(builder, partial) and name in builder.keywords


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelConfigError("BAD_OPTION", name, f"{name} must be a positive integer, got {value!r}")
