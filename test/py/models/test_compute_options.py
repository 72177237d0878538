"""Gradient checkpointing (ViT, CLIP towers) gives the gradients of the plain model; channels-last
(ResNet, small CNN) gives its outputs; an encoder that cannot take an option refuses it by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mcl_worker.models import ModelConfigError, create_model, set_grad_checkpointing, use_channels_last
from mcl_worker.models.clip import create_clip


def gradients(model: nn.Module, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    out = model(*inputs)
    loss = sum(o.float().square().sum() for o in (out if isinstance(out, tuple) else (out,)))
    loss.backward()  # type: ignore[union-attr]
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_gradients(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_vit_gradient_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    model = create_model("vit-tiny", image_size=16, patch_size=8, proj_dim=8)
    x = torch.randn(3, 3, 16, 16)
    plain = gradients(model, x)
    set_grad_checkpointing(model)
    assert model.backbone.grad_checkpointing
    assert_same_gradients(plain, gradients(model, x))
    with torch.no_grad():  # no recomputation without gradients
        torch.testing.assert_close(model(x), model(x))


def test_clip_tower_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    model = create_clip("clip-tiny", vocab_size=50)
    images = torch.randn(2, 3, model.spec.image_size, model.spec.image_size)
    tokens = torch.randint(1, 50, (2, model.spec.context_length))
    plain = gradients(model, images, tokens)
    model.set_grad_checkpointing()
    assert model.transformer.grad_checkpointing
    assert_same_gradients(plain, gradients(model, images, tokens))


@pytest.mark.parametrize("arch", ["small-cnn", "resnet18"])
def test_channels_last_gives_the_same_outputs(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch, image_size=16, proj_dim=8).eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        use_channels_last(model)
        after = model(x)
    conv = next(m for m in model.backbone.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


def test_an_encoder_that_cannot_take_an_option_names_it() -> None:
    with pytest.raises(ModelConfigError) as error:
        set_grad_checkpointing(create_model("small-cnn", image_size=16))
    assert error.value.field == "grad_checkpointing" and "only the vit-* encoders" in error.value.message
    with pytest.raises(ModelConfigError) as error:
        use_channels_last(create_model("vit-tiny", image_size=16, patch_size=8))
    assert error.value.field == "channels_last" and "not a convolutional encoder" in error.value.message
