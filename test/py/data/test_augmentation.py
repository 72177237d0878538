import math

import pytest
import torch

from mcl_worker.data import AugmentConfig, augment, eval_transform
from mcl_worker.data.color import hsv_to_rgb, rgb_to_hsv
from mcl_worker.errors import InvalidArgument

IDENTITY = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0)


def images(b=8, c=3, h=16, w=16, seed=0):
    return torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def normalised(x):
    return x.float() / 255 * 2 - 1


def test_identity_config_returns_the_normalised_input():
    x = images()
    assert torch.allclose(augment(x, IDENTITY, gen()), normalised(x), atol=1e-6)
    assert torch.allclose(eval_transform(x), normalised(x), atol=1e-6)


def test_same_seed_same_views_other_seed_other_views():
    x, cfg = images(), AugmentConfig.simclr()
    a, b = augment(x, cfg, gen(1)), augment(x, cfg, gen(1))
    assert torch.equal(a, b)
    assert not torch.equal(a, augment(x, cfg, gen(2)))
    g = gen(1)
    assert not torch.equal(augment(x, cfg, g), augment(x, cfg, g))  # the generator advances


def test_output_dtype_shape_and_range():
    y = augment(images(c=1, h=20, w=12), AugmentConfig.simclr(size=10), gen())
    assert y.dtype == torch.float32 and y.shape == (8, 1, 10, 10)
    assert y.min() >= -1 and y.max() <= 1


def test_flip_is_a_mirror():
    x = images()
    cfg = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(augment(x, cfg, gen()), normalised(x).flip(-1), atol=1e-6)


def test_flip_probability_is_per_sample():
    x = images(b=200)
    cfg = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.5)
    y = augment(x, cfg, gen())
    mirrored = torch.isclose(y, normalised(x).flip(-1), atol=1e-6).flatten(1).all(dim=1)
    assert 60 < int(mirrored.sum()) < 140


def test_full_crop_to_another_size_is_a_resize():
    x = images(h=16, w=16)
    cfg = AugmentConfig(size=24, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0)
    # Upsampling: bilinear sampling and bilinear interpolation agree.
    assert torch.allclose(augment(x, cfg, gen()), eval_transform(x, cfg), atol=1e-5)


def test_crop_takes_a_window_of_the_requested_area():
    # Pixel value = its column: a crop of a quarter of the area (half the width) shows a
    # window of about half the columns, increasing from left to right.
    ramp = torch.arange(32, dtype=torch.uint8).mul(8).view(1, 1, 1, 32).expand(16, 3, 32, 32)
    cfg = AugmentConfig(crop_scale=(0.25, 0.25), crop_ratio=(1.0, 1.0), flip_p=0.0)
    y = (augment(ramp.contiguous(), cfg, gen()) + 1) / 2 * 255 / 8  # back to column units
    row = y[:, 0, 16]
    assert (row.diff(dim=1) >= 0).all()
    # Interior columns (the outermost may sample past the last pixel centre and clamp).
    span = row[:, 30] - row[:, 1]
    assert torch.allclose(span, torch.full_like(span, 16 * 29 / 32), atol=1e-3)
    assert row[:, 0].std() > 1  # windows at different places


def test_grayscale_has_equal_channels():
    y = augment(images(), AugmentConfig(grayscale_p=1.0, flip_p=0.0), gen())
    assert torch.allclose(y[:, 0], y[:, 1]) and torch.allclose(y[:, 1], y[:, 2])


def test_blur_keeps_constants_and_the_mean_and_lowers_the_variance():
    x = images(h=24, w=24)
    blur = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0,
                         blur_p=1.0, blur_sigma=(1.0, 2.0))
    y = augment(x, blur, gen())
    base = normalised(x)
    assert torch.allclose(y.mean(dim=(2, 3)), base.mean(dim=(2, 3)), atol=0.03)
    assert (y.var(dim=(2, 3)) < 0.5 * base.var(dim=(2, 3))).all()
    flat = torch.full((2, 3, 24, 24), 77, dtype=torch.uint8)
    assert torch.allclose(augment(flat, blur, gen()), normalised(flat), atol=1e-5)


def test_enabling_an_op_does_not_change_the_draws_of_the_others():
    x = images()
    crop = AugmentConfig()
    barely = AugmentConfig(blur_p=1.0, blur_sigma=(1e-3, 1e-3))  # blur that changes nothing
    assert torch.allclose(augment(x, crop, gen(5)), augment(x, barely, gen(5)), atol=1e-5)


def test_brightness_scales_each_image_by_one_factor():
    x = images().clamp(max=120)  # no clipping at 1 + 0.5
    cfg = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=1.0,
                        brightness=0.5, contrast=0.0, saturation=0.0, hue=0.0)
    y = (augment(x, cfg, gen()) + 1) / 2
    ratio = y / (x.float() / 255).clamp(min=1e-3)
    per_image = ratio[x > 10].view(-1)
    assert per_image.min() >= 0.5 - 1e-4 and per_image.max() <= 1.5 + 1e-4
    ratios = torch.stack([ratio[i][x[i] > 10].median() for i in range(8)])
    assert ratios.std() > 0.05
    for i in range(8):
        assert torch.allclose(ratio[i][x[i] > 10], ratios[i], atol=0.02)


def test_jitter_with_zero_strengths_is_the_identity():
    x = images()
    cfg = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=1.0,
                        brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    assert torch.allclose(augment(x, cfg, gen()), normalised(x), atol=1e-5)


def test_hsv_round_trip_and_hue_shift():
    x = torch.rand(4, 3, 5, 5, generator=gen())
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    hsv = rgb_to_hsv(red)
    hsv[:, 0] = 1 / 3
    assert torch.allclose(hsv_to_rgb(hsv), torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1))


def test_eval_transform_shrinks_with_antialiasing_and_normalises():
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    x[..., ::2] = 255  # one-pixel stripes average to grey when halved
    y = eval_transform(x, AugmentConfig(size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0)))
    grey = (0.5 - torch.tensor([0.5, 0.5, 0.5])) / torch.tensor([0.25, 0.5, 1.0])
    assert torch.allclose(y.mean(dim=(2, 3))[0], grey, atol=1e-3)


def test_config_from_dict_and_back():
    cfg = AugmentConfig.from_dict({"size": 32, "crop_scale": [0.3, 1.0], "jitter_p": 0.8})
    assert cfg.crop_scale == (0.3, 1.0) and cfg.size == 32
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert AugmentConfig(mean=[0.1, 0.2, 0.3]).mean == (0.1, 0.2, 0.3)


@pytest.mark.parametrize(
    "values, field",
    [
        ({"flip": 0.5}, "augment.flip"),
        ({"flip_p": 1.5}, "augment.flip_p"),
        ({"flip_p": True}, "augment.flip_p"),
        ({"crop_scale": [0.0, 1.0]}, "augment.crop_scale"),
        ({"crop_scale": [0.8, 0.2]}, "augment.crop_scale"),
        ({"crop_ratio": [1.0]}, "augment.crop_ratio"),
        ({"hue": 0.7}, "augment.hue"),
        ({"std": [0.5, 0.0, 0.5]}, "augment.std"),
        ({"mean": [math.nan]}, "augment.mean"),
        ({"size": 0}, "augment.size"),
        ({"blur_sigma": [0.0, 1.0]}, "augment.blur_sigma"),
    ],
)
def test_bad_config_names_the_field(values, field):
    with pytest.raises(InvalidArgument) as err:
        AugmentConfig.from_dict(values)
    assert err.value.field == field


def test_bad_images_are_refused():
    with pytest.raises(InvalidArgument, match="uint8"):
        augment(torch.zeros(2, 3, 4, 4), AugmentConfig(), gen())
    with pytest.raises(InvalidArgument, match="1 or 3 channels"):
        augment(torch.zeros(2, 4, 4, 4, dtype=torch.uint8), AugmentConfig(), gen())
    with pytest.raises(InvalidArgument, match="augment.mean"):
        augment(images(c=1), AugmentConfig(mean=(0.5, 0.5, 0.5)), gen())


def test_by_default_the_whole_image_is_resized_bilinearly_without_a_crop():
    x = images(h=24, w=20)
    explicit = AugmentConfig(size=16, interpolation="bilinear", crop_pct=None)
    assert torch.equal(eval_transform(x, AugmentConfig(size=16)), eval_transform(x, explicit))
    assert torch.equal(augment(x, AugmentConfig(size=16), gen(3)), augment(x, explicit, gen(3)))


def test_eval_crop_resizes_the_shorter_side_and_keeps_the_centre():
    # Pixel value = its column: a centre crop of a wide image shows the middle columns.
    ramp = torch.arange(64, dtype=torch.uint8).mul(4).view(1, 1, 1, 64).expand(1, 3, 32, 64).contiguous()
    cfg = AugmentConfig(size=32, crop_pct=1.0, mean=(0.0,), std=(1.0,))
    y = eval_transform(ramp, cfg)
    assert y.shape == (1, 3, 32, 32)
    assert torch.allclose(y, ramp[..., 16:48].float() / 255)  # no resize: the exact centre
    # crop_pct 0.5: the shorter side becomes 64 (the image doubles), the centre 32 x 32 is kept.
    half = eval_transform(ramp, AugmentConfig(size=32, crop_pct=0.5, mean=(0.0,), std=(1.0,)))
    columns = half[0, 0, 0] * 255 / 4
    assert abs(float(columns.mean()) - 31.5) < 0.5 and float(columns[-1] - columns[0]) < 17


def test_bicubic_crop_stays_in_range_and_is_exact_at_pixel_centres():
    x = images()
    cfg = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, interpolation="bicubic")
    assert torch.allclose(augment(x, cfg, gen()), normalised(x), atol=1e-5)
    views = augment(x, AugmentConfig(size=24, interpolation="bicubic"), gen())
    assert views.min() >= -1 and views.max() <= 1
    assert not torch.equal(views, augment(x, AugmentConfig(size=24), gen()))


@pytest.mark.parametrize(
    "values, field",
    [
        ({"interpolation": "nearest"}, "augment.interpolation"),
        ({"size": 16, "crop_pct": 0}, "augment.crop_pct"),
        ({"size": 16, "crop_pct": 1.5}, "augment.crop_pct"),
        ({"crop_pct": 0.9}, "augment.crop_pct"),
    ],
)
def test_bad_interpolation_or_crop_names_the_field(values, field):
    with pytest.raises(InvalidArgument) as err:
        AugmentConfig.from_dict(values)
    assert err.value.field == field
