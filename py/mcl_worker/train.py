"""The training-step loop of the `train` job: one chunk of a batch plan, step by step.

Each step takes the batch's images, draws two augmented views, embeds both in one forward
pass, computes the contrastive loss and applies one optimizer step. The loop knows nothing
of datasets, augmentations or encoders: they come in as callables / modules.

Augmentation randomness is reseeded at every step from (seed, global step), and the learning
rate of a step is its schedule's rate at the global step (mcl_worker.lr_schedule), so a run that
is split into chunks, or resumed from a checkpoint, draws the same views and takes the same
steps as one that is not.

Data-parallel (mcl_worker.distributed, W ranks): every rank draws the views of the whole
global batch from the same seed, and embeds its own contiguous slice of them (distributed.shard)
in DistributedDataParallel, with BatchNorm statistics taken over the
global batch. The projections are gathered with their gradient, so each rank computes the
loss of the whole global batch (every sample a negative of every other), and the step equals
the single-process one up to float rounding. Drawing the views of the whole batch on every
rank costs W times the augmentation work, and makes a sample's views independent of the
rank that embeds it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import distributed
from .data.batch_loader import GetImages, LoaderOptions, LoaderPool
from .errors import InvalidArgument
from .losses import ContrastiveLoss
from .lr_schedule import LrSchedule, set_lr
from .precision import autocast_dtype, grad_scaler
from .step_guard import StepGuard

# A plan is either [steps, B] sample indices (one batch a row), or, for batches of varying
# size, (indices [M], offsets [steps + 1]) with batch s = indices[offsets[s]:offsets[s + 1]].
BatchPlan = Tensor | tuple[Tensor, Tensor]
Augment = Callable[[Tensor, torch.Generator], Tensor]  # uint8 [B, C, H, W] -> float view [B, C, H, W]


@dataclass(frozen=True)
class StepStats:
    step: int  # global index of the step just finished (first_step + position in the plan)
    steps_done: int  # steps finished by this call so far
    steps_total: int  # steps in this call's plan
    loss: float  # loss of that step
    lr: float  # learning rate of that step
    mean_loss: float  # mean loss of the steps since the previous report
    samples_per_s: float  # samples (not views) per second since the previous report


@dataclass(frozen=True)
class TrainResult:
    steps: int  # steps applied
    mean_loss: float  # over those steps (NaN when none)
    last_loss: float  # NaN when none
    first_lr: float  # learning rate of the first step applied (NaN when none)
    last_lr: float  # learning rate of the last step applied (NaN when none)
    samples_per_s: float  # over the whole call
    stopped: bool  # should_stop() ended the call before the plan's end
    data_wait_s: float = 0.0  # time the steps waited for their images


def train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    plan: BatchPlan,
    get_images: GetImages,
    augment: Augment,
    loss_fn: ContrastiveLoss,
    *,
    seed: int,
    temperature: float = 0.2,
    first_step: int = 0,
    labels: Tensor | None = None,
    device: torch.device | str | None = None,
    precision: str = "auto",
    schedule: LrSchedule | None = None,
    progress_every: int = 10,
    on_progress: Callable[[StepStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    loader: LoaderPool | None = None,
) -> TrainResult:
    """Runs every batch of `plan` as one optimizer step; returns what was done.

    - model maps a float batch [2B, C, H, W] to projections [2B, D]; it is put in train mode.
    - augment(images, generator) is called twice a step for the two views; `generator` is a
      torch.Generator on `device` (default: the model's), where the images are moved first.
    - labels: one integer label per dataset sample ([N], indexed with the plan), passed to
      loss_fn for a supervised loss (supcon); None for self-supervised losses.
    - precision: auto, fp32, bf16 or fp16 (mcl_worker.precision); fp16 steps with a GradScaler.
    - schedule: sets the learning rate of every step from its global index before the step
      runs; a plan that runs past schedule.total_steps is refused. None: the optimizer's rate.
    - on_progress gets a StepStats every `progress_every` steps and after the last one.
    - loader: how the images are loaded (mcl_worker.data.batch_loader): None, or a pool of 0
      workers, calls get_images(batch) at each step; a pool of workers > 0 loads the next batches
      in its loader processes while the step computes (get_images must then pickle, e.g. a
      dataset's bound method), and keeps them running for the pool's next plan.
    - should_stop is checked before every step; True ends the call (stopped=True). With several
      ranks, True on any of them stops all.
    Losses stay on the device and are read at progress points. A NaN or infinite loss raises
    NonFiniteLoss(step) naming the first bad step, with the model's weights, its buffers and the
    optimizer's state from before that step (mcl_worker.step_guard: without a host sync per step
    for a fused optimizer, with one before every update otherwise).
    """
    batches = plan_batches(plan)
    if isinstance(progress_every, bool) or not isinstance(progress_every, int) or progress_every < 1:
        raise InvalidArgument("progress_every", f"must be an integer >= 1, got {progress_every!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidArgument("seed", f"must be an integer in [0, 2^31), got {seed!r}")
    if isinstance(first_step, bool) or not isinstance(first_step, int) or not 0 <= first_step:
        raise InvalidArgument("first_step", f"must be an integer >= 0, got {first_step!r}")
    if schedule is not None:
        schedule.check_steps(first_step, len(batches))
    device = torch.device(device) if device is not None else next(model.parameters()).device
    amp_dtype = autocast_dtype(precision, device)
    scaler = grad_scaler(amp_dtype, device)
    generator = torch.Generator(device=device)
    if labels is not None:
        labels = labels.to(device)

    model.train()
    net = distributed.data_parallel(model)
    steps_total = len(batches)
    guard = StepGuard(model, optimizer, device, steps_total, first_step)
    losses: list[float] = []
    rates: list[float] = []
    samples = 0
    stopped = False
    started = window_started = time.perf_counter()
    window_samples = 0
    pool = loader if loader is not None else LoaderPool(LoaderOptions())
    data_wait_s = 0.0
    with closing(pool.load(get_images, batches, pin_memory=device.type == "cuda")) as images_of:
        for position, batch in enumerate(batches):
            if distributed.any_rank(should_stop is not None and should_stop()):
                stopped = True
                break
            step = first_step + position
            if schedule is not None:
                set_lr(optimizer, schedule.lr_at(step))
            lr = float(optimizer.param_groups[0]["lr"])
            waited = time.perf_counter()
            images = next(images_of).to(device, non_blocking=True)
            data_wait_s += time.perf_counter() - waited
            generator.manual_seed(step_seed(seed, step))
            view_a, view_b = augment(images, generator), augment(images, generator)
            mine = distributed.shard(batch.numel())
            views = torch.cat([view_a[mine], view_b[mine]])
            guard.before_forward()
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None), \
                    distributed.synced_batch_norm(model):
                projections = net(views)
            z_a, z_b = (distributed.all_gather_with_grad(z, batch.numel()) for z in projections.float().chunk(2))
            batch_labels = None if labels is None else labels[batch.to(device)]
            loss = loss_fn(z_a, z_b, temperature=temperature, labels=batch_labels)
            guard.record(position, loss)
            guard.backward_and_step(loss, scaler)

            rates.append(lr)
            samples += batch.numel()
            window_samples += batch.numel()
            done = position + 1
            if done % progress_every == 0 or done == steps_total:
                window = guard.read(done)
                losses += window
                if on_progress is not None:
                    now = time.perf_counter()
                    on_progress(StepStats(
                        step=step, steps_done=done, steps_total=steps_total, loss=window[-1], lr=lr,
                        mean_loss=sum(window) / len(window),
                        samples_per_s=window_samples / max(now - window_started, 1e-9),
                    ))
                    window_started, window_samples = now, 0
    losses += guard.read(len(rates))  # the steps since the last progress point, when stopped

    elapsed = max(time.perf_counter() - started, 1e-9)
    return TrainResult(
        steps=len(losses),
        mean_loss=sum(losses) / len(losses) if losses else math.nan,
        last_loss=losses[-1] if losses else math.nan,
        first_lr=rates[0] if rates else math.nan,
        last_lr=rates[-1] if rates else math.nan,
        samples_per_s=samples / elapsed,
        stopped=stopped,
        data_wait_s=data_wait_s,
    )


def step_seed(seed: int, step: int) -> int:
    """A distinct 32-bit seed for every step of a run (the CPU generator keeps only 32 bits);
    odd multipliers make it a bijection of the step for a given seed."""
    return (seed * 0x9E3779B1 + step * 0x85EBCA77) % 2**32


def plan_batches(plan: BatchPlan) -> list[Tensor]:
    """The plan's batches as int64 CPU index tensors, each checked to hold >= 2 samples."""
    if isinstance(plan, Tensor):
        if plan.dim() != 2 or plan.is_floating_point() or plan.shape[1] < 2:
            raise InvalidArgument(
                "plan", f"must be an integer tensor [steps, B] with B >= 2, got {plan.dtype} "
                f"{tuple(plan.shape)}"
            )
        flat = plan.to("cpu", torch.int64)
        batches = list(flat.unbind(0))
    else:
        indices, offsets = plan
        if indices.dim() != 1 or offsets.dim() != 1 or indices.is_floating_point() or offsets.is_floating_point():
            raise InvalidArgument("plan", "(indices, offsets) must be two 1-D integer tensors")
        offsets = offsets.to("cpu", torch.int64)
        sizes = offsets.diff()
        if offsets.numel() < 1 or int(offsets[0]) != 0 or int(offsets[-1]) != indices.numel():
            raise InvalidArgument(
                "plan.offsets", f"must start at 0 and end at len(indices) = {indices.numel()}"
            )
        if bool((sizes < 2).any()):
            step = int(torch.nonzero(sizes < 2)[0])
            raise InvalidArgument(
                "plan.offsets", f"batch {step} has {int(sizes[step])} samples; every batch needs >= 2"
            )
        flat = indices.to("cpu", torch.int64)
        batches = list(flat.split(sizes.tolist()))
    if flat.numel() and int(flat.min()) < 0:
        raise InvalidArgument("plan", f"sample indices must be >= 0, got {int(flat.min())}")
    return batches
