import copy
import math

import pytest
import torch
from torch import nn

from mcl_worker.errors import InvalidArgument, NonFiniteLoss
from mcl_worker.losses import nt_xent, supcon
from mcl_worker.train import StepStats, train_steps

IMAGES = torch.randint(0, 256, (64, 3, 6, 6), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


class TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(3 * 6 * 6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 16)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def get_images(indices: torch.Tensor) -> torch.Tensor:
    return IMAGES[indices]


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = images.float() / 255
    return x + 0.1 * torch.randn(x.shape, generator=generator, device=x.device)


def make(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = TinyEncoder()
    return model, torch.optim.Adam(model.parameters(), lr=3e-3)


def plan(steps: int, batch: int = 16, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(64, generator=g)[:batch] for _ in range(steps)]).to(torch.int32)


def parameters(model: nn.Module) -> list[torch.Tensor]:
    """Parameters and buffers (BatchNorm statistics)."""
    return [p.detach().clone() for p in [*model.parameters(), *model.buffers()]]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_loss_decreases_on_an_easy_problem() -> None:
    model, optimizer = make()
    losses: list[float] = []
    result = train_steps(model, optimizer, plan(40), get_images, augment, nt_xent, seed=0,
                         progress_every=1, on_progress=lambda s: losses.append(s.loss))
    assert result.steps == 40 and not result.stopped and len(losses) == 40
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    assert result.last_loss == losses[-1]
    assert result.mean_loss == pytest.approx(sum(losses) / 40)
    assert result.samples_per_s > 0


def test_progress_is_reported_every_n_steps_and_at_the_end() -> None:
    model, optimizer = make()
    reports: list[StepStats] = []
    train_steps(model, optimizer, plan(7), get_images, augment, nt_xent, seed=0, first_step=20,
                progress_every=3, on_progress=reports.append)
    assert [(r.step, r.steps_done, r.steps_total) for r in reports] == [(22, 3, 7), (25, 6, 7), (26, 7, 7)]
    assert all(r.samples_per_s > 0 and math.isfinite(r.mean_loss) for r in reports)
    assert reports[-1].mean_loss == reports[-1].loss  # a window of one step


def test_should_stop_is_checked_between_steps() -> None:
    model, optimizer = make()
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = train_steps(model, optimizer, plan(10), get_images, augment, nt_xent, seed=0, should_stop=should_stop)
    assert result.steps == 3 and result.stopped
    before = parameters(model)
    stopped_at_once = train_steps(model, optimizer, plan(10), get_images, augment, nt_xent, seed=0,
                                  should_stop=lambda: True)
    assert stopped_at_once.steps == 0 and stopped_at_once.stopped and math.isnan(stopped_at_once.mean_loss)
    assert same(before, parameters(model))


def test_a_non_finite_loss_names_the_step_and_leaves_model_and_optimizer_untouched() -> None:
    model, optimizer = make()
    calls = {"n": 0}

    def poisoned(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        calls["n"] += 1  # two calls a step: the 5th call is the first view of the 3rd step
        view = augment(images, generator)
        return view * math.nan if calls["n"] == 5 else view

    snapshot: dict[str, object] = {}

    def remember(stats: StepStats) -> None:
        snapshot["params"] = parameters(model)
        snapshot["optimizer"] = copy.deepcopy(optimizer.state_dict())

    with pytest.raises(NonFiniteLoss) as error:
        train_steps(model, optimizer, plan(5), get_images, poisoned, nt_xent, seed=0, first_step=100,
                    progress_every=1, on_progress=remember)
    assert error.value.step == 102 and error.value.details["step"] == 102
    assert error.value.code == "NON_FINITE_LOSS" and "step 102" in str(error.value)
    assert same(snapshot["params"], parameters(model))  # type: ignore[arg-type]
    state = optimizer.state_dict()["state"]
    saved = snapshot["optimizer"]["state"]  # type: ignore[index]
    assert all(torch.equal(state[i]["exp_avg"], saved[i]["exp_avg"]) for i in state)
    assert all(int(state[i]["step"]) == 2 for i in state)


def test_deterministic_under_seed_and_independent_of_chunking() -> None:
    whole_model, whole_opt = make()
    train_steps(whole_model, whole_opt, plan(6), get_images, augment, nt_xent, seed=7)
    again_model, again_opt = make()
    train_steps(again_model, again_opt, plan(6), get_images, augment, nt_xent, seed=7)
    assert same(parameters(whole_model), parameters(again_model))

    chunked_model, chunked_opt = make()
    steps = plan(6)
    train_steps(chunked_model, chunked_opt, steps[:4], get_images, augment, nt_xent, seed=7)
    train_steps(chunked_model, chunked_opt, steps[4:], get_images, augment, nt_xent, seed=7, first_step=4)
    assert same(parameters(whole_model), parameters(chunked_model))

    other_model, other_opt = make()
    train_steps(other_model, other_opt, plan(6), get_images, augment, nt_xent, seed=8)
    assert not same(parameters(whole_model), parameters(other_model))


def test_auto_precision_is_fp32_on_cpu() -> None:
    plain_model, plain_opt = make()
    train_steps(plain_model, plain_opt, plan(3), get_images, augment, nt_xent, seed=0, precision="fp32")
    auto_model, auto_opt = make()
    train_steps(auto_model, auto_opt, plan(3), get_images, augment, nt_xent, seed=0, precision="auto")
    assert same(parameters(plain_model), parameters(auto_model))


def test_variable_batches_and_labels_reach_the_loss() -> None:
    model, optimizer = make()
    labels = torch.arange(64) % 4
    seen: list[tuple[int, torch.Tensor | None]] = []

    def spy(z_a: torch.Tensor, z_b: torch.Tensor, *, temperature: float = 0.2,
            labels: torch.Tensor | None = None) -> torch.Tensor:
        seen.append((z_a.shape[0], labels))
        return supcon(z_a, z_b, temperature=temperature, labels=labels)

    indices = torch.arange(20, dtype=torch.int32)
    offsets = torch.tensor([0, 5, 8, 20])
    result = train_steps(model, optimizer, (indices, offsets), get_images, augment, spy, seed=0, labels=labels)
    assert result.steps == 3 and [size for size, _ in seen] == [5, 3, 12]
    assert torch.equal(seen[1][1], labels[5:8])  # type: ignore[arg-type]
    assert result.first_lr == result.last_lr == 3e-3  # no schedule: the optimizer's own rate


def test_bad_plans_are_named() -> None:
    model, optimizer = make()

    def run(bad_plan: object) -> None:
        train_steps(model, optimizer, bad_plan, get_images, augment, nt_xent, seed=0)  # type: ignore[arg-type]

    with pytest.raises(InvalidArgument, match="B >= 2"):
        run(torch.zeros(4, 1, dtype=torch.int32))
    with pytest.raises(InvalidArgument, match=r"\[steps, B\]"):
        run(torch.zeros(4, 8))
    with pytest.raises(InvalidArgument, match=">= 0"):
        run(torch.tensor([[0, -1]]))
    with pytest.raises(InvalidArgument, match="batch 1 has 1 samples") as error:
        run((torch.arange(5), torch.tensor([0, 3, 4, 5])))
    assert error.value.field == "plan.offsets"
    with pytest.raises(InvalidArgument, match="end at len"):
        run((torch.arange(5), torch.tensor([0, 3])))
    with pytest.raises(InvalidArgument, match="seed"):
        train_steps(model, optimizer, plan(1), get_images, augment, nt_xent, seed=-1)
