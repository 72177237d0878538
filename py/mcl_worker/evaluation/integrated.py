"""The integrated CLIP representation of MCL: every stage's towers, concatenated.

For S stage models, an image is [w_1 f_1(x); ...; w_S f_S(x)] and a text [w_1 g_1(t); ...;
w_S g_S(t)], both towers integrated the same way (docs/method.md): each stage's embedding
L2-normalised, as `embed` with normalize and the exported encoder give it, then
mcl_worker.integration's formula, so the integrated image is the one the integrated probe and the
exported encoder see. One model with weight 1 is just that model. Similarities are cosines of the
integrated vectors, so the result is L2-normalised last; on unit-norm stage embeddings the three
normalisations then score alike, and only the weights matter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InvalidArgument
from ..integration import Normalize, integrate
from ..models.clip import CLIP
from ..text import Tokenizer, tokenize


@dataclass(frozen=True)
class Encoded:
    z: Tensor  # [N, sum of the stages' widths], L2-normalised
    truncated: int  # captions cut to the context length (texts only; the most over the stages)


def _combine(blocks: Sequence[Tensor], weights: Sequence[float], normalize: Normalize) -> Tensor:
    stages = [F.normalize(b, dim=1) for b in blocks]
    return F.normalize(integrate(stages, [float(w) for w in weights], normalize), dim=1)


@dataclass(frozen=True)
class IntegratedClip:
    models: Sequence[CLIP]
    tokenizers: Sequence[Tokenizer]
    weights: Sequence[float]
    normalize: Normalize
    device: torch.device

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.models):
            raise InvalidArgument("weights", f"expected {len(self.models)} entries (one per model), got {len(self.weights)}")
        if not self.weights or all(w == 0 for w in self.weights):
            raise InvalidArgument("weights", "at least one must be > 0")
        sizes = {m.spec.image_size for m in self.models}
        if len(sizes) != 1:
            raise InvalidArgument("models", f"the models take different image sizes {sorted(sizes)}; integrate models of one size")

    @property
    def image_size(self) -> int:
        return self.models[0].spec.image_size

    @torch.no_grad()
    def encode_images(self, images: Tensor) -> Tensor:
        """One batch of transformed images, float [B, 3, S, S] -> integrated, normalised [B, D]."""
        images = images.to(self.device)
        return _combine([m.encode_image(images).float() for m in self.models], self.weights, self.normalize)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int, check: Callable[[], None] = lambda: None) -> Encoded:
        encoded = [
            encode_text_batches(model, tokenizer, texts, batch_size, self.device, check)
            for model, tokenizer in zip(self.models, self.tokenizers)
        ]
        blocks = [z for z, _ in encoded]
        return Encoded(_combine(blocks, self.weights, self.normalize), max(truncated for _, truncated in encoded))


@torch.no_grad()
def encode_text_batches(
    model: CLIP, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int, device: torch.device,
    check: Callable[[], None] = lambda: None,
) -> tuple[Tensor, int]:
    """One model's text embeddings [N, width] in float32, as they come (not normalised), and the
    number of texts cut to its context length."""
    batch = tokenize(tokenizer, texts, model.context_length)
    parts = []
    for start in range(0, len(texts), batch_size):
        check()
        parts.append(model.encode_text(batch.tokens[start : start + batch_size].to(device)).float())
    return torch.cat(parts), batch.truncated
