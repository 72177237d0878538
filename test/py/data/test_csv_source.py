"""csv: datasets as open_clip reads them: image path and caption columns, a separator, paths
relative to the file, label columns as attributes; images decoded as folder: decodes the same
files; every bad input an error naming the file, the row or the column."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mcl_worker.data import CsvDataset, DatasetContentError, DatasetNotFound, DatasetUriError, ImageDecodeError, open_dataset

ROWS = [  # file name, size, colour, shape, caption
    ("000000000.jpg", (40, 30), "red", "10", "a red thing"),
    ("000000001.png", (16, 16), "blue", "2", "a blue thing, with a comma"),
    ("000000002.webp", (20, 50), "red", "2", ""),
    ("000000003.jpg", (64, 64), "green", "10", "line one\nline two"),
]


def write_images(folder: Path) -> list[str]:
    """Noise images of assorted sizes and formats, as in a folder: layout (one shard, the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (w, h), *_ in ROWS:
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name, quality=90)
    return [name for name, *_ in ROWS]


def write_csv(path: Path, lines: list[list[str]], sep: str = "\t") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=sep).writerows(lines)
    return path


def standard_csv(tmp_path: Path, sep: str = "\t") -> Path:
    names = write_images(tmp_path / "images")
    lines = [["filepath", "title", "colour", "shape"]]
    for name, (_, _, colour, shape, caption) in zip(names, ROWS):
        lines.append([f"images/{name}", caption, colour, shape])
    lines[2][0] = str(tmp_path / "images" / names[1])  # an absolute path reads as it is
    return write_csv(tmp_path / "train.csv", lines, sep)


def test_reads_paths_captions_and_labels_and_decodes_as_folder_does(tmp_path):
    path = standard_csv(tmp_path)
    ds = open_dataset(f"csv:{path}?size=12&labels=colour,shape&workers=2")
    assert isinstance(ds, CsvDataset)
    assert len(ds) == 4 and ds.image_shape == (3, 12, 12) and ds.has_captions
    assert ds.captions([3, 0, 1, 2]) == [ROWS[3][4], ROWS[0][4], ROWS[1][4], ""]
    colour, shape = ds.attributes["colour"], ds.attributes["shape"]
    assert colour.class_names == ("blue", "green", "red") and colour.labels.tolist() == [2, 0, 2, 1]
    assert shape.class_names == ("2", "10") and shape.labels.tolist() == [1, 0, 0, 1]  # integers sort as numbers
    folder = open_dataset(f"folder:{tmp_path / 'images'}?size=12&workers=1")
    order = torch.tensor([2, 0, 3, 1])
    images = ds.get_images(order)
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 12, 12)
    assert torch.equal(images, folder.get_images(order))
    assert ds.describe()["attributes"][0] == {"name": "colour", "num_classes": 3, "class_names": ["blue", "green", "red"]}
    ds.close()


def test_a_copy_for_a_loader_process_decodes_the_same_images_and_leaves_the_captions(tmp_path):
    ds = open_dataset(f"csv:{standard_csv(tmp_path)}?size=8")
    copy = pickle.loads(pickle.dumps(ds))
    assert torch.equal(copy.get_images([0, 3]), ds.get_images([0, 3]))
    assert "a red thing" not in pickle.dumps(ds).decode("latin-1")
    assert ds.captions([0]) == ["a red thing"]


def test_separator_and_column_names_follow_open_clips_flags(tmp_path):
    names = write_images(tmp_path)
    lines = [["image", "text"], *([name, f"caption {k}"] for k, name in enumerate(names))]
    comma = write_csv(tmp_path / "comma.csv", lines, sep=",")
    ds = open_dataset(f"csv:{comma}?sep=%2C&img_key=image&caption_key=text&size=8")
    assert ds.captions([1]) == ["caption 1"]
    tab = write_csv(tmp_path / "tab.tsv", lines)
    assert open_dataset(f"csv:{tab}?sep=\\t&img_key=image&caption_key=text").captions([2]) == ["caption 2"]
    with pytest.raises(DatasetUriError, match="'sep' of csv:<file> must be one character, got '::'"):
        open_dataset(f"csv:{tab}?sep=::")


def test_without_the_default_caption_column_there_are_no_captions(tmp_path):
    names = write_images(tmp_path)
    path = write_csv(tmp_path / "images.csv", [["filepath"], *([name] for name in names)])
    ds = open_dataset(f"csv:{path}?size=8")
    assert ds.has_captions is False and ds.captions([0]) is None and ds.attributes == {}


@pytest.mark.parametrize(
    "query, column, param",
    [("caption_key=caption", "caption", "caption_key"), ("img_key=url", "url", "img_key"), ("labels=colour,size", "size", "labels")],
)
def test_a_missing_column_names_it_the_file_and_the_columns_it_has(tmp_path, query, column, param):
    path = standard_csv(tmp_path)
    with pytest.raises(DatasetContentError) as err:
        open_dataset(f"csv:{path}?{query}")
    assert str(err.value) == (
        f"uri: {path}: no column {column!r} ({param}); the file's columns are 'filepath', 'title', 'colour', 'shape'"
    )
    assert err.value.code == "INVALID_BODY" and err.value.details == {"path": "uri", "scheme": "csv", "file": str(path), "column": column}


def test_a_header_read_as_one_column_suggests_the_separator(tmp_path):
    path = standard_csv(tmp_path, sep=",")
    with pytest.raises(DatasetContentError, match=r"no column 'filepath' .*is the separator ',' \(sep=%2C\)\?"):
        open_dataset(f"csv:{path}")


def test_an_image_that_does_not_exist_names_the_row_and_the_path(tmp_path):
    path = standard_csv(tmp_path)
    (tmp_path / "images" / "000000003.jpg").unlink()
    with pytest.raises(DatasetNotFound) as err:
        open_dataset(f"csv:{path}")
    assert f"{path}, row 4 (line 5): the image path 'images/000000003.jpg' does not exist" in str(err.value)
    assert str(tmp_path / "images" / "000000003.jpg") in str(err.value)  # where it was looked for
    assert err.value.details["row"] == 4


def test_an_empty_image_path_names_the_row(tmp_path):
    names = write_images(tmp_path)
    path = write_csv(tmp_path / "x.csv", [["filepath"], [names[0]], [""]])
    with pytest.raises(DatasetNotFound, match=r"row 2 \(line 3\): the image path '' is empty"):
        open_dataset(f"csv:{path}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty; its first line must name the columns, such as filepath and title"),
        ("filepath\ttitle\n", "the file has a header but no rows"),
        ("filepath\ttitle\nimages/000000000.jpg\n", "row 1 (line 2) has 1 fields but the header has 2"),
        (b"filepath\ttitle\nimages/000000000.jpg\tcaf\xe9\n", "the file is not UTF-8 text"),
        ("filepath\ttitle\tcolour\nimages/000000000.jpg\tx\t\n", "row 1 (line 2): the label column 'colour' is empty"),
    ],
)
def test_bad_files_name_the_file_and_the_row(tmp_path, text, message):
    write_images(tmp_path / "images")
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DatasetContentError) as err:
        open_dataset(f"csv:{path}?labels=colour" if "colour" in str(text) else f"csv:{path}")
    assert str(err.value).startswith(f"uri: {path}: {message}")


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(DatasetNotFound, match="does not exist"):
        open_dataset(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(DatasetNotFound, match="is a directory, not a CSV file"):
        open_dataset(f"csv:{tmp_path}")


def test_a_corrupt_image_names_the_file_and_the_row(tmp_path):
    path = standard_csv(tmp_path)
    (tmp_path / "images" / "000000002.webp").write_bytes(b"not a webp")
    ds = open_dataset(f"csv:{path}?size=8")
    with pytest.raises(ImageDecodeError) as err:
        ds.get_images([0, 2])
    assert f"000000002.webp: cannot decode the image of sample 2 (row 3 of {path})" in str(err.value)
    assert err.value.details["index"] == 2
