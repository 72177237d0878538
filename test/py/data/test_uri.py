import pytest

from mcl_worker.data import SCHEMES, DatasetNotFound, DatasetUriError, open_dataset
from mcl_worker.data.uri import Param, bind_params, parse_uri


def test_parse_splits_scheme_path_and_query_and_percent_decodes():
    uri = parse_uri("npz:/data/my%20set.npz?a=1&b=x%26y")
    assert (uri.scheme, uri.path, uri.query) == ("npz", "/data/my set.npz", {"a": "1", "b": "x&y"})


def test_bind_fills_defaults_and_converts_types():
    spec = {"n": Param(int, 10, 1, 100), "shift": Param(float, 0.1, 0.0, 0.5)}
    assert bind_params(parse_uri("s:x?n=7"), spec, "s:x") == {"n": 7, "shift": 0.1}
    assert bind_params(parse_uri("s:x?shift=0.25"), spec, "s:x") == {"n": 10, "shift": 0.25}


def test_unknown_scheme_lists_the_valid_ones():
    with pytest.raises(DatasetUriError) as err:
        open_dataset("imagenet:/data/train")
    message = str(err.value)
    assert "'imagenet'" in message
    for scheme in SCHEMES:
        assert scheme in message
    assert err.value.code == "INVALID_BODY" and err.value.details["path"] == "uri"


def test_a_bare_path_is_refused_with_a_hint():
    with pytest.raises(DatasetUriError, match="npz:/tmp/x.npz"):
        open_dataset("/tmp/x.npz")


def test_unknown_generator_name_lists_the_valid_ones():
    with pytest.raises(DatasetUriError, match="synthetic:trifeature"):
        open_dataset("synthetic:bifeature")


def test_unknown_query_key_is_named_with_the_valid_keys():
    with pytest.raises(DatasetUriError) as err:
        open_dataset("synthetic:trifeature?sz=32")
    assert "'sz'" in str(err.value) and "size" in str(err.value) and "seed" in str(err.value)
    assert err.value.details["param"] == "sz"


@pytest.mark.parametrize(
    "uri, fragment",
    [
        ("synthetic:trifeature?n=abc", "'n' of synthetic:trifeature must be an integer"),
        ("synthetic:trifeature?n=2.5", "must be an integer"),
        ("synthetic:trifeature?n=0", "must be in [1,"),
        ("synthetic:trifeature?size=4", "'size'"),
        ("digits:colored?shift=nan", "finite"),
        ("digits:colored?shift=0.9", "[0, 0.5]"),
        ("synthetic:trifeature?n=5&n=6", "given twice"),
        ("synthetic:trifeature?n", "not key=value"),
        ("npz:/x.npz?mmap=1", "valid parameters: none"),
    ],
)
def test_bad_query_values_are_refused_by_name(uri, fragment):
    with pytest.raises(DatasetUriError) as err:
        open_dataset(uri)
    assert fragment in str(err.value)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DatasetNotFound) as err:
        open_dataset(f"npz:{missing}")
    assert str(missing) in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(DatasetNotFound, match="does not exist"):
        open_dataset(f"folder:{tmp_path / 'nowhere'}")


@pytest.mark.parametrize("uri", ["", "   ", ":x", "1abc:x"])
def test_malformed_uris(uri):
    with pytest.raises(DatasetUriError):
        open_dataset(uri)
