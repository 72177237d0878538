"""Our CLIP against open_clip's and OpenAI's own code: the same weights give the same image and
text features (ViT and ModifiedResNet towers, QuickGELU and GELU), read from a .pt state dict, a
.safetensors file or an OpenAI-style TorchScript archive; the locks leave the same parameters
trainable as open_clip's; a short SGD loop with the clamped logit scale follows open_clip's loop
step for step; weight files of other families are named for what they are.

Models are reduced (two blocks, widths of 64) so that the file runs in seconds on a CPU. Every
tensor of the peer's model is perturbed (biases, norm affines and statistics included), so that
a tensor we read wrongly or ignore shows up in the features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from mcl_worker.checkpoint import CheckpointError
from mcl_worker.losses import clip_loss
from mcl_worker.models import ModelConfigError
from mcl_worker.models.clip import CLIP, Activation, ClipConfig, ClipSpec, load_clip_weights
from oracles import peers
from oracles.weights import perturb

RELATIVE = 1e-5  # features: max |ours - theirs| / max |theirs|
CONTEXT, VOCAB = 12, 100


@dataclass(frozen=True)
class Shape:
    """One reduced architecture, as our ClipConfig and as each peer's constructor takes it."""

    name: str
    embed_dim: int
    image_size: int
    vision_layers: int | tuple[int, int, int, int]
    vision_width: int
    patch_size: int | None

    def ours(self, activation: Activation) -> CLIP:
        cfg = ClipConfig(
            self.embed_dim, self.image_size, self.vision_layers, self.vision_width, self.patch_size,
            context_length=CONTEXT, vocab_size=VOCAB, text_width=64, text_heads=2, text_layers=2, activation=activation,
        )
        return CLIP(cfg, ClipSpec(self.name, self.image_size, CONTEXT, VOCAB, cfg.activation))

    def open_clip(self, activation: Activation) -> nn.Module:
        vision: dict[str, Any] = {"layers": self.vision_layers, "width": self.vision_width, "image_size": self.image_size}
        if self.patch_size is not None:
            vision["patch_size"] = self.patch_size
        text = {"context_length": CONTEXT, "vocab_size": VOCAB, "width": 64, "heads": 2, "layers": 2}
        model: nn.Module = peers.open_clip().model.CLIP(self.embed_dim, vision, text, quick_gelu=activation == "quick_gelu")
        return model

    def openai(self) -> nn.Module:
        model: nn.Module = peers.openai_clip_model().CLIP(
            self.embed_dim, self.image_size, self.vision_layers, self.vision_width, self.patch_size,
            CONTEXT, VOCAB, 64, 2, 2,
        )
        return model


VIT = Shape("vit", 32, 32, 2, 64, 8)
RESNET = Shape("resnet", 32, 64, (1, 1, 1, 1), 16, None)


def inputs(shape: Shape, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(3, 3, shape.image_size, shape.image_size, generator=g)
    tokens = torch.randint(1, VOCAB - 1, (3, CONTEXT), generator=g)
    tokens[torch.arange(3), torch.tensor([4, 7, CONTEXT - 1])] = VOCAB - 1  # the end token: the highest id
    return images, tokens


def relative(ours: Tensor, theirs: Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max().clamp(min=torch.finfo(torch.float32).tiny))


def save(state: dict[str, Tensor], folder: Path, fmt: str) -> Path:
    if fmt == "pt":
        torch.save(state, folder / "clip.pt")
        return folder / "clip.pt"
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "clip.safetensors"))
    return folder / "clip.safetensors"


def assert_same_features(ours: CLIP, theirs: nn.Module, shape: Shape, seed: int) -> float:
    images, tokens = inputs(shape, seed)
    with torch.no_grad():
        pairs = [(ours.encode_image(images), theirs.encode_image(images)), (ours.encode_text(tokens), theirs.encode_text(tokens))]
    worst = max(relative(a, b) for a, b in pairs)
    assert worst <= RELATIVE, worst
    return worst


# --- features ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
@pytest.mark.parametrize("shape", [VIT, RESNET], ids=lambda s: s.name)
def test_open_clip_weights_give_open_clip_s_features(shape: Shape, activation: Activation, fmt: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    theirs = perturb(shape.open_clip(activation), seed=1)
    ours = shape.ours(activation)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    report = load_clip_weights(ours, save(theirs.state_dict(), tmp_path, fmt))
    assert len(report.loaded) == len(theirs.state_dict())
    worst = assert_same_features(ours.eval(), theirs, shape, seed=2)
    print(f"open_clip {open_clip_version()} {shape.name} {activation} {fmt}: max relative difference {worst:.2e}")
    # The activation is no detail: the other one gives other features from the same weights.
    other = shape.ours("gelu" if activation == "quick_gelu" else "quick_gelu")
    other.load_state_dict(theirs.state_dict(), strict=False)
    with pytest.raises(AssertionError):
        assert_same_features(other.eval(), theirs, shape, seed=2)


@pytest.mark.parametrize("fmt", ["pt", "safetensors", "torchscript"])
@pytest.mark.parametrize("shape", [VIT, RESNET], ids=lambda s: s.name)
def test_openai_weights_give_openai_s_features(shape: Shape, fmt: str, tmp_path: Path) -> None:
    torch.manual_seed(3)
    theirs = perturb(shape.openai(), seed=4)
    if fmt == "torchscript":
        # OpenAI's release format: the model traced and saved as a TorchScript archive.
        images, tokens = inputs(shape, seed=5)
        traced = torch.jit.trace(theirs, (images, tokens), check_trace=False)
        path = tmp_path / "clip-jit.pt"
        torch.jit.save(traced, str(path))
    else:
        path = save(theirs.state_dict(), tmp_path, fmt)
    ours = shape.ours("quick_gelu")
    load_clip_weights(ours, path)
    worst = assert_same_features(ours.eval(), theirs, shape, seed=6)
    print(f"openai-clip {peers.version('openai-clip')} {shape.name} {fmt}: max relative difference {worst:.2e}")
    if fmt == "torchscript":
        with pytest.raises(ModelConfigError, match="OpenAI TorchScript archive") as error:
            load_clip_weights(shape.ours("gelu"), path)
        assert error.value.field == "activation"


def open_clip_version() -> str:
    return peers.version("open_clip_torch")


# --- locks ---------------------------------------------------------------------------------


def trainable(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("lock_text", [False, True])
@pytest.mark.parametrize("groups", [0, 1, 2, 3, 4, 5, 9])  # the reduced ViT has 5 groups
def test_the_vit_image_lock_is_open_clip_s(groups: int, lock_text: bool) -> None:
    theirs = VIT.open_clip("quick_gelu")
    theirs.lock_image_tower(unlocked_groups=groups)
    if lock_text:
        theirs.lock_text_tower()
    ours = VIT.ours("quick_gelu")
    ours.lock(lock_image=True, lock_image_unlocked_groups=groups, lock_text=lock_text)
    assert trainable(ours) == trainable(theirs)


@pytest.mark.parametrize("lock_text", [False, True])
def test_the_resnet_is_locked_whole_as_open_clip_s(lock_text: bool) -> None:
    theirs = RESNET.open_clip("quick_gelu")
    with pytest.raises(AssertionError, match="partial locking"):
        theirs.lock_image_tower(unlocked_groups=1)
    theirs.lock_image_tower(unlocked_groups=0, freeze_bn_stats=True)
    if lock_text:
        theirs.lock_text_tower()
    ours = RESNET.ours("quick_gelu")
    with pytest.raises(ModelConfigError) as error:
        ours.lock(lock_image=True, lock_image_unlocked_groups=1)
    assert error.value.field == "lock_image_unlocked_groups"
    ours.lock(lock_image=True, lock_text=lock_text)
    assert trainable(ours) == trainable(theirs)


def test_a_locked_resnet_in_train_mode_is_open_clip_s_with_frozen_statistics() -> None:
    torch.manual_seed(7)
    theirs = perturb(RESNET.open_clip("quick_gelu"), seed=8)
    ours = RESNET.ours("quick_gelu")
    ours.load_state_dict(theirs.state_dict())
    theirs.lock_image_tower(freeze_bn_stats=True)
    ours.lock(lock_image=True)
    images, _ = inputs(RESNET, seed=9)
    with torch.no_grad():
        assert relative(ours.train().encode_image(images), theirs.train().encode_image(images)) <= RELATIVE


# --- the logit scale ---------------------------------------------------------------------


def open_clip_step(model: nn.Module, loss: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, tokens: Tensor) -> None:
    """One step of open_clip_train/train.py: ClipLoss on the model's output, then its clamp."""
    image_features, text_features, logit_scale = model(images, tokens)
    optimizer.zero_grad()
    loss(image_features, text_features, logit_scale).backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))


def our_step(model: CLIP, optimizer: torch.optim.Optimizer, images: Tensor, tokens: Tensor) -> None:
    """One step as clip.train takes it: clip_loss on the model's output, then clamp_logit_scale_."""
    image_z, text_z, logit_scale = model(images, tokens)
    optimizer.zero_grad()
    clip_loss(image_z, text_z, logit_scale).backward()
    optimizer.step()
    model.clamp_logit_scale_()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_a_scale_above_the_cap_trains_and_is_clamped_as_open_clip_does(dtype: torch.dtype) -> None:
    torch.manual_seed(10)
    theirs = perturb(VIT.open_clip("quick_gelu"), seed=11).train()
    ours = VIT.ours("quick_gelu").train()
    ours.load_state_dict(theirs.state_dict())
    for model in (ours, theirs):
        model.logit_scale.data = torch.tensor(math.log(110.0), dtype=dtype)
    images, tokens = inputs(VIT, seed=12)
    # No clamp in the loss: the scale above the cap gets its gradient.
    image_z, text_z, scale = ours(images, tokens)
    clip_loss(image_z, text_z, scale).backward()
    assert ours.logit_scale.grad is not None and float(ours.logit_scale.grad) != 0.0
    ours.zero_grad()

    loss = peers.open_clip().loss.ClipLoss()
    optimizers = [torch.optim.SGD(m.parameters(), lr=1e-3) for m in (ours, theirs)]
    scales, worst = [], 0.0
    for step in range(4):
        our_step(ours, optimizers[0], images, tokens)
        open_clip_step(theirs, loss, optimizers[1], images, tokens)
        assert ours.logit_scale.dtype == dtype
        scales.append(float(ours.logit_scale.detach()))
        # fp16 rounds exp(scale) where open_clip computes it (fp16) and we do not (fp32).
        tolerance = 1e-5 if dtype == torch.float32 else 1e-4
        their_parameters = dict(theirs.named_parameters())
        for name, a in ours.named_parameters():
            difference = relative(a.detach().float(), their_parameters[name].detach().float())
            assert difference <= tolerance, (step, name, difference)
            worst = max(worst, difference)
    assert scales[0] == float(torch.tensor(math.log(100.0), dtype=dtype))  # clamped after the first step
    assert len(set(scales)) > 1  # and it trains below the cap
    print(f"open_clip {open_clip_version()} SGD with the clamp, {dtype}: ln scales {scales}, max relative difference {worst:.2e}")


# --- files of other families ---------------------------------------------------------------


def test_weights_of_other_families_are_named(tmp_path: Path) -> None:
    resnet = peers.torchvision().models.resnet18()
    torch.save(resnet.state_dict(), tmp_path / "resnet18.pt")
    vit = peers.timm().models.VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=1, num_heads=2, num_classes=10)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "vit.safetensors"))
    files = {tmp_path / "resnet18.pt": "an ImageNet ResNet", tmp_path / "vit.safetensors": "a timm Vision Transformer"}
    for path, looks_like in files.items():
        with pytest.raises(CheckpointError) as error:
            load_clip_weights(VIT.ours("quick_gelu"), path)
        assert error.value.code == "CHECKPOINT_MISMATCH"
        assert f"{path} is not a CLIP checkpoint: it looks like {looks_like}" in error.value.message
