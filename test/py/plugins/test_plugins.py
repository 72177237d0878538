"""mcl_worker.plugins: references, the three hooks (create_model, open_dataset, get_loss) and the checks."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mcl_worker.data import open_dataset
from mcl_worker.errors import InvalidArgument
from mcl_worker.losses import get_loss, nt_xent
from mcl_worker.models import ModelSpec, create_model
from mcl_worker.plugins import PluginError, build_encoder, check_plugins, resolve

PLUGINS = textwrap.dedent(
    '''
    import functools
    import os
    import random
    from subprocess import run
    import numpy as np
    import torch
    from torch import nn

    NOT_CALLABLE = 3
    system = os.system
    shell = functools.partial(os.system)

    class Mean(nn.Module):
        """Features = a linear map of the per-channel means; no feature_dim declared."""
        def __init__(self, in_channels, width=5):
            super().__init__()
            self.fc = nn.Linear(in_channels, width)
        def forward(self, x):
            return self.fc(x.mean(dim=(2, 3)))

    def mean_encoder(*, in_channels, width=5):
        return Mean(in_channels, width)

    def declared(*, image_size, in_channels):
        m = Mean(in_channels, 7)
        m.feature_dim = 7
        return m

    def wrong_shape():
        return nn.Conv2d(3, 4, 3)

    def lying():
        m = Mean(3, 4)
        m.feature_dim = 9
        return m

    def noisy():
        m = Mean(3, 4)
        with torch.no_grad():
            m.fc.bias.add_(random.random())  # Python's random: not seeded by the worker
        return m

    class Images:
        def __init__(self, n=6, layout="hwc", dtype="uint8", captions=False, ragged=False):
            rng = np.random.default_rng(0)
            self.images = rng.integers(0, 256, (n, 8, 8, 3)).astype(dtype)
            self.layout, self.captions, self.ragged = layout, captions, ragged
            self.labels = {"parity": [i % 2 for i in range(n)]}
            self.class_names = {"parity": ["even", "odd"]}
        def __len__(self):
            return len(self.images)
        def __getitem__(self, i):
            image = self.images[i]
            if self.ragged and i == 1:
                image = image[:4]
            if self.layout == "chw":
                image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
            elif self.layout == "gray":
                image = image[..., 0]
            return {"image": image, "caption": f"image {i}"} if self.captions else image

    def scaled_loss(z_a, z_b, *, temperature=0.2, labels=None, scale=1.0):
        from mcl_worker.losses import nt_xent
        return scale * nt_xent(z_a, z_b, temperature=temperature)

    def vector_loss(z_a, z_b, *, temperature=0.2, labels=None):
        return (z_a - z_b).sum(dim=1)
    '''
)


@pytest.fixture(autouse=True)
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_plugins.py").write_text(PLUGINS)
    (tmp_path / "broken_plugins.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MCL_WORKER_PLUGINS", "fake_plugins, broken_plugins,no_such_module")
    yield
    for name in ("fake_plugins", "broken_plugins"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("ref", "check", "got"),
    [
        ("python:fake_plugins:Images", "reference", "'python:fake_plugins:Images'"),
        ("py:subprocess:run", "stdlib", "subprocess"),
        ("py:fake_plugins_evil.x:f", "allowed", "fake_plugins_evil.x"),
        ("py:no_such_module:f", "import", "ModuleNotFoundError"),
        ("py:broken_plugins:f", "import", "RuntimeError: boom at import"),
        ("py:fake_plugins:missing", "attribute", "no such attribute"),
        ("py:fake_plugins:NOT_CALLABLE", "callable", "int"),
    ],
)
def test_resolve_names_the_failing_check(ref: str, check: str, got: str) -> None:
    with pytest.raises(PluginError) as info:
        resolve("encoder", ref)
    assert info.value.check == check and got in info.value.got
    assert f"encoder plugin {ref} failed the {check!r} check" in str(info.value)
    assert info.value.details["path"] == "arch"


@pytest.mark.parametrize(
    ("ref", "args"),
    [
        ("py:os:system", {"command": "touch {marker}"}),
        ("py:subprocess:run", {"args": ["touch", "{marker}"]}),
        ("py:builtins:eval", {"source": "open({marker!r}, 'w')"}),
        ("py:os.path:join", {}),
        ("py:fake_plugins:system", {"command": "touch {marker}"}),
        ("py:fake_plugins:shell", {"command": "touch {marker}"}),
        ("py:fake_plugins:run", {"args": ["touch", "{marker}"]}),
    ],
)
def test_the_standard_library_is_refused_whatever_the_worker_allows(
    ref: str, args: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCL_WORKER_PLUGINS", "fake_plugins,os,subprocess,builtins")
    marker = tmp_path / "marker"
    filled = json.loads(json.dumps(args).replace("{marker}", str(marker)).replace("{marker!r}", repr(str(marker))))
    with pytest.raises(PluginError) as info:
        build_encoder(ref, filled, image_size=8, in_channels=3)
    assert info.value.check == "stdlib" and "standard library" in str(info.value)
    report = json.loads(check_plugins(json.dumps({
        "seed": 0, "dataset": "synthetic:trifeature?n=8&size=8", "dataset_args": {}, "encoder": "small-cnn",
        "encoder_args": {}, "loss": ref, "loss_args": filled, "temperature": 0.2,
    })))
    assert not report["ok"] and [(c["plugin"], c["check"]) for c in report["checks"]] == [("loss", "stdlib")]
    assert not marker.exists()


def test_an_encoder_plugin_gets_the_projection_head_and_its_width_read_or_declared() -> None:
    torch.manual_seed(0)
    model = create_model("py:fake_plugins:mean_encoder", image_size=8, proj_dim=16, width=6)
    assert model.feature_dim == 6  # read from a forward pass
    x = torch.rand(4, 3, 8, 8)
    assert model(x).shape == (4, 16) and model.features(x).shape == (4, 6)
    assert ModelSpec.from_json(model.spec.to_json()) == model.spec
    assert model.spec.options == {"width": 6}
    declared = build_encoder("py:fake_plugins:declared", {}, image_size=8, in_channels=3)
    assert declared.feature_dim == 7


def test_an_encoder_with_the_wrong_output_is_refused() -> None:
    with pytest.raises(PluginError) as info:
        build_encoder("py:fake_plugins:wrong_shape", {}, image_size=8, in_channels=3)
    assert info.value.check == "forward" and "[1, D]" in info.value.expected


def test_a_dataset_plugin_is_adapted_to_the_worker_layout() -> None:
    for layout in ("hwc", "chw", "gray"):
        ds = open_dataset("py:fake_plugins:Images", {"layout": layout, "captions": True})
        images = ds.get_images([0, 3])
        assert images.dtype == torch.uint8 and images.shape == (2, 3, 8, 8)
        assert ds.image_shape == (3, 8, 8)
    hwc = open_dataset("py:fake_plugins:Images", {})
    chw = open_dataset("py:fake_plugins:Images", {"layout": "chw"})
    assert torch.equal(hwc.get_images([2]), chw.get_images([2]))
    assert ds.captions([1]) == ["image 1"] and not hwc.has_captions and hwc.captions([1]) is None
    summary = hwc.describe()
    assert summary["attributes"] == [{"name": "parity", "num_classes": 2, "class_names": ["even", "odd"]}]
    np.testing.assert_array_equal(hwc.attributes["parity"].labels, [0, 1, 0, 1, 0, 1])


def test_dataset_items_of_the_wrong_dtype_or_shape_are_refused() -> None:
    with pytest.raises(PluginError) as info:
        open_dataset("py:fake_plugins:Images", {"dtype": "float32"})
    assert info.value.check == "items" and info.value.expected == "uint8 images" and info.value.details["path"] == "uri"
    ragged = open_dataset("py:fake_plugins:Images", {"ragged": True})
    with pytest.raises(PluginError, match="at item 1"):
        ragged.get_images([0, 1])
    with pytest.raises(PluginError) as info:
        open_dataset("py:fake_plugins:Images", {"n": 1})
    assert info.value.check == "length"
    with pytest.raises(PluginError) as info:
        open_dataset("py:fake_plugins:Images", {"no_such_arg": 1})
    assert info.value.check == "build" and "unexpected keyword argument" in info.value.got


def test_a_loss_plugin_gets_its_arguments_and_built_ins_take_none() -> None:
    z_a, z_b = torch.randn(4, 8), torch.randn(4, 8)
    loss = get_loss("py:fake_plugins:scaled_loss", {"scale": 2.0})
    assert torch.allclose(loss(z_a, z_b, temperature=0.5), 2 * nt_xent(z_a, z_b, temperature=0.5))
    with pytest.raises(InvalidArgument, match="takes no arguments"):
        get_loss("nt-xent", {"scale": 2.0})
    with pytest.raises(InvalidArgument, match="takes no arguments"):
        open_dataset("synthetic:trifeature?n=10", {"x": 1})


def _check(**request: object) -> dict[str, object]:
    base = {"seed": 0, "dataset": "py:fake_plugins:Images", "dataset_args": {}, "encoder": "small-cnn",
            "encoder_args": {}, "loss": "nt-xent", "loss_args": {}, "temperature": 0.2}
    return json.loads(check_plugins(json.dumps({**base, **request})))


def _failed(report: dict[str, object]) -> list[tuple[str, str]]:
    return [(c["plugin"], c["check"]) for c in report["checks"] if not c["ok"]]  # type: ignore[index,union-attr]


def test_check_plugins_passes_good_plugins_and_names_each_failure() -> None:
    good = _check(encoder="py:fake_plugins:mean_encoder", loss="py:fake_plugins:scaled_loss", loss_args={"scale": 0.5})
    assert good["ok"] is True and _failed(good) == []
    assert {c["plugin"] for c in good["checks"]} == {"dataset", "encoder", "loss"}  # type: ignore[union-attr,index]
    assert _failed(_check(encoder="py:fake_plugins:noisy")) == [("encoder", "deterministic")]
    assert _failed(_check(encoder="py:fake_plugins:lying")) == [("encoder", "feature_dim")]
    assert _failed(_check(encoder="py:fake_plugins:wrong_shape")) == [("encoder", "forward")]
    assert _failed(_check(loss="py:fake_plugins:vector_loss")) == [("loss", "call")]
    assert _failed(_check(dataset_args={"dtype": "int64"}, encoder="py:fake_plugins:mean_encoder")) == [("dataset", "items")]
