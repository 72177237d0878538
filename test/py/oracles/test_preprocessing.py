"""Images embedded through the worker's embed job equal the peers' own preprocessing and model:
open_clip's eval image_transform with an open_clip CLIP, torchvision's ResNet-50 IMAGENET1K_V1
weights' transforms with a torchvision ResNet-50, their weights loaded into ours. The worker's
eval_transform also gives the pixels of timm's eval transform as vit_tiny_patch16_224's
pretrained cfg builds it.

The worker is given the preprocessing the peer's transform is built with (read off it); that the
control plane resolves those same values is test/ts/config/preprocess.test.ts's claim. At the
model's input size the peer's resize does nothing and the crop is exact, so only normalisation and
model remain: equal within float32 rounding. An image that must be resized cannot match the PIL
pipeline exactly (PIL rounds the resized image to uint8, the worker keeps floats, and PIL's
filters are not torch's), so those tests hold the worker to torchvision's tensor resize on uint8
images (equal up to that rounding) and measure the distance to the PIL pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import jobs.conftest
from jobs.conftest import Peer
from mcl_worker.data import AugmentConfig, eval_transform
from oracles import peers

# The jobs suite's fixtures (an in-process worker and a raw pyzmq peer), made this module's.
server = jobs.conftest.server
peer = jobs.conftest.peer

CLIP_SIZE = 32  # clip-tiny's input size
RESNET_CROP = 224


def relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float(((ours - theirs).norm(dim=1) / theirs.norm(dim=1)).max())


def smooth_images(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """uint8 [n, h, w, 3]: random 6x6 images enlarged (bicubic), photo-like rather than noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(s).resize((w, h), Image.BICUBIC)) for s in small])


def noise_images(n: int, h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def channels_first(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def augment_of(transform: Any, size: int) -> dict[str, Any]:
    """The worker's augment body with the preprocessing a torchvision-style eval pipeline is built with."""
    tv = peers.torchvision()
    steps = transform.transforms if hasattr(transform, "transforms") else [transform]
    resize = next(t for t in steps if isinstance(t, tv.transforms.Resize))
    normalize = next(t for t in steps if isinstance(t, tv.transforms.Normalize))
    return {
        "size": size,
        "mean": list(normalize.mean),
        "std": list(normalize.std),
        "interpolation": resize.interpolation.value,
        "crop_pct": size / resize.size,
    }


def worker_embedding(peer: Peer, model: str, images: torch.Tensor, augment: dict[str, Any]) -> torch.Tensor:
    handle = peer.call("handle.put", {"tensor": images})["handle"]
    embedded = peer.call("embed", {"model": model, "images": handle, "augment": augment})
    try:
        return peer.call("handle.get", {"handle": embedded["embedding"]})["tensor"]
    finally:
        peer.call("handle.free", {"handle": embedded["embedding"]})
        peer.call("handle.free", {"handle": handle})


# --- open_clip ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_clip_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A reduced open_clip CLIP of clip-tiny's shapes (OpenAI's QuickGELU), and its saved state dict."""
    oc = peers.open_clip()
    torch.manual_seed(0)
    model = oc.model.CLIP(
        embed_dim=64,
        vision_cfg=oc.model.CLIPVisionCfg(layers=2, width=64, patch_size=8, image_size=CLIP_SIZE, head_width=64),
        text_cfg=oc.model.CLIPTextCfg(context_length=16, vocab_size=49408, width=64, heads=2, layers=2),
        quick_gelu=True,
    ).eval()
    path = tmp_path_factory.mktemp("open_clip") / "clip-tiny.pt"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture
def clip_handle(peer: Peer, open_clip_model: tuple[Any, Path]) -> Iterator[str]:
    created = peer.call(
        "clip.create",
        {
            "config": "clip-tiny",
            "seed": 1,
            "tokenizer": {"kind": "bpe", "vocab": str(peers.openai_bpe_vocab())},
            "checkpoint": str(open_clip_model[1]),
        },
    )
    assert created["checkpoint_loaded"] > 0
    yield created["model"]
    peer.call("handle.free", {"handle": created["model"]})


def open_clip_embedding(model: Any, pixels: np.ndarray) -> torch.Tensor:
    preprocess = peers.open_clip().image_transform(CLIP_SIZE, is_train=False)
    with torch.no_grad():
        return model.encode_image(torch.stack([preprocess(Image.fromarray(p)) for p in pixels]))


def open_clip_augment() -> dict[str, Any]:
    return augment_of(peers.open_clip().image_transform(CLIP_SIZE, is_train=False), CLIP_SIZE)


def test_open_clip_preprocess_is_openai_s_bicubic_shorter_side_crop() -> None:
    oc = peers.open_clip()
    augment = open_clip_augment()
    assert augment == {
        "size": CLIP_SIZE,
        "mean": list(oc.OPENAI_DATASET_MEAN),
        "std": list(oc.OPENAI_DATASET_STD),
        "interpolation": "bicubic",
        "crop_pct": 1.0,
    }


def test_clip_at_its_input_size_embeds_as_open_clip(peer: Peer, clip_handle: str, open_clip_model: tuple[Any, Path]) -> None:
    pixels = noise_images(4, CLIP_SIZE, CLIP_SIZE, seed=1)
    ours = worker_embedding(peer, clip_handle, channels_first(pixels), open_clip_augment())
    theirs = open_clip_embedding(open_clip_model[0], pixels)
    assert relative(ours, theirs) <= 1e-4
    # The worker's default preprocessing (the whole image resized bilinearly, mean = std = 0.5): far off.
    default = worker_embedding(peer, clip_handle, channels_first(pixels), {"size": CLIP_SIZE})
    assert relative(default, theirs) > 1e-2  # a hundred times the tolerance: the test can fail


@pytest.mark.parametrize("shape", [(48, 40), (40, 57)])
def test_clip_on_a_non_square_image_resizes_the_shorter_side_and_crops(
    peer: Peer, clip_handle: str, open_clip_model: tuple[Any, Path], shape: tuple[int, int]
) -> None:
    tv = peers.torchvision()
    augment = open_clip_augment()
    for pixels, pil_bound in ((smooth_images(4, *shape, seed=2), 2e-3), (noise_images(4, *shape, seed=3), 5e-3)):
        images = channels_first(pixels)
        # torchvision's tensor pipeline on uint8 images: resized in float, rounded to uint8, cropped.
        resized = tv.transforms.functional.resize(
            images, CLIP_SIZE, interpolation=tv.transforms.InterpolationMode.BICUBIC, antialias=True
        )
        cropped = tv.transforms.functional.center_crop(resized, CLIP_SIZE).float() / 255
        reference = tv.transforms.functional.normalize(cropped, augment["mean"], augment["std"])
        ours = eval_transform(images, AugmentConfig.from_dict(augment))
        rounding = 0.5 / 255 / min(augment["std"])
        assert (ours - reference).abs().max() <= rounding + 1e-5
        # The PIL pipeline open_clip runs: measured, not equal (see the module's docstring).
        z_ours = worker_embedding(peer, clip_handle, images, augment)
        assert relative(z_ours, open_clip_embedding(open_clip_model[0], pixels)) <= pil_bound


# --- torchvision ResNet-50 -------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """torchvision's ResNet-50 (random weights, BatchNorm statistics made non-trivial), its classifier
    replaced by the identity, and its state dict saved."""
    tv = peers.torchvision()
    torch.manual_seed(0)
    model = tv.models.resnet50()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("resnet50") / "resnet50.pt"
    torch.save(model.state_dict(), path)
    model.fc = torch.nn.Identity()
    return model.eval(), path


@pytest.fixture
def resnet_handle(peer: Peer, resnet50: tuple[Any, Path]) -> Iterator[str]:
    created = peer.call("model.create", {"arch": "resnet50", "image_size": RESNET_CROP, "seed": 0, "pretrained": str(resnet50[1])})
    yield created["model"]
    peer.call("handle.free", {"handle": created["model"]})


def resnet_transforms() -> Any:
    return peers.torchvision().models.ResNet50_Weights.IMAGENET1K_V1.transforms()


def resnet_augment() -> dict[str, Any]:
    t = resnet_transforms()
    return {
        "size": t.crop_size[0],
        "mean": list(t.mean),
        "std": list(t.std),
        "interpolation": t.interpolation.value,
        "crop_pct": t.crop_size[0] / t.resize_size[0],
    }


def torchvision_embedding(model: Any, pixels: np.ndarray) -> torch.Tensor:
    transforms = resnet_transforms()
    with torch.no_grad():
        return model(torch.stack([transforms(Image.fromarray(p)) for p in pixels]))


def test_resnet50_weights_transforms_are_imagenet_s_resize_256_crop_224() -> None:
    assert resnet_augment() == {
        "size": 224,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bilinear",
        "crop_pct": 224 / 256,
    }


def test_resnet50_at_the_resize_size_embeds_as_torchvision(peer: Peer, resnet_handle: str, resnet50: tuple[Any, Path]) -> None:
    # 256 x 256: the weights' resize does nothing, the centre crop is exact.
    side = resnet_transforms().resize_size[0]
    pixels = noise_images(2, side, side, seed=4)
    ours = worker_embedding(peer, resnet_handle, channels_first(pixels), resnet_augment())
    theirs = torchvision_embedding(resnet50[0], pixels)
    assert relative(ours, theirs) <= 1e-4
    default = worker_embedding(peer, resnet_handle, channels_first(pixels), {"size": RESNET_CROP})
    assert relative(default, theirs) > 1e-2  # a hundred times the tolerance: the test can fail


def test_resnet50_on_a_non_square_image(peer: Peer, resnet_handle: str, resnet50: tuple[Any, Path]) -> None:
    augment = resnet_augment()
    pixels = smooth_images(2, 300, 260, seed=5)
    images = channels_first(pixels)
    transforms = resnet_transforms()
    # The weights' own transforms on uint8 tensors (torchvision resizes in float and rounds).
    reference = torch.stack([transforms(image) for image in images])
    ours = eval_transform(images, AugmentConfig.from_dict(augment))
    assert (ours - reference).abs().max() <= 0.5 / 255 / min(augment["std"]) + 1e-5
    z_ours = worker_embedding(peer, resnet_handle, images, augment)
    assert relative(z_ours, torchvision_embedding(resnet50[0], pixels)) <= 2e-3


# --- timm ViT ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(224, 224), (300, 260)])  # enlarged before the crop; shrunk, not square
def test_timm_vit_eval_transform_is_the_worker_s(shape: tuple[int, int]) -> None:
    timm, tv = peers.timm(), peers.torchvision()
    cfg = timm.data.resolve_data_config({}, model=timm.create_model("vit_tiny_patch16_224", pretrained=False))
    transform = timm.data.create_transform(**cfg)
    augment = {
        "size": cfg["input_size"][-1],
        "mean": list(cfg["mean"]),
        "std": list(cfg["std"]),
        "interpolation": cfg["interpolation"],
        "crop_pct": cfg["crop_pct"],
    }
    images = channels_first(noise_images(2, *shape, seed=6))
    # timm's own steps on uint8 tensors (torchvision resizes them in float and rounds to uint8);
    # where PIL's ToTensor would scale to [0, 1] before Normalize, the tensor is scaled by hand.
    theirs = images
    for step in transform.transforms:
        if isinstance(step, tv.transforms.Normalize):
            theirs = theirs.float() / 255
        theirs = step(theirs)
    rounding = 0.5 / 255 / min(augment["std"])
    assert (eval_transform(images, AugmentConfig.from_dict(augment)) - theirs).abs().max() <= rounding + 1e-5
    # The other interpolation is far outside that bound: the test tells bicubic from bilinear.
    other = {**augment, "interpolation": "bilinear" if augment["interpolation"] == "bicubic" else "bicubic"}
    assert (eval_transform(images, AugmentConfig.from_dict(other)) - theirs).abs().max() > 10 * rounding
