"""embed and integrate: representations computed and kept on the worker.

embed runs the eval transform (no augmentation: resize to augment.size, normalise with
augment.mean / std, exactly as training does) and the model in eval mode without gradients.
integrate applies the control plane's integration spec (ts/control/integration.ts) to bulk
embeddings, so the integrated representation of N samples never crosses the wire unasked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import AugmentConfig, ImageDataset, eval_transform
from ..wire import WireError
from .handles import ModelEntry, held
from .registry import Body, JobContext, job

_DTYPES = {"float32": torch.float32, "float16": torch.float16}
DEFAULT_BATCH_SIZE = 512


def augment_config(body: Body, dataset: ImageDataset, image_size: int) -> AugmentConfig:
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


@job("embed")
def embed(body: Body, ctx: JobContext) -> Body:
    entry = held(ctx, body, "model", ModelEntry)
    dataset = held(ctx, body, "dataset", ImageDataset)
    cfg = augment_config(body, dataset, entry.model.spec.image_size)
    batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
    use_head, normalize = body.get("use_head", False), body.get("normalize", False)
    dtype_name = body.get("dtype", "float32")
    n = len(dataset)
    with entry.use(body["model"], "embed") as model:
        width = model.proj_dim if use_head else model.feature_dim
        out = torch.empty(n, width, dtype=_DTYPES[dtype_name], device=entry.device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    ctx.check_cancelled()
                    stop = min(n, start + batch_size)
                    images = dataset.get_images(torch.arange(start, stop)).to(entry.device, non_blocking=True)
                    z = model.embed(eval_transform(images, cfg), use_head=use_head).float()
                    out[start:stop] = F.normalize(z, dim=1) if normalize else z
        finally:
            model.train(was_training)
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
        block = block.float()
        if body["normalize"] == "per-stage-l2":
            block = F.normalize(block, dim=1)  # a zero row stays zero
        blocks.append(block * weights[j])
    z = torch.cat(blocks, dim=1)
    if body["normalize"] == "concat-then-l2":
        z = F.normalize(z, dim=1)
    return {"embedding": ctx.state.put(z, "embedding"), "shape": list(z.shape), "dtype": "float32"}
