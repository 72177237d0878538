"""Captions: generated from attributes for synthetic datasets, and read from a user's files.

One sentence pattern, "a red checkered triangle": article, colour, texture, shape, in the
words the dataset's caption tables give (trifeature.TEXTURE_WORDS, ...). Zero-shot prompts and
MMVP-style statements are built with the same function, so a model trained on the captions is
asked in the words it saw.

A caption file (a folder dataset's `<image>.txt`, a webdataset shard's `<key>.txt`) is UTF-8
text; its surrounding whitespace and a leading byte-order mark are not part of the caption, and
its line ends read as "\n".
"""

from __future__ import annotations

from pathlib import Path

from .color import with_article
from .errors import DatasetContentError


def describe_object(color: str, texture: str, shape: str) -> str:
    """'a red checkered triangle', 'an orange solid ring'."""
    return f"{with_article(color)} {texture} {shape}"


def describe_scene(object_caption: str, background: str) -> str:
    """'a red checkered triangle on a dark blue background'."""
    return f"{object_caption} on {with_article(background)} background"


def read_caption_file(path: Path, scheme: str) -> str:
    """The caption in the text file at `path`; a file that cannot be read or is not UTF-8 is a
    DatasetContentError naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetContentError(
            f"{path}: cannot read the caption file ({exc.strerror or exc})", scheme=scheme, file=str(path)
        ) from None
    return caption_text(raw, str(path), scheme)


def caption_text(raw: bytes, where: str, scheme: str) -> str:
    """The caption in the bytes of a caption file; `where` names that file (or archive member)
    in the DatasetContentError of bytes that are not UTF-8."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetContentError(
            f"{where}: the caption is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save caption"
            " files as UTF-8, e.g. `iconv -f latin1 -t utf-8 old.txt > new.txt` for Latin-1 text",
            scheme=scheme,
            file=where,
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()  # line ends as text mode reads them
