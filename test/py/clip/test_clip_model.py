"""The CLIP dual encoder: OpenAI's parameter names and sizes, activations, weight files and what
they say, locking, the logit scale's clamp. (Agreement with open_clip and OpenAI's code itself:
test/py/oracles/test_clip_towers.py.)"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mcl_worker.checkpoint import CheckpointError
from mcl_worker.models import ModelConfigError
from mcl_worker.models.clip import CLIP, CLIP_CONFIGS, ClipSpec, ModifiedResNet, create_clip, load_clip_weights

# OpenAI ViT-B/32 (clip/model.py, as its released state dict): every key but the per-block ones, with
# shapes, and the names inside each residual block. Written down from the published architecture.
VIT_B_32_TOP = {
    "positional_embedding": (77, 512), "text_projection": (512, 512), "logit_scale": (),
    "visual.class_embedding": (768,), "visual.positional_embedding": (50, 768), "visual.proj": (768, 512),
    "visual.conv1.weight": (768, 3, 32, 32), "visual.ln_pre.weight": (768,), "visual.ln_pre.bias": (768,),
    "visual.ln_post.weight": (768,), "visual.ln_post.bias": (768,),
    "token_embedding.weight": (49408, 512), "ln_final.weight": (512,), "ln_final.bias": (512,),
}
BLOCK_KEYS = (
    "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
    "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
    "ln_2.weight", "ln_2.bias",
)


def openai_vit_b_32_keys() -> set[str]:
    blocks = {f"{tower}transformer.resblocks.{i}.{k}" for tower in ("", "visual.") for i in range(12) for k in BLOCK_KEYS}
    return set(VIT_B_32_TOP) | blocks


def test_vit_b_32_has_openai_names_and_shapes() -> None:
    with torch.device("meta"):
        model = create_clip("clip-vit-b-32")
    state = model.state_dict()
    assert set(state) == openai_vit_b_32_keys()
    assert {k: tuple(state[k].shape) for k in VIT_B_32_TOP} == VIT_B_32_TOP
    assert tuple(state["visual.transformer.resblocks.0.attn.in_proj_weight"].shape) == (3 * 768, 768)
    assert tuple(state["transformer.resblocks.11.mlp.c_fc.weight"].shape) == (2048, 512)


@pytest.mark.parametrize(("config", "published_millions"), [("clip-rn50", 102), ("clip-vit-b-32", 151), ("clip-vit-l-14", 428)])
def test_parameter_counts_match_the_published_sizes(config: str, published_millions: int) -> None:
    with torch.device("meta"):
        model = create_clip(config)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / 1e6 - published_millions) < 1.0, count


def test_rn50_names_follow_openai() -> None:
    with torch.device("meta"):
        state = create_clip("clip-rn50").state_dict()
    for key, shape in {
        "visual.conv1.weight": (32, 3, 3, 3), "visual.conv3.weight": (64, 32, 3, 3),
        "visual.layer1.0.downsample.0.weight": (256, 64, 1, 1), "visual.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "visual.attnpool.positional_embedding": (50, 2048), "visual.attnpool.c_proj.weight": (1024, 2048),
        "text_projection": (512, 1024),
    }.items():
        assert tuple(state[key].shape) == shape, key


def test_the_towers_embed_images_and_texts() -> None:
    torch.manual_seed(0)
    model = create_clip("clip-tiny", vocab_size=50).eval()
    images, tokens = torch.randn(3, 3, 32, 32), torch.randint(1, 40, (3, 16))
    tokens[:, 5] = 49  # the end token: the highest id
    image_z, text_z, scale = model(images, tokens)
    assert image_z.shape == text_z.shape == (3, 64)
    assert float(scale.exp()) == pytest.approx(1 / 0.07)
    # Causal and read at the end token: what follows it does not change the embedding.
    changed = tokens.clone()
    changed[:, 6:] = 7
    torch.testing.assert_close(model.encode_text(changed), text_z)
    resnet = ModifiedResNet((1, 1, 1, 1), output_dim=24, heads=2, image_size=64, width=16)
    assert resnet(torch.randn(2, 3, 64, 64)).shape == (2, 24)


def test_a_state_dict_round_trips_through_files(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = create_clip("clip-tiny", vocab_size=30)
    torch.save(source.state_dict(), tmp_path / "clip.pt")
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "clip.safetensors"))
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in source.state_dict().items()}}, tmp_path / "open_clip.pt")
    images, tokens = torch.randn(2, 3, 32, 32), torch.randint(0, 30, (2, 16))
    expected = [t.detach() for t in source.eval()(images, tokens)]
    for name in ("clip.pt", "clip.safetensors", "open_clip.pt"):
        torch.manual_seed(2)
        target = create_clip("clip-tiny", vocab_size=30)
        report = load_clip_weights(target, tmp_path / name)
        assert len(report.loaded) == len(source.state_dict())
        for got, want in zip(target.eval()(images, tokens), expected):
            torch.testing.assert_close(got.detach(), want)


def test_a_torchscript_archive_loads_as_openai_s_do(tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = create_clip("clip-tiny", vocab_size=30).eval()
    example = (torch.randn(1, 3, 32, 32), torch.randint(0, 30, (1, 16)))
    torch.jit.save(torch.jit.trace(source, example, check_trace=False), str(tmp_path / "clip-jit.pt"))
    target = create_clip("clip-tiny", vocab_size=30)
    load_clip_weights(target, tmp_path / "clip-jit.pt")
    torch.testing.assert_close(target.eval().encode_image(example[0]), source.encode_image(example[0]))


def test_a_checkpoint_of_another_shape_names_the_keys(tmp_path: Path) -> None:
    torch.save(create_clip("clip-tiny", vocab_size=30, context_length=8).state_dict(), tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as error:
        load_clip_weights(create_clip("clip-tiny", vocab_size=40), tmp_path / "other.pt")
    assert error.value.code == "CHECKPOINT_MISMATCH"
    assert "positional_embedding: expected (16, 64), found (8, 64)" in error.value.message
    assert "token_embedding.weight: expected (40, 64), found (30, 64)" in error.value.message
    assert "clip-tiny" in error.value.message
    with pytest.raises(CheckpointError) as missing:
        load_clip_weights(create_clip("clip-tiny"), tmp_path / "none.pt")
    assert missing.value.code == "CHECKPOINT_NOT_FOUND"


def test_a_checkpoint_made_for_another_image_size_names_it(tmp_path: Path) -> None:
    torch.save(create_clip("clip-tiny", vocab_size=30, image_size=64).state_dict(), tmp_path / "big.pt")
    with pytest.raises(ModelConfigError) as error:
        load_clip_weights(create_clip("clip-tiny", vocab_size=30), tmp_path / "big.pt")
    assert error.value.field == "image_size"
    assert "made for 64x64 images (visual.positional_embedding (65, 64))" in error.value.message
    assert "clip.imageSize) to 64" in error.value.message
    resnet = _small_resnet_clip(image_size=96)
    torch.save(resnet.state_dict(), tmp_path / "rn.pt")
    with pytest.raises(ModelConfigError, match=r"made for 96x96 images \(visual.attnpool.positional_embedding \(10, 512\)\)"):
        load_clip_weights(_small_resnet_clip(image_size=64), tmp_path / "rn.pt")


def test_activation_is_named_and_changes_the_features() -> None:
    assert {name: cfg.activation for name, cfg in CLIP_CONFIGS.items()} == dict.fromkeys(CLIP_CONFIGS, "quick_gelu")
    torch.manual_seed(4)
    quick = create_clip("clip-tiny", vocab_size=30).eval()
    exact = create_clip("clip-tiny", vocab_size=30, activation="gelu").eval()
    assert (quick.spec.activation, exact.spec.activation) == ("quick_gelu", "gelu")
    assert isinstance(exact.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    exact.load_state_dict(quick.state_dict())
    images = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(quick.encode_image(images), exact.encode_image(images))
    with pytest.raises(ModelConfigError, match="quick_gelu, gelu") as error:
        create_clip("clip-tiny", activation="relu")
    assert error.value.field == "activation"


def test_a_checkpoint_that_says_its_activation_is_held_to_it(tmp_path: Path) -> None:
    source = create_clip("clip-tiny", vocab_size=30).eval()
    folder = tmp_path / "hub"
    folder.mkdir()
    torch.save(source.state_dict(), folder / "open_clip_pytorch_model.bin")
    # open_clip's Hugging Face folders: the configuration beside the weights; no quick_gelu means GELU.
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32}}}))
    with pytest.raises(ModelConfigError) as error:
        load_clip_weights(create_clip("clip-tiny", vocab_size=30), folder / "open_clip_pytorch_model.bin")
    assert error.value.field == "activation"
    assert "trained with gelu" in error.value.message and "clip.activation) to 'gelu'" in error.value.message
    load_clip_weights(create_clip("clip-tiny", vocab_size=30, activation="gelu"), folder / "open_clip_pytorch_model.bin")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"quick_gelu": True}}))
    load_clip_weights(create_clip("clip-tiny", vocab_size=30), folder / "open_clip_pytorch_model.bin")
    with pytest.raises(ModelConfigError, match="model_cfg.quick_gelu is true"):
        load_clip_weights(create_clip("clip-tiny", vocab_size=30, activation="gelu"), folder / "open_clip_pytorch_model.bin")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"quick_gelu": "yes"}}))
    with pytest.raises(CheckpointError, match="open_clip_config.json"):
        load_clip_weights(create_clip("clip-tiny", vocab_size=30), folder / "open_clip_pytorch_model.bin")
    # OpenAI's release format is QuickGELU whatever the file name.
    example = (torch.randn(1, 3, 32, 32), torch.randint(0, 30, (1, 16)))
    torch.jit.save(torch.jit.trace(source, example, check_trace=False), str(tmp_path / "clip-jit.pt"))
    with pytest.raises(ModelConfigError, match="OpenAI TorchScript archive") as scripted:
        load_clip_weights(create_clip("clip-tiny", vocab_size=30, activation="gelu"), tmp_path / "clip-jit.pt")
    assert scripted.value.field == "activation"


def test_a_file_of_another_family_is_said_to_be_one(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(3), "bias": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"is not a CLIP checkpoint: it looks like 2 tensors \(bias, weight\)") as error:
        load_clip_weights(create_clip("clip-tiny"), tmp_path / "other.pt")
    assert error.value.code == "CHECKPOINT_MISMATCH" and "clip.checkpoint" in error.value.message


def _small_resnet_clip(image_size: int = 64) -> CLIP:
    cfg = replace(CLIP_CONFIGS["clip-rn50"], vision_layers=(1, 1, 1, 1), vision_width=16, embed_dim=32, image_size=image_size,
                  text_width=32, text_layers=1, text_heads=2, vocab_size=20, context_length=8)
    return CLIP(cfg, ClipSpec("clip-rn50", image_size, 8, 20, cfg.activation))


def test_locking_follows_open_clip_s_groups() -> None:
    model = create_clip("clip-tiny", vocab_size=30)
    model.lock(lock_image=True, lock_image_unlocked_groups=2, lock_text=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"logit_scale", "visual.proj", "visual.ln_post.weight", "visual.ln_post.bias"} | {
        f"visual.transformer.resblocks.1.{k}" for k in BLOCK_KEYS
    }
    model = create_clip("clip-tiny", vocab_size=30)
    model.lock(lock_image=True)
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert all(p.requires_grad for p in model.transformer.parameters())
    model = create_clip("clip-tiny", vocab_size=30)
    model.lock(lock_image=True, lock_image_unlocked_groups=99)  # more than its 4 groups: all of them
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ModelConfigError, match="set lock_image") as alone:
        create_clip("clip-tiny").lock(lock_image_unlocked_groups=1)
    assert alone.value.field == "lock_image_unlocked_groups"
    with pytest.raises(ModelConfigError, match="only be locked whole") as resnet:
        _small_resnet_clip().lock(lock_image=True, lock_image_unlocked_groups=1)
    assert resnet.value.field == "lock_image_unlocked_groups"
    with pytest.raises(ModelConfigError, match=">= 0"):
        create_clip("clip-tiny").lock(lock_image=True, lock_image_unlocked_groups=-1)


def test_a_locked_resnet_keeps_its_batch_norm_statistics() -> None:
    model = _small_resnet_clip()
    model.lock(lock_image=True)
    model.train()
    assert not any(m.training for m in model.visual.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = {k: v.clone() for k, v in model.visual.state_dict().items()}
    model.encode_image(torch.randn(4, 3, 64, 64))
    assert all(torch.equal(v, before[k]) for k, v in model.visual.state_dict().items())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_the_logit_scale_is_clamped_to_ln_100_by_the_training_loop_not_the_loss(dtype: torch.dtype) -> None:
    model = create_clip("clip-tiny", vocab_size=30)
    model.logit_scale.data = torch.tensor(math.log(110.0), dtype=dtype)
    model.clamp_logit_scale_()
    assert model.logit_scale.dtype == dtype
    assert float(model.logit_scale) == float(torch.tensor(math.log(100.0), dtype=dtype))
    model.logit_scale.data.fill_(-1.0)
    model.clamp_logit_scale_()
    assert float(model.logit_scale) == 0.0


def test_bad_configurations_are_named() -> None:
    with pytest.raises(ModelConfigError, match="clip-vit-b-32") as unknown:
        create_clip("clip-vit-b-99")
    assert unknown.value.field == "config"
    with pytest.raises(ModelConfigError, match="patch size 8") as size:
        create_clip("clip-tiny", image_size=36)
    assert size.value.field == "image_size"
    assert math.isfinite(float(create_clip("clip-tiny", vocab_size=5).logit_scale))
