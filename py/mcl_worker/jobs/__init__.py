"""Jobs the worker serves. Importing this package registers the diagnostic jobs."""

from . import diagnostic as diagnostic
from . import checkpoints, clustering, datasets, embedding, handles, models, probing, training  # noqa: F401  compute jobs, registered on import
from . import clip  # noqa: F401  CLIP jobs, registered on import
from . import exporting  # noqa: F401  the export job, registered on import
from .collective import run_job
from .registry import Body, JobContext, JobSpec, WorkerConfig, WorkerState, job, lookup, registered

__all__ = ["Body", "JobContext", "JobSpec", "WorkerConfig", "WorkerState", "job", "lookup", "registered", "run_job"]
