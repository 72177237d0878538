"""ResNet: parameter names and shapes identical to torchvision's, and its weight files load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mcl_worker.checkpoint import CheckpointError
from mcl_worker.models import create_model


def torchvision_resnet_shapes(depth: int) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry of torchvision.models.resnet{18,50}() with its shape, written out
    from torchvision's definition: a 7x7 stem, four layers of BasicBlocks [2, 2, 2, 2] (18) or
    Bottlenecks [3, 4, 6, 3] with expansion 4 (50), a 1x1 conv + BN `downsample` on the first
    block of a layer whose stride or width changes, and a 1000-class `fc`."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, out_c: int, in_c: int, k: int) -> None:
        shapes[f"{name}.weight"] = (out_c, in_c, k, k)

    def bn(name: str, c: int) -> None:
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{p}"] = (c,)
        shapes[f"{name}.num_batches_tracked"] = ()

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    bottleneck = depth == 50
    blocks = [3, 4, 6, 3] if bottleneck else [2, 2, 2, 2]
    expansion = 4 if bottleneck else 1
    in_planes = 64
    for layer, (planes, n, stride) in enumerate(zip([64, 128, 256, 512], blocks, [1, 2, 2, 2]), start=1):
        for b in range(n):
            p = f"layer{layer}.{b}"
            out_planes = planes * expansion
            if bottleneck:
                conv(f"{p}.conv1", planes, in_planes, 1)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3", out_planes, planes, 1)
                bn(f"{p}.bn3", out_planes)
            else:
                conv(f"{p}.conv1", planes, in_planes, 3)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
            if b == 0 and (stride != 1 or in_planes != out_planes):
                conv(f"{p}.downsample.0", out_planes, in_planes, 1)
                bn(f"{p}.downsample.1", out_planes)
            in_planes = out_planes
    shapes["fc.weight"] = (1000, 512 * expansion)
    shapes["fc.bias"] = (1000,)
    return shapes


def backbone_shapes(arch: str, stem: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = create_model(arch, image_size=224, stem=stem)
    return {k: tuple(v.shape) for k, v in model.backbone.state_dict().items()}


def test_reference_shapes_have_torchvisions_sizes() -> None:
    # Known facts about torchvision's models, independent of the helper above.
    r18, r50 = torchvision_resnet_shapes(18), torchvision_resnet_shapes(50)
    # 62 / 161 parameter tensors, plus 3 buffers for each of the 20 / 53 BatchNorms.
    assert len(r18) == 62 + 3 * 20 and len(r50) == 161 + 3 * 53
    assert sum(1 for k in r18 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) == 62
    assert sum(1 for k in r50 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) == 161


def test_resnet18_backbone_equals_torchvision_minus_fc_in_names_order_and_shapes() -> None:
    expected = {k: v for k, v in torchvision_resnet_shapes(18).items() if not k.startswith("fc.")}
    actual = backbone_shapes("resnet18", "imagenet")
    assert list(actual.items()) == list(expected.items())


def test_resnet50_backbone_equals_torchvision_minus_fc() -> None:
    expected = {k: v for k, v in torchvision_resnet_shapes(50).items() if not k.startswith("fc.")}
    actual = backbone_shapes("resnet50", "imagenet")
    assert list(actual.items()) == list(expected.items())
    # A few entries written out literally, as torchvision prints them.
    assert actual["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert actual["layer2.0.conv2.weight"] == (128, 128, 3, 3)
    assert actual["layer3.5.conv3.weight"] == (1024, 256, 1, 1)
    assert actual["layer4.2.bn3.running_var"] == (2048,)
    assert "layer2.1.downsample.0.weight" not in actual


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
