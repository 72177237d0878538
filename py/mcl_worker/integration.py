"""The integrated representation of MCL (docs/method.md, step 5), the one formula the worker has.

For stage embeddings f_1..f_m (rows of the same samples; each L2-normalised, as `embed` with
normalize gives them) and weights w_j:

    concat-then-l2  z = normalize([w_1 f_1; ...; w_m f_m])
    per-stage-l2    z = [w_1 normalize(f_1); ...; w_m normalize(f_m)]
    none            z = [w_1 f_1; ...; w_m f_m]

where normalize(v) = v / |v|_2 row by row, and a zero row stays zero. The `integrate` job, the
exported encoder and the integrated CLIP towers all call `integrate`; the control plane picks the
stages, weights and mode (ts/control/integration.ts). No `from __future__ import annotations`:
the exported encoder compiles this function with torch.jit.script, which reads the annotations
as types.
"""

from typing import List, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Normalize = Literal["concat-then-l2", "per-stage-l2", "none"]
NORMALIZATIONS = ("concat-then-l2", "per-stage-l2", "none")


def integrate(blocks: List[Tensor], weights: List[float], normalize: str) -> Tensor:
    """blocks[j] [N, D_j] times weights[j], concatenated to [N, sum of D_j] and normalised as `normalize` says."""
    parts: List[Tensor] = []
    for j, block in enumerate(blocks):
        if normalize == "per-stage-l2":
            block = F.normalize(block, dim=1)
        parts.append(block * weights[j])
    z = torch.cat(parts, dim=1)
    if normalize == "concat-then-l2":
        z = F.normalize(z, dim=1)
    return z
