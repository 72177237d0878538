"""A labelled image dataset read from a CSV file and an image folder.

The CSV has a header with at least the columns `path` (relative to the CSV's folder, or to
`root` when given) and `label` (any text: the class name); a `caption` column is optional.
Images are decoded with Pillow, converted to RGB and resized to `size` x `size`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


class CsvImages:
    def __init__(self, csv_path: str, size: int = 32, root: str | None = None) -> None:
        table = Path(csv_path)
        with table.open(newline="") as f:
            rows = list(csv.DictReader(f))
        missing = {"path", "label"} - set(rows[0] if rows else {})
        if missing:
            raise ValueError(f"{table}: expected the columns path and label, missing {sorted(missing)}")
        self.folder = Path(root) if root is not None else table.parent
        self.size = size
        self.paths = [row["path"] for row in rows]
        self.caption_texts = [row["caption"] for row in rows] if "caption" in rows[0] else None
        names = sorted({row["label"] for row in rows})
        index = {name: i for i, name in enumerate(names)}
        # What the worker reads for its probes: one int per sample, and the names of the classes.
        self.labels = {"label": [index[row["label"]] for row in rows]}
        self.class_names = {"label": names}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, object]:
        with Image.open(self.folder / self.paths[i]) as image:
            pixels = np.asarray(image.convert("RGB").resize((self.size, self.size), Image.BILINEAR))
        item: dict[str, object] = {"image": pixels}  # uint8 [H, W, 3]
        if self.caption_texts is not None:
            item["caption"] = self.caption_texts[i]
        return item
