"""Writes a small labelled image folder for the example: <out>/images/*.png and <out>/labels.csv.

    python examples/plugins/make_data.py examples/plugins/data --n 64 --size 16

Each image is a square of one of two colours (its label) on a grey background, at a random place.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (220, 40, 40), "blue": (40, 60, 220)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    with (args.out / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for i in range(args.n):
            label = names[i % len(names)]
            image = np.full((args.size, args.size, 3), 128, np.uint8)
            side = args.size // 2
            top, left = rng.integers(0, args.size - side + 1, 2)
            image[top : top + side, left : left + side] = COLOURS[label]
            path = f"images/{i:05d}.png"
            Image.fromarray(image).save(args.out / path)
            writer.writerow([path, label])


if __name__ == "__main__":
    main()
