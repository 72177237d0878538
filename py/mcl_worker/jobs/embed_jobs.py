"""embed and integrate: representations computed and kept on the worker.

embed takes its images from a dataset handle, or from a tensor uploaded with handle.put (uint8
[N, C, H, W], channels first, as datasets hand them out), the next blocks loaded ahead as `data`
says (mcl_worker.data.batch_loader), by the loader processes kept for the handle
(mcl_worker.data.loader_pools). It runs the eval transform (no
augmentation: resize to augment.size with augment.interpolation, the whole image or the shorter
side then a centre crop (augment.crop_pct), normalise with augment.mean / std, as training does)
and the model in eval mode without gradients.
integrate applies the integration formula (mcl_worker.integration) with the control plane's
weights and mode to bulk embeddings, so the integrated representation of N samples never crosses
the wire unasked.
"""

from __future__ import annotations

from contextlib import closing
from typing import Protocol

import torch
import torch.nn.functional as F

from .. import distributed, integration
from ..data import AugmentConfig, ImageDataset, eval_transform, loader_options
from ..eval_mode import eval_mode
from ..wire import WireError
from .handles import ModelEntry, held
from .registry import Body, JobContext, job

_DTYPES = {"float32": torch.float32, "float16": torch.float16}
DEFAULT_BATCH_SIZE = 512


class ImageSource(Protocol):
    """Images addressed by index: a dataset, or a tensor of images on the worker (TensorImages)."""

    decodes: bool  # get_images decodes files (ImageDataset.decodes)

    def __len__(self) -> int: ...

    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    def get_images(self, indices: torch.Tensor) -> torch.Tensor: ...


class TensorImages:
    """A uint8 [N, C, H, W] tensor (uploaded with handle.put, or a benchmark's images), read like a dataset."""

    decodes = False

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.images.shape
        return c, h, w

    def get_images(self, indices: torch.Tensor) -> torch.Tensor:
        return self.images[indices]


def augment_config(body: Body, dataset: ImageSource, image_size: int) -> AugmentConfig:
    """body["augment"] as an AugmentConfig, checked against the size the model was built for."""
    cfg = AugmentConfig.from_dict(body.get("augment", {}))  # InvalidArgument "augment.<field>"
    _, h, w = dataset.image_shape
    seen = (cfg.size, cfg.size) if cfg.size is not None else (h, w)
    if seen != (image_size, image_size):
        raise WireError(
            "INVALID_BODY",
            f"augment.size: the model was built for {image_size}x{image_size} images but would see "
            f"{seen[0]}x{seen[1]}; set augment.size to {image_size}",
            details={"path": "augment.size"},
        )
    return cfg


def image_source(body: Body, ctx: JobContext, in_channels: int) -> ImageSource:
    """The images to embed: body["dataset"] or body["images"], exactly one of them."""
    if ("dataset" in body) == ("images" in body):
        given = "both" if "dataset" in body else "neither"
        raise WireError(
            "INVALID_BODY",
            f"dataset: give a dataset handle or images: a tensor handle (handle.put), exactly one; got {given}",
            details={"path": "dataset"},
        )
    if "dataset" in body:
        return held(ctx, body, "dataset", ImageDataset)
    images = held(ctx, body, "images", torch.Tensor)
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0 or images.shape[1] != in_channels:
        raise WireError(
            "INVALID_BODY",
            f"images: expected uint8 [N, C, H, W] images with N >= 1 and C = {in_channels} (the model's channels), "
            f"got {str(images.dtype).removeprefix('torch.')} {list(images.shape)}",
            details={"path": "images"},
        )
    return TensorImages(images)


@job("embed")
def embed(body: Body, ctx: JobContext) -> Body:
    entry = held(ctx, body, "model", ModelEntry)
    dataset = image_source(body, ctx, entry.model.spec.in_channels)
    cfg = augment_config(body, dataset, entry.model.spec.image_size)
    batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
    use_head, normalize = body.get("use_head", False), body.get("normalize", False)
    dtype_name = body.get("dtype", "float32")
    n = len(dataset)
    with entry.use(body["model"], "embed") as model, eval_mode(model), torch.no_grad():
        width = model.proj_dim if use_head else model.feature_dim
        out = torch.empty(n, width, dtype=_DTYPES[dtype_name], device=entry.device)
        # With W ranks, each embeds its slice of every block of W batches; the slices are
        # gathered in rank order, so every rank holds the whole embedding.
        block = batch_size * distributed.world_size()
        blocks = [torch.arange(start, min(n, start + block)) for start in range(0, n, block)]
        mine = [indices[distributed.shard(indices.numel())] for indices in blocks]
        # The loader processes of the dataset handle, as the train jobs' (kept for the next job).
        source = body["dataset"] if "dataset" in body else body["images"]
        with ctx.state.loaders.borrowed(source, loader_options(body, dataset.decodes)) as loader, \
                closing(loader.load(dataset.get_images, mine, pin_memory=entry.device.type == "cuda")) as images_of:
            for start in range(0, n, block):
                ctx.check_cancelled()
                stop = min(n, start + block)
                images = next(images_of).to(entry.device, non_blocking=True)
                z = model.embed(eval_transform(images, cfg), use_head=use_head).float()
                out[start:stop] = distributed.all_gather(F.normalize(z, dim=1) if normalize else z, stop - start)
    return {"embedding": ctx.state.put(out, "embedding"), "shape": [n, width], "dtype": dtype_name}


@job("integrate")
def integrate(body: Body, ctx: JobContext) -> Body:
    handles: list[str] = body["embeddings"]
    weights: list[float] = body["weights"]
    if len(weights) != len(handles):
        raise WireError(
            "INVALID_BODY",
            f"weights: expected {len(handles)} entries (one per embedding), got {len(weights)}",
            details={"path": "weights"},
        )
    if all(w == 0 for w in weights):
        raise WireError("INVALID_BODY", "weights: at least one must be > 0", details={"path": "weights"})
    blocks: list[torch.Tensor] = []
    for j in range(len(handles)):
        path = f"embeddings[{j}]"
        block = held(ctx, body, path, torch.Tensor)
        rows = blocks[0].shape[0] if blocks else block.shape[0]
        if block.dim() != 2 or block.shape[0] != rows:
            raise WireError(
                "INVALID_BODY",
                f"{path}: expected an embedding of {rows} rows [N, D] like embeddings[0], got {tuple(block.shape)}",
                details={"path": path},
            )
        blocks.append(block.float())
    z = integration.integrate(blocks, [float(w) for w in weights], body["normalize"])
    return {"embedding": ctx.state.put(z, "embedding"), "shape": list(z.shape), "dtype": "float32"}
