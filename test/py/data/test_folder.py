import numpy as np
import pytest
import torch
from PIL import Image

from mcl_worker.data import DatasetContentError, DatasetNotFound, FolderDataset, open_dataset

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (10, 10, 10)]


def write_layout(root, captions=True):
    """Two img2dataset shards of solid-colour images of assorted sizes and formats."""
    files = [("00000", "000000000.jpg", (40, 30)), ("00000", "000000001.png", (16, 16)),
             ("00001", "000010000.webp", (20, 50)), ("00001", "000010001.jpg", (64, 64)),
             ("00001", "000010002.jpeg", (9, 12))]
    for (shard, name, size), colour in zip(files, COLOURS):
        (root / shard).mkdir(exist_ok=True)
        Image.new("RGB", size, colour).save(root / shard / name, quality=95)
        if captions:
            (root / shard / name).with_suffix(".txt").write_text(f"colour {colour}\n")
        (root / shard / name).with_suffix(".json").write_text("{}")  # img2dataset metadata


def test_index_order_decode_and_captions(tmp_path):
    write_layout(tmp_path)
    ds = open_dataset(f"folder:{tmp_path}?size=8&workers=2")
    assert isinstance(ds, FolderDataset)
    assert len(ds) == 5 and ds.image_shape == (3, 8, 8) and ds.attributes == {}
    batch = ds.get_images(torch.tensor([4, 0, 2]))
    assert batch.dtype == torch.uint8 and batch.shape == (3, 3, 8, 8)
    for image, k in zip(batch, [4, 0, 2]):
        mean = image.float().mean(dim=(1, 2)).numpy()
        assert np.abs(mean - np.array(COLOURS[k])).max() < 8  # lossy codecs
    assert ds.captions([1, 3]) == [f"colour {COLOURS[1]}", f"colour {COLOURS[3]}"]
    assert ds.describe()["has_captions"] is True
    single = open_dataset(f"folder:{tmp_path}?size=8&workers=1")
    assert torch.equal(single.get_images([4, 0, 2]), batch)
    ds.close()


def test_images_without_captions(tmp_path):
    write_layout(tmp_path, captions=False)
    ds = open_dataset(f"folder:{tmp_path}?size=8")
    assert ds.captions([0]) is None and ds.has_captions is False


def test_partial_captions_are_refused_naming_a_file(tmp_path):
    write_layout(tmp_path)
    (tmp_path / "00001" / "000010001.txt").unlink()
    with pytest.raises(DatasetContentError, match=r"1 of 5 images have no caption.*000010001.jpg"):
        open_dataset(f"folder:{tmp_path}")


def test_a_corrupt_image_names_the_file(tmp_path):
    write_layout(tmp_path, captions=False)
    (tmp_path / "00000" / "000000001.png").write_bytes(b"not a png")
    ds = open_dataset(f"folder:{tmp_path}?size=8")
    assert ds.get_images([0]).shape == (1, 3, 8, 8)  # the index never decodes
    with pytest.raises(DatasetContentError, match="000000001.png: cannot decode"):
        ds.get_images([0, 1])


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(DatasetContentError, match="holds no images"):
        open_dataset(f"folder:{tmp_path}")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetNotFound, match="is a file"):
        open_dataset(f"folder:{tmp_path / 'file.txt'}")
