"""LrSchedule's checks, and train_steps applying it: every step runs with the rate of its global
index within the stage, set before the step, so that a stage split into jobs or resumed from a
checkpoint follows one curve. That the rates are open_clip's is test/py/oracles/test_lr_schedule.py's
claim; here the schedule's own lr_at is the reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from mcl_worker.checkpoint import (
    ScheduleMismatch,
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    training_state,
)
from mcl_worker.errors import InvalidArgument
from mcl_worker.losses import nt_xent
from mcl_worker.lr_schedule import LrSchedule, ScheduleName
from mcl_worker.train import StepStats, train_steps

IMAGES = torch.randint(0, 256, (48, 3, 6, 6), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
SCHEDULE = LrSchedule("cosine", 2e-3, 3, 10)


def test_bad_fields_and_steps_outside_the_stage_are_named() -> None:
    with pytest.raises(InvalidArgument, match=r"^step: must be in \[0, 10\)") as error:
        SCHEDULE.lr_at(10)
    assert error.value.field == "step"
    with pytest.raises(InvalidArgument, match=r"^first_step: steps 8\.\.11 run past") as error:
        SCHEDULE.check_steps(8, 4)
    assert error.value.field == "first_step"
    SCHEDULE.check_steps(8, 2)  # the stage's last two steps
    bad: list[tuple[str, tuple[object, ...]]] = [
        ("name", ("linear", 1e-3, 0, 10)), ("lr", ("cosine", -1.0, 0, 10)), ("lr", ("cosine", float("nan"), 0, 10)),
        ("warmup_steps", ("cosine", 1e-3, -1, 10)), ("total_steps", ("cosine", 1e-3, 0, 0)),
        ("total_steps", ("cosine", 1e-3, 0, True)),
    ]
    for field, args in bad:
        with pytest.raises(InvalidArgument, match=rf"^{field}: ") as error:
            LrSchedule(*args)  # type: ignore[arg-type]
        assert error.value.field == field


def test_a_recorded_schedule_reads_back_and_a_damaged_one_is_named() -> None:
    assert LrSchedule.from_json(SCHEDULE.to_json()) == SCHEDULE
    with pytest.raises(InvalidArgument, match=r"^schedule: not a recorded schedule"):
        LrSchedule.from_json('{"name": "cosine"}')


# -- applied by train_steps ----------------------------------------------------------------------


def get_images(indices: torch.Tensor) -> torch.Tensor:
    return IMAGES[indices]


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = images.float() / 255
    return x + 0.1 * torch.randn(x.shape, generator=generator, device=x.device)


def make() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8))
    return model, torch.optim.AdamW(model.parameters(), lr=1.0)  # the schedule sets every rate


def plan(steps: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.stack([torch.randperm(48, generator=g)[:12] for _ in range(steps)]).to(torch.int32)


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]


def same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(weights(a), weights(b)))


def run(model: nn.Module, optimizer: torch.optim.Optimizer, steps: torch.Tensor, first_step: int,
        schedule: LrSchedule | None) -> list[float]:
    """Trains `steps` from global step `first_step`; returns the rate each step's update used."""
    rates: list[float] = []

    def spy(z_a: torch.Tensor, z_b: torch.Tensor, *, temperature: float = 0.2,
            labels: torch.Tensor | None = None) -> torch.Tensor:
        rates.append(optimizer.param_groups[0]["lr"])  # the loss is computed after the rate is set
        return nt_xent(z_a, z_b, temperature=temperature, labels=labels)

    reported: list[StepStats] = []
    train_steps(model, optimizer, steps, get_images, augment, spy, seed=3, first_step=first_step,
                schedule=schedule, on_progress=reported.append, progress_every=1)
    assert [s.lr for s in reported] == rates
    return rates


@pytest.mark.parametrize("name", ["constant", "cosine"])
def test_each_step_runs_with_its_rate_set_before_it(name: ScheduleName) -> None:
    total = 9
    schedule = LrSchedule(name, 2e-3, 4, total)
    model, optimizer = make()
    rates = run(model, optimizer, plan(total), 0, schedule)
    assert rates == [schedule.lr_at(step) for step in range(total)]

    # The same steps one job each, the rate set by hand before each and no schedule given.
    by_hand, by_hand_optimizer = make()
    for step, batch in enumerate(plan(total)):
        for group in by_hand_optimizer.param_groups:
            group["lr"] = schedule.lr_at(step)
        run(by_hand, by_hand_optimizer, batch[None], step, None)
    assert same(model, by_hand)


def test_two_chunks_follow_the_curve_of_one_job() -> None:
    whole_model, whole_optimizer = make()
    whole = run(whole_model, whole_optimizer, plan(10), 0, SCHEDULE)
    model, optimizer = make()
    chunked = run(model, optimizer, plan(10)[:4], 0, SCHEDULE) + run(model, optimizer, plan(10)[4:], 4, SCHEDULE)
    assert chunked == whole
    assert same(model, whole_model)


def test_a_plan_past_the_stage_is_refused_before_any_step() -> None:
    model, optimizer = make()
    before = weights(model)
    with pytest.raises(InvalidArgument, match=r"^first_step: steps 8\.\.11 run past"):
        run(model, optimizer, plan(4), 8, SCHEDULE)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))


# -- across a checkpoint -------------------------------------------------------------------------


def test_a_resumed_run_continues_the_schedule_and_the_weights(tmp_path: Path) -> None:
    whole_model, whole_optimizer = make()
    whole = run(whole_model, whole_optimizer, plan(10), 0, SCHEDULE)

    model, optimizer = make()
    first = run(model, optimizer, plan(10)[:6], 0, SCHEDULE)
    tensors, metadata = training_state(model, optimizer, SCHEDULE)
    path = save_checkpoint(tmp_path / "stage.safetensors", tensors, metadata)
    resumed_model, resumed_optimizer = make()
    restore_training_state(resumed_model, resumed_optimizer, *load_checkpoint(path), SCHEDULE)
    rest = run(resumed_model, resumed_optimizer, plan(10)[6:], 6, SCHEDULE)
    assert first + rest == whole
    assert same(resumed_model, whole_model)


@pytest.mark.parametrize("field,other", [
    ("warmup_steps", LrSchedule("cosine", 2e-3, 4, 10)), ("name", LrSchedule("constant", 2e-3, 3, 10)),
    ("total_steps", LrSchedule("cosine", 2e-3, 3, 12)), ("lr", LrSchedule("cosine", 1e-3, 3, 10)),
])
def test_a_resumed_run_under_another_schedule_is_refused(tmp_path: Path, field: str, other: LrSchedule) -> None:
    model, optimizer = make()
    tensors, metadata = training_state(model, optimizer, SCHEDULE)
    path = save_checkpoint(tmp_path / "stage.safetensors", tensors, metadata)
    expected = rf"^schedule\.{field}: the checkpoint was trained with {field} .*, this optimizer's schedule has {field} "
    with pytest.raises(ScheduleMismatch, match=expected) as error:
        restore_training_state(*make(), *load_checkpoint(path), other)
    assert error.value.field == field
    with pytest.raises(ScheduleMismatch, match=r"^schedule\.name: .*, this optimizer has no schedule \(a constant rate\)"):
        restore_training_state(*make(), *load_checkpoint(path), None)
    # The weights alone (a new stage from them) are not bound to the schedule.
    restore_training_state(make()[0], None, *load_checkpoint(path), other)


def test_a_checkpoint_without_a_recorded_schedule_resumes_only_at_a_constant_rate(tmp_path: Path) -> None:
    model, optimizer = make()
    tensors, metadata = training_state(model, optimizer)
    path = save_checkpoint(tmp_path / "plain.safetensors", tensors, metadata)
    restore_training_state(*make(), *load_checkpoint(path), None)
    restore_training_state(*make(), *load_checkpoint(path), LrSchedule("constant", 2e-3, 0, 10))
    with pytest.raises(ScheduleMismatch, match=r"^schedule\.warmup_steps: the checkpoint records no schedule"):
        restore_training_state(*make(), *load_checkpoint(path), LrSchedule("constant", 2e-3, 5, 10))
    with pytest.raises(ScheduleMismatch, match=r"^schedule\.name: the checkpoint records no schedule"):
        restore_training_state(*make(), *load_checkpoint(path), SCHEDULE)
