"""ResNet: the stems, and loading torchvision-style weight files (the names, shapes and features
against torchvision itself are in test/py/oracles/test_encoders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mcl_worker.checkpoint import CheckpointError
from mcl_worker.models import create_model


def backbone_shapes(arch: str, stem: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = create_model(arch, image_size=224, stem=stem)
    return {k: tuple(v.shape) for k, v in model.backbone.state_dict().items()}


def test_cifar_stem_differs_from_torchvision_only_in_conv1() -> None:
    imagenet, cifar = backbone_shapes("resnet18", "imagenet"), backbone_shapes("resnet18", "cifar")
    assert imagenet.keys() == cifar.keys()
    assert {k for k in cifar if cifar[k] != imagenet[k]} == {"conv1.weight"}
    assert cifar["conv1.weight"] == (64, 3, 3, 3)


# --- loading torchvision-style weight files ------------------------------------------------


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision-style resnet18 state dict (with its fc) saved by torch.save as a plain dict."""
    torch.manual_seed(1)
    source = create_model("resnet18", image_size=32, stem="imagenet").backbone.state_dict()
    state = {k: v.clone() for k, v in source.items()}
    state["fc.weight"] = torch.randn(1000, 512)
    state["fc.bias"] = torch.randn(1000)
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(state, path)
    return path, state


def assert_backbone_equals(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)


def test_torchvision_pt_file_loads_and_fc_is_reported(torchvision_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, state = torchvision_file
    torch.manual_seed(2)
    model = create_model("resnet18", image_size=32, stem="imagenet", pretrained=str(path))
    assert_backbone_equals(model, state)
    report = model.pretrained_report
    assert report is not None
    assert sorted(report.ignored) == ["fc.bias", "fc.weight"]
    assert len(report.loaded) == 120 and report.missing == [] and report.skipped_shape == []


def test_torchvision_safetensors_file_loads(
    torchvision_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    _, state = torchvision_file
    path = tmp_path / "resnet18.safetensors"
    save_file(state, str(path))
    model = create_model("resnet18", image_size=32, stem="imagenet", pretrained=str(path))
    assert_backbone_equals(model, state)


def test_wrapped_ddp_file_without_batch_counters_loads(
    torchvision_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    # {"state_dict": {"module.conv1.weight": ...}} as a training script saves it, and without
    # num_batches_tracked as torchvision's oldest weight files.
    _, state = torchvision_file
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items() if "num_batches" not in k}}
    path = tmp_path / "wrapped.pt"
    torch.save(wrapped, path)
    model = create_model("resnet18", image_size=32, stem="imagenet", pretrained=str(path))
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded if "num_batches" not in k)


def test_torchvision_weights_into_the_cifar_stem_name_conv1(
    torchvision_file: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    path, _ = torchvision_file
    with pytest.raises(CheckpointError) as e:
        create_model("resnet18", image_size=32, stem="cifar", pretrained=str(path))
    assert e.value.code == "CHECKPOINT_MISMATCH"
    assert "conv1.weight: expected (64, 3, 3, 3), found (64, 3, 7, 7)" in str(e.value)
    assert "1 shape mismatch" in str(e.value)


def test_resnet50_weights_into_resnet18_list_every_offending_key(
    torchvision_file: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    path, _ = torchvision_file
    with pytest.raises(CheckpointError) as e:
        create_model("resnet50", image_size=32, stem="imagenet", pretrained=str(path))
    message = str(e.value)
    assert e.value.code == "CHECKPOINT_MISMATCH"
    assert "layer1.0.conv1.weight: expected (64, 64, 1, 1), found (64, 64, 3, 3)" in message
    assert "missing key(s)" in message and "layer3.5.conv3.weight" in message
    assert "layer4.2.bn3.weight" in message
