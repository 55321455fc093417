"""Tests of :mod:`helpers.data`: loaders, range checks, preparation, the split."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import data
from helpers.data import (
    DataError,
    Dataset,
    check_unit_range,
    load_array,
    load_dataset,
    load_idx,
    prepare,
    train_valid_split,
)

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _grey_images(n=7, rows=5, cols=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, rows, cols), np.uint8)


def _raises_naming(path, *fragments, call=None):
    """Assert that loading ``path`` raises a one-line DataError naming it."""
    call = call or load_dataset
    with pytest.raises(DataError) as info:
        call(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message
    return message


# --- IDX files that load --------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_idx_images_round_trip(tmp_path, idx, compress):
    images = _grey_images()
    path = idx.write(tmp_path / "train-images-idx3-ubyte", images, compress=compress)
    loaded = load_dataset(path)
    assert loaded.X.dtype == np.uint8
    np.testing.assert_array_equal(loaded.X, images.reshape(7, 20))
    assert loaded.image_shape == (5, 4)
    assert loaded.max_value == 255.0
    assert loaded.name == str(path)


def test_gzip_is_detected_from_content_not_name(tmp_path, idx):
    images = _grey_images(3, 2, 2)
    plain = idx.write(tmp_path / "plain.gz", images)
    packed = idx.write(tmp_path / "packed-idx3-ubyte", images, compress=True)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(load_idx(plain).X, load_idx(packed).X)


def test_idx_rows_of_floats_are_kept_as_they_are(tmp_path, idx):
    rows = np.random.default_rng(3).random((6, 9)).astype(np.float32)
    loaded = load_idx(idx.write(tmp_path / "rows-idx2-float", rows))
    assert loaded.X.dtype == np.float32
    assert loaded.X.dtype.isnative
    np.testing.assert_array_equal(loaded.X, rows)
    assert loaded.image_shape is None
    assert loaded.max_value is None


def test_idx_grey_levels_are_binarized_at_half_intensity(tmp_path, idx):
    images = _grey_images()
    loaded = load_idx(idx.write(tmp_path / "grey-idx3-ubyte", images))
    flat = images.reshape(7, 20).astype(np.float64)
    binary = prepare(loaded)
    np.testing.assert_array_equal(binary, (flat / 255.0 > 0.5).astype(np.float32))
    grey = prepare(loaded, binarize=False)
    assert grey.dtype == np.float32
    np.testing.assert_allclose(grey, flat / 255.0, rtol=1e-6)


@pytest.mark.skipif(
    not FASHION_MNIST.is_dir(),
    reason=f"{FASHION_MNIST} is absent (Debian package dataset-fashion-mnist)",
)
def test_debian_fashion_mnist_file_loads():
    files = sorted(FASHION_MNIST.glob("*images*"))
    assert files, f"no images file in {FASHION_MNIST}"
    loaded = load_dataset(files[0])
    assert loaded.image_shape == (28, 28)
    assert loaded.X.shape[1] == 28 * 28
    assert loaded.X.shape[0] > 0
    X = prepare(loaded)
    assert set(np.unique(X)) <= {0.0, 1.0}


# --- IDX files that are refused --------------------------------------------------


def _damaged_gzip(raw: bytes) -> bytes:
    packed = bytearray(gzip.compress(raw))
    for i in range(10, len(packed) - 8):  # the deflate stream, not header/trailer
        packed[i] ^= 0xFF
    return bytes(packed)


def _bad_crc_gzip(raw: bytes) -> bytes:
    packed = bytearray(gzip.compress(raw))
    packed[-8] ^= 0xFF  # first byte of the CRC-32 in the trailer
    return bytes(packed)


BAD_IDX = {
    "empty file": (lambda raw: b"", "too short"),
    "truncated header": (lambda raw: raw[:10], "truncated IDX header"),
    "truncated body": (lambda raw: raw[:-5], "truncated"),
    "extra bytes": (lambda raw: raw + b"\x00", "longer than its header"),
    "text file": (lambda raw: b"pixel,value\n1,2\n", "not an IDX file"),
    "damaged gzip": (_damaged_gzip, "gzip stream is damaged"),
    "gzip with a bad checksum": (_bad_crc_gzip, "gzip stream is damaged"),
    "truncated gzip": (lambda raw: gzip.compress(raw)[:-12], "gzip stream is damaged"),
}


@pytest.mark.parametrize("kind", sorted(BAD_IDX))
def test_bad_idx_file_raises_data_error_naming_it(tmp_path, idx, kind):
    damage, fragment = BAD_IDX[kind]
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(damage(idx.bytes(_grey_images())))
    _raises_naming(path, fragment)


def test_truncated_body_message_gives_declared_shape(tmp_path, idx):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx.bytes(_grey_images())[:-5])
    _raises_naming(path, "(7, 5, 4)", "135 bytes follow")


def test_missing_file(tmp_path):
    _raises_naming(tmp_path / "no-such-idx3-ubyte", "no such file")


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _raises_naming(folder, "is a folder")


def test_unreadable_file(tmp_path, idx, monkeypatch):
    path = idx.write(tmp_path / "locked-idx3-ubyte", _grey_images())

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    _raises_naming(path, "cannot be read", "Permission denied")


def test_labels_file_is_refused(tmp_path, idx):
    labels = np.arange(10, dtype=np.uint8)
    path = idx.write(tmp_path / "train-labels-idx1-ubyte", labels)
    _raises_naming(path, "labels", "images file")


def test_four_dimensional_idx_is_refused(tmp_path, idx):
    path = idx.write(tmp_path / "video-idx4-ubyte", np.zeros((2, 3, 4, 5), np.uint8))
    _raises_naming(path, "4 dimensions", "(2, 3, 4, 5)")


def test_idx_with_no_images_is_an_empty_set(tmp_path, idx):
    path = idx.write(tmp_path / "none-idx3-ubyte", np.zeros((0, 3, 4), np.uint8))
    loaded = load_idx(path)
    assert loaded.X.shape == (0, 12)
    _raises_naming(path, "empty", call=lambda p: prepare(load_idx(p)))


# --- NumPy files -----------------------------------------------------------------


def test_npy_rows_round_trip(tmp_path):
    X = np.random.default_rng(5).random((8, 6))
    np.save(tmp_path / "rows.npy", X)
    loaded = load_dataset(tmp_path / "rows.npy")
    np.testing.assert_array_equal(loaded.X, X)
    assert loaded.image_shape is None
    assert loaded.max_value is None
    np.testing.assert_array_equal(prepare(loaded, binarize=False), X.astype("f4"))


def test_npy_images_are_flattened(tmp_path):
    images = _grey_images(4, 3, 5)
    np.save(tmp_path / "images.npy", images)
    loaded = load_dataset(tmp_path / "images.npy")
    np.testing.assert_array_equal(loaded.X, images.reshape(4, 15))
    assert loaded.image_shape == (3, 5)
    assert loaded.max_value == 255.0


def test_npz_single_array_needs_no_key(tmp_path):
    X = np.eye(4, dtype=bool)
    np.savez(tmp_path / "one.npz", whatever=X)
    loaded = load_dataset(tmp_path / "one.npz")
    np.testing.assert_array_equal(loaded.X, X)
    np.testing.assert_array_equal(prepare(loaded), X.astype(np.float32))


@pytest.mark.parametrize("name", ["x.npy", "train-images-idx3-ubyte.gz", "mnist5k"])
def test_an_array_name_is_refused_where_there_is_no_archive(tmp_path, name):
    source = name if name == "mnist5k" else tmp_path / name
    with pytest.raises(DataError, match=r"--npz-key images\) only applies to a \.npz"):
        load_dataset(source, key="images")


def test_npz_key_picks_an_array(tmp_path):
    images, labels = _grey_images(), np.arange(7)
    np.savez_compressed(tmp_path / "set.npz", images=images, labels=labels)
    loaded = load_dataset(tmp_path / "set.npz", key="images")
    np.testing.assert_array_equal(loaded.X, images.reshape(7, 20))


def test_uint8_zeros_and_ones_stay_binary(tmp_path):
    X = (np.random.default_rng(2).random((9, 7)) < 0.4).astype(np.uint8)
    np.save(tmp_path / "binary.npy", X)
    loaded = load_dataset(tmp_path / "binary.npy")
    assert loaded.max_value == 255.0  # the dtype alone suggests grey levels
    for binarize in (True, False):
        np.testing.assert_array_equal(
            prepare(loaded, binarize=binarize), X.astype(np.float32)
        )


def test_grey_levels_kept_without_binarize(tmp_path):
    X = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.save(tmp_path / "grey.npy", X)
    grey = prepare(load_dataset(tmp_path / "grey.npy"), binarize=False)
    np.testing.assert_allclose(grey, X / 255.0, rtol=1e-6)
    assert len(np.unique(grey)) == 256


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (np.array([[0.0, 0.5], [1.5, -0.5]]), "values range from -0.5 to 1.5"),
        (np.array([[0.0, np.nan], [1.0, np.nan]]), "2 values are NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 0.5]]), "NaN or infinite"),
        (np.zeros((0, 784)), "empty"),
        (np.zeros((0, 28, 28), np.uint8), "empty"),
        (np.array([[0, 2], [1, 0]]), "values range from 0 to 2"),
    ],
    ids=["out-of-range", "nan", "inf", "empty", "empty-images", "int-above-one"],
)
def test_npy_values_unfit_for_training(tmp_path, values, fragment):
    path = tmp_path / "values.npy"
    np.save(path, values)
    _raises_naming(path, fragment, call=lambda p: prepare(load_dataset(p)))


def test_npz_with_several_arrays_needs_a_key(tmp_path):
    np.savez(tmp_path / "two.npz", images=_grey_images(), labels=np.arange(7))
    _raises_naming(tmp_path / "two.npz", "2 arrays", "'images'", "--npz-key")


def test_npz_wrong_key(tmp_path):
    np.savez(tmp_path / "set.npz", images=_grey_images())
    message = _raises_naming(
        tmp_path / "set.npz", call=lambda p: load_dataset(p, key="pixels")
    )
    assert "'pixels'" in message
    assert "images" in message


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (np.zeros(5), "shape (5,)"),
        (np.zeros((2, 2), complex), "complex128"),
        (np.array([["a", "b"]]), "<U1"),
    ],
    ids=["1-D", "complex", "strings"],
)
def test_npy_of_the_wrong_kind(tmp_path, values, fragment):
    np.save(tmp_path / "wrong.npy", values)
    _raises_naming(tmp_path / "wrong.npy", fragment)


def test_missing_npy(tmp_path):
    _raises_naming(tmp_path / "absent.npy", "no such file", call=load_array)


def test_truncated_npy(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, np.zeros((10, 10)))
    path.write_bytes(path.read_bytes()[:200])
    _raises_naming(path, "cannot be read")


def test_text_file_named_npz(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("not an archive\n")
    _raises_naming(path)


def _leave_marker(path):
    """Called only if a pickle holding a :class:`_Trap` is loaded."""
    Path(path).write_text("unpickled")
    return "trap"


class _Trap:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_leave_marker, (self.marker,))


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_object_arrays_are_refused_without_unpickling(tmp_path, suffix):
    marker = tmp_path / "unpickled.txt"
    objects = np.array([_Trap(marker), None], dtype=object)
    path = tmp_path / f"objects{suffix}"
    if suffix == ".npy":
        np.save(path, objects, allow_pickle=True)
    else:
        np.savez(path, objects=objects)
    _raises_naming(path, "holds Python objects", "unpickled")
    assert not marker.exists()
    # The trap works: loading with pickles allowed does leave the marker.
    loaded = np.load(path, allow_pickle=True)
    if suffix == ".npz":
        loaded = loaded["objects"]
    assert loaded[0] == "trap"
    assert marker.exists()


def test_builtin_set_is_the_default(monkeypatch):
    sentinel = Dataset(X=np.zeros((1, 1)), name="sentinel")
    monkeypatch.setattr(data, "load_mnist5k", lambda: sentinel)
    assert load_dataset() is sentinel
    assert load_dataset("mnist5k") is sentinel


def test_builtin_mnist5k(mnist5k, mnist_binary):
    assert mnist5k.X.shape == (5000, 784)
    assert mnist5k.image_shape == (28, 28)
    assert mnist5k.max_value == 255.0
    assert mnist5k.X.max() > 1  # grey levels, so scaling applies
    assert mnist_binary.dtype == np.float32
    assert mnist_binary.flags.c_contiguous
    np.testing.assert_array_equal(
        mnist_binary, (mnist5k.X / 255.0 > 0.5).astype(np.float32)
    )


# --- check_unit_range and prepare ---------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        np.array([[True, False], [False, True]]),
        np.array([[0, 1], [1, 0]], dtype=np.uint8),
        np.array([[0, 1], [1, 0]], dtype=np.int64),
        np.array([[0.0, 1.0], [0.25, 0.75]]),
    ],
    ids=["bool", "uint8", "int64", "float64"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_unit_range_casts(values, dtype):
    out = check_unit_range(values, dtype)
    assert out.dtype == np.dtype(dtype)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, values.astype(np.float64))


def test_check_unit_range_keeps_a_ready_array():
    X = np.zeros((3, 4), dtype=np.float32)
    assert check_unit_range(X) is X
    fortran = np.asfortranarray(np.zeros((3, 4), dtype=np.float32))
    assert check_unit_range(fortran).flags.c_contiguous


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (np.zeros((2, 3, 4)), "shape (2, 3, 4)"),
        (np.zeros(4), "shape (4,)"),
        (np.zeros((0, 4)), "empty"),
        (np.zeros((4, 0)), "empty"),
        (np.array([["0", "1"]]), "expected numbers"),
        (np.array([[0, 255]], dtype=np.uint8), "divide by 255"),
        (np.array([[-1.0, 0.5]]), "from -1 to 0.5"),
    ],
)
def test_check_unit_range_refuses(values, fragment):
    with pytest.raises(DataError, match="^my data: ") as info:
        check_unit_range(values, name="my data")
    assert fragment in str(info.value)


def test_negative_values_get_no_grey_level_hint():
    with pytest.raises(DataError) as info:
        check_unit_range(np.array([[-1.0, 0.5]]))
    assert "255" not in str(info.value)


def test_prepare_uint8_matches_scaled_float_path():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    from_ints = prepare(levels)
    from_floats = prepare(levels / 255.0)
    np.testing.assert_array_equal(from_ints, from_floats)
    # Above half the maximum intensity, strictly: 127 -> 0, 128 -> 1.
    assert from_ints[0, 127] == 0.0
    assert from_ints[0, 128] == 1.0


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.9])
def test_prepare_threshold(threshold):
    X = np.linspace(0.0, 1.0, 21).reshape(3, 7)
    np.testing.assert_array_equal(prepare(X, threshold=threshold), X > threshold)


@pytest.mark.parametrize("threshold", [-0.1, 1.0, 2.0])
def test_prepare_refuses_bad_threshold(threshold):
    with pytest.raises(DataError, match="threshold"):
        prepare(np.zeros((2, 2)), threshold=threshold)


def test_prepare_dtype():
    X = np.array([[0, 200]], dtype=np.uint8)
    assert prepare(X, dtype="float64").dtype == np.float64
    assert prepare(X, binarize=False, dtype="float64").dtype == np.float64


def test_prepare_names_a_plain_array_in_errors():
    with pytest.raises(DataError, match="^array: "):
        prepare(np.array([[0.0, 3.0]]))


# --- train_valid_split -----------------------------------------------------------


def test_split_partitions_the_rows():
    X = np.arange(50.0).reshape(25, 2)
    X_train, X_valid = train_valid_split(X, 0.2, seed=3)
    assert X_train.shape == (20, 2)
    assert X_valid.shape == (5, 2)
    ids = np.concatenate([X_train[:, 0], X_valid[:, 0]])
    np.testing.assert_array_equal(np.sort(ids), X[:, 0])


def test_split_is_seeded():
    X = np.arange(100.0).reshape(50, 2)
    first, again = train_valid_split(X, 0.3, seed=7), train_valid_split(X, 0.3, seed=7)
    other = train_valid_split(X, 0.3, seed=8)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_split_keeps_one_training_row_and_allows_no_validation():
    X = np.arange(4.0).reshape(2, 2)
    assert train_valid_split(X, 0.9)[0].shape == (1, 2)
    X_train, X_valid = train_valid_split(X, 0.0)
    assert X_train.shape == (2, 2)
    assert X_valid.shape == (0, 2)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_refuses_bad_fraction(fraction):
    with pytest.raises(DataError, match="validation fraction"):
        train_valid_split(np.zeros((4, 2)), fraction)


# --- property-based tests of the IDX reader ----------------------------------------


@st.composite
def idx_arrays(draw):
    """Small arrays of every IDX dtype, 2-D or 3-D, with zero-length axes too."""
    dtype = draw(st.sampled_from(["u1", "i1", "i2", "i4", "f4", "f8"]))
    ndim = draw(st.integers(2, 3))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    return draw(hnp.arrays(np.dtype(dtype), shape))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("idx-properties") / "data-idx-ubyte"


@given(array=idx_arrays(), compress=st.booleans())
def test_idx_round_trip_property(scratch, idx, array, compress):
    idx.write(scratch, array, compress=compress)
    loaded = load_idx(scratch)
    n = array.shape[0]
    assert loaded.X.shape == (n, int(np.prod(array.shape[1:])))
    assert loaded.X.dtype == array.dtype
    assert loaded.X.tobytes() == array.tobytes()  # every bit, NaNs included
    assert loaded.image_shape == (array.shape[1:] if array.ndim == 3 else None)
    assert loaded.max_value == (255.0 if array.dtype == np.uint8 else None)


@given(array=idx_arrays(), compress=st.booleans(), data=st.data())
def test_idx_truncated_anywhere_raises_data_error(scratch, idx, array, compress, data):
    full = idx.bytes(array)
    full = gzip.compress(full) if compress else full
    cut = data.draw(st.integers(0, len(full) - 1), label="cut")
    scratch.write_bytes(full[:cut])
    with pytest.raises(DataError) as info:
        load_idx(scratch)
    assert str(scratch) in str(info.value)


@given(array=idx_arrays(), compress=st.booleans(), data=st.data())
def test_idx_damaged_byte_loads_or_raises_data_error(
    scratch, idx, array, compress, data
):
    full = bytearray(idx.bytes(array))
    full = bytearray(gzip.compress(bytes(full))) if compress else full
    where = data.draw(st.integers(0, len(full) - 1), label="where")
    full[where] ^= data.draw(st.integers(1, 255), label="flip")
    scratch.write_bytes(bytes(full))
    try:
        loaded = load_idx(scratch)
    except DataError as exc:
        assert str(scratch) in str(exc)
    else:
        assert loaded.X.ndim == 2


@given(raw=st.binary(max_size=40))
def test_idx_arbitrary_bytes_load_or_raise_data_error(scratch, raw):
    scratch.write_bytes(raw)
    try:
        loaded = load_idx(scratch)
    except DataError as exc:
        assert str(scratch) in str(exc)
    else:
        assert loaded.X.ndim == 2
