"""CLIP jobs: build a dual encoder, train it on a batch plan of image-caption pairs, embed
captions, and evaluate one stage or the integrated MCL representation.

    clip.create     a CLIP model (configuration, activation, optional local checkpoint, tokenizer, locked towers)
    clip.train      the steps of a batch plan, as `train` (indices + offsets), on images and captions
    clip.embed_text the captions of a dataset as an embedding handle (images: the generic `embed` job)
    clip.zero_shot  accuracy per labelled attribute, classes as text prototypes
    clip.mmvp       MMVP-style pairs drawn from a captioned dataset, scored per category
    clip.mmvp_vlm   the published MMVP-VLM benchmark from a local folder, scored per category

A CLIP model is held like any model (ModelEntry: checkpoint.save / checkpoint.load,
optimizer.create and the image `embed` job work on it) together with its tokenizer. For MCL,
every stage is a fresh clip.create from the same weights, the clustering uses the image
embeddings of `embed`, and the evaluation jobs take the list of stage models to integrate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .. import distributed
from ..checkpoint import CheckpointError
from ..data import AugmentConfig, ImageDataset, augment, eval_transform, loader_options
from ..errors import InvalidArgument
from ..eval_mode import eval_mode
from ..evaluation.integrated import IntegratedClip, encode_text_batches
from ..evaluation.pairs import Pairs, pair_hits, read_mmvp_vlm, synthetic_pairs
from ..evaluation.zero_shot import DEFAULT_TEMPLATE, class_prompts, determined_by_captions
from ..losses import DEFAULT_TARGET_TEMPERATURE, clip_loss, fixed_logit_scale, label_graph, token_graph, xsample_loss
from ..lr_schedule import set_lr
from ..models import ModelConfigError, count_parameters
from ..models.clip import CLIP, SPEC_METADATA_KEY, create_clip, load_clip_weights
from ..precision import autocast_dtype, grad_scaler
from ..step_guard import StepGuard
from ..text import BpeTokenizer, Tokenizer, WordTokenizer, tokenize
from ..train import plan_batches, step_seed
from ..wire import WireError
from .embed_jobs import ImageSource, TensorImages, augment_config
from .handles import ModelEntry, OptimizerEntry, held, worker_device
from .model_jobs import seeded
from .registry import Body, JobContext, job
from .train_jobs import checked_plan

DEFAULT_BATCH_SIZE = 256
DEFAULT_PAIRS = 100


@dataclass(eq=False)
class ClipEntry(ModelEntry):
    """A CLIP model and the tokenizer its token embedding was built for."""

    tokenizer: Tokenizer | None = None  # always set by clip.create (a default only as ModelEntry's fields have one)

    @property
    def clip(self) -> CLIP:
        assert isinstance(self.model, CLIP)
        return self.model

    @property
    def tokens(self) -> Tokenizer:
        assert self.tokenizer is not None
        return self.tokenizer

    def checkpoint_metadata(self) -> dict[str, str]:
        """The model's spec (activation included), so that clip.create can check a checkpoint of it."""
        return {SPEC_METADATA_KEY: self.clip.spec.to_json()}


def _invalid(path: str, message: str) -> WireError:
    return WireError("INVALID_BODY", f"{path}: {message}", details={"path": path})


def _no_captions(dataset: ImageDataset, path: str, job_type: str) -> WireError:
    return _invalid(
        path,
        f"{dataset.uri} has no captions, which {job_type} needs: give npz datasets a `captions` array, folder"
        " datasets a .txt file beside every image, or use synthetic:trifeature",
    )


def _all_captions(dataset: ImageDataset, path: str, job_type: str) -> list[str]:
    captions = dataset.captions(np.arange(len(dataset))) if dataset.has_captions else None
    if captions is None:
        raise _no_captions(dataset, path, job_type)
    return captions


# --- clip.create ------------------------------------------------------------------------------


def _tokenizer(body: Body, ctx: JobContext) -> Tokenizer:
    spec = body["tokenizer"]
    if spec["kind"] == "bpe":
        if "vocab" not in spec:
            raise _invalid("tokenizer.vocab", "the bpe tokenizer needs the path of bpe_simple_vocab_16e6.txt.gz")
        return BpeTokenizer(spec["vocab"])  # TokenizerError names tokenizer.vocab
    if "dataset" not in spec:
        raise _invalid("tokenizer.dataset", "the words tokenizer needs a dataset handle whose captions give its vocabulary")
    try:
        dataset = ctx.state.get(spec["dataset"], ImageDataset)
    except WireError as exc:
        raise WireError(exc.code, f"tokenizer.dataset: {exc.message}", details={"path": "tokenizer.dataset"}) from None
    return WordTokenizer.from_captions(_all_captions(dataset, "tokenizer.dataset", "a words tokenizer"))


@job("clip.create")
def clip_create(body: Body, ctx: JobContext) -> Body:
    tokenizer = _tokenizer(body, ctx)
    try:
        with seeded(body["seed"]):
            model = create_clip(
                body["config"], vocab_size=tokenizer.vocab_size, context_length=body.get("context_length"),
                image_size=body.get("image_size"), activation=body.get("activation"),
            )
        # Options before weights: a bad lock is named without reading a large file first.
        model.lock(
            lock_image=body.get("lock_image", False), lock_image_unlocked_groups=body.get("lock_image_unlocked_groups", 0),
            lock_text=body.get("lock_text", False),
        )
        loaded = None
        if "checkpoint" in body:
            loaded = len(load_clip_weights(model, body["checkpoint"]).loaded)
        model.set_grad_checkpointing(body.get("grad_checkpointing", False))
    except ModelConfigError as exc:
        raise WireError("INVALID_BODY", f"{exc.field}: {exc.message}", details={"path": exc.field, "reason": exc.code}) from None
    except CheckpointError as exc:
        raise WireError(
            "INVALID_BODY", f"checkpoint: {exc.message}", details={"path": "checkpoint", "reason": exc.code}
        ) from None
    device = worker_device(body, ctx)
    model.to(device)
    if body.get("compile", False):  # in place: parameter names and state dict unchanged; compiled at the first call
        model.visual.compile()
        model.transformer.compile()
    result: Body = {
        "model": ctx.state.put(ClipEntry(model, device, tokenizer=tokenizer), "model"),
        "config": model.spec.config,
        "embed_dim": model.feature_dim,
        "image_size": model.spec.image_size,
        "context_length": model.spec.context_length,
        "vocab_size": model.spec.vocab_size,
        "activation": model.spec.activation,
        "tokenizer": tokenizer.kind,
        "parameters": count_parameters(model),
        "trainable_parameters": count_parameters(model, trainable_only=True),
        "device": str(device),
    }
    if loaded is not None:
        result["checkpoint_loaded"] = loaded
    return result


# --- clip.train -------------------------------------------------------------------------------


@job("clip.train")
def clip_train(body: Body, ctx: JobContext) -> Body:
    entry = held(ctx, body, "model", ClipEntry)
    optimizer = held(ctx, body, "optimizer", OptimizerEntry)
    if optimizer.model_handle != body["model"]:
        raise _invalid("optimizer", f"{body['optimizer']} optimizes {optimizer.model_handle}, not {body['model']}")
    dataset = held(ctx, body, "dataset", ImageDataset)
    if not dataset.has_captions:
        raise _no_captions(dataset, "dataset", "clip.train")
    cfg = augment_config(body, dataset, entry.clip.spec.image_size)
    indices, offsets = checked_plan(body, len(dataset))
    try:
        batches = plan_batches((indices, offsets))
    except InvalidArgument as exc:
        raise _invalid("offsets", exc.reason) from None
    loss = body["loss"]
    # protocol.json's schema has refused negative temperatures; 0 has no logarithm.
    fixed_scale = None
    if "temperature" in loss:
        try:
            fixed_scale = fixed_logit_scale(loss["temperature"])
        except InvalidArgument as exc:
            raise _invalid("loss.temperature", exc.reason) from None
    if "target_temperature" in loss and not loss["target_temperature"] > 0:
        raise _invalid("loss.target_temperature", f"must be > 0, got {loss['target_temperature']}")
    if loss["name"] == "clip":
        extra = next((name for name in ("target_temperature", "graph", "attribute") if name in loss), None)
        if extra is not None:
            raise _invalid(f"loss.{extra}", "only the xsample loss takes it; leave it out or use name xsample")
    graph_labels = None
    if loss["name"] == "xsample" and loss.get("graph") == "labels":
        name = loss.get("attribute")
        if name not in dataset.attributes:
            known = ", ".join(dataset.attributes) or "none"
            raise _invalid("loss.attribute", f"the labels graph needs one of the dataset's attributes ({known}), got {name!r}")
        graph_labels = torch.from_numpy(dataset.attributes[name].labels)
    first_step, seed = body.get("first_step", 0), body["seed"]
    schedule = optimizer.schedule  # sets the learning rate of every step, as in the train job
    if schedule is not None:
        try:
            schedule.check_steps(first_step, len(batches))
        except InvalidArgument as exc:
            raise _invalid(exc.field, exc.reason) from None
    progress_every = body.get("progress_every", 1)
    try:
        amp_dtype = autocast_dtype(body.get("precision", "auto"), entry.device)
    except InvalidArgument as exc:
        raise _invalid(exc.field, exc.reason) from None
    scaler = grad_scaler(amp_dtype, entry.device)

    model, tokenizer = entry.clip, entry.tokens
    trainable = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator(device=entry.device)
    losses: list[float] = []
    # The log scale the last step's loss used: a copy, as the clamp after the step changes the
    # parameter; read once at the end rather than synchronising with the device every step.
    last_scale: torch.Tensor | float | None = None
    rates: list[float] = []
    samples = truncated = 0
    started = window = time.perf_counter()
    window_samples = 0
    stopped = False
    with entry.use(body["model"], "clip.train"), distributed.synced_batch_norm(model), \
            ctx.state.loaders.borrowed(body["dataset"], loader_options(body, dataset.decodes)) as loader:
        model.train()
        guard = StepGuard(model, optimizer.optimizer, entry.device, len(batches), first_step)
        # The next batches' images load in loader processes (body `data`) while a step computes;
        # the processes are kept for the next job on the same dataset handle.
        images_of = loader.load(dataset.get_images, batches, pin_memory=entry.device.type == "cuda")
        with closing(images_of):
            for position, batch in enumerate(batches):
                if distributed.any_rank(ctx.cancelled):
                    stopped = True
                    break
                step = first_step + position
                if schedule is not None:
                    set_lr(optimizer.optimizer, schedule.lr_at(step))
                lr = float(optimizer.optimizer.param_groups[0]["lr"])
                # With W ranks each encodes its shard of the batch; the loss sees the gathered batch.
                # Every rank draws the views of the whole batch, as train.py does, so that a sample's
                # view does not depend on the rank that encodes it.
                mine = distributed.shard(batch.numel())
                generator.manual_seed(step_seed(seed, step))
                images = augment(next(images_of).to(entry.device, non_blocking=True), cfg, generator)[mine]
                captions = dataset.captions(batch[mine])
                assert captions is not None
                tokens = tokenize(tokenizer, captions, model.context_length)
                truncated += tokens.truncated
                batch_tokens = tokens.tokens
                if len(captions) < batch.numel():  # the tokens graph relates the gathered batch, not this shard
                    every = dataset.captions(batch)
                    assert every is not None
                    batch_tokens = tokenize(tokenizer, every, model.context_length).tokens
                guard.before_forward()
                with torch.autocast(entry.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    image_z, text_z, logit_scale = model(images, tokens.tokens.to(entry.device))
                image_z = distributed.all_gather_with_grad(image_z.float(), batch.numel())
                text_z = distributed.all_gather_with_grad(text_z.float(), batch.numel())
                used_scale = fixed_scale if fixed_scale is not None else logit_scale
                value_t = _loss(loss, image_z, text_z, used_scale, graph_labels, batch,
                                (batch_tokens, (tokenizer.sot, tokenizer.eot)))
                last_scale = used_scale if isinstance(used_scale, float) else used_scale.detach().clone()
                guard.record(position, value_t)  # read at progress points; the updates stop at a non-finite one
                # Every rank computed the loss of the whole gathered batch: its gradients are averaged.
                guard.backward_and_step(value_t, scaler, lambda: distributed.average_gradients(trainable))
                model.clamp_logit_scale_()  # as open_clip after every step: within [0, ln 100] for the next
                rates.append(lr)
                samples += batch.numel()
                window_samples += batch.numel()
                done = position + 1
                if done % progress_every == 0 or done == len(batches):
                    read = guard.read(done)
                    losses += read
                    now = time.perf_counter()
                    ctx.progress({"step": step + 1, "steps": first_step + len(batches), "loss": read[-1], "lr": lr,
                                  "samples_per_s": window_samples / max(now - window, 1e-9)})
                    window, window_samples = now, 0
        losses += guard.read(len(rates))  # the steps since the last progress point, when cancelled
    if stopped:
        ctx.check_cancelled()
    elapsed = max(time.perf_counter() - started, 1e-9)
    if last_scale is None:
        last_scale = model.logit_scale.detach()
    return {
        "steps": len(losses),
        "samples": samples,
        "mean_loss": sum(losses) / len(losses) if losses else math.nan,
        "last_loss": losses[-1] if losses else math.nan,
        "first_lr": rates[0] if rates else math.nan,
        "last_lr": rates[-1] if rates else math.nan,
        "samples_per_s": samples / elapsed,
        "seconds": elapsed,
        "truncated_captions": truncated,
        "logit_scale": math.exp(last_scale) if isinstance(last_scale, float) else float(last_scale.float().exp()),
    }


def _loss(
    spec: Body, image_z: torch.Tensor, text_z: torch.Tensor, scale: torch.Tensor | float,
    graph_labels: torch.Tensor | None, batch: torch.Tensor, batch_tokens: tuple[torch.Tensor, tuple[int, int]],
) -> torch.Tensor:
    """The loss of one gathered batch: clip, or xsample with a graph of the batch's samples.
    `scale` is the log inverse temperature: the model's learnable one, or a fixed one (the
    learnable one then gets no gradient). `batch_tokens`: the batch's token ids and the
    tokenizer's start and end ids, between which the tokens graph reads a caption."""
    if spec["name"] == "clip":
        return clip_loss(image_z, text_z, scale)
    if graph_labels is not None:
        graph = label_graph(graph_labels[batch].to(image_z.device))
    else:
        tokens, (sot, eot) = batch_tokens
        graph = token_graph(tokens.to(image_z.device), sot=sot, eot=eot)
    return xsample_loss(
        image_z, text_z, graph, logit_scale=scale,
        target_temperature=spec.get("target_temperature", DEFAULT_TARGET_TEMPERATURE),
    )


# --- clip.embed_text --------------------------------------------------------------------------


@job("clip.embed_text")
def clip_embed_text(body: Body, ctx: JobContext) -> Body:
    entry = held(ctx, body, "model", ClipEntry)
    dataset = held(ctx, body, "dataset", ImageDataset)
    captions = _all_captions(dataset, "dataset", "clip.embed_text")
    batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
    with entry.use(body["model"], "clip.embed_text"), eval_mode(entry.clip):  # encode_text_batches runs without grad
        z, truncated = encode_text_batches(entry.clip, entry.tokens, captions, batch_size, entry.device, ctx.check_cancelled)
    if body.get("normalize", False):
        z = torch.nn.functional.normalize(z, dim=1)
    return {"embedding": ctx.state.put(z, "embedding"), "shape": list(z.shape), "dtype": "float32",
            "truncated_captions": truncated}


# --- evaluation -------------------------------------------------------------------------------


def _integrated(body: Body, ctx: JobContext) -> tuple[IntegratedClip, list[ClipEntry]]:
    handles: list[str] = body["models"]
    entries = [held(ctx, body, f"models[{j}]", ClipEntry) for j in range(len(handles))]
    try:
        towers = IntegratedClip(
            [e.clip for e in entries], [e.tokens for e in entries],
            body.get("weights", [1.0] * len(entries)), body.get("normalize", "per-stage-l2"), entries[0].device,
        )
    except InvalidArgument as exc:
        raise _invalid(exc.field, exc.reason) from None
    return towers, entries


@contextmanager
def _using(body: Body, entries: list[ClipEntry], job_type: str) -> Iterator[None]:
    """Holds every model of an evaluation (BUSY if one is in use) in eval mode."""
    with ExitStack() as stack:
        for entry, handle in zip(entries, body["models"]):
            stack.enter_context(entry.use(handle, job_type))
            stack.enter_context(eval_mode(entry.clip))
        yield


def _encode_images(towers: IntegratedClip, images: ImageSource, cfg: AugmentConfig, batch_size: int,
                   ctx: JobContext, rows: torch.Tensor | None = None) -> torch.Tensor:
    """The integrated embeddings of the images at `rows` (default: all of them), in that order."""
    rows = torch.arange(len(images)) if rows is None else rows
    parts = []
    for start in range(0, rows.numel(), batch_size):
        ctx.check_cancelled()
        batch = images.get_images(rows[start : start + batch_size])
        parts.append(towers.encode_images(eval_transform(batch.to(towers.device), cfg)))
    return torch.cat(parts)


@job("clip.zero_shot")
def clip_zero_shot(body: Body, ctx: JobContext) -> Body:
    towers, entries = _integrated(body, ctx)
    dataset = held(ctx, body, "dataset", ImageDataset)
    cfg = augment_config(body, dataset, towers.image_size)
    names: list[str] = body.get("attributes", list(dataset.attributes))
    for i, name in enumerate(names):
        if name not in dataset.attributes:
            raise _invalid(f"attributes[{i}]", f"the dataset has no attribute {name!r}; it has: {', '.join(dataset.attributes) or 'none'}")
    if not names:
        raise _invalid("attributes", "the dataset has no labelled attribute to classify")
    template = body.get("template", DEFAULT_TEMPLATE)
    if "{}" not in template:
        raise _invalid("template", f"must contain {{}} where the class name goes, got {template!r}")
    batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
    captions = dataset.captions(np.arange(len(dataset))) if dataset.has_captions else None
    named = set(determined_by_captions(dataset, captions))
    scores, truncated = [], 0
    with _using(body, entries, "clip.zero_shot"):
        images = _encode_images(towers, dataset, cfg, batch_size, ctx)
        for name in names:
            info = dataset.attributes[name]
            prompts = class_prompts(info, captions if name in named else None, template)
            flat = [p for ps in prompts for p in ps]
            texts = towers.encode_texts(flat, batch_size, ctx.check_cancelled)
            truncated = max(truncated, texts.truncated)
            owner = torch.cat([torch.full((len(ps),), k) for k, ps in enumerate(prompts)]).to(texts.z.device)
            prototypes = torch.zeros(len(prompts), texts.z.shape[1], device=texts.z.device).index_add_(0, owner, texts.z)
            prototypes = torch.nn.functional.normalize(prototypes, dim=1)
            predicted = (images @ prototypes.T).argmax(dim=1).cpu()
            correct = predicted == torch.from_numpy(info.labels)
            scores.append({"name": name, "accuracy": float(correct.float().mean()), "n": len(dataset),
                           "n_classes": info.num_classes, "prompts": "captions" if name in named else "template"})
    return {"attributes": scores, "truncated_captions": truncated}


def _pair_scores(image_z: torch.Tensor, text_z: torch.Tensor, pairs: Pairs) -> list[Body]:
    first, second = torch.from_numpy(pairs.first), torch.from_numpy(pairs.second)
    hits = pair_hits(image_z[first], image_z[second], text_z[first], text_z[second]).cpu()
    out = []
    for name in dict.fromkeys(pairs.category):
        mask = torch.tensor([c == name for c in pairs.category])
        out.append({"name": name, "score": float(hits[mask].float().mean()), "pairs": int(mask.sum())})
    return out


def _pair_reply(categories: list[Body], skipped: list[str], truncated: int) -> Body:
    average = sum(c["score"] for c in categories) / len(categories) if categories else math.nan
    return {"categories": categories, "average": average, "skipped": skipped, "truncated_captions": truncated}


@job("clip.mmvp")
def clip_mmvp(body: Body, ctx: JobContext) -> Body:
    towers, entries = _integrated(body, ctx)
    dataset = held(ctx, body, "dataset", ImageDataset)
    cfg = augment_config(body, dataset, towers.image_size)
    captions = _all_captions(dataset, "dataset", "clip.mmvp")
    named = determined_by_captions(dataset, captions)
    categories: list[str] = body.get("categories", named)
    for i, name in enumerate(categories):
        if name not in named:
            raise _invalid(f"categories[{i}]", f"{name!r} is not an attribute the captions name; those are: {', '.join(named) or 'none'}")
    if not categories:
        raise _invalid("categories", "the dataset's captions name none of its attributes: no pair can be told apart by its statements")
    pairs, skipped = synthetic_pairs(dataset, captions, categories, body.get("pairs_per_category", DEFAULT_PAIRS), body["seed"])
    batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
    used = np.unique(np.concatenate([pairs.first, pairs.second]))
    with _using(body, entries, "clip.mmvp"):
        image_z = torch.zeros(len(dataset), sum(m.feature_dim for m in towers.models), device=towers.device)
        text_z = torch.zeros_like(image_z)
        image_z[used] = _encode_images(towers, dataset, cfg, batch_size, ctx, torch.from_numpy(used))
        texts = towers.encode_texts([captions[i] for i in used], batch_size, ctx.check_cancelled)
        text_z[used] = texts.z
    return _pair_reply(_pair_scores(image_z, text_z, pairs), skipped, texts.truncated)


@job("clip.mmvp_vlm")
def clip_mmvp_vlm(body: Body, ctx: JobContext) -> Body:
    towers, entries = _integrated(body, ctx)
    try:
        bench = read_mmvp_vlm(body["path"], towers.image_size, body.get("prefix", "a photo of "))
        cfg = AugmentConfig.from_dict(body.get("augment", {}))
    except InvalidArgument as exc:
        raise _invalid(exc.field, exc.reason) from None
    batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
    with _using(body, entries, "clip.mmvp_vlm"):
        image_z = _encode_images(towers, TensorImages(bench.images), cfg, batch_size, ctx)
        texts = towers.encode_texts(bench.statements, batch_size, ctx.check_cancelled)
    return _pair_reply(_pair_scores(image_z, texts.z, bench.pairs), [], texts.truncated)
