"""open_clip's learning-rate schedules (open_clip_train/scheduler.py), as its training loop uses them."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from oracles import peers


def open_clip_rates(name: str, lr: float, warmup_steps: int, total_steps: int) -> list[float]:
    """The rate open_clip sets before each step of a stage, built as its main.py builds the adjuster
    (const_lr or cosine_lr over an optimizer that only receives the rate)."""
    scheduler = peers.open_clip_scheduler()
    make = {"constant": scheduler.const_lr, "cosine": scheduler.cosine_lr}[name]
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    adjust: Callable[[int], float] = make(optimizer, lr, warmup_steps, total_steps)
    return [adjust(step) for step in range(total_steps)]
