"""Our encoders against the libraries whose weight files they load: ResNet-18/50 against
torchvision's, ViT against timm's. Each peer model gets random weights with every BatchNorm
statistic, norm scale and bias moved off its initial value (so that a swapped or ignored tensor
shows), is saved as a file, and that file goes through our pretrained loading path
(create_model(pretrained=...)); then both compute features of the same images in eval mode.
Sizes are reduced where the full ones add nothing: 64x64 images, a 2-image batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mcl_worker.models import create_model
from oracles import peers
from oracles.weights import perturb

IMAGE_SIZE = 64


def images(seed: int, size: int = IMAGE_SIZE) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def state_shapes(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


# --- ResNet vs torchvision ------------------------------------------------------------------


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_state_dict_is_torchvisions_minus_fc_in_order(depth: int) -> None:
    with torch.device("meta"):
        theirs = getattr(peers.torchvision().models, f"resnet{depth}")(weights=None)
        ours = create_model(f"resnet{depth}", image_size=224, stem="imagenet")
    expected = [(k, s) for k, s in state_shapes(theirs) if not k.startswith("fc.")]
    assert state_shapes(ours.backbone) == expected


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_features_equal_torchvisions_through_a_weight_file(depth: int, tmp_path: Path) -> None:
    torch.manual_seed(depth)
    theirs = getattr(peers.torchvision().models, f"resnet{depth}")(weights=None)
    perturb(theirs, seed=depth)
    path = tmp_path / f"resnet{depth}.pth"
    torch.save(theirs.state_dict(), path)
    ours = create_model(f"resnet{depth}", image_size=IMAGE_SIZE, stem="imagenet", pretrained=str(path))
    assert ours.pretrained_report is not None and sorted(ours.pretrained_report.ignored) == ["fc.bias", "fc.weight"]
    theirs.fc = nn.Identity()  # torchvision's pooled, flattened features are fc's input
    for dtype in (torch.float32, torch.float64):
        theirs.eval().to(dtype)
        ours.eval().to(dtype)
        x = images(depth).to(dtype)
        with torch.no_grad():
            expected, got = theirs(x), ours.features(x)
        assert got.shape == (2, 512 if depth == 18 else 2048)
        # The same ops in the same order: equal to the last bit.
        assert torch.equal(got, expected), f"{dtype}: max difference {float((got - expected).abs().max())}"


# --- ViT vs timm -----------------------------------------------------------------------------


def timm_vit(image_size: int, patch_size: int) -> nn.Module:
    """timm's vit_tiny_patch16_224 (width 192, depth 12, 3 heads) for another image and patch
    size, with its 1000-class head."""
    return peers.timm().create_model("vit_tiny_patch16_224", pretrained=False, img_size=image_size, patch_size=patch_size)


def timm_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm's pooled features: the class token after the final norm (global_pool='token')."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


@pytest.mark.parametrize(("arch", "timm_name"), [
    ("vit-tiny", "vit_tiny_patch16_224"), ("vit-small", "vit_small_patch16_224"), ("vit-base", "vit_base_patch16_224"),
])
def test_vit_state_dict_is_timms_minus_head(arch: str, timm_name: str) -> None:
    with torch.device("meta"):
        theirs = peers.timm().create_model(timm_name, pretrained=False)
        ours = create_model(arch, image_size=224)
    expected = [(k, s) for k, s in state_shapes(theirs) if not k.startswith("head.")]
    assert sorted(state_shapes(ours.backbone)) == sorted(expected)


def test_vit_features_equal_timms_through_a_weight_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    theirs = timm_vit(IMAGE_SIZE, 16)
    perturb(theirs, seed=1)
    path = tmp_path / "vit.pth"
    torch.save(theirs.state_dict(), path)
    ours = create_model("vit-tiny", image_size=IMAGE_SIZE, patch_size=16, pretrained=str(path))
    assert ours.pretrained_report is not None and sorted(ours.pretrained_report.ignored) == ["head.bias", "head.weight"]
    theirs.eval()
    ours.eval()
    x = images(2)
    with torch.no_grad():
        expected, got = timm_features(theirs, x), ours.features(x)
    assert got.shape == (2, 192)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("new_size", [32, 96])  # the checkpoint's 8x8 grid down to 4x4, up to 12x12
def test_vit_position_embeddings_are_resampled_as_timm_does(new_size: int, tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = timm_vit(IMAGE_SIZE, 8)
    perturb(source, seed=4)
    state = source.state_dict()
    path = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    ours = create_model("vit-tiny", image_size=new_size, patch_size=8, pretrained=str(path))
    grid = new_size // 8
    expected_pos = peers.timm().layers.resample_abs_pos_embed(state["pos_embed"], new_size=[grid, grid], num_prefix_tokens=1)
    assert torch.equal(ours.backbone.pos_embed.detach(), expected_pos)

    # timm loading the same file into a model of the new size (its checkpoint filter resamples).
    theirs = timm_vit(new_size, 8)
    vision_transformer = peers.timm().models.vision_transformer
    theirs.load_state_dict(vision_transformer.checkpoint_filter_fn(dict(state), theirs))
    theirs.eval()
    ours.eval()
    x = images(5, new_size)
    with torch.no_grad():
        assert torch.equal(ours.features(x), timm_features(theirs, x))
