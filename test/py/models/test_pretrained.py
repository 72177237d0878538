"""load_pretrained: file formats, containers, and every way a weight file can fail to fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mcl_worker.checkpoint import CheckpointError, save_checkpoint, training_state
from mcl_worker.models import create_model, load_pretrained, read_state_dict
from mcl_worker.models.small_cnn import SmallCNN


def tiny_cnn(seed: int) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(3, (4, 8))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "weights.pt"
    with pytest.raises(CheckpointError) as e:
        load_pretrained(tiny_cnn(0), path)
    assert e.value.code == "CHECKPOINT_NOT_FOUND" and str(path) in str(e.value) and e.value.path == str(path)


def test_missing_file_through_create_model(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no file at"):
        create_model("small-cnn", image_size=16, widths=(4, 8), pretrained=str(tmp_path / "x.safetensors"))


def test_pickled_module_is_refused_by_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(tiny_cnn(0), path)  # a whole pickled nn.Module, not a state dict
    with pytest.raises(CheckpointError) as e:
        load_pretrained(tiny_cnn(0), path)
    assert e.value.code == "CHECKPOINT_UNREADABLE" and "state_dict()" in str(e.value)


@pytest.mark.parametrize("name", ["garbage.pt", "garbage.safetensors"])
def test_garbage_file_is_unreadable(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00not a weight file" * 10)
    with pytest.raises(CheckpointError) as e:
        load_pretrained(tiny_cnn(0), path)
    assert e.value.code == "CHECKPOINT_UNREADABLE" and str(path) in str(e.value)


def test_entries_that_are_not_tensors_are_named(tmp_path: Path) -> None:
    state: dict[str, object] = dict(tiny_cnn(0).state_dict())
    state["blocks.0.conv.weight"] = [1.0, 2.0]
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(CheckpointError) as e:
        load_pretrained(tiny_cnn(0), tmp_path / "w.pt")
    assert e.value.code == "CHECKPOINT_UNREADABLE" and "blocks.0.conv.weight" in str(e.value)


def test_missing_and_unexpected_keys_are_all_listed(tmp_path: Path) -> None:
    state = dict(tiny_cnn(0).state_dict())
    del state["blocks.1.bn.weight"], state["blocks.0.conv.weight"]
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(CheckpointError) as e:
        load_pretrained(tiny_cnn(0), tmp_path / "w.pt")
    message = str(e.value)
    assert e.value.code == "CHECKPOINT_MISMATCH"
    assert "2 missing key(s): blocks.0.conv.weight, blocks.1.bn.weight" in message
    assert "1 unexpected key(s): extra.weight" in message


def test_strict_flags_skip_and_report_instead_of_raising(tmp_path: Path) -> None:
    source = tiny_cnn(0).state_dict()
    state = {k: v.clone() for k, v in source.items() if k != "blocks.1.bn.bias"}
    state["blocks.1.conv.weight"] = torch.zeros(8, 4, 5, 5)
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(tmp_path / "w.safetensors"))
    target = tiny_cnn(1)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    report = load_pretrained(target, tmp_path / "w.safetensors", strict_shapes=False, strict_keys=False)
    after = target.state_dict()
    assert report.skipped_shape == ["blocks.1.conv.weight"]
    assert report.missing == ["blocks.1.bn.bias"]
    assert report.ignored == ["extra.weight"]
    assert torch.equal(after["blocks.1.conv.weight"], before["blocks.1.conv.weight"])
    assert torch.equal(after["blocks.1.bn.bias"], before["blocks.1.bn.bias"])
    assert torch.equal(after["blocks.0.conv.weight"], source["blocks.0.conv.weight"])
    assert "blocks.1.conv.weight" not in report.loaded and "blocks.0.conv.weight" in report.loaded


def test_half_precision_file_loads_into_a_float_model(tmp_path: Path) -> None:
    source = tiny_cnn(0).state_dict()
    save_file({k: v.half() if v.is_floating_point() else v for k, v in source.items()}, str(tmp_path / "w.safetensors"))
    target = tiny_cnn(1)
    load_pretrained(target, tmp_path / "w.safetensors")
    w = target.state_dict()["blocks.0.conv.weight"]
    assert w.dtype == torch.float32
    assert torch.equal(w, source["blocks.0.conv.weight"].half().float())


def test_prefix_map_takes_the_backbone_out_of_an_mcl_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("small-cnn", image_size=16, widths=(4, 8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3, 16, 16)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "stage1.safetensors", *training_state(model, optimizer))

    target = create_model("small-cnn", image_size=16, widths=(4, 8))
    report = load_pretrained(target.backbone, tmp_path / "stage1.safetensors", prefix_map={"model.backbone.": ""})
    loaded, source = target.backbone.state_dict(), model.backbone.state_dict()
    assert all(torch.equal(loaded[k], source[k]) for k in source)
    assert any(k.startswith("model.head.") for k in report.ignored)
    assert any(k.startswith("optimizer.") for k in report.ignored)


def test_read_state_dict_unwraps_nested_containers(tmp_path: Path) -> None:
    inner = {"module.w": torch.ones(2)}
    torch.save({"model": {"state_dict": inner}, "step": 7}, tmp_path / "w.pt")
    assert list(read_state_dict(tmp_path / "w.pt")) == ["w"]


def test_a_file_holding_a_bare_tensor_is_unreadable(tmp_path: Path) -> None:
    torch.save(torch.ones(3), tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="not a state dict") as e:
        read_state_dict(tmp_path / "w.pt")
    assert e.value.code == "CHECKPOINT_UNREADABLE"


def test_loading_into_a_plain_module_without_hooks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = nn.Linear(3, 2)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    target = nn.Linear(3, 2)
    report = load_pretrained(target, tmp_path / "w.pt")
    assert report.loaded == ["bias", "weight"] and report.ignored == [] and report.notes == []
    assert torch.equal(target.weight, source.weight)


def _truncated(tmp_path: Path, name: str, fraction: float) -> Path:
    whole = tmp_path / f"whole-{name}"
    if name.endswith(".safetensors"):
        save_file(dict(tiny_cnn(0).state_dict()), str(whole))
    else:
        torch.save(tiny_cnn(0).state_dict(), whole)
    data = whole.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


# (file, what the message says it is): each is refused as CHECKPOINT_UNREADABLE naming the file,
# never with a reader's IndexError or KeyError.
NOT_WEIGHTS = {
    "empty": (lambda d: (d / "w.pt").write_bytes(b""), "an empty file (0 bytes)"),
    "random bytes": (lambda d: (d / "w.pt").write_bytes(bytes(range(7, 256)) * 16), "binary data of an unknown format"),
    "text": (lambda d: (d / "w.pt").write_text("hello, these are not weights\n"), "a text file"),
    "text that crashes the unpickler": (lambda d: (d / "w.pt").write_text("a"), "a text file"),
    "a list": (lambda d: torch.save([1, 2, 3], d / "w.pt"), "it holds a list, not a state dict"),
    "a dict without tensors": (lambda d: torch.save({"epoch": 3, "name": "x"}, d / "w.pt"), "epoch (int), name (str)"),
    "an empty dict": (lambda d: torch.save({"state_dict": {}}, d / "w.pt"), "an empty state dict"),
    "a plain pickle": (lambda d: (d / "w.pt").write_bytes(b"\x80\x04\x95" + bytes(20)), "a Python pickle"),
}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's, about the plain pickle
@pytest.mark.parametrize("case", list(NOT_WEIGHTS))
def test_a_file_that_is_not_weights_is_refused_by_what_it_is(tmp_path: Path, case: str) -> None:
    write, what = NOT_WEIGHTS[case]
    write(tmp_path)
    path = tmp_path / "w.pt"
    with pytest.raises(CheckpointError) as e:
        create_model("small-cnn", image_size=16, widths=(4, 8), pretrained=str(path))
    assert e.value.code == "CHECKPOINT_UNREADABLE" and e.value.path == str(path)
    message = str(e.value)
    assert message.startswith(f"cannot read pretrained weights from {path}: ") and what in message, message
    assert "torch.save(model.state_dict(), path)" in message


@pytest.mark.parametrize("name", ["w.pt", "w.safetensors"])
@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_a_truncated_weight_file_is_refused_as_truncated(tmp_path: Path, name: str, fraction: float) -> None:
    path = _truncated(tmp_path, name, fraction)
    with pytest.raises(CheckpointError) as e:
        read_state_dict(path)
    assert e.value.code == "CHECKPOINT_UNREADABLE", str(e.value)
    assert str(path) in str(e.value) and "truncated, damaged or not a weight file" in str(e.value)


def test_a_directory_is_not_a_weight_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory, not a weight file") as e:
        read_state_dict(tmp_path)
    assert e.value.code == "CHECKPOINT_UNREADABLE"


def test_reading_never_unpickles_code(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("unpickled",))

    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(1), "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match=r"refuses it \(.*Unsupported global.*print") as e:
        read_state_dict(path)
    assert e.value.code == "CHECKPOINT_UNREADABLE" and "could run code" in str(e.value)


def test_safetensors_content_under_another_suffix_loads(tmp_path: Path) -> None:
    save_file(dict(tiny_cnn(0).state_dict()), str(tmp_path / "w.bin"))
    assert set(read_state_dict(tmp_path / "w.bin")) == set(tiny_cnn(0).state_dict())
