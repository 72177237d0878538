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
