"""A checkpoint that cannot be written (a full disk, an I/O error) is refused naming the file,
keeping the previous checkpoint and leaving no temporary file."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

from mcl_worker import checkpoint
from mcl_worker.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def previous(folder: Path) -> tuple[Path, bytes]:
    path = folder / "checkpoints" / "stage-1-epoch-1.safetensors"
    save_checkpoint(path, {"w": torch.ones(4)}, {"epoch": "1"})
    return path, path.read_bytes()


def expect_kept(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        # What safetensors' writer raises: Rust's text, with the errno only inside it.
        SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
    ],
    ids=["ENOSPC", "EDQUOT", "safetensors"],
)
def test_a_full_disk_is_disk_full_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    path, before = previous(tmp_path)

    def write_then_fail(tensors: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise failure

    monkeypatch.setattr(checkpoint, "save_file", write_then_fail)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, {"w": torch.zeros(4)}, {"epoch": "2"})
    assert caught.value.code == "DISK_FULL"
    assert caught.value.path == str(path)
    assert str(path) in caught.value.message and "disk is full" in caught.value.message
    expect_kept(path, before)


def test_a_temporary_file_that_cannot_be_made_is_disk_full_naming_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = previous(tmp_path)

    def no_room(**_: object) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", no_room)
    with pytest.raises(CheckpointError, match="disk is full") as caught:
        save_checkpoint(path, {"w": torch.zeros(4)})
    assert caught.value.code == "DISK_FULL" and str(path) in caught.value.message
    expect_kept(path, before)


def test_other_errors_are_not_taken_for_a_write_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, before = previous(tmp_path)

    def broken(tensors: object, filename: str, metadata: object = None) -> None:
        raise ValueError("not an I/O problem")

    monkeypatch.setattr(checkpoint, "save_file", broken)
    with pytest.raises(ValueError, match="not an I/O problem"):
        save_checkpoint(path, {"w": torch.zeros(4)})
    expect_kept(path, before)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs; skipped where this process cannot mount one (not root, no mount(8))."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def test_a_real_full_disk_is_disk_full_and_keeps_the_previous_checkpoint(tiny_disk: Path) -> None:
    path, before = previous(tiny_disk)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, {"w": torch.zeros(256, 1024)}, {"epoch": "2"})  # 1 MiB on 64 KiB
    assert caught.value.code == "DISK_FULL" and str(path) in caught.value.message
    expect_kept(path, before)
    assert load_checkpoint(path)[1] == {"epoch": "1"}
