"""webdataset: datasets read img2dataset's tar shards by sample id: images decoded as folder:
decodes the same files, captions from <key>.txt, an index of member offsets cached per shard and
rebuilt when a shard changes; every bad input an error naming the shard and the key."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image

from mcl_worker.data import (
    BatchLoader, DatasetContentError, DatasetNotFound, DatasetUriError, ImageDecodeError, LoaderOptions, WebDatasetShards,
    open_dataset,
)
from mcl_worker.data import tar_index
from mcl_worker.data.tar_index import INDEX_FOLDER
from oracles import peers

SHAPES = [(40, 30), (16, 16), (20, 50), (64, 64), (9, 12)]
FORMATS = ["JPEG", "PNG", "WEBP", "JPEG", "JPEG"]


def encoded(k: int) -> tuple[str, bytes]:
    w, h = SHAPES[k % len(SHAPES)]
    pixels = np.random.default_rng(k).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    fmt = FORMATS[k % len(FORMATS)]
    Image.fromarray(pixels).save(buffer, format=fmt, quality=90)
    return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt], buffer.getvalue()


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_shards(root: Path, per_shard: int = 3, shards: int = 2, files: Path | None = None) -> list[str]:
    """img2dataset-style shards (<key>.jpg/.png/.webp, <key>.txt, <key>.json); the same images in
    the files layout under `files` when given. Returns the captions in sample order."""
    root.mkdir(parents=True, exist_ok=True)
    captions = []
    for s in range(shards):
        members = []
        for j in range(per_shard):
            key, k = f"{s:05d}{j:04d}", s * per_shard + j
            extension, image = encoded(k)
            caption = f"sample {k}: café"
            members += [(f"{key}.{extension}", image), (f"{key}.txt", caption.encode()), (f"{key}.json", b"{}")]
            captions.append(caption)
            if files is not None:
                (files / f"{s:05d}").mkdir(parents=True, exist_ok=True)
                (files / f"{s:05d}" / f"{key}.{extension}").write_bytes(image)
        write_tar(root / f"{s:05d}.tar", members)
    return captions


def test_reads_samples_by_id_and_decodes_as_folder_does(tmp_path):
    captions = write_shards(tmp_path / "wds", files=tmp_path / "files")
    ds = open_dataset(f"webdataset:{tmp_path / 'wds'}?size=12&workers=2")
    assert isinstance(ds, WebDatasetShards)
    assert len(ds) == 6 and ds.image_shape == (3, 12, 12) and ds.attributes == {} and ds.has_captions
    folder = open_dataset(f"folder:{tmp_path / 'files'}?size=12&workers=1")
    order = torch.tensor([5, 0, 3, 1, 4, 2])
    images = ds.get_images(order)
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 12, 12)
    assert torch.equal(images, folder.get_images(order))
    assert ds.captions([4, 0]) == [captions[4], captions[0]]
    ds.close()


def test_shard_patterns_as_webdataset_writes_them(tmp_path):
    write_shards(tmp_path, shards=3)
    whole = open_dataset(f"webdataset:{tmp_path}?size=8")
    for pattern, rows in [("{00000..00002}.tar", range(9)), ("{00002,00000}.tar", [6, 7, 8, 0, 1, 2]),
                          ("0000[01].tar", range(6)), ("*.tar", range(9)), ("00001.tar", [3, 4, 5])]:
        ds = open_dataset(f"webdataset:{tmp_path / pattern}?size=8")
        assert torch.equal(ds.get_images(range(len(ds))), whole.get_images(list(rows))), pattern
    with pytest.raises(DatasetNotFound, match=r"the shard .*00003.tar does not exist"):
        open_dataset(f"webdataset:{tmp_path}/{{00000..00003}}.tar")
    with pytest.raises(DatasetNotFound, match="matches no file"):
        open_dataset(f"webdataset:{tmp_path}/*.tgz")
    with pytest.raises(DatasetUriError, match="counts down"):
        open_dataset(f"webdataset:{tmp_path}/{{00002..00000}}.tar")
    with pytest.raises(DatasetUriError, match="neither a range"):
        open_dataset(f"webdataset:{tmp_path}/{{abc}}.tar")


def test_reads_what_img2datasets_webdataset_writer_writes(tmp_path):
    writer_module = peers.img2dataset_writer()
    schema = pa.schema([pa.field("key", pa.string()), pa.field("caption", pa.string()), pa.field("status", pa.string())])
    expected, files = [], tmp_path / "files"
    for shard in range(2):
        writer = writer_module.WebDatasetSampleWriter(shard, str(tmp_path), True, 5, schema, "jpg")
        for j, caption in enumerate(["a red square", "", "二つの青い円 🙂"]):
            key = f"{shard:05d}{j:04d}"
            image = encoded(3 * shard + j)[1] if j != 1 else encoded(0)[1]
            writer.write(image, key, caption, {"key": key, "caption": caption, "status": "success"})
            expected.append(caption)
            files.mkdir(exist_ok=True)
            (files / f"{key}.jpg").write_bytes(image)
        writer.close()
    assert sorted(p.name for p in tmp_path.glob("0*")) == ["00000.parquet", "00000.tar", "00001.parquet", "00001.tar"]
    ds = open_dataset(f"webdataset:{tmp_path}?size=8&workers=1")
    assert ds.captions(range(len(ds))) == expected
    folder = open_dataset(f"folder:{files}?size=8&workers=1")
    assert torch.equal(ds.get_images(range(len(ds))), folder.get_images(range(len(folder))))


def test_the_index_is_cached_beside_the_shards_and_rebuilt_when_a_shard_changes(tmp_path, monkeypatch, caplog):
    write_shards(tmp_path)
    caplog.set_level("INFO", logger="mcl_worker.data.webdataset")
    open_dataset(f"webdataset:{tmp_path}")
    assert "webdataset: indexed 2 of 2 shards in" in caplog.text
    assert sorted(p.name for p in (tmp_path / INDEX_FOLDER).iterdir()) == ["00000.tar.npz", "00001.tar.npz"]

    built = []
    real_build = tar_index.build_index
    monkeypatch.setattr(tar_index, "build_index", lambda shard, size: built.append(shard.name) or real_build(shard, size))
    assert len(open_dataset(f"webdataset:{tmp_path}")) == 6 and built == []  # both from the cache
    extension, image = encoded(7)
    write_tar(tmp_path / "00001.tar", [(f"000010000.{extension}", image), ("000010000.txt", b"new")])
    ds = open_dataset(f"webdataset:{tmp_path}?size=8")
    assert built == ["00001.tar"] and len(ds) == 4 and ds.captions([3]) == ["new"]


def test_the_index_goes_to_the_cache_folder_when_the_shard_folder_takes_no_files(tmp_path, monkeypatch):
    shards, cache = tmp_path / "shards", tmp_path / "cache"
    write_shards(shards)
    (shards / INDEX_FOLDER).write_text("a file where the index folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert len(open_dataset(f"webdataset:{shards}")) == 6
    cached = sorted(p.name for p in cache.glob("mcl/webdataset-index/*/*"))
    assert cached == ["00000.tar.npz", "00001.tar.npz"]
    built = []
    monkeypatch.setattr(tar_index, "build_index", lambda shard, size: built.append(shard))
    assert len(open_dataset(f"webdataset:{shards}")) == 6 and built == []


def test_a_sample_without_a_caption_is_an_error_only_when_its_caption_is_read(tmp_path, caplog):
    extension, image = encoded(0)
    write_tar(tmp_path / "00000.tar", [
        (f"a.{extension}", image), ("a.txt", b"first"), (f"b.{extension}", image), ("b.json", b"{}"),
    ])
    ds = open_dataset(f"webdataset:{tmp_path}?size=8")
    assert ds.has_captions and ds.captions([0]) == ["first"]
    assert ds.get_images([1]).shape == (1, 3, 8, 8)
    assert "1 of 2 samples have no caption (.txt), e.g." in caplog.text and "'b'" in caplog.text
    with pytest.raises(DatasetContentError) as err:
        ds.captions([0, 1])
    assert str(err.value) == (f"uri: {tmp_path / '00000.tar'}: sample 1 (key 'b') has no caption (b.txt), which a CLIP"
                              " run needs; add one to the shard or leave the sample out")


def test_shards_without_captions_have_none(tmp_path):
    extension, image = encoded(0)
    write_tar(tmp_path / "00000.tar", [(f"a.{extension}", image), ("a.json", b"{}")])
    ds = open_dataset(f"webdataset:{tmp_path}")
    assert ds.has_captions is False and ds.captions([0]) is None


def test_a_corrupt_member_names_the_shard_and_the_key(tmp_path):
    _, image = encoded(0)
    write_tar(tmp_path / "00000.tar", [("a.jpg", image), ("b.jpg", b"not a jpeg"), ("c.txt", b"caption only")])
    ds = open_dataset(f"webdataset:{tmp_path}?size=8")
    assert len(ds) == 2  # c has no image
    with pytest.raises(ImageDecodeError) as err:
        ds.get_images([0, 1])
    assert str(err.value).startswith(f"dataset: {tmp_path / '00000.tar'}: cannot decode the image of sample 1 (key 'b')")
    assert err.value.details["key"] == "b" and err.value.details["index"] == 1


def test_a_truncated_shard_is_refused_naming_it(tmp_path):
    write_shards(tmp_path, shards=1)
    shard = tmp_path / "00000.tar"
    whole = shard.read_bytes()
    with tarfile.open(shard) as tar:
        members = tar.getmembers()
    for cut, message in [
        (members[3].offset_data + 10, "cannot read it as a tar archive"),  # inside a member's data
        (members[3].offset, "without an end-of-archive block (it is truncated or damaged after sample '000000000')"),
        (members[3].offset + 100, "without an end-of-archive block"),  # inside a header
        (0, "cannot read it as a tar archive"),
    ]:
        shard.write_bytes(whole[:cut])
        with pytest.raises(DatasetContentError) as err:
            open_dataset(f"webdataset:{tmp_path}")
        assert str(err.value).startswith(f"uri: {shard}: ") and message in str(err.value), cut


def test_a_shard_cut_short_after_the_open_names_it(tmp_path):
    write_shards(tmp_path, shards=1)
    ds = open_dataset(f"webdataset:{tmp_path}?size=8")
    shard = tmp_path / "00000.tar"
    shard.write_bytes(shard.read_bytes()[:1024])
    with pytest.raises(ImageDecodeError, match=r"00000.tar is shorter than when the dataset was opened \(sample 2, key '000000002'\)"):
        ds.get_images([2])


def test_bad_folders_and_samples(tmp_path):
    with pytest.raises(DatasetContentError, match="holds no .tar shards"):
        open_dataset(f"webdataset:{tmp_path}")
    write_tar(tmp_path / "00000.tar", [("a.json", b"{}")])
    with pytest.raises(DatasetContentError, match="hold no images"):
        open_dataset(f"webdataset:{tmp_path}")
    _, image = encoded(0)
    write_tar(tmp_path / "00000.tar", [("a.jpg", image), ("a.png", image)])
    with pytest.raises(DatasetContentError, match="sample 'a' has two images \\(the second is 'a.png'\\)"):
        open_dataset(f"webdataset:{tmp_path}")
    with pytest.raises(DatasetNotFound, match="needs a folder of .tar shards or a shard pattern"):
        open_dataset("webdataset:")


def test_loader_processes_read_the_same_images(tmp_path):
    write_shards(tmp_path, per_shard=4)
    ds = open_dataset(f"webdataset:{tmp_path}?size=8")
    batches = [torch.tensor([7, 0, 3]), torch.tensor([5, 6]), torch.tensor([1, 2, 4])]
    in_process = list(BatchLoader(ds.get_images, batches, LoaderOptions(0)))
    with_loader = list(BatchLoader(ds.get_images, batches, LoaderOptions(1)))
    assert len(with_loader) == 3 and all(torch.equal(a, b) for a, b in zip(in_process, with_loader))
