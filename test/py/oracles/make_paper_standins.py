"""Tiny stand-ins for the files the paper's config (examples/configs/clip-vit-l14-cc12m.json) reads,
for test/ts/clip/paper-config.test.ts:

    <out>/cc12m/00000/000000000.jpg|.txt|.json   captioned images in img2dataset's "files" layout
    <out>/clip-tiny-open_clip.pt                 a random open_clip CLIP of clip-tiny's shapes (state dict)
    <out>/clip-tiny-open_clip.safetensors        the same weights, for the test to compare the run's stage 0 with
    <out>/MMVP_VLM/Questions.csv                 the MMVP-VLM benchmark's release layout, a few pairs
    <out>/MMVP_VLM/MLLM_VLM Images/<Type>/<Question ID>.jpg

The checkpoint is built by open_clip itself, so the run loads a file in the format its users hold.
Prints one JSON object: the paths above, the number of images, and the real OpenAI BPE vocabulary the openai-clip wheel
ships (used in place, never copied).

    PYTHONPATH=test/py .venv/bin/python -m oracles.make_paper_standins <out>
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file

from mcl_worker.models.clip import CLIP_CONFIGS
from oracles import peers

COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")
SHARD_SIZE = 24  # img2dataset numbers samples across shards: shard k holds keys k * 10000 + i
SHARDS = 2
MMVP_IMAGES = "MLLM_VLM Images"


def draw(shape: str, color: tuple[int, int, int], size: tuple[int, int], rng: np.random.Generator, *,
         count: int = 1, pointing_up: bool = True) -> Image.Image:
    """`count` shapes on a grey background, at random places (web images are not square)."""
    w, h = size
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(90, 160, 3)))
    pen = ImageDraw.Draw(image)
    side = min(w, h) // (2 + count)
    for _ in range(count):
        x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        box = (x, y, x + side, y + side)
        if shape == "circle":
            pen.ellipse(box, fill=color)
        elif shape == "square":
            pen.rectangle(box, fill=color)
        else:
            apex, base = (y, y + side) if pointing_up else (y + side, y)
            pen.polygon([(x + side // 2, apex), (x, base), (x + side, base)], fill=color)
    return image


def write_captioned_folder(root: Path, rng: np.random.Generator) -> None:
    for shard in range(SHARDS):
        folder = root / f"{shard:05d}"
        folder.mkdir(parents=True)
        for i in range(SHARD_SIZE):
            key = f"{shard * 10000 + i:09d}"
            color = list(COLORS)[int(rng.integers(len(COLORS)))]
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            size = (int(rng.integers(48, 97)), int(rng.integers(48, 97)))
            draw(shape, COLORS[color], size, rng).save(folder / f"{key}.jpg", quality=90)
            caption = f"a {color} {shape} on a grey background"
            (folder / f"{key}.txt").write_text(caption, encoding="utf-8")
            # img2dataset's per-sample metadata; the folder reader ignores it.
            (folder / f"{key}.json").write_text(json.dumps({"key": key, "caption": caption, "status": "success",
                                                            "width": size[0], "height": size[1]}), encoding="utf-8")


def write_mmvp_vlm(root: Path, rng: np.random.Generator) -> None:
    """Two pairs in each of three of the benchmark's categories; the two images of a pair differ in that category only."""
    pairs: list[tuple[str, tuple[str, Image.Image], tuple[str, Image.Image]]] = []
    for color_a, color_b in (("red", "blue"), ("green", "yellow")):
        pairs.append(("Color and Appearance",
                      (f"a {color_a} circle", draw("circle", COLORS[color_a], (64, 64), rng)),
                      (f"a {color_b} circle", draw("circle", COLORS[color_b], (64, 64), rng))))
    for color in ("red", "blue"):
        pairs.append(("Orientation and Direction",
                      ("a triangle pointing up", draw("triangle", COLORS[color], (64, 64), rng, pointing_up=True)),
                      ("a triangle pointing down", draw("triangle", COLORS[color], (64, 64), rng, pointing_up=False))))
    for color in ("green", "yellow"):
        pairs.append(("Quantity and Count",
                      ("one square", draw("square", COLORS[color], (64, 64), rng, count=1)),
                      ("three squares", draw("square", COLORS[color], (64, 64), rng, count=3))))
    rows: list[tuple[int, str, str]] = []
    for kind, *members in pairs:
        for statement, image in members:
            qid = len(rows) + 1
            folder = root / MMVP_IMAGES / kind
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{qid}.jpg", quality=90)
            rows.append((qid, kind, statement))
    with (root / "Questions.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Question ID", "Type", "Statement"])
        writer.writerows(rows)


def write_open_clip_checkpoint(path: Path, reference: Path) -> None:
    """A random-initialised open_clip CLIP with clip-tiny's shapes; its state dict saved as open_clip's users save one,
    and again as safetensors (which the test reads without torch)."""
    open_clip = peers.open_clip()
    cfg = CLIP_CONFIGS["clip-tiny"]
    assert isinstance(cfg.vision_layers, int) and cfg.vision_patch_size is not None  # clip-tiny is a ViT
    torch.manual_seed(0)
    model = open_clip.CLIP(
        cfg.embed_dim,
        open_clip.CLIPVisionCfg(layers=cfg.vision_layers, width=cfg.vision_width, patch_size=cfg.vision_patch_size, image_size=cfg.image_size),
        open_clip.CLIPTextCfg(context_length=cfg.context_length, vocab_size=cfg.vocab_size, width=cfg.text_width,
                              heads=cfg.text_heads, layers=cfg.text_layers),
        quick_gelu=True,  # as OpenAI's towers, which the paper's checkpoint is
    )
    state = model.state_dict()
    torch.save(state, path)
    save_file({k: v.contiguous() for k, v in state.items()}, reference)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m oracles.make_paper_standins <empty output folder>", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        print(f"make_paper_standins: {out} is not empty; give a new folder", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    paths = {
        "dataset": out / "cc12m",
        "checkpoint": out / "clip-tiny-open_clip.pt",
        "reference": out / "clip-tiny-open_clip.safetensors",
        "mmvpVlm": out / "MMVP_VLM",
    }
    write_captioned_folder(paths["dataset"], rng)
    write_mmvp_vlm(paths["mmvpVlm"], rng)
    write_open_clip_checkpoint(paths["checkpoint"], paths["reference"])
    print(json.dumps({**{k: str(v) for k, v in paths.items()}, "images": SHARDS * SHARD_SIZE,
                      "vocab": str(peers.openai_bpe_vocab())}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
