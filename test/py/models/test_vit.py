"""ViT: timm's attention layout, and timm-style weight files at other sizes (the names, shapes,
features and position-embedding resampling against timm itself are in
test/py/oracles/test_encoders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mcl_worker.checkpoint import CheckpointError
from mcl_worker.models import ModelConfigError, create_model
from mcl_worker.models.vit import Attention


def timm_vit_shapes(dim: int, depth: int, grid: int, patch: int, mlp: int) -> dict[str, tuple[int, ...]]:
    """timm's VisionTransformer state dict without its classifier `head`, written out by hand."""
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, 1 + grid * grid, dim),
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
    }
    for i in range(depth):
        b = f"blocks.{i}"
        shapes |= {
            f"{b}.norm1.weight": (dim,),
            f"{b}.norm1.bias": (dim,),
            f"{b}.attn.qkv.weight": (3 * dim, dim),
            f"{b}.attn.qkv.bias": (3 * dim,),
            f"{b}.attn.proj.weight": (dim, dim),
            f"{b}.attn.proj.bias": (dim,),
            f"{b}.norm2.weight": (dim,),
            f"{b}.norm2.bias": (dim,),
            f"{b}.mlp.fc1.weight": (mlp, dim),
            f"{b}.mlp.fc1.bias": (mlp,),
            f"{b}.mlp.fc2.weight": (dim, mlp),
            f"{b}.mlp.fc2.bias": (dim,),
        }
    shapes |= {"norm.weight": (dim,), "norm.bias": (dim,)}
    return shapes


def test_attention_follows_timms_fused_qkv_layout() -> None:
    # timm splits qkv's output rows as [q | k | v], each [head 0 | head 1 | ...]; a timm
    # weight file only computes the same function if ours does too. Reference: plain softmax.
    torch.manual_seed(0)
    dim, heads, hd = 12, 3, 4
    attn = Attention(dim, heads)
    x = torch.randn(2, 5, dim)
    qkv = x @ attn.qkv.weight.T + attn.qkv.bias
    q, k, v = (qkv[..., i * dim : (i + 1) * dim].reshape(2, 5, heads, hd).transpose(1, 2) for i in range(3))
    weights = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5, dim=-1)
    expected = (weights @ v).transpose(1, 2).reshape(2, 5, dim) @ attn.proj.weight.T + attn.proj.bias
    torch.testing.assert_close(attn(x), expected)


def timm_style_file(path: Path, *, grid: int, patch: int) -> dict[str, torch.Tensor]:
    """A vit-tiny-shaped timm state dict, including timm's 1000-class `head`."""
    torch.manual_seed(5)
    state = {k: torch.randn(s) for k, s in timm_vit_shapes(192, 12, grid, patch, 768).items()}
    state["head.weight"] = torch.randn(1000, 192)
    state["head.bias"] = torch.randn(1000)
    save_file(state, str(path))
    return state


def test_timm_file_at_the_same_size_loads_exactly(tmp_path: Path) -> None:
    state = timm_style_file(tmp_path / "vit.safetensors", grid=2, patch=8)
    model = create_model("vit-tiny", image_size=16, patch_size=8, pretrained=str(tmp_path / "vit.safetensors"))
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    assert model.pretrained_report is not None
    assert sorted(model.pretrained_report.ignored) == ["head.bias", "head.weight"]
    assert not any("pos_embed" in note for note in model.pretrained_report.notes)


def test_timm_file_at_another_image_size_gets_its_position_embeddings_resampled(tmp_path: Path) -> None:
    # Made at 224 (14x14 grid), loaded at 64 (4x4 grid). A constant grid stays constant under
    # bicubic resampling, and the cls position is copied untouched.
    state = timm_style_file(tmp_path / "vit.safetensors", grid=14, patch=16)
    state["pos_embed"][:, 1:] = torch.linspace(-1, 1, 192)
    save_file(state, str(tmp_path / "vit.safetensors"))
    model = create_model("vit-tiny", image_size=64, pretrained=str(tmp_path / "vit.safetensors"))
    pos = model.backbone.pos_embed.detach()
    assert pos.shape == (1, 17, 192)
    assert torch.equal(pos[:, 0], state["pos_embed"][:, 0])
    torch.testing.assert_close(pos[:, 1:], torch.linspace(-1, 1, 192).expand(1, 16, 192))
    assert model.pretrained_report is not None
    assert "pos_embed resampled from a 14x14 grid to 4x4" in model.pretrained_report.notes


def test_timm_file_with_another_patch_size_names_the_patch_embedding(tmp_path: Path) -> None:
    timm_style_file(tmp_path / "vit.safetensors", grid=14, patch=16)
    with pytest.raises(CheckpointError) as e:
        create_model("vit-tiny", image_size=32, patch_size=4, pretrained=str(tmp_path / "vit.safetensors"))
    assert e.value.code == "CHECKPOINT_MISMATCH"
    assert "patch_embed.proj.weight: expected (192, 3, 4, 4), found (192, 3, 16, 16)" in str(e.value)


def test_images_of_another_size_than_built_for_are_refused() -> None:
    model = create_model("vit-tiny", image_size=16, patch_size=8)
    with pytest.raises(ModelConfigError) as e:
        model(torch.randn(2, 3, 24, 24))
    assert e.value.code == "BAD_IMAGE_SIZE" and "built for 16x16 images, got 24x24" in str(e.value)
