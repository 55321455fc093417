"""Measuring training speed: a NumPy baseline, a timer and the compute bound.

Shared by ``benchmarks/training_step.py`` and notebook 07, so both measure
the same way. Everything here is NumPy; JAX and PyTorch are imported only
when asked to time their matrix product.

One SGD step of the 784-500 tied auto-encoder on a minibatch of ``B`` rows
does five matrix products of ``2 * B * 784 * 500`` floating-point
operations each (two forward, three backward), so each training sample costs
:data:`FLOP_PER_SAMPLE` = 3.92 MFLOP. No path can train faster than the
machine multiplies large matrices: :func:`compute_bound` turns a measured
matrix product's GFLOP/s into that ceiling in samples per second.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "FLOP_PER_SAMPLE",
    "Bound",
    "compute_bound",
    "flop_per_sample",
    "matmul_engines",
    "matmul_gflops",
    "numpy_sgd_step",
    "peak_rss_mib",
    "samples_per_second",
]


def flop_per_sample(n_visible: int = 784, n_hidden: int = 500) -> int:
    """Floating-point operations one SGD step spends per training sample.

    Five matrix products of ``n_visible x n_hidden`` multiply-adds per row:
    ``x W`` and ``h W^T`` forward; the error sent back to ``h``, and the two
    halves of the tied weight's gradient backward. Elementwise work is left
    out: it is a few hundred times smaller.

    Examples
    --------
    >>> flop_per_sample(784, 500)
    3920000
    """
    return 5 * 2 * n_visible * n_hidden


#: 3.92 MFLOP: one training sample's share of an SGD step of the 784-500 model.
FLOP_PER_SAMPLE = flop_per_sample()


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large negative a, same dtype as a.
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def numpy_sgd_step(
    params: dict[str, np.ndarray], learning_rate: float = 0.1
) -> Callable[[np.ndarray], float]:
    """A training step written by hand in NumPy, with the analytic gradient.

    The same model and cost as :meth:`helpers.model.AutoEncoder.cost` (tied
    weights, cross-entropy from the logits, summed over the inputs and
    averaged over the minibatch) and the same SGD update, with the gradient
    derived on paper instead of by ``pytensor.grad``::

        dz  = (sigmoid(z) - x) / B          # B rows in the minibatch
        dh  = (dz W) * h * (1 - h)
        dW  = x^T dh + dz^T h               # W is used twice (tied)

    Parameters
    ----------
    params : dict of str to numpy.ndarray
        ``W``, ``b_h`` and ``b_v``, e.g. from :func:`helpers.params.init_params`.
        Updated in place on every call; pass copies to keep the originals.
    learning_rate : float

    Returns
    -------
    callable
        ``step(x)`` takes a minibatch (rows of the parameters' dtype), applies
        one update and returns the minibatch cost from before it, a float.

    Examples
    --------
    >>> from helpers.params import init_params
    >>> step = numpy_sgd_step(init_params(6, 3, seed=0), learning_rate=0.5)
    >>> x = np.eye(6, dtype="float32")[:4]
    >>> costs = [step(x) for _ in range(50)]
    >>> costs[-1] < costs[0]
    True
    """
    lr = params["W"].dtype.type(learning_rate)

    def step(x: np.ndarray) -> float:
        W, b_h, b_v = params["W"], params["b_h"], params["b_v"]  # updated in place
        h = _sigmoid(x @ W + b_h)
        z = h @ W.T + b_v
        cost = float(np.sum(np.logaddexp(0, z) - x * z)) / len(x)
        dz = (_sigmoid(z) - x) / x.dtype.type(len(x))
        dh = (dz @ W) * h * (1 - h)
        W -= lr * (x.T @ dh + dz.T @ h)
        b_h -= lr * dh.sum(axis=0)
        b_v -= lr * dz.sum(axis=0)
        return cost

    return step


def samples_per_second(
    run: Callable[[], object],
    n_samples: int,
    *,
    repeats: int = 3,
    warm_up: bool = True,
) -> float:
    """Samples per second of ``run()``, from the median of ``repeats`` timings.

    Parameters
    ----------
    run : callable
        Does the work for ``n_samples`` samples, e.g. one training epoch. It
        must return only once the work is done: with an asynchronous library
        (JAX), convert a result to NumPy or call ``block_until_ready``.
    n_samples : int
    repeats : int
    warm_up : bool
        Call ``run()`` once, untimed, first: the first call of a compiled
        function may compile or load code.

    Examples
    --------
    >>> rate = samples_per_second(lambda: sum(range(1000)), 1000, repeats=2)
    >>> rate > 0
    True
    """
    return n_samples / _median_seconds(run, repeats, warm_up)


def matmul_engines() -> tuple[str, ...]:
    """Libraries whose matrix product :func:`matmul_gflops` can time.

    ``"numpy"`` (its BLAS library) always, then ``"jax"`` (XLA) and
    ``"torch"`` when installed.

    Examples
    --------
    >>> matmul_engines()[0]
    'numpy'
    """
    extra = tuple(m for m in ("jax", "torch") if importlib.util.find_spec(m))
    return ("numpy", *extra)


def matmul_gflops(
    dtype: str = "float32", n: int = 2000, repeats: int = 5, engine: str = "numpy"
) -> float:
    """GFLOP/s of an ``n x n`` matrix product (median of ``repeats``, after one).

    Parameters
    ----------
    dtype : {"float32", "float64"}
    n : int
        2,000 is large enough that the product runs near the library's peak.
    repeats : int
    engine : {"numpy", "jax", "torch"}
        Whose matrix product to time; see :func:`matmul_engines`.

    Examples
    --------
    >>> matmul_gflops("float64", n=64, repeats=2) > 0
    True
    """
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n)).astype(dtype) for _ in range(2))
    if engine == "numpy":

        def product():
            return a @ b
    elif engine == "jax":
        import jax

        a, b = jax.device_put(a), jax.device_put(b)
        matmul = jax.jit(lambda p, q: p @ q)

        def product():
            return matmul(a, b).block_until_ready()  # JAX runs asynchronously
    elif engine == "torch":
        import torch

        a, b = torch.from_numpy(a), torch.from_numpy(b)

        def product():
            return a @ b
    else:
        raise ValueError(f"unknown engine {engine!r}: choose one of numpy, jax, torch")
    return 2 * n**3 / _median_seconds(product, repeats) / 1e9


def _median_seconds(fn: Callable[[], object], repeats: int, warm_up=True) -> float:
    if warm_up:
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class Bound(NamedTuple):
    """The compute bound of a training step, as :func:`compute_bound` measured it.

    Attributes
    ----------
    samples_per_second : float
        The fastest matrix product's FLOP/s over the FLOP per sample.
    gflops : dict of str to float
        Each engine's matrix product, GFLOP/s.
    engine : str
        The fastest engine.
    """

    samples_per_second: float
    gflops: dict
    engine: str


def compute_bound(
    dtype: str = "float32",
    flop: int = FLOP_PER_SAMPLE,
    *,
    n: int = 2000,
    engines: tuple[str, ...] | None = None,
) -> Bound:
    """The most samples per second any path could train on this machine.

    Times a large matrix product with every installed engine (NumPy, JAX,
    PyTorch) and keeps the fastest: the engines may use different numbers of
    threads (``OPENBLAS_NUM_THREADS=1`` limits NumPy's BLAS, not XLA), and
    the bound must hold for every path.

    Parameters
    ----------
    dtype : {"float32", "float64"}
    flop : int
        Floating-point operations per training sample (:func:`flop_per_sample`).
    n : int
        Matrix size.
    engines : tuple of str, optional
        Default: :func:`matmul_engines`.

    Examples
    --------
    >>> b = compute_bound("float64", n=64, engines=("numpy",))
    >>> b.engine, b.samples_per_second == b.gflops["numpy"] * 1e9 / FLOP_PER_SAMPLE
    ('numpy', True)
    """
    engines = matmul_engines() if engines is None else engines
    gflops = {e: matmul_gflops(dtype, n=n, engine=e) for e in engines}
    best = max(gflops, key=gflops.get)
    return Bound(gflops[best] * 1e9 / flop, gflops, best)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB.

    On Linux, the ``VmHWM`` line of ``/proc/self/status``: ``ru_maxrss``
    survives ``exec``, so in a process started by a large one it reports the
    parent's memory. Elsewhere, ``ru_maxrss``.

    Examples
    --------
    >>> peak_rss_mib() > 1
    True
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource  # not on Windows

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
