"""Datasets that fail inside a loader process (data/batch_loader.py's tests). They live on the
test path, not in a test module, so that a loader process started by the forkserver can import them."""

from __future__ import annotations

import os

import torch


class DyingImages:
    """uint8 images [3, 8, 8]; loading a batch that holds sample `fatal` ends the process at once."""

    def __init__(self, fatal: int) -> None:
        self.fatal = fatal

    def get_images(self, indices: torch.Tensor) -> torch.Tensor:
        if bool((indices == self.fatal).any()):
            os._exit(3)
        return indices.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).clone()
