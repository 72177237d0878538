"""A CUDA out-of-memory error inside a job, answered as OUT_OF_MEMORY naming the job and the fix.

torch raises torch.cuda.OutOfMemoryError from wherever an allocation failed, deep in a forward or
backward pass; as a plain exception it would reach the client as JOB_FAILED with torch's own
text. Mapped here, around every job, the client learns which job it was and what lowers the
memory a step needs, and the worker hands the cached blocks back to the driver, so that the
next job (a smaller batch) starts from free memory rather than from a cache holding the failed
step's activations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import OutOfMemory

if TYPE_CHECKING:
    from .registry import Body, JobContext, JobFn


def naming_out_of_memory(job_type: str, run: JobFn) -> JobFn:
    """`run`, with a torch.cuda.OutOfMemoryError it raises turned into OutOfMemory(job_type)."""

    def run_named(body: Body, ctx: JobContext) -> Body:
        try:
            return run(body, ctx)
        except torch.cuda.OutOfMemoryError as exc:
            failure = OutOfMemory(job_type, str(exc).split("\n")[0].rstrip(". ") or "no detail")
        # Out of the except block: the error's traceback holds the frames, and their tensors, of
        # the step that failed; they are freed before the cache is emptied.
        torch.cuda.empty_cache()
        raise failure

    return run_named
