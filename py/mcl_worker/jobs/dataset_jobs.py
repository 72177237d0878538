"""dataset.open: a dataset named by URI (mcl_worker.data), kept on the worker under a handle."""

from __future__ import annotations

from ..data import ImageDataset, open_dataset
from .registry import Body, JobContext, job


@job("dataset.open")
def dataset_open(body: Body, ctx: JobContext) -> Body:
    # A bad URI raises a DatasetError: INVALID_BODY with details.path "uri".
    dataset: ImageDataset = open_dataset(body["uri"], body.get("args"))
    summary = dataset.describe()
    return {"dataset": ctx.state.put(dataset, "dataset"), **summary}
