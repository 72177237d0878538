"""probe: how well each labelled attribute of a dataset can be read off a held embedding.

Per attribute, a linear probe (multinomial logistic regression) and a kNN vote, both scored
on the same seeded, stratified held-out split (mcl_worker.probe).
"""

from __future__ import annotations

import torch

from ..data import ImageDataset
from ..errors import InvalidArgument
from ..probe import knn_probe, linear_probe
from ..wire import WireError
from .handles import held
from .registry import Body, JobContext, job

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_KNN_K = 20


@job("probe")
def probe(body: Body, ctx: JobContext) -> Body:
    features = held(ctx, body, "embedding", torch.Tensor)
    dataset = held(ctx, body, "dataset", ImageDataset)
    if features.dim() != 2 or features.shape[0] != len(dataset):
        raise WireError(
            "INVALID_BODY",
            f"embedding: expected one row per sample of {body['dataset']} ({len(dataset)}), got {list(features.shape)}",
            details={"path": "embedding"},
        )
    names: list[str] = body.get("attributes", list(dataset.attributes))
    for i, name in enumerate(names):
        if name not in dataset.attributes:
            known = ", ".join(dataset.attributes) or "none"
            raise WireError("INVALID_BODY", f"attributes[{i}]: the dataset has no attribute {name!r}; it has: {known}",
                            details={"path": f"attributes[{i}]"})
    if not names:
        raise WireError("INVALID_BODY", "attributes: the dataset has no labelled attribute to probe",
                        details={"path": "attributes"})
    seed, test_fraction = body["seed"], body.get("test_fraction", DEFAULT_TEST_FRACTION)
    scores: list[Body] = []
    for i, name in enumerate(names):
        ctx.check_cancelled()
        labels = torch.from_numpy(dataset.attributes[name].labels).to(features.device)
        try:
            linear = linear_probe(features, labels, seed=seed, test_fraction=test_fraction)
            knn = knn_probe(features, labels, seed=seed, test_fraction=test_fraction, k=body.get("knn_k", DEFAULT_KNN_K))
        except InvalidArgument as exc:
            path = {"labels": f"attributes[{i}]", "k": "knn_k", "features": "embedding"}.get(exc.field, exc.field)
            raise WireError("INVALID_BODY", f"{path}: {exc.message[len(exc.field) + 2:]}", details={"path": path}) from None
        scores.append({
            "name": name, "linear": linear.accuracy, "knn": knn.accuracy,
            "n_train": linear.n_train, "n_test": linear.n_test, "n_classes": linear.n_classes,
        })
    return {"attributes": scores}
