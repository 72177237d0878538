"""Exported weights against the libraries that load them: each file is loaded by running the exact
Python the export advertises (its `load` line) with the peer alone in scope, and the peer's model
must give our encoder's features on the same images: ResNet-18/50 with the ImageNet stem in
torchvision, ViT in timm, CLIP (a ViT and a ResNet image tower) in open_clip and OpenAI's code.
Every weight is perturbed first (BatchNorm statistics, norm scales and biases off their initial
values), so that a tensor that went out under the wrong name shows. Sizes are reduced: 64 px
ResNets, 32 px ViTs, two-block CLIPs (clip-rn50 with one block per stage and narrow towers),
2-image batches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from torch import Tensor, nn

from mcl_worker.export import ExportPart, InputSpec, layout_of, weights_of, write_export
from mcl_worker.models import create_model
from mcl_worker.models.clip import CLIP, CLIP_CONFIGS, create_clip
from oracles import peers
from oracles.weights import perturb

RELATIVE = 1e-5  # CLIP features: max |ours - theirs| / max |theirs|, as test_clip_towers


@pytest.fixture
def small_rn50(monkeypatch: pytest.MonkeyPatch) -> None:
    """clip-rn50's layout (a ModifiedResNet image tower, OpenAI's text tower) at a fraction of its
    size: the export names it from the configuration, and OpenAI's build_model reads the same
    shapes off the weights (its text heads are width / 64)."""
    small = replace(
        CLIP_CONFIGS["clip-rn50"], embed_dim=64, vision_layers=(1, 1, 1, 1), vision_width=16,
        text_width=64, text_heads=1, text_layers=2,
    )
    monkeypatch.setitem(CLIP_CONFIGS, "clip-rn50", small)


def export_stage(model: nn.Module, path: Path, image_size: int) -> dict[str, Any]:
    """`model` exported as stage 1 in safetensors; the export's document."""
    layout = layout_of(model)
    preprocess = InputSpec(image_size, 3, [0.5], [0.5], "bilinear", None)
    return write_export(
        path, [ExportPart(1, layout, weights_of(model))], kind="stage", file="safetensors", preprocess=preprocess,
        weights=[1.0], normalize="none", run={},
    )


def peer_model(document: dict[str, Any], path: Path) -> nn.Module:
    """The model the export's `load` line builds, with nothing of ours in scope."""
    scope: dict[str, Any] = {
        "torch": torch, "safetensors": safetensors, "path": str(path),
        "torchvision": peers.torchvision(), "timm": peers.timm(), "open_clip": peers.open_clip(),
    }
    exec(document["encoders"][0]["peer"]["load"], scope)  # noqa: S102 - the line the export advertises
    model: nn.Module = scope["model"]
    return model.eval()


def images(size: int, seed: int) -> Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def relative(ours: Tensor, theirs: Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


@pytest.mark.parametrize("depth", [18, 50])
def test_a_resnet_loads_into_torchvision_and_gives_its_features(depth: int, tmp_path: Path) -> None:
    torch.manual_seed(depth)
    ours = perturb(create_model(f"resnet{depth}", image_size=64, stem="imagenet"), seed=depth)
    path = tmp_path / "resnet.safetensors"
    document = export_stage(ours, path, 64)
    peer = document["encoders"][0]["peer"]
    assert (peer["library"], peer["name"], peer["absent_keys"]) == ("torchvision", f"resnet{depth}", ["fc.weight", "fc.bias"])
    theirs = peer_model(document, path)
    x = images(64, depth)
    with torch.no_grad():
        assert torch.equal(theirs(x), ours.features(x))
    # torchvision's model as it comes (with its classifier) misses exactly the keys the export names.
    classifier = getattr(peers.torchvision().models, f"resnet{depth}")()
    result = classifier.load_state_dict(safetensors.torch.load_file(str(path)), strict=False)
    assert (sorted(result.missing_keys), result.unexpected_keys) == (sorted(peer["absent_keys"]), [])


def test_a_vit_loads_into_timm_and_gives_its_features(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ours = perturb(create_model("vit-tiny", image_size=32, patch_size=8), seed=1)
    path = tmp_path / "vit.safetensors"
    document = export_stage(ours, path, 32)
    peer = document["encoders"][0]["peer"]
    assert (peer["library"], peer["name"]) == ("timm", "vit_tiny_patch16_224")
    assert peer["kwargs"] == {"num_classes": 0, "img_size": 32, "patch_size": 8}
    theirs = peer_model(document, path)
    x = images(32, 2)
    with torch.no_grad():
        assert torch.equal(theirs(x), ours.features(x))
    with_head = peers.timm().create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8)
    result = with_head.load_state_dict(safetensors.torch.load_file(str(path)), strict=False)
    assert (sorted(result.missing_keys), result.unexpected_keys) == (sorted(peer["absent_keys"]), [])


def clip_inputs(model: CLIP, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    spec = model.spec
    x = torch.randn(2, 3, spec.image_size, spec.image_size, generator=g)
    tokens = torch.randint(1, spec.vocab_size - 1, (2, spec.context_length), generator=g)
    tokens[:, 5] = spec.vocab_size - 1  # the end token: the highest id
    return x, tokens


@pytest.mark.parametrize(
    ("config", "options"),
    [("clip-tiny", {}), ("clip-tiny", {"activation": "gelu"}), ("clip-rn50", {"image_size": 64, "vocab_size": 1000})],
    ids=["vit-quickgelu", "vit-gelu", "resnet"],
)
@pytest.mark.usefixtures("small_rn50")
def test_a_clip_model_loads_into_open_clip_and_gives_its_features(config: str, options: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(3)
    ours = perturb(create_clip(config, **options), seed=4)
    path = tmp_path / "clip.safetensors"
    document = export_stage(ours, path, ours.spec.image_size)
    peer = document["encoders"][0]["peer"]
    assert (peer["library"], peer["name"], peer["absent_keys"]) == ("open_clip", "CLIP", [])
    theirs = peer_model(document, path)
    x, tokens = clip_inputs(ours, 5)
    with torch.no_grad():
        assert relative(ours.encode_image(x), theirs.encode_image(x)) <= RELATIVE
        assert relative(ours.encode_text(tokens), theirs.encode_text(tokens)) <= RELATIVE


@pytest.mark.usefixtures("small_rn50")
def test_a_clip_model_loads_into_openai_s_clip(tmp_path: Path) -> None:
    """OpenAI's CLIP class (QuickGELU, heads = width / 64), built with the file's shapes, and its
    build_model, which reads them off the weights and rounds them to float16."""
    torch.manual_seed(6)
    ours = perturb(create_clip("clip-rn50", image_size=64, vocab_size=1000), seed=7)
    path = tmp_path / "clip.safetensors"
    document = export_stage(ours, path, 64)
    cfg = document["encoders"][0]["peer"]["kwargs"]
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    theirs = peers.openai_clip_model().CLIP(
        cfg["embed_dim"], vision["image_size"], tuple(vision["layers"]), vision["width"], None,
        text["context_length"], text["vocab_size"], text["width"], text["heads"], text["layers"],
    )
    theirs.load_state_dict(safetensors.torch.load_file(str(path)))
    x, tokens = clip_inputs(ours, 8)
    built = peers.openai_clip_model().build_model(safetensors.torch.load_file(str(path))).float()
    with torch.no_grad():
        assert relative(ours.encode_image(x), theirs.eval().encode_image(x)) <= RELATIVE
        assert relative(ours.encode_text(tokens), theirs.encode_text(tokens)) <= RELATIVE
        assert relative(ours.encode_image(x), built.encode_image(x)) <= 2e-3  # float16 weights


@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
@pytest.mark.parametrize("config", ["clip-rn50", "clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14"])
def test_a_published_clip_shape_is_named_as_open_clip_names_it(config: str, activation: str) -> None:
    with torch.device("meta"):
        ours = create_clip(config, activation=activation)
    peer = layout_of(ours).peer
    assert peer is not None
    theirs = peers.open_clip().get_model_config(peer.name)
    assert theirs is not None, f"open_clip has no model {peer.name}"
    assert peer.load == f"model = open_clip.create_model({peer.name!r}); model.load_state_dict(safetensors.torch.load_file(path))"
    assert theirs["embed_dim"] == peer.kwargs["embed_dim"]
    assert theirs.get("quick_gelu", False) == peer.kwargs["quick_gelu"]
    for part in ("vision_cfg", "text_cfg"):
        expected = dict(peer.kwargs[part])
        found = {k: list(v) if isinstance(v, tuple) else v for k, v in theirs[part].items() if k in expected}
        if "head_width" in expected:  # open_clip's default, which its configurations leave out
            found.setdefault("head_width", 64)
        assert found == expected, part
