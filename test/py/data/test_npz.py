import numpy as np
import pytest
import torch

from mcl_worker.data import DatasetContentError, DatasetNotFound, DatasetUriError, open_dataset


def images(n=6, h=5, w=4, c=3):
    return np.arange(n * h * w * c, dtype=np.uint8).reshape(n, h, w, c)


def test_uncompressed_images_are_memory_mapped(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        images=images(),
        attr_size=np.array([0, 1, 2, 0, 1, 2]),
        classes_size=np.array(["small", "medium", "large"]),
        attr_kind=np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]),  # integral floats are fine
        captions=np.array(["a", "b", "c", "d", "e", "f"]),
    )
    ds = open_dataset(f"npz:{path}")
    assert isinstance(ds.images, np.memmap)
    assert len(ds) == 6 and ds.image_shape == (3, 5, 4)
    expected = torch.from_numpy(images()[[4, 1]]).permute(0, 3, 1, 2)
    assert torch.equal(ds.get_images([4, 1]), expected)
    assert ds.attributes["size"].class_names == ("small", "medium", "large")
    assert ds.attributes["kind"].class_names == ("0", "1")
    assert ds.attributes["kind"].labels.dtype == np.int64
    assert ds.captions([2, 0]) == ["c", "a"]
    assert ds.describe()["has_captions"] is True


def test_compressed_archive_loads_into_memory(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, images=images(c=1))
    ds = open_dataset(f"npz:{path}")
    assert not isinstance(ds.images, np.memmap)
    assert ds.image_shape == (1, 5, 4) and ds.captions([0]) is None and ds.attributes == {}
    assert torch.equal(ds.get_images([3])[0, 0], torch.from_numpy(images(c=1)[3, :, :, 0]))


def save(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, array, fragment",
    [
        ({"images": images().astype(np.float32)}, "images", "must be uint8, got float32"),
        ({"images": images()[..., 0]}, "images", "add a channel axis"),
        ({"images": images(c=4)}, "images", "C in {1, 3}"),
        ({"labels": np.zeros(3)}, "labels", "not a recognised array name"),
        ({"images": images(), "attr_a": np.zeros(5, np.int64)}, "attr_a", "shape (6,)"),
        ({"images": images(), "attr_a": np.array([0, 1, 2, -1, 0, 0])}, "attr_a", "negative"),
        ({"images": images(), "attr_a": np.full(6, 0.5)}, "attr_a", "non-integral"),
        ({"images": images(), "attr_a": np.array(["x"] * 6)}, "attr_a", "integer labels"),
        ({"images": images(), "classes_a": np.array(["x"])}, "classes_a", "attr_a"),
        (
            {"images": images(), "attr_a": np.arange(6), "classes_a": np.array(["x", "y"])},
            "classes_a",
            "a label is 5",
        ),
        ({"images": images(), "captions": np.arange(6)}, "captions", "unicode"),
        ({"attr_a": np.arange(6)}, "images", "is missing"),
    ],
)
def test_bad_arrays_name_the_file_and_the_array(tmp_path, arrays, array, fragment):
    path = save(tmp_path, **arrays)
    with pytest.raises(DatasetContentError) as err:
        open_dataset(f"npz:{path}")
    message = str(err.value)
    assert str(path) in message and repr(array) in message and fragment in message
    assert err.value.details["array"] == array and err.value.details["file"] == str(path)


def test_non_finite_values_are_reported(tmp_path):
    bad_images = images().astype(np.float64)
    bad_images[0, 0, 0, 0] = np.nan
    path = save(tmp_path, images=bad_images)
    with pytest.raises(DatasetContentError, match="1 non-finite values"):
        open_dataset(f"npz:{path}")
    labels = np.array([0.0, 1.0, np.inf, np.nan, 0.0, 1.0])
    path = save(tmp_path, images=images(), attr_a=labels)
    with pytest.raises(DatasetContentError, match=r"2 non-finite values \(the first at index 2\)"):
        open_dataset(f"npz:{path}")


def test_object_arrays_are_never_unpickled(tmp_path):
    path = save(tmp_path, images=images(), captions=np.array(["a", None] * 3, dtype=object))
    with pytest.raises(DatasetContentError, match="'captions' cannot be read without pickle"):
        open_dataset(f"npz:{path}")


def test_not_an_archive(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DatasetContentError, match="not a readable .npz"):
        open_dataset(f"npz:{text}")
    single = tmp_path / "single.npy"
    np.save(single, images())
    with pytest.raises(DatasetContentError, match="single array"):
        open_dataset(f"npz:{single}")
    with pytest.raises(DatasetNotFound, match="is a directory"):
        open_dataset(f"npz:{tmp_path}")
    with pytest.raises(DatasetUriError):
        open_dataset(f"npz:{text}?size=3")
