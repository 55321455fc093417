"""Finite-difference gradient checks, in plain NumPy.

A gradient derived by hand, or by a library, can be checked against the
definition of the derivative: nudge one input a little up and a little down
and see how the function moves. The central difference

.. math::

    \\frac{\\partial f}{\\partial x_i} \\approx
    \\frac{f(x + \\epsilon e_i) - f(x - \\epsilon e_i)}{2 \\epsilon}

has an error of order ``eps**2``, so in float64 with ``eps`` near ``1e-6``
a correct gradient agrees with it to about seven significant digits or
better, while a wrong one usually disagrees in the first.

This module imports only NumPy. The function being checked must compute in
float64: in float32 the rounding error of ``f`` swamps the differences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = [
    "numerical_gradient",
    "numerical_gradients",
    "relative_error",
    "verdict",
]


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Gradient of a scalar function by central differences, one entry at a time.

    Parameters
    ----------
    f : callable
        Takes an array shaped like ``x`` and returns a scalar (a Python or
        NumPy number, or a 0-d array). It is called ``2 * x.size`` times and
        must not keep a reference to its argument, which is changed in place
        between calls.
    x : array-like, any shape
        Where to take the gradient. It is copied to float64; the caller's
        array is never modified.
    eps : float
        Half the step of the difference, in the units of ``x``.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, dtype float64
        Entry ``i`` is ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``.

    Raises
    ------
    ValueError
        If ``eps`` is not a positive finite number.

    Examples
    --------
    >>> g = numerical_gradient(lambda v: np.sum(v**2), np.array([1.0, -2.0]))
    >>> np.round(g, 6)
    array([ 2., -4.])
    """
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        kept = flat[i]
        flat[i] = kept + eps
        f_plus = float(f(x))
        flat[i] = kept - eps
        f_minus = float(f(x))
        flat[i] = kept
        out[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def numerical_gradients(
    f: Callable[[Mapping[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    eps: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Central-difference gradients of ``f(params)`` for every named array.

    Parameters
    ----------
    f : callable
        Takes a dict of arrays with the keys and shapes of ``params`` and
        returns a scalar.
    params : mapping of str to array-like
        The point to differentiate at, for example ``{"W": ..., "b_h": ...,
        "b_v": ...}``. Copied to float64; never modified.
    eps : float
        As in :func:`numerical_gradient`.

    Returns
    -------
    dict of str to numpy.ndarray
        One float64 array per key, shaped like that parameter.

    Examples
    --------
    >>> p = {"a": np.array([3.0]), "b": np.array([[1.0, 2.0]])}
    >>> g = numerical_gradients(lambda q: q["a"][0] * q["b"].sum(), p)
    >>> {k: np.round(v, 6).tolist() for k, v in g.items()}
    {'a': [3.0], 'b': [[3.0, 3.0]]}
    """
    point = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    grads = {}
    for name, value in point.items():

        def f_of_one(v, name=name):
            return f({**point, name: v})

        grads[name] = numerical_gradient(f_of_one, value, eps)
    return grads


def relative_error(a: np.ndarray, b: np.ndarray, tiny: float = 1e-12) -> float:
    """How far apart two gradients are, relative to their size.

    Parameters
    ----------
    a, b : array-like, the same shape
        For example an analytic and a numerical gradient; any float dtype.
    tiny : float
        Floor on the denominator, so two zero arrays give 0 rather than NaN.

    Returns
    -------
    float
        ``||a - b|| / max(||a|| + ||b||, tiny)`` with Euclidean norms over
        all entries: 0 for equal arrays, at most 1. In float64, below about
        ``1e-7`` means agreement; above ``1e-3`` means a mistake.

    Raises
    ------
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    0.0
    >>> round(relative_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])), 4)
    0.7071
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    denominator = max(float(np.linalg.norm(a) + np.linalg.norm(b)), tiny)
    return float(np.linalg.norm(a - b)) / denominator


def verdict(error: float, tol: float = 1e-6) -> str:
    """Say in a few words whether a relative error means agreement.

    The wording depends only on which side of ``tol`` the error falls, and
    an error above it is shown to three significant digits, so printed
    verdicts stay the same when the last digits of a tiny error change
    from one machine or library version to another.

    Parameters
    ----------
    error : float
        A :func:`relative_error`.
    tol : float
        Largest error still taken as agreement. ``1e-6`` suits float64
        central differences with ``eps`` near ``1e-6``.

    Returns
    -------
    str

    Examples
    --------
    >>> verdict(3e-10)
    'agree (relative error below 1e-06)'
    >>> verdict(0.52757)
    'DISAGREE (relative error 0.528)'
    """
    if error < tol:
        return f"agree (relative error below {tol:.0e})"
    return f"DISAGREE (relative error {error:.3g})"
