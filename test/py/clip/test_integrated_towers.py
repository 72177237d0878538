"""The integrated CLIP image embedding that zero-shot and MMVP score is the exported encoder's
(L2-normalised), under every normalisation, also when the stages' raw outputs differ in norm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mcl_worker.data import AugmentConfig, eval_transform
from mcl_worker.evaluation.integrated import IntegratedClip
from mcl_worker.export import ExportPart, InputSpec, layout_of, load_encoder, weights_of, write_export
from mcl_worker.integration import Normalize
from mcl_worker.models.clip import create_clip
from mcl_worker.text import Tokenizer


@pytest.mark.parametrize("normalize", ["concat-then-l2", "per-stage-l2", "none"])
def test_the_integrated_towers_score_the_exported_embedding(normalize: Normalize, tmp_path: Path) -> None:
    torch.manual_seed(0)
    models = [create_clip("clip-tiny", vocab_size=30).eval() for _ in range(2)]
    with torch.no_grad():
        models[1].visual.proj.mul_(50.0)  # stage 2's raw image embeddings far longer than stage 1's
    weights = [1.0, 0.5]
    preprocess = InputSpec(32, 3, [0.5], [0.25], "bilinear", None)
    parts = [ExportPart(stage, layout_of(m), weights_of(m)) for stage, m in enumerate(models, start=1)]
    path = tmp_path / "integrated.safetensors"
    write_export(path, parts, kind="integrated", file="safetensors", preprocess=preprocess, weights=weights,
                 normalize=normalize, run={})
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    no_tokenizers: list[Tokenizer] = []  # images only
    towers = IntegratedClip(models, no_tokenizers, weights, normalize, torch.device("cpu"))
    cfg = AugmentConfig(size=32, mean=(0.5,), std=(0.25,), interpolation="bilinear")
    with torch.no_grad():
        exported = F.normalize(load_encoder(path)(images), dim=1)
        scored = towers.encode_images(eval_transform(images, cfg))
    torch.testing.assert_close(scored, exported, rtol=0, atol=1e-5)
