"""CLIP (Radford et al. 2021): an image tower and a text tower trained to agree, in plain torch.

    model = create_clip("clip-vit-b-32", vocab_size=tokenizer.vocab_size)
    image_z = model.encode_image(images)   # [B, embed_dim], not normalised
    text_z = model.encode_text(tokens)     # [B, embed_dim], tokens [B, context_length] int64
    logits = model.logit_scale.exp() * normalize(image_z) @ normalize(text_z).T

Parameter names are OpenAI's (`visual.conv1.weight`, `visual.transformer.resblocks.0.attn.in_proj_weight`,
`token_embedding.weight`, `ln_final.weight`, `text_projection`, `logit_scale`, ...), which open_clip
keeps for these architectures, so `load_clip_weights` reads either project's checkpoint from a
local file. Image towers: OpenAI's modified ResNet (three-convolution stem, anti-aliased strided
blocks, attention pooling) and the Vision Transformer (class token, pre-norm). The text tower is a
causal Transformer read out at the end-of-text token, which has the highest id in the vocabulary.
The transformers' MLPs use QuickGELU (OpenAI's weights and open_clip's `-quickgelu` models) or
exact GELU (open_clip's other models): the same weights give other features under the other one,
so a checkpoint that says which it was trained with is refused by a model built with the other.

`lock(lock_image=, lock_image_unlocked_groups=, lock_text=)` freezes towers for fine-tuning as
open_clip's `--lock-image`, `--lock-image-unlocked-groups N` and `--lock-text` do (the MCL recipe
locks the text tower and all but the last groups of the image tower).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..checkpoint import FORMAT_KEY, MODEL_PREFIX, CheckpointError, describe_mismatch, mismatch_message
from .errors import ModelConfigError
from .pretrained import LoadReport, read_state_dict

Activation = Literal["quick_gelu", "gelu"]
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
# The learnable log inverse temperature stays in [0, ln 100] (a temperature of at least 0.01), as
# in OpenAI's and open_clip's training: see CLIP.clamp_logit_scale_.
MAX_LOGIT_SCALE = math.log(100.0)


@dataclass(frozen=True)
class ClipConfig:
    embed_dim: int
    image_size: int
    vision_layers: int | tuple[int, int, int, int]  # a 4-tuple (blocks per stage) builds the ResNet
    vision_width: int
    vision_patch_size: int | None  # ViT only
    context_length: int
    vocab_size: int
    text_width: int
    text_heads: int
    text_layers: int
    activation: Activation  # of the transformers' MLPs (the ResNet's convolutions use ReLU)


_OPENAI_TEXT = dict(context_length=77, vocab_size=49408, text_heads=8, text_layers=12, activation="quick_gelu")
# The published shapes (OpenAI's clip/model.py build_model reads the same numbers off a state dict).
CLIP_CONFIGS: dict[str, ClipConfig] = {
    "clip-rn50": ClipConfig(1024, 224, (3, 4, 6, 3), 64, None, text_width=512, **_OPENAI_TEXT),  # type: ignore[arg-type]
    "clip-vit-b-32": ClipConfig(512, 224, 12, 768, 32, text_width=512, **_OPENAI_TEXT),  # type: ignore[arg-type]
    "clip-vit-b-16": ClipConfig(512, 224, 12, 768, 16, text_width=512, **_OPENAI_TEXT),  # type: ignore[arg-type]
    "clip-vit-l-14": ClipConfig(
        768, 224, 24, 1024, 14, context_length=77, vocab_size=49408, text_width=768, text_heads=12, text_layers=12,
        activation="quick_gelu",
    ),
    # CPU-sized for tests and the demo: 32x32 images in 16 patches, two blocks per tower.
    "clip-tiny": ClipConfig(
        64, 32, 2, 64, 8, context_length=16, vocab_size=49408, text_width=64, text_heads=2, text_layers=2, activation="quick_gelu"
    ),
}


# --- shared pieces ------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (as OpenAI's, for fp16 weights)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """OpenAI's GELU approximation; its weights expect it."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def _activation_layer(activation: Activation) -> nn.Module:
    return QuickGELU() if activation == "quick_gelu" else nn.GELU()


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). Sequences are [B, L, D]."""

    def __init__(self, width: int, heads: int, activation: Activation) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = LayerNorm(width)
        # "gelu" is the module's name in both projects' checkpoints, whichever function it is.
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)), ("gelu", _activation_layer(activation)), ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = LayerNorm(width)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, activation: Activation) -> None:
        super().__init__()
        self.width = width
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, activation) for _ in range(layers)])
        # Recompute every block's activations in backward instead of keeping them (less memory, ~1/3 more compute).
        self.grad_checkpointing = False

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        for block in self.resblocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, attn_mask, use_reentrant=False)
            else:
                x = block(x, attn_mask)
        return x


# --- image tower: modified ResNet ---------------------------------------------------------


class Bottleneck(nn.Module):
    """ResNet bottleneck whose stride is an average pool before the last 1x1 convolution
    (anti-aliasing), also on the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample: nn.Module | None = None
        if stride > 1 or inplanes != planes * self.expansion:
            # "-1" holds no weights: the checkpoint's keys are downsample.0 (conv) and downsample.1 (bn).
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, bias=False)),
                ("1", nn.BatchNorm2d(planes * self.expansion)),
            ]))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class AttentionPool2d(nn.Module):
    """The ResNet's head: one attention query (the mean of the feature map, plus a position)
    over all positions, projected to the embedding."""

    def __init__(self, grid: int, width: int, heads: int, output_dim: int) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) / width**0.5)
        self.k_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, output_dim)
        self.num_heads = heads

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(2).permute(2, 0, 1)  # [HW, B, C]
        x = torch.cat([x.mean(dim=0, keepdim=True), x])  # the query position first
        x = x + self.positional_embedding[:, None, :].to(x.dtype)
        out, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.num_heads,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.c_proj.weight, out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True, training=self.training, need_weights=False,
        )
        return out.squeeze(0)


class ModifiedResNet(nn.Module):
    def __init__(self, layers: tuple[int, int, int, int], output_dim: int, heads: int, image_size: int, width: int = 64) -> None:
        super().__init__()
        if image_size % 32:
            raise ModelConfigError("BAD_IMAGE_SIZE", "image_size", f"the CLIP ResNet needs a multiple of 32, got {image_size}")
        # Stem: three 3x3 convolutions, then an average pool (stride 4 in all).
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._stage(width, layers[0])
        self.layer2 = self._stage(width * 2, layers[1], stride=2)
        self.layer3 = self._stage(width * 4, layers[2], stride=2)
        self.layer4 = self._stage(width * 8, layers[3], stride=2)
        self.attnpool = AttentionPool2d(image_size // 32, width * 32, heads, output_dim)

    def _stage(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        stage = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        stage += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def lock(self, unlocked_groups: int) -> None:
        """Freeze the whole tower, as open_clip's ModifiedResNet.lock, which has no groups to
        leave unlocked (it asserts unlocked_groups == 0): refused here with the field named."""
        if unlocked_groups:
            raise ModelConfigError(
                "BAD_OPTION", "lock_image_unlocked_groups",
                f"the CLIP ResNet image tower can only be locked whole (as open_clip's), got {unlocked_groups}:"
                " leave lock_image_unlocked_groups (clip.lockImageUnlockedGroups) out, or lock_image (clip.lockImage)"
                " to train the whole tower",
            )
        _freeze(self)

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.conv1.weight.dtype)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.avgpool(F.relu(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


# --- image tower: Vision Transformer ------------------------------------------------------


class VisionTransformer(nn.Module):
    def __init__(
        self, image_size: int, patch_size: int, width: int, layers: int, heads: int, output_dim: int, activation: Activation
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ModelConfigError(
                "BAD_IMAGE_SIZE", "image_size", f"image_size {image_size} is not a multiple of the patch size {patch_size}"
            )
        self.conv1 = nn.Conv2d(3, width, patch_size, stride=patch_size, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((image_size // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, activation)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def lock_groups(self) -> list[list[nn.Module | nn.Parameter]]:
        """open_clip's groups of VisionTransformer.lock, first to last: the embedding (patch
        convolution, class and position embeddings, ln_pre), every block but the last, the last
        block with ln_post, and the projection."""
        blocks = list(self.transformer.resblocks)
        return [
            [self.conv1, self.class_embedding, self.positional_embedding, self.ln_pre],
            *[[block] for block in blocks[:-1]],
            [blocks[-1], self.ln_post],
            [self.proj],
        ]

    def lock(self, unlocked_groups: int) -> None:
        """Freeze the tower but its last `unlocked_groups` groups; more groups than there are
        unlock them all, as open_clip's slice groups[-N:] does."""
        _freeze(self)
        if unlocked_groups:
            for group in self.lock_groups()[-unlocked_groups:]:
                for part in group:
                    _freeze(part, frozen=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x.to(self.conv1.weight.dtype)).flatten(2).transpose(1, 2)  # [B, patches, width]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


# --- the dual encoder ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """What create_clip was given: enough to build the same model again."""

    config: str
    image_size: int
    context_length: int
    vocab_size: int
    activation: Activation

    @property
    def in_channels(self) -> int:  # RGB only, as the pretrained stems
        return 3

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class CLIP(nn.Module):
    def __init__(self, cfg: ClipConfig, spec: ClipSpec) -> None:
        super().__init__()
        self.spec = spec
        self.context_length = cfg.context_length
        self.visual: ModifiedResNet | VisionTransformer
        if isinstance(cfg.vision_layers, tuple):
            self.visual = ModifiedResNet(cfg.vision_layers, cfg.embed_dim, cfg.vision_width * 32 // 64, cfg.image_size, cfg.vision_width)
        else:
            assert cfg.vision_patch_size is not None
            self.visual = VisionTransformer(
                cfg.image_size, cfg.vision_patch_size, cfg.vision_width, cfg.vision_layers, cfg.vision_width // 64 or 1,
                cfg.embed_dim, cfg.activation,
            )
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads, cfg.activation)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, cfg.text_width))
        self.ln_final = LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.empty(cfg.text_width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        # Causal: position i attends to positions <= i (-inf above the diagonal). Not a weight.
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)
        # The interface the generic embed / kmeans / probe jobs use: image embeddings.
        self.feature_dim = self.proj_dim = cfg.embed_dim
        self._frozen_norms: list[nn.Module] = []
        self._init_parameters(cfg)

    def _init_parameters(self, cfg: ClipConfig) -> None:
        # OpenAI's initialisation: small embeddings, projections scaled by width and depth.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        width, layers = cfg.text_width, cfg.text_layers
        proj_std, attn_std, fc_std = (width**-0.5) * ((2 * layers) ** -0.5), width**-0.5, (2 * width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width**-0.5)
        if isinstance(self.visual, ModifiedResNet):
            pool = self.visual.attnpool
            for linear in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
                nn.init.normal_(linear.weight, std=pool.c_proj.in_features**-0.5)
            for stage in (self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4):
                for block in stage:
                    nn.init.zeros_(block.bn3.weight)  # each residual branch starts as the identity

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        """Gradient checkpointing of the transformer towers' blocks: the text tower, and the image
        tower when it is a ViT (as open_clip, the ResNet image tower keeps its activations)."""
        self.transformer.grad_checkpointing = enabled
        if isinstance(self.visual, VisionTransformer):
            self.visual.transformer.grad_checkpointing = enabled

    def encode_image(self, images: Tensor) -> Tensor:
        return self.visual(images)

    def encode_text(self, tokens: Tensor) -> Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding[: tokens.shape[1]]
        mask = self.attn_mask[: tokens.shape[1], : tokens.shape[1]]
        x = self.ln_final(self.transformer(x, mask))
        # Read out at the end-of-text token: the highest id of each row.
        return x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)] @ self.text_projection

    def forward(self, images: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(image embeddings, text embeddings, logit_scale), as open_clip's CLIP.forward."""
        return self.encode_image(images), self.encode_text(tokens), self.logit_scale

    def embed(self, x: Tensor, use_head: bool = False) -> Tensor:
        """Image embeddings, for the generic embed job (CLIP has no separate head: use_head changes nothing)."""
        return self.encode_image(x)

    def clamp_logit_scale_(self) -> None:
        """Keep the learnable scale in [0, ln 100], as open_clip's training loop does after
        every optimizer step (outside the loss, whose gradient the scale keeps)."""
        with torch.no_grad():
            self.logit_scale.clamp_(0, MAX_LOGIT_SCALE)

    def lock(self, *, lock_image: bool = False, lock_image_unlocked_groups: int = 0, lock_text: bool = False) -> None:
        """Freeze towers as open_clip's options do: `lock_image` the image tower but its last
        `lock_image_unlocked_groups` groups (ViT: see VisionTransformer.lock_groups; the ResNet
        only whole), `lock_text` the text tower (embeddings, blocks, ln_final, projection). The
        logit scale stays trainable. A locked ResNet's BatchNorms also keep their statistics in
        train mode (open_clip's --lock-image-freeze-bn-stats), so that the locked tower does not change."""
        groups = lock_image_unlocked_groups
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 0:
            raise ModelConfigError(
                "BAD_OPTION", "lock_image_unlocked_groups", f"must be an integer >= 0, got {groups!r}"
            )
        if groups and not lock_image:
            raise ModelConfigError(
                "BAD_OPTION", "lock_image_unlocked_groups",
                "only applies to a locked image tower: set lock_image (clip.lockImage) too, or leave it out",
            )
        if lock_text:
            for part in (self.token_embedding, self.positional_embedding, self.transformer, self.ln_final, self.text_projection):
                _freeze(part)
        if lock_image:
            self.visual.lock(groups)
        self._frozen_norms = [
            m for m in self.modules() if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters())
        ]
        self.train(self.training)

    def train(self, mode: bool = True) -> CLIP:
        super().train(mode)
        for norm in self._frozen_norms:
            norm.eval()
        return self


def _freeze(part: nn.Module | nn.Parameter, frozen: bool = True) -> None:
    params = [part] if isinstance(part, nn.Parameter) else list(part.parameters())
    for p in params:
        p.requires_grad_(not frozen)


def create_clip(
    config: str,
    *,
    vocab_size: int | None = None,
    context_length: int | None = None,
    image_size: int | None = None,
    activation: str | None = None,
) -> CLIP:
    """Build the named configuration; vocab_size (the tokenizer's), context_length, image_size
    and activation override the configuration's. Build on torch.device("meta") to count cheaply."""
    cfg = CLIP_CONFIGS.get(config)
    if cfg is None:
        raise ModelConfigError("UNKNOWN_ARCH", "config", f"unknown CLIP configuration {config!r}; valid: {', '.join(CLIP_CONFIGS)}")
    for name, value in (("vocab_size", vocab_size), ("context_length", context_length), ("image_size", image_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ModelConfigError("BAD_OPTION", name, f"{name} must be a positive integer, got {value!r}")
    chosen = cfg.activation if activation is None else next((a for a in ACTIVATIONS if a == activation), None)
    if chosen is None:
        raise ModelConfigError("BAD_OPTION", "activation", f"must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    cfg = replace(
        cfg,
        vocab_size=vocab_size or cfg.vocab_size,
        context_length=context_length or cfg.context_length,
        image_size=image_size or cfg.image_size,
        activation=chosen,
    )
    return CLIP(cfg, ClipSpec(config, cfg.image_size, cfg.context_length, cfg.vocab_size, cfg.activation))


# --- pretrained weights -------------------------------------------------------------------

# OpenAI's TorchScript archives also hold these numbers as tensors (its own loader drops them);
# a traced model keeps the causal mask, which is no weight.
_JIT_EXTRAS = ("input_resolution", "context_length", "vocab_size", "attn_mask")
# open_clip's Hugging Face model folders keep the model's configuration beside the weights.
OPEN_CLIP_CONFIG = "open_clip_config.json"
# checkpoint.save of a CLIP model records its ClipSpec (JSON) under this metadata key, beside
# the checkpoint format's own.
SPEC_METADATA_KEY = "mcl.clip"


@dataclass(frozen=True)
class ClipWeights:
    """A CLIP weight file as read: its state dict, and the activation it was trained with
    where the file says so (`told_by`: what says so)."""

    state: dict[str, Tensor]
    activation: Activation | None = None
    told_by: str = ""


def read_clip_weights(path: str | os.PathLike[str]) -> ClipWeights:
    """A CLIP weight file: a state dict (.pt / .bin, read with weights_only=True), a
    .safetensors file, an open_clip checkpoint ({"state_dict": ...}), an MCL checkpoint
    (checkpoint.save's, whose metadata holds the model's spec), or an OpenAI TorchScript archive
    (read with torch.jit.load, which runs TorchScript, never pickled Python). The activation
    comes from the format (OpenAI's archives are QuickGELU), the checkpoint's metadata, or an
    open_clip_config.json beside the file."""
    source = Path(path)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            scripted = any(name.endswith("constants.pkl") for name in archive.namelist())
        if scripted:
            try:
                module = torch.jit.load(str(source), map_location="cpu")
            except (RuntimeError, ValueError) as exc:
                raise CheckpointError(
                    "CHECKPOINT_UNREADABLE",
                    f"{source} is a TorchScript archive that torch.jit.load cannot read ({exc}); convert it once with"
                    " torch.save(torch.jit.load(path, map_location='cpu').state_dict(), 'clip.pt') and pass that file",
                    path=str(source),
                ) from None
            state = {k: v for k, v in module.state_dict().items() if k not in _JIT_EXTRAS}
            return ClipWeights(state, "quick_gelu", "it is an OpenAI TorchScript archive, and OpenAI's CLIP uses QuickGELU")
    state = read_state_dict(source)
    metadata = _safetensors_metadata(source)
    if FORMAT_KEY in metadata:
        model_state = {k[len(MODEL_PREFIX) :]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
        if SPEC_METADATA_KEY not in metadata:
            return ClipWeights(model_state)
        activation = _spec_activation(source, metadata[SPEC_METADATA_KEY])
        return ClipWeights(model_state, activation, f"its checkpoint metadata ({SPEC_METADATA_KEY}) says so")
    config = source.with_name(OPEN_CLIP_CONFIG)
    if config.is_file():
        return ClipWeights(state, *_open_clip_activation(config))
    return ClipWeights(state)


def _safetensors_metadata(source: Path) -> dict[str, str]:
    if source.suffix != ".safetensors":
        return {}
    with safe_open(str(source), framework="pt") as f:  # read_state_dict has read the same file
        return dict(f.metadata() or {})


def _spec_activation(source: Path, spec_json: str) -> Activation:
    try:
        spec = json.loads(spec_json)
    except ValueError:
        spec = None
    value = spec.get("activation") if isinstance(spec, dict) else None
    for activation in ACTIVATIONS:
        if value == activation:
            return activation
    raise CheckpointError(
        "CHECKPOINT_UNREADABLE",
        f"{source}: the metadata {SPEC_METADATA_KEY} names no activation ({', '.join(ACTIVATIONS)}): {spec_json:.200}",
        path=str(source),
    )


def _open_clip_activation(config: Path) -> tuple[Activation, str]:
    """The activation an open_clip_config.json gives: model_cfg.quick_gelu, False when absent
    (open_clip's default)."""
    try:
        model_cfg = json.loads(config.read_text(encoding="utf-8")).get("model_cfg")
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE", f"{config} (beside the checkpoint) is not open_clip's JSON configuration: {exc}",
            path=str(config),
        ) from None
    quick = model_cfg.get("quick_gelu", False) if isinstance(model_cfg, dict) else None
    if not isinstance(quick, bool):
        raise CheckpointError(
            "CHECKPOINT_UNREADABLE",
            f"{config} (beside the checkpoint) needs a model_cfg object whose quick_gelu, if present, is true or false;"
            f" found model_cfg {model_cfg!r:.200}",
            path=str(config),
        )
    activation: Activation = "quick_gelu" if quick else "gelu"
    if "quick_gelu" in model_cfg:
        return activation, f"{config} says so (model_cfg.quick_gelu is {str(quick).lower()})"
    return activation, f"{config} sets no model_cfg.quick_gelu, and open_clip's default is GELU"


def _looks_like(state: dict[str, Tensor]) -> str:
    """What a state dict that holds no CLIP tower looks like, to say so."""
    keys = set(state)

    def any_prefix(*prefixes: str) -> bool:
        return any(k.startswith(prefixes) for k in keys)

    if "patch_embed.proj.weight" in keys and any_prefix("blocks."):
        return "a timm Vision Transformer (patch_embed.proj.weight, cls_token, blocks.*)"
    if "conv1.weight" in keys and any_prefix("layer1."):
        return "an ImageNet ResNet such as torchvision's or timm's (conv1.weight, layer1.*, fc.*)"
    if any_prefix("vision_model.", "text_model."):
        return ("a Hugging Face transformers CLIPModel (vision_model.*, text_model.*); the same hub repository's"
                " open_clip_model.safetensors or open_clip_pytorch_model.bin holds the weights in open_clip's names")
    if any_prefix("backbone."):
        return "an MCL checkpoint of a unimodal encoder (backbone.*, head.*)"
    shown = ", ".join(sorted(keys)[:4]) + (", ..." if len(keys) > 4 else "")
    return f"{len(keys)} tensors ({shown}) with no CLIP tower"


def _image_size_of(model: CLIP, state: dict[str, Tensor]) -> tuple[int, str] | None:
    """The image size the file's position embedding was made for and its key, where the image
    tower is otherwise this model's (a ViT of the same patch size); None when it cannot tell."""
    if isinstance(model.visual, VisionTransformer):
        key, patch = "visual.positional_embedding", model.visual.conv1.kernel_size[0]
        conv = state.get("visual.conv1.weight")
        if conv is None or conv.dim() != 4 or conv.shape[-1] != patch:
            return None
    else:
        key, patch = "visual.attnpool.positional_embedding", 32  # the ResNet's stride
    positions = state.get(key)
    if positions is None or positions.dim() != 2:
        return None
    grid = math.isqrt(positions.shape[0] - 1)
    return (grid * patch, f"{key} {tuple(positions.shape)}") if grid * grid == positions.shape[0] - 1 else None


def load_clip_weights(model: CLIP, path: str | os.PathLike[str]) -> LoadReport:
    """Copy a checkpoint into `model`. A file of another family raises CheckpointError saying
    what it looks like; one made for another activation or image size raises ModelConfigError
    naming `activation` or `image_size`; otherwise every key must fit: a missing, unexpected or
    differently shaped key raises CheckpointError("CHECKPOINT_MISMATCH") naming them all."""
    weights = read_clip_weights(path)
    state, spec = weights.state, model.spec
    if "token_embedding.weight" not in state and not any(k.startswith("visual.") for k in state):
        raise CheckpointError(
            "CHECKPOINT_MISMATCH",
            f"{path} is not a CLIP checkpoint: it looks like {_looks_like(state)}. The CLIP checkpoint (clip.checkpoint)"
            " takes OpenAI's or open_clip's CLIP weights (visual.*, token_embedding.weight, text_projection, ...)",
            path=str(path),
        )
    if weights.activation is not None and weights.activation != spec.activation:
        raise ModelConfigError(
            "BAD_OPTION", "activation",
            f"{path} was trained with {weights.activation}: {weights.told_by}; this model uses {spec.activation}."
            f" Set activation (clip.activation) to {weights.activation!r}",
        )
    made_for = _image_size_of(model, state)
    if made_for is not None and made_for[0] != spec.image_size:
        raise ModelConfigError(
            "BAD_IMAGE_SIZE", "image_size",
            f"{path} was made for {made_for[0]}x{made_for[0]} images ({made_for[1]}), this model for"
            f" {spec.image_size}x{spec.image_size}. Set image_size (clip.imageSize) to {made_for[0]}",
        )
    expected = model.state_dict()
    missing, unexpected, shapes = describe_mismatch(expected, state)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected or shapes:
        raise CheckpointError(
            "CHECKPOINT_MISMATCH",
            mismatch_message(f"CLIP weights {path}", missing, unexpected, shapes, expected, state)
            + f"\nChoose the configuration the file was made for (this model is {spec.config},"
            f" image_size {spec.image_size}, context_length {spec.context_length},"
            f" vocab_size {spec.vocab_size}).",
            path=str(path),
        )
    model.load_state_dict(state, strict=False)
    return LoadReport(loaded=sorted(state))
