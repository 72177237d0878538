"""Which peer library loads an encoder's weights with no code of ours, and how; and the inverse,
the encoder built again from the weights and what they record.

Our encoders carry their peers' parameter names (models/resnet.py, vit.py, clip.py): the pretrained
loading reads a torchvision, timm or OpenAI / open_clip file as it is, skipping only the peer's
classifier (the backbone's `pretrained_ignored_prefixes`). Exporting is that mapping read backwards,
the identity on names: the weights go out as they are, and the keys the peer's model has beyond
them are its classifier's.

    resnet18 / resnet50, ImageNet stem, 3 channels   torchvision.models.resnet18 / resnet50 (fc absent)
    vit-tiny / vit-small / vit-base                  timm vit_{size}_patch16_224 with num_classes=0
    CLIP (clip-*)                                    open_clip's CLIP (both towers), also OpenAI's build_model
    small-cnn, a ResNet with the CIFAR stem or other
    than 3 channels, a plugin encoder                none: our own format, read by load_encoder
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
from torch import nn

from ..models import ContrastiveModel, ModelSpec, ResNet, VisionTransformer, create_model
from ..models.clip import CLIP, CLIP_CONFIGS, ClipSpec, create_clip
from ..plugin_ref import is_plugin

Library = Literal["torchvision", "timm", "open_clip"]
OWN_FORMAT = "mcl"  # the library of an encoder no peer loads
LOAD_ENCODER = "model = mcl_worker.load_encoder(path)"
_LOAD_FILE = "model.load_state_dict(safetensors.torch.load_file(path))"
# Our CLIP configurations that open_clip ships under a name (at their 224 px, 77 tokens, OpenAI's vocabulary).
_OPEN_CLIP_NAMES = {"clip-rn50": "RN50", "clip-vit-b-32": "ViT-B-32", "clip-vit-b-16": "ViT-B-16", "clip-vit-l-14": "ViT-L-14"}
_OPENAI_TEXT = {"context_length": 77, "vocab_size": 49408}


@dataclass(frozen=True)
class Peer:
    """The library that loads the weights as they are, and the Python that does it."""

    library: Library
    name: str  # its model: resnet50, vit_base_patch16_224, ViT-B-16-quickgelu, CLIP
    kwargs: dict[str, Any]  # timm.create_model's keyword arguments, open_clip CLIP's configuration
    load: str  # Python that builds the model with the peer alone and loads `path` into it
    absent_keys: list[str]  # the peer model's keys the file lacks (its classifier)


@dataclass(frozen=True)
class EncoderLayout:
    """What an exported encoder is: enough to build it again, and who else loads it."""

    family: Literal["unimodal", "clip"]
    architecture: str  # our name: resnet50, vit-base, small-cnn, clip-vit-b-16, py:<module>:<attr>
    stem: str | None  # a ResNet's
    spec: dict[str, Any]  # ModelSpec or ClipSpec, as JSON
    feature_dim: int
    peer: Peer | None
    no_peer: str | None  # why there is none: the weights are in our own format

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(value: Mapping[str, Any]) -> EncoderLayout:
        peer = value.get("peer")
        fields = {**value, "peer": Peer(**peer) if peer is not None else None}
        return EncoderLayout(**fields)


def layout_of(model: nn.Module) -> EncoderLayout:
    """The layout of a model the worker holds: a ContrastiveModel's backbone, or a CLIP model."""
    if isinstance(model, CLIP):
        spec = model.spec
        return EncoderLayout("clip", spec.config, None, asdict(spec), model.feature_dim, _open_clip(spec), None)
    if not isinstance(model, ContrastiveModel):
        raise TypeError(f"cannot export a {type(model).__name__}")
    spec = model.spec
    backbone = model.backbone
    stem = backbone.stem if isinstance(backbone, ResNet) else None
    peer, no_peer = _unimodal_peer(spec, backbone)
    return EncoderLayout("unimodal", spec.arch, stem, asdict(spec), model.feature_dim, peer, no_peer)


def weights_of(model: ContrastiveModel | CLIP) -> dict[str, torch.Tensor]:
    """The exported weights, in the peer's names: a backbone's, or a CLIP model's (both towers)."""
    module: nn.Module = model if isinstance(model, CLIP) else model.backbone
    return dict(module.state_dict())


def rebuild_encoder(layout: EncoderLayout, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The image encoder `layout` describes with the weights `state` (strictly), on the CPU, in eval
    mode: a backbone, or a CLIP model's image tower. A plugin's is built as the worker builds it,
    under the same consent ($MCL_WORKER_PLUGINS)."""
    if layout.family == "clip":
        spec = ClipSpec(**layout.spec)
        clip = create_clip(
            spec.config, vocab_size=spec.vocab_size, context_length=spec.context_length,
            image_size=spec.image_size, activation=spec.activation,
        )
        clip.load_state_dict(state)
        return clip.visual.eval()
    spec = ModelSpec(**layout.spec)
    backbone = create_model(
        spec.arch, image_size=spec.image_size, in_channels=spec.in_channels, proj_dim=spec.proj_dim,
        proj_hidden=spec.proj_hidden, head_batch_norm=spec.head_batch_norm, **spec.options,
    ).backbone
    backbone.load_state_dict(state)
    return backbone.eval()


def _classifier_keys(backbone: nn.Module) -> list[str]:
    """The peer's classifier, which the backbone leaves out (a Linear: weight and bias)."""
    prefixes: tuple[str, ...] = getattr(backbone, "pretrained_ignored_prefixes", ())
    return [f"{prefix}{name}" for prefix in prefixes for name in ("weight", "bias")]


def _unimodal_peer(spec: ModelSpec, backbone: nn.Module) -> tuple[Peer | None, str | None]:
    if is_plugin(spec.arch):
        return None, f"{spec.arch} is a plugin encoder, which no peer library knows"
    if isinstance(backbone, ResNet):
        if backbone.stem != "imagenet":
            return None, (
                f"{spec.arch} with the CIFAR stem (a 3x3 convolution of stride 1, no max-pool, chosen at image sizes"
                " <= 64 px) is not torchvision's ResNet, whose 7x7 stem would not take these weights"
            )
        if spec.in_channels != 3:
            return None, f"torchvision's {spec.arch} takes 3 channels, this one {spec.in_channels}"
        name = spec.arch
        load = f"model = torchvision.models.{name}(); model.fc = torch.nn.Identity(); {_LOAD_FILE}"
        return Peer("torchvision", name, {}, load, _classifier_keys(backbone)), None
    if isinstance(backbone, VisionTransformer):
        name = f"vit_{spec.arch.removeprefix('vit-')}_patch16_224"
        kwargs: dict[str, Any] = {"num_classes": 0}
        patch = int(backbone.patch_embed.proj.kernel_size[0])
        for key, value, default in (("img_size", spec.image_size, 224), ("patch_size", patch, 16), ("in_chans", spec.in_channels, 3)):
            if value != default:
                kwargs[key] = value
        arguments = "".join(f", {key}={value!r}" for key, value in kwargs.items())
        load = f"model = timm.create_model({name!r}, pretrained=False{arguments}); {_LOAD_FILE}"
        # With num_classes=0 timm's head is an identity; its default model's classifier is what the file lacks.
        return Peer("timm", name, kwargs, load, _classifier_keys(backbone)), None
    return None, f"{spec.arch} has no equivalent in torchvision, timm or open_clip"


def _open_clip(spec: ClipSpec) -> Peer:
    """open_clip's CLIP of the same shape; its named configuration where it has one."""
    cfg = replace(
        CLIP_CONFIGS[spec.config], image_size=spec.image_size, context_length=spec.context_length,
        vocab_size=spec.vocab_size, activation=spec.activation,
    )
    quick_gelu = cfg.activation == "quick_gelu"
    vision: dict[str, Any] = {"image_size": cfg.image_size, "width": cfg.vision_width}
    if isinstance(cfg.vision_layers, tuple):  # OpenAI's ResNet: heads = width * 32 / head_width, as ours
        vision.update(layers=list(cfg.vision_layers), head_width=64)
    else:  # heads = width / head_width: ours are width // 64, at least 1
        vision.update(layers=cfg.vision_layers, patch_size=cfg.vision_patch_size, head_width=cfg.vision_width // (cfg.vision_width // 64 or 1))
    text = {
        "context_length": cfg.context_length, "vocab_size": cfg.vocab_size, "width": cfg.text_width,
        "heads": cfg.text_heads, "layers": cfg.text_layers,
    }
    kwargs = {"embed_dim": cfg.embed_dim, "vision_cfg": vision, "text_cfg": text, "quick_gelu": quick_gelu}
    named = _OPEN_CLIP_NAMES.get(spec.config)
    if named is not None and cfg.image_size == 224 and {"context_length": cfg.context_length, "vocab_size": cfg.vocab_size} == _OPENAI_TEXT:
        name = f"{named}-quickgelu" if quick_gelu else named
        return Peer("open_clip", name, kwargs, f"model = open_clip.create_model({name!r}); {_LOAD_FILE}", [])
    return Peer("open_clip", "CLIP", kwargs, f"model = open_clip.model.CLIP(**{kwargs!r}); {_LOAD_FILE}", [])
