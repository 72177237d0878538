"""Captions generated from attributes, for synthetic datasets trained with CLIP.

One sentence pattern, "a red checkered triangle": article, colour, texture, shape, in the
words the dataset's caption tables give (trifeature.TEXTURE_WORDS, ...). Zero-shot prompts and
MMVP-style statements are built with the same function, so a model trained on the captions is
asked in the words it saw.
"""

from __future__ import annotations

from .color import with_article


def describe_object(color: str, texture: str, shape: str) -> str:
    """'a red checkered triangle', 'an orange solid ring'."""
    return f"{with_article(color)} {texture} {shape}"
