import numpy as np
import pytest
import torch

from mcl_worker.data import ArrayDataset, open_dataset
from mcl_worker.data.color import HUE_NAMES, hue_bin, rgb_to_hsv
from mcl_worker.data.trifeature import SHAPES, TEXTURE_WORDS, TEXTURES, background_names

URI = "synthetic:trifeature?n=400&size=32&seed=3"


@pytest.fixture(scope="module")
def dataset() -> ArrayDataset:
    ds = open_dataset(URI)
    assert isinstance(ds, ArrayDataset)
    return ds


def test_describe(dataset):
    info = dataset.describe()
    assert info["uri"] == URI and info["size"] == 400 and info["image_shape"] == [3, 32, 32]
    assert [(a["name"], a["num_classes"]) for a in info["attributes"]] == [
        ("shape", len(SHAPES)),
        ("color", len(HUE_NAMES)),
        ("texture", len(TEXTURES)),
        ("background", 16),
    ]
    assert info["has_captions"] is True


def test_labels_cover_every_class(dataset):
    for attr in dataset.attributes.values():
        assert attr.labels.dtype == np.int64 and attr.labels.shape == (400,)
        assert set(np.unique(attr.labels)) == set(range(attr.num_classes))


def test_same_seed_same_data_other_seed_other_data(dataset):
    again = open_dataset(URI)
    assert np.array_equal(again.images, dataset.images)
    for name in dataset.attributes:
        assert np.array_equal(again.attributes[name].labels, dataset.attributes[name].labels)
    other = open_dataset("synthetic:trifeature?n=400&size=32&seed=4")
    assert not np.array_equal(other.images, dataset.images)


def test_get_images_gathers_in_order(dataset):
    idx = torch.tensor([5, 0, 399, 5])
    batch = dataset.get_images(idx)
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)
    expected = torch.from_numpy(dataset.images[[5, 0, 399, 5]]).permute(0, 3, 1, 2)
    assert torch.equal(batch, expected)
    assert torch.equal(dataset.get_images(np.array([5])), batch[:1])


@pytest.mark.parametrize("bad", [[-1], [400], [[1, 2]], [0.5]])
def test_bad_indices_are_refused(dataset, bad):
    with pytest.raises(Exception) as err:
        dataset.get_images(np.array(bad))
    assert getattr(err.value, "field", None) == "indices"


def test_color_label_is_the_hue_bin_of_the_brightest_pixel(dataset):
    # The brightest pixel is an unmarked foreground pixel: its hue is the foreground hue.
    x = torch.from_numpy(dataset.images).float().permute(0, 3, 1, 2) / 255
    hsv = rgb_to_hsv(x)
    brightest = hsv[:, 2].flatten(1).argmax(dim=1)
    hue = hsv[:, 0].flatten(1).gather(1, brightest[:, None]).squeeze(1)
    agree = (hue_bin(hue).numpy() == dataset.attributes["color"].labels).mean()
    assert agree > 0.95  # bin edges and uint8 rounding flip a few


def _colour_pairs(images: np.ndarray) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(brightest pixel, top-left pixel) per image: foreground and (nearly always) background."""
    flat = images.reshape(len(images), -1, 3)
    return {(tuple(f), tuple(b)) for f, b in zip(flat.max(axis=1), flat[:, 0])}


def test_default_draws_every_foreground_and_background_combination(dataset):
    # 8 hues × 16 backgrounds: many discrete combinations, each shared by several instances.
    pairs = _colour_pairs(open_dataset("synthetic:trifeature?n=2000&seed=3").images)
    assert 8 * 16 <= len(pairs) <= 8 * 16 + 40  # + a few shapes that cover the top-left pixel
    assert len(np.unique(dataset.attributes["color"].labels)) == 8


def test_background_label_names_the_background_colour(dataset):
    background = dataset.attributes["background"].labels
    corner = dataset.images[:, 0, 0].astype(np.int64)
    # Images with the same label share the corner colour (unless the shape covers it).
    for k in range(16):
        colours, counts = np.unique(corner[background == k], axis=0, return_counts=True)
        assert counts.max() >= 0.8 * counts.sum()
    assert len({tuple(c) for c in corner}) < 40


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ("palette=0&backgrounds=0", 390, 400),  # a colour of its own for nearly every instance
        ("palette=4&backgrounds=1", 4, 4 + 8),
        ("palette=0&backgrounds=1", 390, 400),
    ],
)
def test_palette_and_backgrounds_set_the_number_of_colour_combinations(query, low, high):
    ds = open_dataset(f"synthetic:trifeature?n=400&seed=3&{query}")
    assert low <= len(_colour_pairs(ds.images)) <= high
    assert ("background" in ds.attributes) == ("backgrounds=0" not in query)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("palette=65", "'palette' of synthetic:trifeature must be in [0, 64]"),
        ("backgrounds=-1", "'backgrounds' of synthetic:trifeature must be in [0, 64]"),
        ("colors=4", "unknown query parameter 'colors'"),
        ("rotation=400", "'rotation' of synthetic:trifeature must be in [0, 360]"),
        ("position=1.5", "'position' of synthetic:trifeature must be in [0, 1]"),
        ("scene=1&backgrounds=0", "scene=1 names each image's background colour, which needs discrete"),
    ],
)
def test_bad_parameters_are_refused(query, message):
    with pytest.raises(Exception) as err:
        open_dataset(f"synthetic:trifeature?n=4&{query}")
    assert message in str(err.value) and getattr(err.value, "code", None) is not None


def _shape_centres(images: np.ndarray) -> np.ndarray:
    """[n, 2]: the middle of each image's bounding box of pixels unlike its top-left (background) pixel."""
    centres = np.empty((len(images), 2))
    for i, image in enumerate(images.astype(np.int64)):
        rows, cols = np.nonzero(np.abs(image - image[0, 0]).sum(axis=2) > 0)
        centres[i] = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
    return centres


def test_position_0_centres_the_shapes_and_position_1_is_the_default():
    base = "synthetic:trifeature?n=200&size=32&seed=5&rotation=0"
    default = open_dataset(base)
    assert np.array_equal(open_dataset(f"{base}&position=1").images, default.images)
    centred = open_dataset(f"{base}&position=0")
    # Shapes symmetric about their centre when upright: circle, square, cross, ring.
    kinds = [SHAPES.index(s) for s in ("circle", "square", "cross", "ring")]
    symmetric = np.isin(centred.attributes["shape"].labels, kinds)
    offset = np.abs(_shape_centres(centred.images[symmetric]) - 15.5).max(axis=1)
    assert offset.max() <= 1.0
    assert np.abs(_shape_centres(default.images[symmetric]) - 15.5).max(axis=1).mean() > 3.0
    for name in ("shape", "color", "texture", "background"):
        assert np.array_equal(centred.attributes[name].labels, default.attributes[name].labels)


def test_captions_name_all_three_attributes(dataset):
    captions = dataset.captions(np.arange(len(dataset)))
    for i, caption in enumerate(captions):
        color = HUE_NAMES[dataset.attributes["color"].labels[i]]
        article = "an" if color[0] in "aeiou" else "a"
        texture = TEXTURE_WORDS[dataset.attributes["texture"].labels[i]]
        shape = SHAPES[dataset.attributes["shape"].labels[i]]
        assert caption == f"{article} {color} {texture} {shape}"


def test_scene_captions_also_name_the_background(dataset):
    scene = open_dataset(f"{URI}&scene=1")
    assert np.array_equal(scene.images, dataset.images)
    names = background_names(16)
    assert len(set(names)) == 16
    objects = dataset.captions(np.arange(len(dataset)))
    for i, caption in enumerate(scene.captions(np.arange(len(scene)))):
        background = names[dataset.attributes["background"].labels[i]]
        assert caption == f"{objects[i]} on a {background} background"
    # The named hue is the background's own: the hue bin of its corner pixel (uncovered in most images).
    corner = torch.from_numpy(dataset.images[:, 0, 0].astype(np.float32) / 255).view(-1, 3, 1, 1)
    hue_names = [HUE_NAMES[b] for b in hue_bin(rgb_to_hsv(corner)[:, 0].flatten()).tolist()]
    named = [names[b].split(" ")[1] for b in dataset.attributes["background"].labels.tolist()]
    assert np.mean([h == n for h, n in zip(hue_names, named)]) > 0.9


def test_every_texture_but_solid_marks_the_foreground(dataset):
    # Marks darken the foreground: a solid shape's brightest pixels share one colour, a
    # textured one also has pixels near 45 % of it (the darkening is 55 %).
    texture = dataset.attributes["texture"].labels
    x = dataset.images.reshape(len(dataset), -1, 3).astype(np.float32)
    brightest = x.sum(axis=2).argmax(axis=1)
    top = x[np.arange(len(x)), brightest][:, None, :]  # the foreground colour
    dark = (np.abs(x - 0.45 * top).max(axis=2) < 6).sum(axis=1)
    solid = texture == TEXTURES.index("solid")
    assert np.median(dark[solid]) < 3
    for k in range(1, len(TEXTURES)):
        assert np.median(dark[texture == k]) > 10, TEXTURES[k]


def test_other_sizes_render():
    ds = open_dataset("synthetic:trifeature?n=3&size=17")
    assert ds.image_shape == (3, 17, 17) and ds.get_images([0, 1, 2]).shape == (3, 3, 17, 17)


def _square_fill(images: np.ndarray) -> np.ndarray:
    """Per image, the lit share of its lit pixels' bounding box (1.0: an upright solid square)."""
    lit = images.max(axis=3) > 160  # foreground (value 0.9) against a dark background (<= 0.34)
    fill = np.zeros(len(images))
    for i, mask in enumerate(lit):
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        fill[i] = mask.sum() / ((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1))
    return fill


def test_rotation_sets_how_far_shapes_turn():
    upright = open_dataset("synthetic:trifeature?n=600&seed=4&rotation=0")
    turned = open_dataset("synthetic:trifeature?n=600&seed=4")
    labels = {name: info.labels for name, info in upright.attributes.items()}
    assert all(np.array_equal(labels[k], info.labels) for k, info in turned.attributes.items())
    shape, texture = labels["shape"], labels["texture"]
    # A circle looks the same at every angle (textures lie in image coordinates, not the shape's).
    circles = shape == SHAPES.index("circle")
    assert np.array_equal(upright.images[circles], turned.images[circles])
    squares = (shape == SHAPES.index("square")) & (texture == TEXTURES.index("solid"))
    assert squares.sum() >= 5
    assert np.all(_square_fill(upright.images[squares]) == 1.0)  # axis-aligned: the box is full
    assert np.mean(_square_fill(turned.images[squares]) < 0.9) > 0.5
