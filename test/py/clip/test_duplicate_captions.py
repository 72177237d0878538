"""Identical captions in one batch: CLIP's loss already treats them as positives of each other.

The multi-positive loss (target T = E / Σ_j E_ij, E_ij = 1 where captions i and j are the same
token ids, cross-entropy in both directions) differs from CLIP's one-hot target only on columns
whose text embeddings are equal; the text tower is deterministic (no dropout), so those columns
hold equal logits and both the loss and every gradient coincide. docs/clip.md relies on this to
explain why the CLIP demo's duplicate captions are not false negatives.
"""

from __future__ import annotations

import math

import pytest
import torch

from mcl_worker.losses import clip_loss
from mcl_worker.models.clip import create_clip
from mcl_worker.text.tokens import tokenize
from mcl_worker.text.words import WordTokenizer

CAPTIONS = ["a red solid circle", "a red solid circle", "a red checkered star", "a blue solid circle",
            "a red checkered star", "a red solid circle"]


def multipositive_reference(s: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """½ [ −Σ_j T_ij log softmax_j(s_ij) − Σ_j T_ij log softmax_j(s_ji) ], one anchor at a time."""
    terms = []
    for i in range(s.shape[0]):
        positives = same[i].nonzero().flatten()
        for sim in (s[i], s[:, i]):  # image i against every caption, caption i against every image
            terms.append(-(sim - torch.logsumexp(sim, dim=0))[positives].mean())
    return torch.stack(terms).mean()


def test_the_multipositive_reference_matches_a_hand_computation() -> None:
    # s = I (unit vectors, scale 1), captions A, A, B: rows 0 and 1 put ½ on columns 0 and 1.
    # Row 0: −½ log(e/(e+2)) − ½ log(1/(e+2)) = log(e+2) − ½, row 1 the same, row 2 log(e+2) − 1;
    # s is symmetric, so the columns give the same: L = log(e+2) − 2/3 (CLIP's: log(e+2) − 1).
    same = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    got = multipositive_reference(torch.eye(3, dtype=torch.float64), same)
    assert float(got) == pytest.approx(math.log(math.e + 2) - 2 / 3, rel=1e-12)


def test_clip_loss_on_duplicate_captions_is_the_multipositive_loss_with_its_gradients() -> None:
    tokenizer = WordTokenizer.from_captions(CAPTIONS)
    torch.manual_seed(0)
    model = create_clip("clip-tiny", vocab_size=tokenizer.vocab_size)
    model.train()
    tokens = tokenize(tokenizer, CAPTIONS, model.context_length).tokens
    same = (tokens[:, None, :] == tokens[None, :, :]).all(dim=2)
    assert int(same.sum()) > len(CAPTIONS)  # the batch does hold duplicates
    images = torch.randn(len(CAPTIONS), 3, 32, 32)

    def loss_and_grads(reference: bool) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        image_z, text_z, scale = model(images, tokens)
        if reference:
            s = scale.exp() * torch.nn.functional.normalize(image_z, dim=1) @ torch.nn.functional.normalize(text_z, dim=1).T
            value = multipositive_reference(s, same)
        else:
            value = clip_loss(image_z, text_z, scale)
        value.backward()
        return float(value.detach()), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    clip_value, clip_grads = loss_and_grads(reference=False)
    reference_value, reference_grads = loss_and_grads(reference=True)
    assert clip_value == pytest.approx(reference_value, rel=1e-5)
    assert len(clip_grads) == len(reference_grads) > 0
    for ours, theirs in zip(clip_grads, reference_grads):
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)
