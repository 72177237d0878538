"""training_state / restore_training_state: training resumes bit for bit, and misfits are named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from mcl_worker.checkpoint import (
    CheckpointError,
    flatten_optimizer_state,
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    training_state,
    unflatten_optimizer_state,
)
from mcl_worker.models import ContrastiveModel, create_model

OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "sgd-momentum-nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.8, 0.95)),
    "adamw-amsgrad": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.05, amsgrad=True),
}


def tiny_model(seed: int) -> ContrastiveModel:
    torch.manual_seed(seed)
    return create_model("small-cnn", image_size=8, widths=(4, 8), proj_dim=4, proj_hidden=6)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: torch.Tensor) -> None:
    optimizer.zero_grad()
    model(batch).pow(2).mean().backward()
    optimizer.step()


def two_param_groups(model: ContrastiveModel) -> list[dict[str, object]]:
    # Two groups so that the param-group bookkeeping is exercised, with a per-group lr.
    return [{"params": list(model.backbone.parameters())}, {"params": list(model.head.parameters()), "lr": 2e-3}]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resumed_training_is_bit_for_bit_identical(tmp_path: Path, name: str) -> None:
    torch.manual_seed(10)
    batches = [torch.randn(4, 3, 8, 8) for _ in range(3)]
    model = tiny_model(0)
    optimizer = OPTIMIZERS[name](two_param_groups(model))  # type: ignore[arg-type]
    for batch in batches[:2]:
        train_step(model, optimizer, batch)

    tensors, metadata = training_state(model, optimizer)
    metadata["stage"] = "1"
    save_checkpoint(tmp_path / "c.safetensors", tensors, metadata)

    resumed = tiny_model(1)  # other initial weights: everything must come from the file
    resumed_optimizer = OPTIMIZERS[name](two_param_groups(resumed))  # type: ignore[arg-type]
    loaded, loaded_metadata = load_checkpoint(tmp_path / "c.safetensors")
    restore_training_state(resumed, resumed_optimizer, loaded, loaded_metadata)
    assert loaded_metadata["stage"] == "1"
    assert resumed_optimizer.param_groups[1]["lr"] == 2e-3
    if "betas" in optimizer.param_groups[0]:
        assert resumed_optimizer.param_groups[0]["betas"] == optimizer.param_groups[0]["betas"]
        assert isinstance(resumed_optimizer.param_groups[0]["betas"], tuple)

    train_step(model, optimizer, batches[2])
    train_step(resumed, resumed_optimizer, batches[2])
    original, again = model.state_dict(), resumed.state_dict()
    for key in original:  # parameters and BatchNorm buffers alike
        assert torch.equal(original[key], again[key]), key
    # The optimiser states agree too, so the step after this one would as well.
    a, _ = flatten_optimizer_state(optimizer.state_dict())
    b, _ = flatten_optimizer_state(resumed_optimizer.state_dict())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_optimizer_state_flattens_to_tensors_and_back() -> None:
    model = tiny_model(0)
    optimizer = torch.optim.Adam(model.parameters())
    train_step(model, optimizer, torch.randn(4, 3, 8, 8))
    state = optimizer.state_dict()
    tensors, encoded = flatten_optimizer_state(state)
    assert all(k.startswith("optimizer.state.") for k in tensors)
    assert "optimizer.state.0.exp_avg_sq" in tensors and "optimizer.state.0.step" in tensors
    back = unflatten_optimizer_state(tensors, encoded)
    assert back["param_groups"][0]["params"] == state["param_groups"][0]["params"]
    assert back["state"].keys() == state["state"].keys()
    for pid, values in state["state"].items():
        assert all(torch.equal(values[n], back["state"][pid][n]) for n in values)


def test_a_model_saved_without_optimizer_restores_its_weights(tmp_path: Path) -> None:
    model = tiny_model(0)
    save_checkpoint(tmp_path / "c.safetensors", *training_state(model))
    target = tiny_model(1)
    restore_training_state(target, None, *load_checkpoint(tmp_path / "c.safetensors"))
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in model.state_dict().items())


# --- what does not fit -------------------------------------------------------------------


def test_another_architecture_names_the_offending_keys() -> None:
    tensors, metadata = training_state(tiny_model(0))
    torch.manual_seed(0)
    other = create_model("small-cnn", image_size=8, widths=(4, 16), proj_dim=4, proj_hidden=6)
    with pytest.raises(CheckpointError) as e:
        restore_training_state(other, None, tensors, metadata)
    assert e.value.code == "CHECKPOINT_MISMATCH"
    assert "backbone.blocks.1.conv.weight: expected (16, 4, 3, 3), found (8, 4, 3, 3)" in str(e.value)
    assert "head.fc1.weight: expected (6, 16), found (6, 8)" in str(e.value)


def test_missing_optimizer_state_is_reported() -> None:
    model = tiny_model(0)
    tensors, metadata = training_state(model)
    with pytest.raises(CheckpointError, match="no optimiser state") as e:
        restore_training_state(model, torch.optim.SGD(model.parameters(), lr=0.1), tensors, metadata)
    assert e.value.code == "CHECKPOINT_MISMATCH"


def test_optimizer_with_other_param_groups_is_reported() -> None:
    model = tiny_model(0)
    optimizer = torch.optim.Adam(two_param_groups(model))  # type: ignore[arg-type]
    train_step(model, optimizer, torch.randn(4, 3, 8, 8))
    tensors, metadata = training_state(model, optimizer)
    with pytest.raises(CheckpointError) as e:
        restore_training_state(model, torch.optim.Adam(model.parameters()), tensors, metadata)
    assert e.value.code == "CHECKPOINT_MISMATCH" and "optimiser" in str(e.value)


def test_a_file_that_is_not_an_mcl_checkpoint_is_refused() -> None:
    model = tiny_model(0)
    with pytest.raises(CheckpointError) as e:
        restore_training_state(model, None, dict(model.state_dict()), {})
    assert e.value.code == "CHECKPOINT_UNREADABLE" and "mcl-checkpoint/1" in str(e.value)


def test_non_json_optimizer_values_are_refused() -> None:
    state = {"state": {0: {"step": torch.tensor(1.0), "custom": object()}}, "param_groups": [{"params": [0]}]}
    with pytest.raises(CheckpointError) as e:
        flatten_optimizer_state(state)
    assert e.value.code == "CHECKPOINT_INVALID"


def test_a_fused_optimizer_stays_fused_after_loading_an_unfused_checkpoint(tmp_path: Path) -> None:
    # A fused step takes a GradScaler's found_inf; a step fp16 training runs after such a restore.
    batch = torch.randn(4, 3, 8, 8)
    model = tiny_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_step(model, optimizer, batch)
    tensors, metadata = training_state(model, optimizer)

    resumed = tiny_model(0)
    fused = torch.optim.Adam(resumed.parameters(), lr=1e-3, fused=True)
    restore_training_state(resumed, fused, tensors, metadata)
    assert all(group["fused"] is True for group in fused.param_groups)
    scaler = torch.amp.GradScaler("cpu")
    fused.zero_grad()
    scaler.scale(resumed(batch).pow(2).mean()).backward()
    scaler.step(fused)  # an unfused Adam handed found_inf fails an assertion here
    scaler.update()
    assert all(torch.isfinite(p).all() for p in resumed.parameters())
