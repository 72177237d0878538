"""What every tokenizer hands the text tower: a fixed-length batch of token ids.

Each row is <start> ids... <end>, padded with 0 to the context length. A caption too long for
the context keeps its first tokens and ends with <end> (as OpenAI's tokenize(truncate=True));
how many were cut is counted, so that a job can report it instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ..errors import InvalidArgument


@dataclass(frozen=True)
class TokenBatch:
    tokens: torch.Tensor  # int64 [B, context_length]
    truncated: int  # captions cut to fit the context


class Tokenizer(Protocol):
    kind: str
    vocab_size: int
    sot: int
    eot: int  # the highest id: the text tower reads out at the row's argmax

    def encode(self, text: str) -> list[int]: ...


class TokenizerError(InvalidArgument):
    """A tokenizer cannot be built; `field` names the request field to fix."""


def tokenize(tokenizer: Tokenizer, texts: Sequence[str], context_length: int) -> TokenBatch:
    """`texts` as a batch of token ids; a text that is not a str is named by its position (texts[i])."""
    if context_length < 2:
        raise InvalidArgument("context_length", f"must be >= 2 (start and end tokens), got {context_length}")
    if isinstance(texts, str):  # would otherwise be read as one caption per character
        raise InvalidArgument("texts", "must be a list of str, got a single str; wrap it in a list")
    out = torch.zeros(len(texts), context_length, dtype=torch.int64)
    truncated = 0
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidArgument(
                f"texts[{row}]",
                f"is {type(text).__name__} {text!r:.60}, not text; texts are str (decode bytes with"
                " .decode('utf-8'), turn numbers into words with str())",
            )
        ids = [tokenizer.sot, *tokenizer.encode(text), tokenizer.eot]
        if len(ids) > context_length:
            ids = ids[: context_length - 1] + [tokenizer.eot]
            truncated += 1
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
    return TokenBatch(out, truncated)
