"""The integration formula on small numbers worked by hand: two samples, stage widths 2, 1 and 2."""

from __future__ import annotations

import math

import torch

from mcl_worker.integration import integrate

STAGE_1 = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
STAGE_2 = torch.tensor([[2.0], [5.0]])
STAGE_3 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def test_concat_then_l2_normalises_the_weighted_concatenation() -> None:
    z = integrate([STAGE_1, STAGE_2], [1.0, 1.0], "concat-then-l2")
    root = math.sqrt(29)
    torch.testing.assert_close(z, torch.tensor([[3 / root, 4 / root, 2 / root], [0.0, 0.0, 1.0]]))


def test_per_stage_l2_normalises_each_stage_then_weighs_it_and_a_zero_row_stays_zero() -> None:
    z = integrate([STAGE_1, STAGE_2], [2.0, 1.0], "per-stage-l2")
    torch.testing.assert_close(z, torch.tensor([[1.2, 1.6, 1.0], [0.0, 0.0, 1.0]]))


def test_none_concatenates_the_weighted_blocks_in_the_order_given() -> None:
    z = integrate([STAGE_3, STAGE_1], [1.0, 0.5], "none")
    torch.testing.assert_close(z, torch.tensor([[1.0, 0.0, 1.5, 2.0], [0.0, 1.0, 0.0, 0.0]]))


def test_torchscript_compiles_it_to_the_same_numbers() -> None:
    scripted = torch.jit.script(integrate)
    for normalize in ("concat-then-l2", "per-stage-l2", "none"):
        blocks = [STAGE_1, STAGE_2, STAGE_3]
        torch.testing.assert_close(scripted(blocks, [1.0, 0.5, 2.0], normalize), integrate(blocks, [1.0, 0.5, 2.0], normalize))
