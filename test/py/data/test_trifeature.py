import numpy as np
import pytest
import torch

from mcl_worker.data import ArrayDataset, open_dataset
from mcl_worker.data.color import HUE_NAMES, hue_bin, rgb_to_hsv
from mcl_worker.data.trifeature import SHAPES, TEXTURE_WORDS, TEXTURES

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


def test_colour_is_near_unique_per_instance_but_a_palette_is_not(dataset):
    def distinct_colours(images: np.ndarray) -> int:
        brightest = images.reshape(len(images), -1, 3).max(axis=1)
        return len({tuple(c) for c in brightest})

    assert distinct_colours(dataset.images) > 0.9 * len(dataset)
    few = open_dataset("synthetic:trifeature?n=400&seed=3&colors=4")
    assert distinct_colours(few.images) <= 4


def test_captions_name_all_three_attributes(dataset):
    captions = dataset.captions(np.arange(len(dataset)))
    for i, caption in enumerate(captions):
        color = HUE_NAMES[dataset.attributes["color"].labels[i]]
        article = "an" if color[0] in "aeiou" else "a"
        texture = TEXTURE_WORDS[dataset.attributes["texture"].labels[i]]
        shape = SHAPES[dataset.attributes["shape"].labels[i]]
        assert caption == f"{article} {color} {texture} {shape}"


def test_every_texture_but_solid_marks_the_foreground(dataset):
    # Marks darken the foreground: a solid shape's brightest pixels share one colour, a
    # textured one also has pixels near 45 % of it (the darkening is 55 %).
    texture = dataset.attributes["texture"].labels
    x = dataset.images.reshape(len(dataset), -1, 3).astype(np.float32)
    top = x.max(axis=1, keepdims=True)
    dark = (np.abs(x - 0.45 * top).max(axis=2) < 6).sum(axis=1)
    solid = texture == TEXTURES.index("solid")
    assert np.median(dark[solid]) < 3
    for k in range(1, len(TEXTURES)):
        assert np.median(dark[texture == k]) > 10, TEXTURES[k]


def test_other_sizes_render():
    ds = open_dataset("synthetic:trifeature?n=3&size=17")
    assert ds.image_shape == (3, 17, 17) and ds.get_images([0, 1, 2]).shape == (3, 3, 17, 17)
