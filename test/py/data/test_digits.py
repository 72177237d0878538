import numpy as np
import pytest
from sklearn.datasets import load_digits

from mcl_worker.data import DatasetUriError, open_dataset


@pytest.fixture(scope="module")
def dataset():
    return open_dataset("digits:colored?size=24&repeat=2&seed=1")


def test_shape_size_and_labels(dataset):
    assert len(dataset) == 2 * 1797 and dataset.image_shape == (3, 24, 24)
    digit = dataset.attributes["digit"]
    assert digit.class_names == tuple("0123456789")
    target = load_digits().target
    assert np.array_equal(digit.labels, np.concatenate([target, target]))
    assert dataset.attributes["color"].num_classes == 8
    assert dataset.describe()["has_captions"] is True


def test_each_copy_of_a_scan_gets_its_own_colour(dataset):
    first, second = dataset.get_images([0, 1797])
    assert not np.array_equal(first.numpy(), second.numpy())


def test_ink_is_where_the_scan_is(dataset):
    # Without shift the digit box is centred: the scan's ink must show up as foreground.
    ds = open_dataset("digits:colored?size=32&repeat=1&shift=0&colors=1")
    images = ds.get_images(np.arange(50)).float()
    ink = images.amax(dim=1)  # palette mode: black background, saturated foreground
    scans = load_digits().images[:50]
    centre = ink[:, 4:28, 4:28].reshape(50, 8, 3, 8, 3).mean(dim=(2, 4)).numpy()
    correlation = np.corrcoef(centre.reshape(-1), scans.reshape(-1))[0, 1]
    assert correlation > 0.8


def test_deterministic_under_seed():
    a = open_dataset("digits:colored?repeat=1&seed=5")
    b = open_dataset("digits:colored?repeat=1&seed=5")
    c = open_dataset("digits:colored?repeat=1&seed=6")
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)


def test_bad_params():
    with pytest.raises(DatasetUriError, match="'repeat'"):
        open_dataset("digits:colored?repeat=0")
    with pytest.raises(DatasetUriError, match="digits:colored"):
        open_dataset("digits:grey")


def test_stripes_change_only_the_background_and_add_a_label():
    plain = open_dataset("digits:colored?repeat=1&size=32&seed=3")
    zero = open_dataset("digits:colored?repeat=1&size=32&seed=3&stripes=0")
    striped = open_dataset("digits:colored?repeat=1&size=32&seed=3&stripes=0.5")
    assert np.array_equal(plain.images, zero.images) and "stripes" not in zero.attributes
    assert not np.array_equal(plain.images, striped.images)
    for name in ("digit", "color"):
        assert np.array_equal(plain.attributes[name].labels, striped.attributes[name].labels)
    stripes = striped.attributes["stripes"]
    assert stripes.num_classes == 8 and np.bincount(stripes.labels, minlength=8).min() > 150


def test_the_grating_has_the_labelled_orientation():
    # Structure tensor of the background ring (the digit box is centred without shift): its
    # dominant gradient direction is the grating's normal, whose angle the label bins.
    ds = open_dataset("digits:colored?repeat=1&size=64&shift=0&seed=2&stripes=0.6")
    gray = ds.images[:300].astype(np.float64).mean(axis=3)
    gx = np.diff(gray, axis=2)[:, :-1, :]
    gy = np.diff(gray, axis=1)[:, :, :-1]
    index = np.arange(63)
    edge = (index < 5) | (index >= 58)
    ring = edge[:, None] | edge[None, :]
    jxx = (gx * gx)[:, ring].sum(axis=1)
    jyy = (gy * gy)[:, ring].sum(axis=1)
    jxy = (gx * gy)[:, ring].sum(axis=1)
    angle = np.mod(0.5 * np.arctan2(2 * jxy, jxx - jyy), np.pi)
    measured = np.floor(angle / np.pi * 8).astype(np.int64) % 8
    labels = ds.attributes["stripes"].labels[:300]
    off_by = np.minimum((measured - labels) % 8, (labels - measured) % 8)
    assert (off_by <= 1).mean() > 0.98 and (off_by == 0).mean() > 0.9


def test_stripes_are_deterministic_under_seed():
    a = open_dataset("digits:colored?repeat=1&seed=5&stripes=0.5")
    b = open_dataset("digits:colored?repeat=1&seed=5&stripes=0.5")
    c = open_dataset("digits:colored?repeat=1&seed=6&stripes=0.5")
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.attributes["stripes"].labels, b.attributes["stripes"].labels)
    assert not np.array_equal(a.attributes["stripes"].labels, c.attributes["stripes"].labels)
