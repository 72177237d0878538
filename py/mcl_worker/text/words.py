"""A word-level tokenizer for synthetic captions ("a red checkered triangle").

The vocabulary is every distinct word of the dataset's captions, sorted, so the same captions
always give the same ids. Ids: 0 pads, 1..n are the words, then <unk> (a word not seen in the
captions), <start> and <end> (the highest id, where the text tower reads out). Words are runs
of letters and digits, hyphenated runs kept whole ("polka-dot"); punctuation marks are words
of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .tokens import TokenizerError

_WORDS = re.compile(r"[^\W_]+(?:-[^\W_]+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


class WordTokenizer:
    kind = "words"

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted(set(words))
        if not self.words:
            raise TokenizerError("tokenizer.dataset", "the captions hold no words to build a vocabulary from")
        self._ids = {w: i + 1 for i, w in enumerate(self.words)}
        self.unk = len(self.words) + 1
        self.sot, self.eot = self.unk + 1, self.unk + 2
        self.vocab_size = self.eot + 1

    @classmethod
    def from_captions(cls, captions: Iterable[str]) -> WordTokenizer:
        return cls(w for caption in captions for w in split_words(caption))

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(w, self.unk) for w in split_words(text)]

    def unknown(self, text: str) -> list[str]:
        """The words of `text` outside the vocabulary (encoded as <unk>)."""
        return [w for w in split_words(text) if w not in self._ids]
