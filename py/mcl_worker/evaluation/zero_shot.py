"""Zero-shot classification per labelled attribute: each class is a text prototype, each image
is given the class whose prototype is most similar.

Prototypes come from the dataset's own captions when they name the attribute: the class's
prototype is the mean embedding of the distinct captions of the samples of that class (a prompt
ensemble in the words the model was trained on; for synthetic:trifeature the class "triangle"
averages "a red checkered triangle", "a blue solid triangle", ...). An attribute the captions
do not determine (or a dataset without captions) falls back to a template over the class names,
"a photo of a {}.".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data import AttributeInfo, ImageDataset

DEFAULT_TEMPLATE = "a photo of a {}."


def determined_by_captions(dataset: ImageDataset, captions: Sequence[str] | None = None) -> list[str]:
    """The attributes whose label every caption fixes (no caption occurs with two labels)."""
    if not dataset.has_captions:
        return []
    texts = captions if captions is not None else dataset.captions(np.arange(len(dataset)))
    assert texts is not None
    named = []
    for name, info in dataset.attributes.items():
        seen: dict[str, int] = {}
        if all(seen.setdefault(text, label) == label for text, label in zip(texts, info.labels.tolist())):
            named.append(name)
    return named


def class_prompts(info: AttributeInfo, captions: Sequence[str] | None, template: str) -> list[list[str]]:
    """Per class, the texts whose embeddings are averaged into its prototype: the distinct
    captions of its samples (sorted), or the template over its name when `captions` is None."""
    if captions is None:
        return [[template.format(name)] for name in info.class_names]
    prompts: list[set[str]] = [set() for _ in info.class_names]
    for text, label in zip(captions, info.labels.tolist()):
        prompts[label].add(text)
    return [sorted(p) if p else [template.format(info.class_names[k])] for k, p in enumerate(prompts)]
