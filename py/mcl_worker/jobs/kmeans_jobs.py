"""kmeans: clusters an embedding held on the worker, on its device; answers the assignments
(int32 [N], all the control plane needs) and the centroids, and how many clusters no row is
assigned to after the final assignment (k larger than the number of the embedding's distinct rows
always leaves some), which the control plane warns about."""

from __future__ import annotations

import torch

from ..errors import InvalidArgument
from ..kmeans import kmeans as run_kmeans
from ..wire import WireError
from .handles import held
from .registry import Body, JobContext, job


@job("kmeans")
def kmeans(body: Body, ctx: JobContext) -> Body:
    x = held(ctx, body, "embedding", torch.Tensor)
    options = {name: body[name] for name in ("iters", "tol", "n_init", "init") if name in body}
    try:
        result = run_kmeans(x, body["k"], seed=body["seed"], **options)
    except InvalidArgument as exc:
        if exc.field != "x":
            raise  # k, iters, …: already the body's field names
        raise WireError("INVALID_BODY", f"embedding: {exc.message[len('x: '):]}", details={"path": "embedding"}) from None
    return {
        "assignments": result.assignments.cpu(),
        "centroids": result.centroids.float().cpu(),
        "inertia": result.inertia,
        "iterations": result.iterations,
        "converged": result.converged,
        "empty_clusters": result.empty_clusters,
    }
