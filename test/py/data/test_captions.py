"""Captions that are not text: refused naming the file (and the array) at fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcl_worker.data import DatasetContentError, open_dataset


def caption_folder(root: Path, captions: list[bytes]) -> list[Path]:
    """One shard of tiny images, each with its caption file holding the given bytes."""
    shard = root / "00000"
    shard.mkdir()
    files = []
    for i, caption in enumerate(captions):
        Image.new("RGB", (4, 4), (i * 40, 0, 0)).save(shard / f"{i:09d}.png")
        files.append(shard / f"{i:09d}.txt")
        files[-1].write_bytes(caption)
    return files


def test_a_folder_caption_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    files = caption_folder(tmp_path, [b"a red cat\n", "caf\u00e9 au lait".encode("latin-1"), b"a dog"])
    dataset = open_dataset(f"folder:{tmp_path}?size=8")  # captions are read when asked for
    assert dataset.captions([0, 2]) == ["a red cat", "a dog"]
    with pytest.raises(DatasetContentError) as error:
        dataset.captions([0, 1])
    message = str(error.value)
    assert str(files[1]) in message and "not UTF-8" in message and "byte 3 is 0xe9" in message
    assert error.value.details["file"] == str(files[1]) and error.value.field == "uri"


def test_a_folder_caption_that_vanished_is_refused_naming_the_file(tmp_path: Path) -> None:
    files = caption_folder(tmp_path, [b"a red cat", b"a dog"])
    dataset = open_dataset(f"folder:{tmp_path}?size=8")
    files[1].unlink()
    with pytest.raises(DatasetContentError, match=f"{files[1]}: cannot read the caption file"):
        dataset.captions([1])


def test_folder_captions_drop_a_byte_order_mark_and_read_line_ends_as_newlines(tmp_path: Path) -> None:
    caption_folder(tmp_path, ["\ufeffcaf\u00e9\r\nau lait\r".encode(), b"two\rlines\n"])
    assert open_dataset(f"folder:{tmp_path}?size=8").captions([0, 1]) == ["caf\u00e9\nau lait", "two\nlines"]


def images() -> np.ndarray:
    return np.zeros((3, 4, 4, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("captions", "fragment"),
    [
        (np.arange(3), "must be a unicode array of shape (3,), got dtype int64"),
        (np.array([0.5, 1.0, 2.0]), "got dtype float64"),
        (np.array([b"a", b"b", b"c"]), "np.char.decode(captions, 'utf-8')"),
        (np.array([["a", "b", "c"]]), "shape (1, 3)"),
        (np.array(["a", 3, None], dtype=object), "cannot be read without pickle"),
        (np.array([b"a", "b", 1.5], dtype=object), "cannot be read without pickle"),
    ],
)
def test_npz_captions_that_are_not_strings_are_refused_when_the_dataset_opens(
    tmp_path: Path, captions: np.ndarray, fragment: str
) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, images=images(), captions=captions)
    with pytest.raises(DatasetContentError) as error:
        open_dataset(f"npz:{path}")
    message = str(error.value)
    assert str(path) in message and "'captions'" in message and fragment in message
    assert error.value.details["file"] == str(path) and error.value.details["array"] == "captions"
