"""model.create with `pretrained` naming a file that is not a weight file: INVALID_BODY with
details.path "pretrained", a message naming the file and what it is, never a reader's own error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .conftest import Peer


def _truncated_checkpoint(path: Path) -> None:
    torch.save({"w": torch.zeros(256)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CASES = {
    "empty": (lambda p: p.write_bytes(b""), "an empty file"),
    "random bytes": (lambda p: p.write_bytes(bytes(range(1, 256)) * 8), "binary data"),
    "text": (lambda p: p.write_text("hello\n"), "a text file"),
    "a list": (lambda p: torch.save([1, 2], p), "holds a list"),
    "a dict without tensors": (lambda p: torch.save({"epoch": 1}, p), "not tensors: epoch (int)"),
    "truncated": (_truncated_checkpoint, "truncated"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_model_create_names_pretrained_and_the_file(peer: Peer, tmp_path: Path, case: str) -> None:
    write, what = CASES[case]
    path = tmp_path / "weights.pt"
    write(path)
    body = {"arch": "small-cnn", "image_size": 16, "seed": 0, "pretrained": str(path)}
    error = peer.fail("model.create", body, "INVALID_BODY", "pretrained")
    assert error["details"]["reason"] == "CHECKPOINT_UNREADABLE"
    assert error["message"].startswith(f"pretrained: cannot read pretrained weights from {path}: ")
    assert what in error["message"], error["message"]
    for leaked in ("IndexError", "KeyError", "list index out of range"):
        assert leaked not in error["message"]
