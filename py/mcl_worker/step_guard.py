"""Refuses a non-finite loss before it reaches the weights, without a host synchronisation per step.

Every step's loss stays on the device, and a sticky flag turns on at the first non-finite one. The
optimizer skips every step from that one on, on the device: the fused Adam, AdamW and SGD take the
flag as `found_inf`, as they do from a GradScaler (with a scaler, the gradients of a flagged step
are made NaN, which its own check sees). The model's buffers (BatchNorm's statistics and counters,
any other) at the start of the last unflagged step are kept beside it. The host reads the losses at progress points (`read`, one
synchronisation); a non-finite one puts those buffers back and raises NonFiniteLoss naming the
first bad step, the weights and the optimizer's state being those of before it.

An optimizer that cannot skip a step on the device (one made without fused=True, or another class
than Adam, AdamW and SGD) has every loss read, and checked, before its update: a host
synchronisation per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .errors import NonFiniteLoss


# The optimizers whose fused step reads `found_inf` and skips the update when it is set.
_SKIPPING = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def skips_on_device(optimizer: torch.optim.Optimizer) -> bool:
    """Whether optimizer.step() honours a `found_inf` flag on the device: a fused Adam, AdamW or SGD
    (a subclass may step otherwise)."""
    return (
        type(optimizer) in _SKIPPING
        and bool(getattr(optimizer, "_step_supports_amp_scaling", False))
        and all(group.get("fused") for group in optimizer.param_groups)
    )


class StepGuard:
    """The loss check of the `steps` steps of one training call, numbered from `first_step`."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 steps: int, first_step: int) -> None:
        self._optimizer = optimizer
        self._buffers = [b for b in model.buffers()]
        self._good = [b.detach().clone() for b in self._buffers]
        self._losses = torch.empty(steps, dtype=torch.float32, device=device)
        self._poisoned = torch.zeros((), dtype=torch.bool, device=device)
        self._nan = torch.full((), math.nan, dtype=torch.float32, device=device)
        self._first_step = first_step
        self._read = 0
        self.deferred = skips_on_device(optimizer)
        # A skipped first update still creates the optimizer's state (SGD's momentum buffer
        # uninitialised): parameters without state now must be left without it.
        self._fresh = [p for group in optimizer.param_groups for p in group["params"] if p not in optimizer.state]

    def before_forward(self) -> None:
        """Call before the step's forward pass: its buffers are the last good ones unless a step was bad."""
        with torch.no_grad():
            for good, buffer in zip(self._good, self._buffers):
                torch.where(self._poisoned, good, buffer, out=good)

    def record(self, position: int, loss: Tensor) -> None:
        """Keeps the loss of the step at `position`; without a device-side skip, checks it at once."""
        value = loss.detach().float()
        self._losses[position] = value
        self._poisoned.logical_or_(~torch.isfinite(value))
        if not self.deferred:
            self._check(position, float(value))

    def backward_and_step(self, loss: Tensor, scaler: torch.amp.GradScaler | None,
                          after_backward: Callable[[], None] | None = None) -> None:
        """The step's update from `loss`, skipped on the device once a loss was non-finite: clears
        the gradients, back-propagates, calls after_backward (e.g. to average the gradients over
        ranks) and steps the optimizer, through `scaler` when there is one (fp16)."""
        self._optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
        else:
            # NaN gradients once flagged: the scaler's own check skips the update.
            (scaler.scale(loss) * torch.where(self._poisoned, self._nan, 1.0)).backward()
        if after_backward is not None:
            after_backward()
        if scaler is None:
            self._step()
        else:
            scaler.step(self._optimizer)
            scaler.update()

    def _step(self) -> None:
        if not self.deferred:
            self._optimizer.step()
            return
        found_inf = self._poisoned.float()
        self._optimizer.found_inf = found_inf  # type: ignore[attr-defined]  # read by the fused step
        try:
            self._optimizer.step()
        finally:
            del self._optimizer.found_inf  # type: ignore[attr-defined]

    def read(self, upto: int) -> list[float]:
        """The losses of the steps not read yet, up to position `upto` (one host synchronisation).
        A non-finite one restores the state of before it and raises NonFiniteLoss."""
        values: list[float] = self._losses[self._read : upto].tolist()
        for offset, value in enumerate(values):
            self._check(self._read + offset, value)
        self._read = upto
        return values

    def _check(self, position: int, value: float) -> None:
        if math.isfinite(value):
            return
        with torch.no_grad():
            for buffer, good in zip(self._buffers, self._good):
                buffer.copy_(good)
        if position == 0:
            for p in self._fresh:
                self._optimizer.state.pop(p, None)
        raise NonFiniteLoss(self._first_step + position, value)
