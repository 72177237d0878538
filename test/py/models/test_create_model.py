"""create_model: every architecture, the options, and the errors for bad configurations."""

from __future__ import annotations

import pytest
import torch

from mcl_worker.models import (
    ARCHITECTURES,
    ContrastiveModel,
    ModelConfigError,
    ModelSpec,
    count_parameters,
    create_model,
)

ALL_ARCHS = ["small-cnn", "resnet18", "resnet50", "vit-tiny", "vit-small", "vit-base"]


def test_registry_holds_exactly_the_documented_architectures() -> None:
    assert list(ARCHITECTURES) == ALL_ARCHS


# Small enough to run for real on 2 images.
@pytest.mark.parametrize(
    ("arch", "image_size", "options", "feature_dim"),
    [
        ("small-cnn", 32, {}, 256),
        ("small-cnn", 16, {"widths": (8, 16)}, 16),
        ("resnet18", 16, {}, 512),
        ("vit-tiny", 16, {"patch_size": 8}, 192),
    ],
)
def test_forward_features_and_embed_shapes(
    arch: str, image_size: int, options: dict[str, object], feature_dim: int
) -> None:
    torch.manual_seed(0)
    model = create_model(arch, image_size=image_size, proj_dim=64, **options)
    assert isinstance(model, ContrastiveModel)
    assert (model.feature_dim, model.proj_dim) == (feature_dim, 64)
    x = torch.randn(2, 3, image_size, image_size)
    z = model(x)
    h = model.features(x)
    assert z.shape == (2, 64) and h.shape == (2, feature_dim)
    assert torch.isfinite(z).all() and torch.isfinite(h).all()
    model.eval()
    assert torch.equal(model.embed(x), model.features(x))
    assert torch.equal(model.embed(x, use_head=True), model(x))


# The big ones run on the meta device: shapes are checked without allocating their weights.
@pytest.mark.parametrize(
    ("arch", "image_size", "options", "feature_dim"),
    [
        ("resnet50", 32, {}, 2048),
        ("resnet50", 224, {}, 2048),
        ("resnet18", 96, {"stem": "imagenet"}, 512),
        ("vit-small", 224, {}, 384),
        ("vit-base", 224, {}, 768),
        ("vit-base", 32, {"patch_size": 4}, 768),
    ],
)
def test_big_models_shapes_on_meta(arch: str, image_size: int, options: dict[str, object], feature_dim: int) -> None:
    with torch.device("meta"):
        model = create_model(arch, image_size=image_size, **options)
        z = model(torch.empty(2, 3, image_size, image_size))
        h = model.features(torch.empty(2, 3, image_size, image_size))
    assert z.shape == (2, 128) and h.shape == (2, feature_dim)


# Published parameter counts of torchvision's resnet18/50 and timm's vit_*_patch16_224, minus
# their 1000-class classifier (in_features * 1000 + 1000), which a backbone does not have.
@pytest.mark.parametrize(
    ("arch", "options", "published", "classifier_in"),
    [
        ("resnet18", {"stem": "imagenet"}, 11_689_512, 512),
        ("resnet50", {"stem": "imagenet"}, 25_557_032, 2048),
        ("vit-tiny", {}, 5_717_416, 192),
        ("vit-small", {}, 22_050_664, 384),
        ("vit-base", {}, 86_567_656, 768),
    ],
)
def test_backbone_parameter_counts_match_the_reference_models(
    arch: str, options: dict[str, object], published: int, classifier_in: int
) -> None:
    with torch.device("meta"):
        model = create_model(arch, image_size=224, **options)
    assert count_parameters(model.backbone) == published - (classifier_in * 1000 + 1000)


def test_count_parameters_trainable_only() -> None:
    model = create_model("small-cnn", image_size=16, widths=(4, 8))
    total = count_parameters(model)
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - count_parameters(model.backbone)


@pytest.mark.parametrize("arch", ["small-cnn", "resnet18", "vit-tiny"])
def test_construction_is_deterministic_under_manual_seed(arch: str) -> None:
    options = {"patch_size": 8} if arch.startswith("vit") else {}
    torch.manual_seed(123)
    a = create_model(arch, image_size=32, **options).state_dict()
    torch.manual_seed(123)
    b = create_model(arch, image_size=32, **options).state_dict()
    torch.manual_seed(124)
    c = create_model(arch, image_size=32, **options).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_head_options() -> None:
    model = create_model("small-cnn", image_size=16, widths=(4, 8), proj_dim=3, proj_hidden=5, head_batch_norm=False)
    assert [tuple(p.shape) for p in model.head.parameters()] == [(5, 8), (5,), (3, 5), (3,)]
    with_bn = create_model("small-cnn", image_size=16, widths=(4, 8), proj_hidden=5)
    assert isinstance(with_bn.head.bn, torch.nn.BatchNorm1d)
    assert with_bn.head.fc1.bias is None  # the BatchNorm's shift replaces it


def test_in_channels() -> None:
    model = create_model("resnet18", image_size=8, in_channels=1)
    assert model.backbone.conv1.weight.shape == (64, 1, 3, 3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 128)


def test_resnet_stem_defaults_by_image_size_and_is_recorded() -> None:
    with torch.device("meta"):
        small = create_model("resnet18", image_size=64)
        large = create_model("resnet18", image_size=96)
    assert small.backbone.conv1.weight.shape == (64, 3, 3, 3)
    assert large.backbone.conv1.weight.shape == (64, 3, 7, 7)
    assert small.spec.options == {"stem": "cifar"} and large.spec.options == {"stem": "imagenet"}


def test_spec_round_trips_through_json_and_rebuilds_the_same_model() -> None:
    torch.manual_seed(0)
    model = create_model("vit-tiny", image_size=32, patch_size=8, proj_dim=16, proj_hidden=32)
    spec = ModelSpec.from_json(model.spec.to_json())
    assert spec == model.spec
    cnn = create_model("small-cnn", image_size=16, widths=(4, 8))
    assert ModelSpec.from_json(cnn.spec.to_json()) == cnn.spec and cnn.spec.options == {"widths": [4, 8]}
    torch.manual_seed(0)
    again = create_model(
        spec.arch,
        image_size=spec.image_size,
        in_channels=spec.in_channels,
        proj_dim=spec.proj_dim,
        proj_hidden=spec.proj_hidden,
        head_batch_norm=spec.head_batch_norm,
        **spec.options,
    )
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- bad input -------------------------------------------------------------------------


def test_unknown_architecture_lists_the_valid_ones() -> None:
    with pytest.raises(ModelConfigError) as e:
        create_model("resnet19", image_size=32)
    assert e.value.code == "UNKNOWN_ARCH" and e.value.field == "arch"
    assert "resnet19" in str(e.value)
    for name in ALL_ARCHS:
        assert name in str(e.value)


@pytest.mark.parametrize(
    ("arch", "image_size", "options", "rule"),
    [
        ("vit-tiny", 30, {}, "multiple of patch_size=16"),
        ("vit-tiny", 8, {}, "multiple of patch_size=16"),
        ("vit-small", 32, {"patch_size": 5}, "multiple of patch_size=5"),
        ("resnet18", 16, {"stem": "imagenet"}, "must be >= 32"),
        ("resnet50", 4, {}, "must be >= 8"),
        ("small-cnn", 8, {}, "must be >= 16"),
        ("small-cnn", 1, {"widths": (4,)}, "must be >= 2"),
    ],
)
def test_image_size_the_encoder_cannot_take(arch: str, image_size: int, options: dict[str, object], rule: str) -> None:
    with pytest.raises(ModelConfigError) as e:
        create_model(arch, image_size=image_size, **options)
    assert e.value.code == "BAD_IMAGE_SIZE" and e.value.field == "image_size"
    assert rule in str(e.value) and str(image_size) in str(e.value)


@pytest.mark.parametrize(
    ("arch", "kwargs", "field"),
    [
        ("vit-tiny", {"stem": "cifar"}, "stem"),
        ("resnet18", {"patch_size": 4}, "patch_size"),
        ("small-cnn", {"depth": 3}, "depth"),
        ("resnet18", {"stem": "tiny"}, "stem"),
        ("vit-tiny", {"patch_size": 0}, "patch_size"),
        ("small-cnn", {"widths": ()}, "widths"),
        ("small-cnn", {"widths": (8, -1)}, "widths"),
        ("small-cnn", {"widths": 64}, "widths"),
        ("small-cnn", {"proj_dim": 0}, "proj_dim"),
        ("small-cnn", {"in_channels": 0}, "in_channels"),
        ("small-cnn", {"proj_hidden": 2.5}, "proj_hidden"),
    ],
)
def test_bad_options_name_the_field(arch: str, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ModelConfigError) as e:
        create_model(arch, image_size=32, **kwargs)  # type: ignore[arg-type]
    assert e.value.code == "BAD_OPTION" and e.value.field == field
    assert field in str(e.value)


def test_unknown_option_lists_the_arch_options() -> None:
    with pytest.raises(ModelConfigError, match="its options: stem"):
        create_model("resnet18", image_size=32, patch_size=4)
    with pytest.raises(ModelConfigError, match="its options: patch_size"):
        create_model("vit-tiny", image_size=32, stem="cifar")


@pytest.mark.parametrize("image_size", [0, -32, 32.0, True])
def test_image_size_must_be_a_positive_integer(image_size: object) -> None:
    with pytest.raises(ModelConfigError) as e:
        create_model("small-cnn", image_size=image_size)  # type: ignore[arg-type]
    assert e.value.code == "BAD_OPTION" and e.value.field == "image_size"
