"""`folder:` datasets read what img2dataset writes: its "files" output, written here by
img2dataset's own FilesSampleWriter (shards of images with a .txt caption and a .json of
metadata beside each, and a .parquet per shard), opened by URI as a run opens it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from mcl_worker.data import open_dataset
from oracles import peers

SIZE = 16
CAPTIONS = [
    "a red square on grass",
    "Don’t panic: café crème, naïve façade",
    "",  # img2dataset writes an empty caption as an empty file
    "二つの青い円 🙂",
    "line one\nline two",
]
SCHEMA = pa.schema([pa.field("key", pa.string()), pa.field("caption", pa.string()), pa.field("status", pa.string())])


def encoded_image(seed: int, fmt: str) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def write_shards(root: Path, fmt: str) -> list[tuple[bytes, str]]:
    """Two shards as img2dataset writes them; the samples in the order their keys sort."""
    writer_module: Any = peers.img2dataset_writer()
    samples = []
    for shard in range(2):
        writer = writer_module.FilesSampleWriter(
            shard, str(root), True, 5, SCHEMA, "jpg" if fmt == "JPEG" else "png"
        )
        for j, caption in enumerate(CAPTIONS):
            key = f"{shard:05d}{j:04d}"  # img2dataset's keys: shard id, then the sample's place in it
            image = encoded_image(10 * shard + j, fmt)
            writer.write(image, key, caption, {"key": key, "caption": caption, "status": "success"})
            samples.append((image, caption))
        writer.close()
    return samples


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_folder_dataset_reads_img2dataset_files_output(tmp_path: Path, fmt: str) -> None:
    samples = write_shards(tmp_path, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000", "00000.parquet", "00001", "00001.parquet"]

    dataset = open_dataset(f"folder:{tmp_path}?size={SIZE}&workers=1")
    assert len(dataset) == len(samples)
    assert dataset.has_captions
    everything = np.arange(len(samples))
    assert dataset.captions(everything) == [caption for _, caption in samples]
    images = dataset.get_images(everything)
    for row, (encoded, _) in enumerate(samples):
        expected = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))  # already SIZE x SIZE: no resize
        assert np.array_equal(images[row].permute(1, 2, 0).numpy(), expected), f"sample {row}"
