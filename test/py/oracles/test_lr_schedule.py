"""Learning-rate schedules against open_clip's own (open_clip_train/scheduler.py, open_clip_torch 3.3.0).

open_clip's const_lr and cosine_lr return an adjuster that its training loop calls with the global
step before every step. LrSchedule must give the same rate at every step of the stage, to the last
bit. That train_steps applies that rate before each step is test/py/compute/test_lr_schedule.py's
claim.
"""

from __future__ import annotations

import pytest

from mcl_worker.lr_schedule import LrSchedule, ScheduleName
from oracles.schedules import open_clip_rates

# (name, base lr, warm-up steps, total steps): warm-up shorter than, equal to and longer than the stage.
CASES: list[tuple[ScheduleName, float, int, int]] = [
    ("constant", 1e-3, 5, 20), ("cosine", 1e-3, 5, 20), ("cosine", 3e-4, 0, 17), ("constant", 0.1, 0, 4),
    ("cosine", 2.5e-5, 600, 600), ("constant", 1e-5, 600, 100), ("cosine", 0.05, 7, 8),
]


@pytest.mark.parametrize("name,lr,warmup,total", CASES)
def test_every_step_has_open_clips_rate(name: ScheduleName, lr: float, warmup: int, total: int) -> None:
    ours = LrSchedule(name, lr, warmup, total)
    assert [ours.lr_at(step) for step in range(total)] == open_clip_rates(name, lr, warmup, total)
