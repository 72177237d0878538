"""Datasets that fail inside a loader process (data/batch_loader.py's tests). They live on the
test path, not in a test module, so that a loader process started by the forkserver can import them."""

from __future__ import annotations

import os
import time

import torch


class DyingImages:
    """uint8 images [3, 8, 8]; loading a batch that holds sample `fatal` ends the process at once."""

    def __init__(self, fatal: int) -> None:
        self.fatal = fatal

    def get_images(self, indices: torch.Tensor) -> torch.Tensor:
        if bool((indices == self.fatal).any()):
            os._exit(3)
        return indices.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).clone()


class SampleError(RuntimeError):
    """A dataset's own RuntimeError, with a field of its own."""

    def __init__(self, sample: int) -> None:
        super().__init__(f"sample {sample} is out of reach")
        self.sample = sample


class FailingImages:
    """uint8 images [3, 8, 8]; loading a batch that holds sample `bad` raises SampleError."""

    def __init__(self, bad: int) -> None:
        self.bad = bad

    def get_images(self, indices: torch.Tensor) -> torch.Tensor:
        if bool((indices == self.bad).any()):
            raise SampleError(self.bad)
        return indices.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).clone()


class SlowImages:
    """uint8 images [3, 8, 8]; loading a batch that holds sample `slow` takes `seconds` first."""

    def __init__(self, slow: int, seconds: float) -> None:
        self.slow = slow
        self.seconds = seconds

    def get_images(self, indices: torch.Tensor) -> torch.Tensor:
        if bool((indices == self.slow).any()):
            time.sleep(self.seconds)
        return indices.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).clone()
