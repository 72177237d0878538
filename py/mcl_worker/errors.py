"""Errors raised by the worker's compute library (losses, k-means, probes, training).

Each class carries the wire error `code` of proto/PROTOCOL.md that the job layer answers with,
and `details` for the error body, so that a job can turn any of them into an `error` reply
without knowing which function raised it.
"""

from __future__ import annotations

from typing import Any


class ComputeError(Exception):
    """A compute function failed; answered on the wire as `JOB_FAILED`."""

    code: str = "JOB_FAILED"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class InvalidArgument(ComputeError):
    """An argument is out of range or malformed; `field` names it (wire `details.path`)."""

    code = "INVALID_BODY"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", details={"path": field})
        self.field = field
        self.reason = message


class NonFiniteLoss(ComputeError):
    """Training met a NaN or infinite loss at `step`; the step's update was not applied."""

    code = "NON_FINITE_LOSS"

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(
            f"the loss at step {step} is {loss}; the step was not applied, so the model and "
            "optimizer keep their state from before it (resume from the last checkpoint "
            "with a lower learning rate or a higher temperature)",
            details={"step": step, "loss": str(loss)},
        )
        self.step = step
        self.loss = loss


class OutOfMemory(ComputeError):
    """A job ran its device out of memory (torch.cuda.OutOfMemoryError); `job` names it."""

    code = "OUT_OF_MEMORY"

    def __init__(self, job: str, reason: str) -> None:
        super().__init__(
            f"{job}: the device ran out of memory ({reason}); the worker released its cached memory. Lower the "
            "memory a step needs: a smaller batch (batchSize), precision bf16 (compute.precision) or gradient "
            "checkpointing (compute.gradCheckpointing)",
            details={"job": job},
        )
        self.job = job
