"""save_checkpoint / load_checkpoint: round trips, atomicity, and refusing bad input."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from mcl_worker import checkpoint
from mcl_worker.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def sample_tensors() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "w": torch.randn(3, 4),
        "half": torch.randn(5).half(),
        "bf16": torch.randn(2, 2).bfloat16(),
        "count": torch.tensor(7),
        "mask": torch.tensor([1, 0, 1], dtype=torch.uint8),
        "empty": torch.zeros(0, 3),
    }


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k]), k


def test_round_trip_keeps_values_dtypes_and_metadata(tmp_path: Path) -> None:
    tensors = sample_tensors()
    path = save_checkpoint(tmp_path / "c.safetensors", tensors, {"stage": "2", "note": "é"})
    loaded, metadata = load_checkpoint(path)
    assert_same(loaded, tensors)
    assert metadata == {"stage": "2", "note": "é"}


def test_parent_folders_are_created_and_no_temporary_file_remains(tmp_path: Path) -> None:
    path = tmp_path / "run" / "stage-1" / "c.safetensors"
    save_checkpoint(path, {"w": torch.ones(2)})
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.safetensors"]


def test_overwrite_replaces_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.ones(2)})
    save_checkpoint(path, {"w": torch.full((3,), 2.0)}, {"epoch": "2"})
    loaded, metadata = load_checkpoint(path)
    assert torch.equal(loaded["w"], torch.full((3,), 2.0)) and metadata == {"epoch": "2"}


def test_tensors_sharing_memory_and_views_are_saved_independently(tmp_path: Path) -> None:
    base = torch.arange(12.0)
    tensors = {"a": base, "tied": base, "view": base[2:5], "strided": base.reshape(3, 4).T}
    save_checkpoint(tmp_path / "c.safetensors", tensors)
    loaded, _ = load_checkpoint(tmp_path / "c.safetensors")
    assert_same(loaded, {k: v.contiguous() for k, v in tensors.items()})


def test_tensors_with_gradients_are_saved_detached(tmp_path: Path) -> None:
    p = torch.nn.Parameter(torch.ones(2))
    save_checkpoint(tmp_path / "c.safetensors", {"p": p * 2})
    loaded, _ = load_checkpoint(tmp_path / "c.safetensors")
    assert not loaded["p"].requires_grad and torch.equal(loaded["p"], torch.full((2,), 2.0))


# --- the previous checkpoint survives ----------------------------------------------------


def good_checkpoint(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample_tensors(), {"epoch": "1"})
    return path, path.read_bytes()


def test_a_crash_while_writing_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = good_checkpoint(tmp_path)

    def write_half_then_crash(tensors: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(before[: len(before) // 2])
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(checkpoint, "save_file", write_half_then_crash)
    with pytest.raises(CheckpointError, match="Input/output error") as caught:
        save_checkpoint(path, {"w": torch.zeros(100)}, {"epoch": "2"})
    assert caught.value.code == "CHECKPOINT_WRITE_FAILED" and str(path) in caught.value.message
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # the partial file is gone
    assert load_checkpoint(path)[1] == {"epoch": "1"}


def test_a_crash_at_the_rename_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = good_checkpoint(tmp_path)

    def interrupted(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": torch.zeros(100)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_non_finite_tensors_are_refused_and_the_last_good_checkpoint_survives(tmp_path: Path) -> None:
    path, before = good_checkpoint(tmp_path)
    diverged = sample_tensors()
    diverged["w"][1, 2] = float("nan")
    diverged["half"][0] = float("inf")
    with pytest.raises(CheckpointError) as e:
        save_checkpoint(path, diverged, {"epoch": "2"})
    assert e.value.code == "NON_FINITE_TENSOR"
    assert "2 tensor(s)" in str(e.value) and "w" in str(e.value) and "half" in str(e.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_non_finite_tensors_can_be_saved_on_purpose(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.safetensors", {"w": torch.tensor([float("nan")])}, require_finite=False)
    assert torch.isnan(load_checkpoint(tmp_path / "c.safetensors")[0]["w"]).all()


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tensors", "metadata", "named"),
    [
        ({"w": torch.ones(1)}, {"epoch": 3}, "'epoch'"),
        ({"w": [1.0, 2.0]}, None, "'w'"),
        ({"": torch.ones(1)}, None, "''"),
    ],
)
def test_invalid_input_is_refused_before_writing(
    tmp_path: Path, tensors: dict[str, object], metadata: dict[str, object] | None, named: str
) -> None:
    with pytest.raises(CheckpointError) as e:
        save_checkpoint(tmp_path / "c.safetensors", tensors, metadata)  # type: ignore[arg-type]
    assert e.value.code == "CHECKPOINT_INVALID" and named in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "none.safetensors")
    assert e.value.code == "CHECKPOINT_NOT_FOUND" and str(tmp_path / "none.safetensors") in str(e.value)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.95])
def test_truncated_file_is_unreadable(tmp_path: Path, keep: float) -> None:
    path, before = good_checkpoint(tmp_path)
    path.write_bytes(before[: int(len(before) * keep)])
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert e.value.code == "CHECKPOINT_UNREADABLE" and str(path) in str(e.value)


def test_garbage_file_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "c.safetensors").write_bytes(b"PK\x03\x04 this is a zip, not safetensors" * 4)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "c.safetensors")
    assert e.value.code == "CHECKPOINT_UNREADABLE"
