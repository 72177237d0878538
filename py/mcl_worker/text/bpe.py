"""OpenAI CLIP's byte-level BPE, reading the standard merges file from a path the user gives.

The file is `bpe_simple_vocab_16e6.txt.gz` (or unzipped `.txt`), shipped with OpenAI's CLIP
(clip/bpe_simple_vocab_16e6.txt.gz) and open_clip (src/open_clip/): a header line, then one
merge "a b" a line. As OpenAI's tokenizer: the first 48,894 merges are used, the vocabulary is
the 256 byte symbols, the same with the end-of-word mark "</w>", one entry per merge, then
<|startoftext|> and <|endoftext|> (49,408 ids with the standard file; a shorter file gives a
smaller vocabulary). Text is HTML-unescaped, whitespace-collapsed and lower-cased.

Two differences from OpenAI's, both documented rather than hidden: no ftfy mojibake repair
(ftfy is not a dependency), and words are split with Python's `re`, where "letter" is a word
character that is not a digit or "_" and "number" is a decimal digit (Unicode \\p{L} / \\p{N}
in the original); the two agree on ordinary text.
"""

from __future__ import annotations

import gzip
import html
import os
import re
from functools import lru_cache
from pathlib import Path

from .tokens import TokenizerError

MAX_MERGES = 49152 - 256 - 2  # the number of merges OpenAI's tokenizer reads from the file
START, END = "<|startoftext|>", "<|endoftext|>"
_WORD = "</w>"
_SPLIT = re.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE
)
HOW_TO_GET = (
    "it is bpe_simple_vocab_16e6.txt.gz from OpenAI's CLIP repository (clip/bpe_simple_vocab_16e6.txt.gz) or"
    " open_clip (src/open_clip/bpe_simple_vocab_16e6.txt.gz): download it once and pass its path"
)


def byte_symbols() -> dict[int, str]:
    """Every byte as a printable character: printable Latin-1 bytes stand for themselves, the
    others (controls, space) for the characters from U+0100 on, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}


class BpeTokenizer:
    kind = "bpe"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        source = Path(path).expanduser()
        if not source.is_file():
            raise TokenizerError("tokenizer.vocab", f"no BPE vocabulary file at {source}; {HOW_TO_GET}")
        try:
            raw = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
            lines = raw.decode("utf-8").split("\n")
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise TokenizerError("tokenizer.vocab", f"cannot read the BPE vocabulary {source}: {exc}; {HOW_TO_GET}") from None
        merges = [tuple(line.split()) for line in lines[1 : MAX_MERGES + 1] if line.strip()]
        bad = next((i for i, m in enumerate(merges) if len(m) != 2), None)
        if bad is not None or not merges:
            where = f"line {bad + 2} is {' '.join(merges[bad])!r}" if bad is not None else "it holds no merges"
            raise TokenizerError(
                "tokenizer.vocab", f"{source} is not a BPE merges file ({where}; expected a header, then 'a b' a line); {HOW_TO_GET}"
            )
        self._bytes = byte_symbols()
        symbols = list(self._bytes.values())
        vocab = [*symbols, *(s + _WORD for s in symbols), *("".join(m) for m in merges), START, END]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self._ranks = {m: rank for rank, m in enumerate(merges)}
        self.vocab_size = len(vocab)
        self.sot, self.eot = self.encoder[START], self.encoder[END]
        self._bpe = lru_cache(maxsize=65536)(self._merge_word)

    def encode(self, text: str) -> list[int]:
        text = " ".join(html.unescape(html.unescape(text)).split()).lower()
        ids: list[int] = []
        for word in _SPLIT.findall(text):
            symbols = "".join(self._bytes[b] for b in word.encode("utf-8"))
            ids += [self.encoder[piece] for piece in self._bpe(symbols)]
        return ids

    def _merge_word(self, symbols: str) -> tuple[str, ...]:
        """Apply the merges to one word, lowest rank first, until none applies."""
        parts = [*symbols[:-1], symbols[-1] + _WORD]
        while len(parts) > 1:
            pairs = {(a, b) for a, b in zip(parts, parts[1:])}
            best = min(pairs, key=lambda p: self._ranks.get(p, float("inf")))  # type: ignore[arg-type]
            if best not in self._ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(parts)
