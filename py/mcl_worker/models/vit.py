"""Vision Transformer (Dosovitskiy et al. 2021), parameter names identical to timm's.

    image -> patch_embed.proj (conv, kernel = stride = patch) -> tokens
          -> [cls_token; tokens] + pos_embed
          -> blocks.{i}: x + attn(norm1(x)), then x + mlp(norm2(x))   (pre-norm)
          -> norm -> the cls token's output is the feature

timm's classifier `head` is not part of the backbone: its keys in a weight file are skipped.
A weight file made for another image size loads with its position embeddings resampled
(bicubic) to this model's grid, as timm does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .errors import ModelConfigError

# name -> (embedding width, depth, heads); timm's vit_{tiny,small,base}_patch16_224.
VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
}


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, C, H, W] -> [B, H*W/p^2, dim]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        # timm's layout of the fused weight: rows are [q; k; v], each split into heads.
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # [B, heads, N, head_dim]
        return self.proj(x.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    pretrained_ignored_prefixes: tuple[str, ...] = ("head.",)

    def __init__(
        self,
        *,
        image_size: int,
        patch_size: int,
        in_channels: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.grid = image_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, in_channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid * self.grid, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.feature_dim = dim
        # Recompute every block's activations in backward instead of keeping them (less memory, ~1/3 more compute).
        self.grad_checkpointing = False

        # timm's initialisation. timm calls trunc_normal_(std=0.02) with its default bounds of
        # +-2 (absolute, i.e. 100 std), which is a plain normal: normal_ is the same and cheaper.
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            # The position embeddings fix the grid: other sizes would fail deep inside with a broadcast error.
            raise ModelConfigError(
                "BAD_IMAGE_SIZE",
                "images",
                f"this ViT was built for {self.image_size}x{self.image_size} images, got"
                f" {x.shape[-2]}x{x.shape[-1]}; resize the images or build the model for their size",
            )
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.grad_checkpointing and torch.is_grad_enabled() else block(x)
        return self.norm(x)[:, 0]

    def adapt_pretrained(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Resample a weight file's position embeddings to this model's grid; returns notes."""
        found = state.get("pos_embed")
        expected = self.pos_embed.shape
        if found is None or found.shape == expected or found.ndim != 3 or found.shape[2] != expected[2]:
            return []
        old_grid = math.isqrt(found.shape[1] - 1)
        if old_grid * old_grid != found.shape[1] - 1:
            return []  # not a square grid behind one cls token: left to the shape check
        cls_pos, grid_pos = found[:, :1], found[:, 1:]
        grid_pos = grid_pos.reshape(1, old_grid, old_grid, -1).permute(0, 3, 1, 2).float()
        grid_pos = F.interpolate(
            grid_pos, size=(self.grid, self.grid), mode="bicubic", align_corners=False, antialias=True
        )
        grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(1, self.grid * self.grid, -1).to(found.dtype)
        state["pos_embed"] = torch.cat([cls_pos, grid_pos], dim=1)
        return [f"pos_embed resampled from a {old_grid}x{old_grid} grid to {self.grid}x{self.grid}"]


def build_vit(*, size: str, image_size: int, in_channels: int, patch_size: int = 16) -> VisionTransformer:
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size <= 0:
        raise ModelConfigError("BAD_OPTION", "patch_size", f"patch_size must be a positive integer, got {patch_size!r}")
    if image_size < patch_size or image_size % patch_size != 0:
        raise ModelConfigError(
            "BAD_IMAGE_SIZE",
            "image_size",
            f"vit-{size} cuts the image into {patch_size}x{patch_size} patches, so image_size must be a multiple"
            f" of patch_size={patch_size}; got {image_size}. Resize the images or pass another patch_size"
            f" (e.g. patch_size=4 for 32x32 images).",
        )
    dim, depth, heads = VIT_SIZES[size]
    return VisionTransformer(
        image_size=image_size, patch_size=patch_size, in_channels=in_channels, dim=dim, depth=depth, heads=heads
    )
