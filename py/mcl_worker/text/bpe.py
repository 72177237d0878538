"""OpenAI CLIP's byte-level BPE, reading the standard merges file from a path the user gives.

The file is `bpe_simple_vocab_16e6.txt.gz` (or unzipped `.txt`), shipped with OpenAI's CLIP
(clip/bpe_simple_vocab_16e6.txt.gz) and open_clip (src/open_clip/): a header line, then one
merge "a b" a line. As OpenAI's tokenizer: the first 48,894 merges are used, the vocabulary is
the 256 byte symbols, the same with the end-of-word mark "</w>", one entry per merge, then
<|startoftext|> and <|endoftext|> (49,408 ids with the standard file; a shorter file gives a
smaller vocabulary).

A caption is cleaned as OpenAI's `clip/simple_tokenizer.py` cleans it, step for step, so that
the ids are the same: ftfy's `fix_text` (mojibake, curly quotes, ligatures, full-width forms),
HTML entities unescaped twice ("&amp;amp;" is "&"), whitespace runs collapsed to one space,
lower-cased. It is then split into words on Unicode classes (letters \\p{L}, one number
\\p{N} at a time, runs of other non-space characters, English contractions), and each word's
UTF-8 bytes are merged. `<|startoftext|>` or `<|endoftext|>` written in a caption is that
special token, as in OpenAI's.

One difference, in files other than the standard one only: OpenAI's reader takes a file's
final empty line for a merge when the file holds fewer merges than it reads, which moves its
two special ids up by one; here they follow the last merge.
"""

from __future__ import annotations

import gzip
import html
import os
import zlib
from functools import lru_cache
from pathlib import Path

import ftfy
import regex

from .tokens import TokenizerError

MAX_MERGES = 49152 - 256 - 2  # the number of merges OpenAI's tokenizer reads from the file
START, END = "<|startoftext|>", "<|endoftext|>"
_WORD = "</w>"
_GZIP_MAGIC = b"\x1f\x8b"
# Tried in this order at each position: a special token, a contraction, a run of letters, a
# single number character, a run of anything else that is not a space. Case-insensitive, as
# OpenAI's: on lower-cased text that changes one thing, U+0345 (a combining mark that case-folds
# to a letter) matches no branch and is dropped.
_SPLIT = regex.compile(
    "|".join(
        [
            regex.escape(START),
            regex.escape(END),
            *("'" + ending for ending in ("s", "t", "re", "ve", "m", "ll", "d")),
            r"\p{L}+",
            r"\p{N}",
            r"[^\s\p{L}\p{N}]+",
        ]
    ),
    regex.IGNORECASE,
)
# The `regex` package's \s, which is not str.split()'s: it leaves U+001C..U+001F alone.
_SPACES = regex.compile(r"\s+")
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


def clean(text: str) -> str:
    """A caption as OpenAI's tokenizer sees it before splitting it into words."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return _SPACES.sub(" ", text).strip().lower()


def read_merges(source: Path) -> list[tuple[str, str]]:
    """The merges of the file at `source` (gzip or plain UTF-8 text), refused with a
    TokenizerError on `tokenizer.vocab` when the file is not a BPE merges file."""

    def refuse(problem: str) -> TokenizerError:
        return TokenizerError("tokenizer.vocab", f"{source} {problem}; {HOW_TO_GET}")

    if not source.is_file():
        raise TokenizerError("tokenizer.vocab", f"no BPE vocabulary file at {source}; {HOW_TO_GET}")
    try:
        raw = source.read_bytes()
        # By content, not by name: a gzip file without .gz (or a .gz that is not one) is common.
        if raw.startswith(_GZIP_MAGIC):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise refuse(f"cannot be read as a gzip file ({exc})") from None
    if not raw.strip():
        raise refuse("is empty")
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}): a binary file, not a merges file") from None
    symbols = set(byte_symbols().values())
    known = symbols | {s + _WORD for s in symbols}
    merges: list[tuple[str, str]] = []
    body = lines[1 : MAX_MERGES + 1]
    while body and not body[-1].strip():  # the file's final newline
        body.pop()
    for number, line in enumerate(body, start=2):
        parts = line.split()
        # Each merge joins two symbols that exist by then: bytes or the result of an earlier merge.
        unknown = [p for p in parts if p not in known]
        if len(parts) != 2 or unknown:
            why = f"joins {unknown[0]!r}, which no earlier line makes" if len(parts) == 2 else "is not two symbols"
            raise refuse(f"is not a BPE merges file: line {number} ({line[:60]!r}) {why}; expected a header, then 'a b' a line")
        merges.append((parts[0], parts[1]))
        known.add(parts[0] + parts[1])
    if not merges:
        raise refuse("is not a BPE merges file: it holds no merges after its header line")
    return merges


class BpeTokenizer:
    kind = "bpe"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        merges = read_merges(Path(path).expanduser())
        self._bytes = byte_symbols()
        symbols = list(self._bytes.values())
        vocab = [*symbols, *(s + _WORD for s in symbols), *("".join(m) for m in merges), START, END]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self._ranks = {m: rank for rank, m in enumerate(merges)}
        self.vocab_size = len(vocab)
        self.sot, self.eot = self.encoder[START], self.encoder[END]
        self._specials = {START: self.sot, END: self.eot}
        self._bpe = lru_cache(maxsize=65536)(self._merge_word)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in _SPLIT.findall(clean(text)):
            special = self._specials.get(word)
            if special is not None:
                ids.append(special)
                continue
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
