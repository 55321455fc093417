"""Initial values for the auto-encoder's parameters, seeded.

The arrays are plain NumPy; :func:`helpers.model.AutoEncoder` wraps them in
PyTensor shared variables. Keeping initialisation library-free means a NumPy
baseline, a test or another framework can start from the very same numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["INIT_SCHEMES", "init_params", "uniform_bound"]

InitScheme = Literal["sigmoid_uniform", "tanh_uniform", "normal", "zeros"]
INIT_SCHEMES: tuple[str, ...] = ("sigmoid_uniform", "tanh_uniform", "normal", "zeros")


def uniform_bound(n_visible: int, n_hidden: int, scheme: str = "sigmoid_uniform"):
    """Half-width of the uniform interval the weights are drawn from.

    ``tanh_uniform`` is Glorot and Bengio's ``sqrt(6 / (n_visible + n_hidden))``;
    ``sigmoid_uniform`` is four times that, as the classic Theano tutorials
    use for sigmoid units.

    Examples
    --------
    >>> round(uniform_bound(784, 500), 6)
    0.273434
    """
    bound = float(np.sqrt(6.0 / (n_visible + n_hidden)))
    if scheme == "sigmoid_uniform":
        return 4.0 * bound
    if scheme == "tanh_uniform":
        return bound
    raise ValueError(f"no uniform bound for scheme {scheme!r}")


def init_params(
    n_visible: int,
    n_hidden: int,
    *,
    seed: int | np.random.Generator = 0,
    dtype: str = "float32",
    scheme: InitScheme = "sigmoid_uniform",
) -> dict[str, np.ndarray]:
    """Draw initial parameters of a tied-weight auto-encoder.

    Parameters
    ----------
    n_visible, n_hidden : int
        Number of input units (784 for MNIST) and of hidden units.
    seed : int or numpy.random.Generator
        Seed or generator for the weights; the same seed gives the same
        arrays on every machine.
    dtype : {"float32", "float64"}
    scheme : {"sigmoid_uniform", "tanh_uniform", "normal", "zeros"}
        ``sigmoid_uniform`` (the default) draws ``W`` uniformly in
        ``+-4*sqrt(6/(n_visible+n_hidden))``; ``normal`` uses a standard
        deviation of ``0.01``; ``zeros`` is only useful to show why symmetry
        must be broken.

    Returns
    -------
    dict of str to numpy.ndarray
        ``W`` of shape (n_visible, n_hidden), ``b_h`` of shape (n_hidden,)
        and ``b_v`` of shape (n_visible,), all of dtype ``dtype``; biases are
        zero.

    Examples
    --------
    >>> p = init_params(6, 3, seed=1)
    >>> {k: (v.shape, str(v.dtype)) for k, v in p.items()}
    {'W': ((6, 3), 'float32'), 'b_h': ((3,), 'float32'), 'b_v': ((6,), 'float32')}
    >>> bool(abs(p["W"]).max() <= uniform_bound(6, 3))
    True
    """
    if n_visible < 1 or n_hidden < 1:
        raise ValueError(
            f"need at least one visible and one hidden unit, got n_visible="
            f"{n_visible}, n_hidden={n_hidden}"
        )
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', not {dtype!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shape = (n_visible, n_hidden)
    if scheme in ("sigmoid_uniform", "tanh_uniform"):
        a = uniform_bound(n_visible, n_hidden, scheme)
        W = rng.uniform(-a, a, size=shape)
    elif scheme == "normal":
        W = rng.normal(0.0, 0.01, size=shape)
    elif scheme == "zeros":
        W = np.zeros(shape)
    else:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {INIT_SCHEMES}")
    return {
        "W": W.astype(dtype),
        "b_h": np.zeros(n_hidden, dtype=dtype),
        "b_v": np.zeros(n_visible, dtype=dtype),
    }
