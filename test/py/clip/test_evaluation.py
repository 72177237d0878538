"""The pieces of the CLIP evaluations: the MMVP pair rule, synthetic pairs, MMVP-VLM files,
and which attributes a dataset's captions name."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mcl_worker.data import open_dataset
from mcl_worker.errors import InvalidArgument
from mcl_worker.evaluation.pairs import MMVP_IMAGES, pair_hits, read_mmvp_vlm, synthetic_pairs
from mcl_worker.evaluation.zero_shot import class_prompts, determined_by_captions


def test_a_pair_counts_only_when_both_images_pick_their_own_statement() -> None:
    e = torch.eye(3)
    text_a, text_b = e[[0, 0, 0, 0]], e[[1, 1, 1, 1]]
    image_a = torch.stack([e[0], e[0], e[1], e[0]])
    image_b = torch.stack([e[1], e[0], e[1], (e[0] + e[1]) / 2])  # right, both a, swapped pair's a, a tie
    assert pair_hits(image_a, image_b, text_a, text_b).tolist() == [True, False, False, False]


def test_synthetic_pairs_differ_in_their_category_only() -> None:
    ds = open_dataset("synthetic:trifeature?n=300&size=16&seed=2")
    captions = ds.captions(np.arange(len(ds)))
    assert captions is not None
    named = determined_by_captions(ds, captions)
    assert named == ["shape", "color", "texture"]  # the background is in no caption
    pairs, empty = synthetic_pairs(ds, captions, named, per_category=15, seed=0)
    assert empty == [] and pairs.category == ["shape"] * 15 + ["color"] * 15 + ["texture"] * 15
    for i, j, category in zip(pairs.first, pairs.second, pairs.category):
        differ = [a for a in named if ds.attributes[a].labels[i] != ds.attributes[a].labels[j]]
        assert differ == [category] and captions[i] != captions[j]
    assert len({(i, j) for i, j in zip(pairs.first, pairs.second)}) == 45
    again, _ = synthetic_pairs(ds, captions, named, per_category=15, seed=0)
    assert np.array_equal(again.first, pairs.first) and np.array_equal(again.second, pairs.second)


def test_class_prompts_gather_each_class_s_captions_or_fall_back_to_the_template() -> None:
    ds = open_dataset("synthetic:trifeature?n=200&size=16&seed=1")
    captions = ds.captions(np.arange(len(ds)))
    shape = ds.attributes["shape"]
    prompts = class_prompts(shape, captions, "a photo of a {}.")
    assert all(p and all(text.endswith(" " + shape.class_names[k]) for text in p) for k, p in enumerate(prompts))
    assert class_prompts(ds.attributes["background"], None, "a photo of a {}.")[3] == ["a photo of a background 3."]


def write_mmvp(root: Path, rows: list[tuple[int, str, str]]) -> Path:
    with (root / "Questions.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Question ID", "Type", "Statement"])
        writer.writerows(rows)
    for qid, kind, _ in rows:
        folder = root / MMVP_IMAGES / kind
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), (qid * 40 % 256, 0, 0)).save(folder / f"{qid}.jpg")
    return root


def test_mmvp_vlm_is_read_from_its_release_layout(tmp_path: Path) -> None:
    rows = [(1, "Orientation and Direction", "the arrow points up"), (2, "Orientation and Direction", "the arrow points down"),
            (3, "Color and Appearance", "the car is red"), (4, "Color and Appearance", "the car is blue")]
    bench = read_mmvp_vlm(write_mmvp(tmp_path, rows), image_size=16)
    assert bench.images.shape == (4, 3, 16, 16) and bench.images.dtype == torch.uint8
    assert bench.statements[0] == "a photo of the arrow points up"
    assert bench.pairs.category == ["Orientation and Direction", "Color and Appearance"]
    assert bench.pairs.first.tolist() == [0, 2] and bench.pairs.second.tolist() == [1, 3]


def test_mmvp_vlm_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="Questions.csv does not exist"):
        read_mmvp_vlm(tmp_path, 16)
    write_mmvp(tmp_path, [(1, "Texts", "a"), (2, "Texts", "b"), (3, "Texts", "c")])
    with pytest.raises(InvalidArgument, match="even number of rows"):
        read_mmvp_vlm(tmp_path, 16)
    (tmp_path / "Questions.csv").write_text("id,Type,Statement\n1,Texts,a\n2,Texts,b\n")
    with pytest.raises(InvalidArgument, match="missing column"):
        read_mmvp_vlm(tmp_path, 16)
    write_mmvp(tmp_path, [(1, "Texts", "a"), (2, "Texts", "b")])
    (tmp_path / MMVP_IMAGES / "Texts" / "2.jpg").unlink()
    with pytest.raises(InvalidArgument, match="no image for question 2"):
        read_mmvp_vlm(tmp_path, 16)
