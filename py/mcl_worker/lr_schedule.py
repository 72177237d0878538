"""Learning-rate schedules: a linear warm-up, then a constant rate (the paper's) or a cosine decay.

The rate of a step is a function of the step's global index within its stage (0 = the stage's
first step), so a stage split into several train jobs, or resumed from a checkpoint, continues
the schedule exactly. The definitions are open_clip's (open_clip_train/scheduler.py: const_lr,
cosine_lr), written with the same arithmetic so that the rates are equal to the last bit:
    warm-up   step < warmup_steps   lr * (step + 1) / warmup_steps
    constant                        lr
    cosine                          0.5 * (1 + cos(pi * elapsed / length)) * lr,
                                    elapsed = step - warmup_steps, length = total_steps - warmup_steps
As in open_clip's training loop, the rate of step s is set before step s runs. A schedule is
recorded in checkpoints (mcl_worker.checkpoint) so that a resumed run continues the same one.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import torch

from .errors import InvalidArgument

ScheduleName = Literal["constant", "cosine"]
SCHEDULES: tuple[ScheduleName, ...] = get_args(ScheduleName)


@dataclass(frozen=True)
class LrSchedule:
    name: ScheduleName  # checked at run time too: it comes from message bodies and checkpoints
    lr: float  # the base (peak) learning rate
    warmup_steps: int  # steps of linear warm-up at the start of the stage
    total_steps: int  # steps in the stage: the cosine reaches 0 there, and no step may lie beyond it

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise InvalidArgument("name", f"must be one of {', '.join(SCHEDULES)}, got {self.name!r}")
        number = isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool)
        if not (number and math.isfinite(self.lr) and self.lr >= 0):
            raise InvalidArgument("lr", f"must be a finite number >= 0, got {self.lr!r}")
        for field, value, low in (("warmup_steps", self.warmup_steps, 0), ("total_steps", self.total_steps, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgument(field, f"must be an integer >= {low}, got {value!r}")

    def lr_at(self, step: int) -> float:
        """The learning rate of step `step` (0-based, within the stage)."""
        if not 0 <= step < self.total_steps:
            raise InvalidArgument("step", f"must be in [0, {self.total_steps}) (total_steps), got {step}")
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.name == "constant":
            return self.lr
        elapsed = step - self.warmup_steps
        length = self.total_steps - self.warmup_steps
        return 0.5 * (1 + math.cos(math.pi * elapsed / length)) * self.lr

    def check_steps(self, first_step: int, steps: int) -> None:
        """Refuses a job of `steps` steps from `first_step` that would run past the stage's end."""
        if first_step + steps > self.total_steps:
            raise InvalidArgument(
                "first_step",
                f"steps {first_step}..{first_step + steps - 1} run past the optimizer's schedule of"
                f" {self.total_steps} steps (schedule.total_steps); give the stage's total steps to optimizer.create",
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> LrSchedule:
        """The inverse of to_json; InvalidArgument("schedule", ...) when `text` is not one."""
        try:
            fields = json.loads(text)
            return LrSchedule(fields["name"], fields["lr"], fields["warmup_steps"], fields["total_steps"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument("schedule", f"not a recorded schedule: {exc}") from None


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group takes `lr` (open_clip's assign_learning_rate)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
