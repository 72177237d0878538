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

`lock(lock_text=, image_unlocked_blocks=)` freezes towers for fine-tuning as the MCL recipe does
(text frozen; image frozen except its last N blocks and the head after them).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import CheckpointError, describe_mismatch, mismatch_message
from .errors import ModelConfigError
from .pretrained import LoadReport, read_state_dict


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


_OPENAI_TEXT = dict(context_length=77, vocab_size=49408, text_heads=8, text_layers=12)
# The published shapes (OpenAI's clip/model.py build_model reads the same numbers off a state dict).
CLIP_CONFIGS: dict[str, ClipConfig] = {
    "clip-rn50": ClipConfig(1024, 224, (3, 4, 6, 3), 64, None, text_width=512, **_OPENAI_TEXT),  # type: ignore[arg-type]
    "clip-vit-b-32": ClipConfig(512, 224, 12, 768, 32, text_width=512, **_OPENAI_TEXT),  # type: ignore[arg-type]
    "clip-vit-b-16": ClipConfig(512, 224, 12, 768, 16, text_width=512, **_OPENAI_TEXT),  # type: ignore[arg-type]
    "clip-vit-l-14": ClipConfig(
        768, 224, 24, 1024, 14, context_length=77, vocab_size=49408, text_width=768, text_heads=12, text_layers=12
    ),
    # CPU-sized for tests and the demo: 32x32 images in 16 patches, two blocks per tower.
    "clip-tiny": ClipConfig(64, 32, 2, 64, 8, context_length=16, vocab_size=49408, text_width=64, text_heads=2, text_layers=2),
}


# --- shared pieces ------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (as OpenAI's, for fp16 weights)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """OpenAI's GELU approximation; the pretrained weights expect it."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). Sequences are [B, L, D]."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))])
        )
        self.ln_2 = LayerNorm(width)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.width = width
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        for block in self.resblocks:
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

    def blocks(self) -> list[nn.Module]:
        """The residual blocks in order, for freezing all but the last few."""
        return [block for stage in (self.layer1, self.layer2, self.layer3, self.layer4) for block in stage]

    def head(self) -> list[nn.Module | nn.Parameter]:
        return [self.attnpool]

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.conv1.weight.dtype)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.avgpool(F.relu(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


# --- image tower: Vision Transformer ------------------------------------------------------


class VisionTransformer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int, output_dim: int) -> None:
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
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def blocks(self) -> list[nn.Module]:
        return list(self.transformer.resblocks)

    def head(self) -> list[nn.Module | nn.Parameter]:
        return [self.ln_post, self.proj]

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
                cfg.image_size, cfg.vision_patch_size, cfg.vision_width, cfg.vision_layers, cfg.vision_width // 64 or 1, cfg.embed_dim
            )
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads)
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
            for block in self.visual.blocks():
                nn.init.zeros_(block.bn3.weight)  # each residual branch starts as the identity

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

    def lock(self, *, lock_text: bool = False, image_unlocked_blocks: int | None = None) -> None:
        """Freeze the text tower, and/or the image tower except its last `image_unlocked_blocks`
        blocks and its head (ln_post + proj, or the attention pool). 0 freezes the whole image
        tower; None leaves it trainable. Frozen BatchNorms keep their statistics in train mode."""
        if lock_text:
            for part in (self.token_embedding, self.positional_embedding, self.transformer, self.ln_final, self.text_projection):
                _freeze(part)
        if image_unlocked_blocks is not None:
            blocks = self.visual.blocks()
            if isinstance(image_unlocked_blocks, bool) or not 0 <= image_unlocked_blocks <= len(blocks):
                raise ModelConfigError(
                    "BAD_OPTION", "image_unlocked_blocks",
                    f"must be an integer in [0, {len(blocks)}] (the image tower's blocks), got {image_unlocked_blocks!r}",
                )
            _freeze(self.visual)
            if image_unlocked_blocks > 0:
                for part in [*blocks[len(blocks) - image_unlocked_blocks :], *self.visual.head()]:
                    _freeze(part, frozen=False)
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
) -> CLIP:
    """Build the named configuration; vocab_size (the tokenizer's), context_length and
    image_size override the configuration's. Build on torch.device("meta") to count cheaply."""
    cfg = CLIP_CONFIGS.get(config)
    if cfg is None:
        raise ModelConfigError("UNKNOWN_ARCH", "config", f"unknown CLIP configuration {config!r}; valid: {', '.join(CLIP_CONFIGS)}")
    for name, value in (("vocab_size", vocab_size), ("context_length", context_length), ("image_size", image_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ModelConfigError("BAD_OPTION", name, f"{name} must be a positive integer, got {value!r}")
    cfg = replace(
        cfg,
        vocab_size=vocab_size or cfg.vocab_size,
        context_length=context_length or cfg.context_length,
        image_size=image_size or cfg.image_size,
    )
    return CLIP(cfg, ClipSpec(config, cfg.image_size, cfg.context_length, cfg.vocab_size))


# --- pretrained weights -------------------------------------------------------------------

# OpenAI's TorchScript archives also hold these numbers as tensors (its own loader drops them);
# a traced model keeps the causal mask, which is no weight.
_JIT_EXTRAS = ("input_resolution", "context_length", "vocab_size", "attn_mask")


def read_clip_state(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """A CLIP state dict from a local file: a state dict (.pt / .bin, read with
    weights_only=True), a .safetensors file, an open_clip checkpoint ({"state_dict": ...}),
    or an OpenAI TorchScript archive (read with torch.jit.load, which runs TorchScript, never
    pickled Python)."""
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
            return {k: v for k, v in module.state_dict().items() if k not in _JIT_EXTRAS}
    return read_state_dict(source)


def load_clip_weights(model: CLIP, path: str | os.PathLike[str]) -> LoadReport:
    """Copy a checkpoint into `model`. Every key must fit: a missing, unexpected or
    differently shaped key raises CheckpointError("CHECKPOINT_MISMATCH") naming them all."""
    state = read_clip_state(path)
    expected = model.state_dict()
    missing, unexpected, shapes = describe_mismatch(expected, state)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected or shapes:
        raise CheckpointError(
            "CHECKPOINT_MISMATCH",
            mismatch_message(f"CLIP weights {path}", missing, unexpected, shapes, expected, state)
            + f"\nChoose the configuration the file was made for (this model is {model.spec.config},"
            f" image_size {model.spec.image_size}, context_length {model.spec.context_length},"
            f" vocab_size {model.spec.vocab_size}).",
            path=str(path),
        )
    model.load_state_dict(state, strict=False)
    return LoadReport(loaded=sorted(state))
