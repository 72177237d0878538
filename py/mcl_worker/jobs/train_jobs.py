"""train: runs one chunk of a batch plan on a model and its optimizer (mcl_worker.train).

The plan is the control plane's layout (ts/control/batch-planner.ts): `indices` int32 [M] and
`offsets` int32 [steps + 1], step t training on indices[offsets[t]:offsets[t + 1]]. Steps are
numbered globally from `first_step`, and the augmentation of step s is seeded from (seed, s), so
a stage split into several train jobs draws the views one job would; the optimizer's schedule
(optimizer.create) sets the learning rate of every step from the same global index. Progress
reports the steps done so far (global) and the learning rate of the step; a non-finite loss ends
the job with NON_FINITE_LOSS whose details.step is the index of the step at fault, whose update
was not applied (resume with first_step = it). `precision` is the autocast of the encoder's
forward pass (mcl_worker.precision). The job stops between steps when cancelled.
`loss.attribute` names the dataset attribute whose classes are the labels of supcon (or of a
plugin loss). `data` sets the loader processes that load the next batches' images while a step
computes (mcl_worker.data.batch_loader); they keep running for the next job on the same dataset
handle (mcl_worker.data.loader_pools). An image that fails to decode is INVALID_BODY naming
`dataset`, with the file and the sample in details.
"""

from __future__ import annotations

import time

import torch

from ..data import ImageDataset, augment, loader_options
from ..errors import InvalidArgument
from ..losses import get_loss
from ..models import ContrastiveModel
from ..plugin_ref import is_plugin
from ..train import StepStats, train_steps
from ..wire import WireError
from .embed_jobs import augment_config
from .handles import ModelEntry, OptimizerEntry, held
from .registry import Body, JobContext, job

# train_steps' argument names -> the request's field names.
_FIELDS = {
    "plan": "indices", "plan.offsets": "offsets", "temperature": "loss.temperature", "loss": "loss.name",
    "first_step": "first_step", "labels": "loss.attribute", "precision": "precision",
}
# The built-in losses a train job runs; or a plugin py:<module>:<attr>.
_TRAIN_LOSSES = ("nt-xent", "supcon", "dcl")
# The self-supervised built-ins, which take no labels (supcon needs them; a plugin may take them).
_UNLABELLED = ("nt-xent", "dcl")


def checked_plan(body: Body, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The request's (indices, offsets), checked as int32 [n] with every index inside a dataset of `size`."""
    indices, offsets = body["indices"], body["offsets"]
    for name, t in (("indices", indices), ("offsets", offsets)):
        if t.dtype != torch.int32 or t.dim() != 1:
            raise WireError(
                "INVALID_BODY", f"{name}: expected an int32 tensor [n], got {t.dtype} {list(t.shape)}",
                details={"path": name},
            )
    if offsets.numel() < 2:
        raise WireError("INVALID_BODY", "offsets: the plan has no steps (offsets needs steps + 1 >= 2 entries)",
                        details={"path": "offsets"})
    if indices.numel() and not (0 <= int(indices.min()) and int(indices.max()) < size):
        bad = int(indices.min()) if int(indices.min()) < 0 else int(indices.max())
        raise WireError("INVALID_BODY", f"indices: sample {bad} is out of range for a dataset of {size}",
                        details={"path": "indices"})
    return indices, offsets


@job("train")
def train(body: Body, ctx: JobContext) -> Body:
    entry = held(ctx, body, "model", ModelEntry)
    if not isinstance(entry.model, ContrastiveModel):
        raise WireError("INVALID_BODY", f"model: {body['model']} is a CLIP model; train it with clip.train",
                        details={"path": "model"})
    optimizer = held(ctx, body, "optimizer", OptimizerEntry)
    if optimizer.model_handle != body["model"]:
        raise WireError(
            "INVALID_BODY", f"optimizer: {body['optimizer']} optimizes {optimizer.model_handle}, not {body['model']}",
            details={"path": "optimizer"},
        )
    dataset = held(ctx, body, "dataset", ImageDataset)
    cfg = augment_config(body, dataset, entry.model.spec.image_size)
    indices, offsets = checked_plan(body, len(dataset))
    first_step = body.get("first_step", 0)
    loss = body["loss"]
    if loss["name"] not in _TRAIN_LOSSES and not is_plugin(loss["name"]):
        raise WireError(
            "INVALID_BODY", f"loss.name: expected one of {', '.join(_TRAIN_LOSSES)} or a plugin py:<module>:<attr>, got {loss['name']!r}",
            details={"path": "loss.name"},
        )
    labels = attribute_labels(loss, dataset)

    def report(stats: StepStats) -> None:
        ctx.progress({
            "step": stats.step + 1,
            "steps": first_step + stats.steps_total,
            "loss": stats.loss,
            "lr": stats.lr,
            "samples_per_s": stats.samples_per_s,
        })

    started = time.perf_counter()
    # The loader processes of the dataset handle, kept for the stage's next train job.
    with entry.use(body["model"], "train") as model, \
            ctx.state.loaders.borrowed(body["dataset"], loader_options(body, dataset.decodes)) as loader:
        try:
            result = train_steps(
                model, optimizer.optimizer, (indices, offsets), dataset.get_images,
                lambda images, generator: augment(images, cfg, generator), get_loss(loss["name"], loss.get("args")),
                seed=body["seed"], temperature=loss["temperature"], first_step=first_step, labels=labels,
                device=entry.device, precision=body.get("precision", "auto"), schedule=optimizer.schedule,
                progress_every=body.get("progress_every", 1), on_progress=report, should_stop=lambda: ctx.cancelled,
                loader=loader,
            )
        except InvalidArgument as exc:
            path = _FIELDS.get(exc.field)
            if path is None:
                raise
            raise WireError("INVALID_BODY", f"{path}: {exc.message[len(exc.field) + 2:]}", details={"path": path}) from None
    if result.stopped:
        ctx.check_cancelled()
    return {
        "steps": result.steps,
        "samples": int(offsets[result.steps]),
        "mean_loss": result.mean_loss,
        "last_loss": result.last_loss,
        "first_lr": result.first_lr,
        "last_lr": result.last_lr,
        "samples_per_s": result.samples_per_s,
        "seconds": time.perf_counter() - started,
    }


def attribute_labels(loss: Body, dataset: ImageDataset) -> torch.Tensor | None:
    """The labels of the dataset attribute `loss.attribute` names: required by supcon, refused by the
    self-supervised built-ins; a plugin gets them as `labels` when the attribute is given."""
    name = loss.get("attribute")
    if name is None:
        if loss["name"] == "supcon":
            raise WireError(
                "INVALID_BODY", f"loss.attribute: supcon needs the labelled attribute whose classes are its labels;"
                f" the dataset has: {', '.join(dataset.attributes) or 'none'}", details={"path": "loss.attribute"},
            )
        return None
    if loss["name"] in _UNLABELLED:
        raise WireError(
            "INVALID_BODY",
            f"loss.attribute: {loss['name']} is self-supervised and takes no labels; leave it out or use supcon",
            details={"path": "loss.attribute"},
        )
    if name not in dataset.attributes:
        known = ", ".join(dataset.attributes) or "none"
        raise WireError(
            "INVALID_BODY", f"loss.attribute: the dataset has no attribute {name!r}; it has: {known}",
            details={"path": "loss.attribute"},
        )
    return torch.from_numpy(dataset.attributes[name].labels)
