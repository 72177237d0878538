"""Our BPE tokenizer against OpenAI's own (clip/simple_tokenizer.py of openai-clip), on the real
vocabulary that openai-clip ships and a generated corpus of hard captions (caption_corpus.py).

OpenAI's rows come from its own `clip.tokenize(texts, context_length=77, truncate=True)` (start,
ids, end; cut to the context with the last id replaced by end; zero padding), its whole id
sequences from `SimpleTokenizer.encode`.
"""

from __future__ import annotations

from typing import Any

import pytest

from mcl_worker.text import BpeTokenizer, tokenize
from oracles import peers
from oracles.caption_corpus import FAMILIES, corpus

CONTEXT = 77


@pytest.fixture(scope="module")
def openai_tokenizer() -> Any:
    return peers.openai_clip_tokenizer().SimpleTokenizer(bpe_path=str(peers.openai_bpe_vocab()))


@pytest.fixture(scope="module")
def ours() -> BpeTokenizer:
    return BpeTokenizer(peers.openai_bpe_vocab())


def differing(captions: list[str], expected: list[list[int]], got: list[list[int]]) -> str:
    bad = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
    shown = "\n".join(f"  {captions[i]!r}: openai {expected[i]} ours {got[i]}" for i in bad[:5])
    return f"{len(bad)} of {len(captions)} captions differ; the first:\n{shown}"


def test_same_rows_as_openai_on_the_corpus(openai_tokenizer: Any, ours: BpeTokenizer) -> None:
    captions = corpus()
    assert len(captions) >= 2000
    reference_ids = [openai_tokenizer.encode(text) for text in captions]
    expected = peers.openai_clip_api().tokenize(captions, context_length=CONTEXT, truncate=True).long()
    batch = tokenize(ours, captions, CONTEXT)
    same = (batch.tokens == expected).all(dim=1)
    assert bool(same.all()), differing(captions, expected.tolist(), batch.tokens.tolist())
    assert batch.truncated == sum(len(ids) + 2 > CONTEXT for ids in reference_ids)
    # Past the context too: the whole id sequence of every caption.
    full = [ours.encode(text) for text in captions]
    assert full == reference_ids, differing(captions, reference_ids, full)
    # The corpus does reach what it is meant to: cut rows, and special tokens inside captions.
    assert batch.truncated >= 100
    special_inside = ((batch.tokens == ours.sot).sum(dim=1) > 1) | ((batch.tokens == ours.eot).sum(dim=1) > 1)
    assert int(special_inside.sum()) >= 10


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_hand_written_case_alone(openai_tokenizer: Any, ours: BpeTokenizer, family: str) -> None:
    captions = FAMILIES[family]
    expected = [openai_tokenizer.encode(text) for text in captions]
    got = [ours.encode(text) for text in captions]
    assert got == expected, differing(captions, expected, got)


def test_same_vocabulary_as_openai(openai_tokenizer: Any, ours: BpeTokenizer) -> None:
    assert ours.encoder == openai_tokenizer.encoder
    assert ours.vocab_size == len(openai_tokenizer.encoder)
    assert (ours.sot, ours.eot) == (openai_tokenizer.encoder["<|startoftext|>"], openai_tokenizer.encoder["<|endoftext|>"])
