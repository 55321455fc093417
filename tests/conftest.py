"""Fixtures shared by the unit tests.

Figures use Matplotlib's non-interactive ``Agg`` backend. Hypothesis keeps no
example database (nothing is written into the working tree) and has no
deadline, since the first call of a test may compile.

The ``reference`` fixture is an independent NumPy implementation of the tied
auto-encoder: its cost uses the textbook logarithms and its gradient is
derived by hand, so the PyTensor graphs and ``pytensor.grad`` are checked
against arithmetic that shares no code with them.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
from hypothesis import settings

matplotlib.use("Agg")
settings.register_profile("project", database=None, deadline=None)
settings.load_profile("project")

# IDX type codes (third byte of the magic number), from the format's spec.
IDX_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The bytes of an IDX file holding ``array``: magic, big-endian dims, data."""
    array = np.asarray(array)
    code = IDX_CODES[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim])
    header += np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file at ``path``, gzip-compressed if asked."""
    raw = idx_bytes(array)
    Path(path).write_bytes(gzip.compress(raw) if compress else raw)
    return Path(path)


@pytest.fixture(scope="session")
def idx():
    """Writers of IDX files: ``idx.bytes(array)`` and ``idx.write(path, array)``."""
    return SimpleNamespace(bytes=idx_bytes, write=write_idx, codes=IDX_CODES)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _forward(params, X):
    W, b_h, b_v = (np.asarray(params[k], dtype=np.float64) for k in ("W", "b_h", "b_v"))
    H = _sigmoid(X @ W + b_h)
    Z = H @ W.T + b_v
    return W, H, Z


def _elementwise_cost(params, X):
    """The textbook ``-x log(x_hat) - (1 - x) log(1 - x_hat)``, float64."""
    X = np.asarray(X, dtype=np.float64)
    _, _, Z = _forward(params, X)
    X_hat = _sigmoid(Z)
    return -X * np.log(X_hat) - (1 - X) * np.log(1 - X_hat)


def _cost(params, X, convention="per_example"):
    L = _elementwise_cost(params, X)
    if convention == "per_example":
        return float(L.sum(axis=1).mean())
    return float(L.mean())


def _grads(params, X, convention="per_example"):
    """Hand-derived gradient of the tied auto-encoder's cross-entropy.

    With ``A = X W + b_h``, ``H = sigmoid(A)``, ``Z = H W^T + b_v`` and the
    per-example cost ``sum_j softplus(Z_j) - X_j Z_j``: ``dL/dZ = (sigmoid(Z) -
    X) / m``; ``W`` gets ``D^T H`` from the decoder and ``X^T dA`` from the
    encoder, where ``dA = (D W) * H * (1 - H)``.
    """
    X = np.asarray(X, dtype=np.float64)
    W, H, Z = _forward(params, X)
    scale = X.shape[0] * (X.shape[1] if convention == "per_element" else 1)
    D = (_sigmoid(Z) - X) / scale
    dA = (D @ W) * H * (1.0 - H)
    return {"W": D.T @ H + X.T @ dA, "b_h": dA.sum(axis=0), "b_v": D.sum(axis=0)}


@pytest.fixture(scope="session")
def reference():
    """NumPy reference: ``cost``, ``grads``, ``elementwise_cost``, ``sigmoid``."""
    return SimpleNamespace(
        sigmoid=_sigmoid,
        forward=_forward,
        elementwise_cost=_elementwise_cost,
        cost=_cost,
        grads=_grads,
    )


@pytest.fixture(scope="session")
def binary_rows():
    """40 rows of 12 binary inputs (float64), about a third ones, seeded."""
    rng = np.random.default_rng(1234)
    return (rng.random((40, 12)) < 0.35).astype(np.float64)


@pytest.fixture(scope="session")
def mnist5k():
    """The built-in 5,000 MNIST images as loaded (a ``Dataset``), read once."""
    from helpers.data import load_mnist5k

    return load_mnist5k()


@pytest.fixture(scope="session")
def mnist_binary(mnist5k):
    """The built-in MNIST images, binarized, float32, shape (5000, 784)."""
    from helpers.data import prepare

    return prepare(mnist5k)
