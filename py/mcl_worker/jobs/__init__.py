"""Jobs the worker serves, registered on import: each `<family>_jobs` module holds the wire-facing
handlers of one job family, which call the library modules of mcl_worker (model_jobs -> models/,
train_jobs -> train, kmeans_jobs -> kmeans, …); registry, handles and collective are the machinery."""

from . import (  # noqa: F401  registered on import
    checkpoint_jobs, clip_jobs, dataset_jobs, diagnostic_jobs, embed_jobs, export_jobs, handles, kmeans_jobs,
    model_jobs, probe_jobs, train_jobs,
)
from .collective import run_job
from .registry import Body, JobContext, JobSpec, WorkerConfig, WorkerState, job, lookup, registered

__all__ = ["Body", "JobContext", "JobSpec", "WorkerConfig", "WorkerState", "job", "lookup", "registered", "run_job"]
