"""The loss check without a host sync per step: a fused optimizer skips every update from the first
non-finite loss on, on the device; the host reads the losses at progress points and raises there,
naming the first bad step, with the weights, buffers and optimizer state of before it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mcl_worker.errors import InvalidArgument, NonFiniteLoss
from mcl_worker.losses import nt_xent
from mcl_worker.precision import autocast_dtype
from mcl_worker.step_guard import StepGuard, skips_on_device
from mcl_worker.train import StepStats, train_steps

from .test_train import TinyEncoder, augment, get_images, parameters, plan, same


def make(optimizer: str = "adam", seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = TinyEncoder()
    if optimizer == "adam":
        return model, torch.optim.Adam(model.parameters(), lr=3e-3, fused=True)
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, fused=True)


def poison_view(call: int):  # type: ignore[no-untyped-def]
    """An augment whose `call`-th call (two a step) gives a NaN view; it counts its calls."""
    calls = {"n": 0}

    def poisoned(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        calls["n"] += 1
        view = augment(images, generator)
        return view * math.nan if calls["n"] == call else view

    return poisoned, calls


def test_fused_optimizers_skip_on_the_device_and_plain_ones_do_not() -> None:
    model = nn.Linear(2, 2)
    assert skips_on_device(torch.optim.AdamW(model.parameters(), fused=True))
    assert skips_on_device(torch.optim.SGD(model.parameters(), lr=0.1, fused=True))
    assert not skips_on_device(torch.optim.Adam(model.parameters()))

    class OwnAdam(torch.optim.Adam):  # a subclass may step without reading found_inf
        pass

    assert not skips_on_device(OwnAdam(model.parameters(), fused=True))


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_a_nan_is_read_at_the_progress_point_with_the_state_of_before_its_step(name: str) -> None:
    reference, reference_opt = make(name)
    train_steps(reference, reference_opt, plan(2), get_images, augment, nt_xent, seed=0, first_step=100)

    model, optimizer = make(name)
    poisoned, calls = poison_view(5)  # the first view of the third step
    reports: list[StepStats] = []
    with pytest.raises(NonFiniteLoss) as error:
        train_steps(model, optimizer, plan(8), get_images, poisoned, nt_xent, seed=0, first_step=100,
                    progress_every=5, on_progress=reports.append)
    assert error.value.step == 102 and reports == []
    assert calls["n"] == 10  # no read per step: the loop ran on to the progress point (step 104)
    assert same(parameters(model), parameters(reference))  # weights and BatchNorm statistics
    for p, q in zip(model.parameters(), reference.parameters()):
        for key, value in reference_opt.state[q].items():
            assert torch.equal(optimizer.state[p][key], value), key


def test_a_nan_at_the_first_step_of_a_fresh_optimizer_leaves_it_fresh() -> None:
    # A skipped first SGD step would leave an uninitialised momentum buffer behind.
    model, optimizer = make("sgd")
    before = parameters(model)
    poisoned, _ = poison_view(1)
    with pytest.raises(NonFiniteLoss) as error:
        train_steps(model, optimizer, plan(4), get_images, poisoned, nt_xent, seed=0, progress_every=4)
    assert error.value.step == 0 and optimizer.state_dict()["state"] == {}
    assert same(before, parameters(model))
    # and it trains on as a fresh one would
    train_steps(model, optimizer, plan(3), get_images, augment, nt_xent, seed=0)
    fresh, fresh_opt = make("sgd")
    train_steps(fresh, fresh_opt, plan(3), get_images, augment, nt_xent, seed=0)
    assert same(parameters(model), parameters(fresh))


def test_losses_are_read_at_progress_points_and_a_stop_reads_the_rest() -> None:
    model, optimizer = make()
    reports: list[StepStats] = []
    seen = {"n": 0}

    def stop() -> bool:
        seen["n"] += 1
        return seen["n"] > 7

    result = train_steps(model, optimizer, plan(10), get_images, augment, nt_xent, seed=0, progress_every=3,
                         on_progress=reports.append, should_stop=stop)
    assert [r.steps_done for r in reports] == [3, 6] and result.steps == 7 and result.stopped
    assert all(math.isfinite(r.loss) and r.mean_loss > 0 for r in reports)
    assert math.isfinite(result.last_loss) and result.last_loss != reports[-1].loss


def test_a_fused_run_matches_a_plain_one() -> None:
    # SGD: Adam would scale the rounding noise of the gradient of the bias before BatchNorm (zero) to lr.
    fused, fused_opt = make("sgd")
    train_steps(fused, fused_opt, plan(4), get_images, augment, nt_xent, seed=3, progress_every=4)
    torch.manual_seed(0)
    plain = TinyEncoder()
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.05, momentum=0.9)
    train_steps(plain, plain_opt, plan(4), get_images, augment, nt_xent, seed=3)
    for a, b in zip(parameters(fused), parameters(plain)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_grad_scaler_step_is_skipped_once_a_loss_was_non_finite() -> None:
    # fp16 with a GradScaler is refused on the CPU by train_steps; the guard's part runs here.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    scaler = torch.amp.GradScaler("cpu")
    guard = StepGuard(model, optimizer, torch.device("cpu"), 4, 0)
    x = torch.randn(16, 4)
    snapshot: list[torch.Tensor] = []
    for position in range(4):
        if position == 2:
            snapshot = parameters(model)
        guard.before_forward()
        with torch.autocast("cpu", dtype=torch.float16):
            out = model(x * (math.inf if position == 2 else 1.0))
        loss = out.float().square().mean()
        guard.record(position, loss)
        guard.backward_and_step(loss, scaler)
    with pytest.raises(NonFiniteLoss) as error:
        guard.read(4)
    assert error.value.step == 2
    assert same(snapshot, parameters(model))


def test_bf16_runs_on_the_cpu_and_fp16_is_refused_there() -> None:
    fp32, fp32_opt = make()
    train_steps(fp32, fp32_opt, plan(3), get_images, augment, nt_xent, seed=0, precision="fp32")
    bf16, bf16_opt = make()
    result = train_steps(bf16, bf16_opt, plan(3), get_images, augment, nt_xent, seed=0, precision="bf16")
    assert result.steps == 3 and math.isfinite(result.mean_loss)
    assert not same(parameters(fp32), parameters(bf16))  # the autocast took effect
    for a, b in zip(parameters(fp32), parameters(bf16)):
        torch.testing.assert_close(a, b, rtol=0.1, atol=0.02)
    for precision, expected in (("fp16", "needs a CUDA device"), ("fp8", "must be one of")):
        with pytest.raises(InvalidArgument) as error:
            train_steps(*make(), plan(1), get_images, augment, nt_xent, seed=0, precision=precision)
        assert error.value.field == "precision" and expected in error.value.reason


@pytest.mark.parametrize("capability, expected", [((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16), ((7, 5), None)])
def test_auto_is_bf16_on_cuda_devices_of_compute_capability_8_or_more(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], expected: torch.dtype | None,
) -> None:
    asked: list[torch.device] = []

    def device_capability(device: torch.device) -> tuple[int, int]:
        asked.append(device)
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", device_capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert autocast_dtype("auto", torch.device("cuda:1")) == expected
    assert asked == [torch.device("cuda:1")]  # the device the step runs on, not the current one
    assert autocast_dtype("auto", torch.device("cpu")) is None
