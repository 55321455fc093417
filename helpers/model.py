"""The tied-weight sigmoid auto-encoder and its costs, as PyTensor graphs.

With an input row ``x`` (n_visible values in [0, 1]) and parameters ``W``
(n_visible x n_hidden), ``b_h`` (n_hidden) and ``b_v`` (n_visible)::

    h     = sigmoid(x W + b_h)          # hidden code
    z     = h W^T + b_v                 # logits of the reconstruction
    x_hat = sigmoid(z)                  # reconstruction

The cross-entropy between ``x`` and ``x_hat`` is computed from the logits,
``softplus(z) - x * z``, which equals ``-x log(x_hat) - (1 - x) log(1 - x_hat)``
but never takes the log of a value that rounded to 0 or 1.

Two conventions turn the per-element cost into one number:

``"per_example"``
    Sum over the n_visible elements of each row, mean over the rows: the
    classic denoising auto-encoder tutorial's ``T.mean(T.sum(L, axis=1))``.
    Values for MNIST are around 60 to 100.
``"per_element"``
    Mean over every element of the minibatch, as ``L.mean()``: the first
    number divided by n_visible, around 0.1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytensor
import pytensor.tensor as pt

from helpers.params import InitScheme, init_params

__all__ = [
    "CONVENTIONS",
    "COSTS",
    "AutoEncoder",
    "cross_entropy_from_logits",
    "describe_cost",
    "naive_cross_entropy",
    "reduce_cost",
    "squared_error",
]

Convention = Literal["per_example", "per_element"]
CONVENTIONS: tuple[str, ...] = ("per_example", "per_element")
CostName = Literal["cross_entropy", "squared_error"]
COSTS: tuple[str, ...] = ("cross_entropy", "squared_error")


def reduce_cost(elementwise, convention: Convention = "per_example"):
    """Turn an (n_examples, n_visible) cost matrix into a scalar.

    Parameters
    ----------
    elementwise : TensorVariable, shape (n_examples, n_visible)
    convention : {"per_example", "per_element"}
        ``per_example`` sums each row and averages the sums; ``per_element``
        averages every entry.

    Returns
    -------
    TensorVariable, scalar
    """
    if convention == "per_example":
        return elementwise.sum(axis=1).mean()
    if convention == "per_element":
        return elementwise.mean()
    raise ValueError(
        f"unknown cost convention {convention!r}; choose one of {CONVENTIONS}"
    )


def cross_entropy_from_logits(x, z, convention: Convention = "per_example"):
    """Binary cross-entropy of targets ``x`` against ``sigmoid(z)``, stably.

    Parameters
    ----------
    x : TensorVariable, shape (n_examples, n_visible)
        Targets in [0, 1].
    z : TensorVariable, shape (n_examples, n_visible)
        Logits of the reconstruction (before the sigmoid).
    convention : {"per_example", "per_element"}

    Returns
    -------
    TensorVariable, scalar

    Notes
    -----
    ``softplus(z) - x * z`` is finite for every finite ``z``, while the
    textbook formula on ``x_hat = sigmoid(z)`` meets ``log(0)`` once
    ``|z|`` exceeds about 17 in float32 (37 in float64).

    Examples
    --------
    >>> x = pt.matrix("x"); z = pt.matrix("z")
    >>> f = pytensor.function([x, z], cross_entropy_from_logits(x, z))
    >>> float(f([[1.0, 0.0]], [[-100.0, 100.0]]))
    200.0
    """
    return reduce_cost(pt.softplus(z) - x * z, convention)


def naive_cross_entropy(x, x_hat, convention: Convention = "per_example"):
    """The textbook ``-x log(x_hat) - (1 - x) log(1 - x_hat)``, for comparison.

    PyTensor's stabilizing rewrites can turn this into the logits form when
    ``x_hat`` is visibly a ``sigmoid`` in the same graph; evaluated as
    written (or in NumPy) it gives ``inf`` or ``nan`` once ``x_hat`` rounds
    to 0 or 1. The model uses :func:`cross_entropy_from_logits`.
    """
    elementwise = -x * pt.log(x_hat) - (1 - x) * pt.log(1 - x_hat)
    return reduce_cost(elementwise, convention)


def squared_error(x, x_hat, convention: Convention = "per_example"):
    """Squared error ``(x - x_hat)**2`` reduced by ``convention``."""
    return reduce_cost(pt.sqr(x - x_hat), convention)


def describe_cost(cost: str, convention: str, n_visible: int) -> str:
    """A short label saying what a printed cost number is.

    Examples
    --------
    >>> describe_cost("cross_entropy", "per_example", 784)
    'cross-entropy per example (summed over 784 inputs, mean over examples)'
    """
    name = cost.replace("_", "-")
    if convention == "per_example":
        return (
            f"{name} per example (summed over {n_visible} inputs, mean over examples)"
        )
    return f"{name} per element (mean over examples and {n_visible} inputs)"


class AutoEncoder:
    """A tied-weight sigmoid auto-encoder whose parameters are shared variables.

    Parameters
    ----------
    n_visible : int
        Inputs per example (784 for 28x28 images).
    n_hidden : int
        Hidden units.
    seed : int
        Seeds the initial weights (see :func:`helpers.params.init_params`).
    dtype : {"float32", "float64"}
        dtype of every parameter, and of the input the graphs expect.
    scheme : str
        Initialisation scheme for ``W``.
    values : dict of str to numpy.ndarray, optional
        Start from these arrays (``W``, ``b_h``, ``b_v``) instead of drawing
        new ones; they are copied and cast to ``dtype``.

    Attributes
    ----------
    W : SharedVariable, shape (n_visible, n_hidden)
    b_h : SharedVariable, shape (n_hidden,)
    b_v : SharedVariable, shape (n_visible,)

    Examples
    --------
    >>> ae = AutoEncoder(n_visible=6, n_hidden=3, seed=0)
    >>> x = ae.input()
    >>> [p.name for p in ae.params], x.type.dtype
    (['W', 'b_h', 'b_v'], 'float32')
    >>> recon = pytensor.function([x], ae.reconstruct(x))
    >>> recon(np.ones((2, 6), dtype="float32")).shape
    (2, 6)
    """

    def __init__(
        self,
        n_visible: int = 784,
        n_hidden: int = 500,
        *,
        seed: int = 0,
        dtype: str = "float32",
        scheme: InitScheme = "sigmoid_uniform",
        values: dict[str, np.ndarray] | None = None,
    ):
        if values is None:
            values = init_params(
                n_visible, n_hidden, seed=seed, dtype=dtype, scheme=scheme
            )
        else:
            values = _checked_values(values, dtype)
            n_visible, n_hidden = values["W"].shape
        self.n_visible = int(n_visible)
        self.n_hidden = int(n_hidden)
        self.dtype = str(np.dtype(dtype))
        self.W = pytensor.shared(values["W"], name="W")
        self.b_h = pytensor.shared(values["b_h"], name="b_h")
        self.b_v = pytensor.shared(values["b_v"], name="b_v")

    @property
    def params(self) -> list:
        """The shared variables ``[W, b_h, b_v]``, in that order."""
        return [self.W, self.b_h, self.b_v]

    def input(self, name: str = "x"):
        """A symbolic minibatch of inputs, (n_examples, n_visible), in ``dtype``."""
        return pt.matrix(name, dtype=self.dtype)

    def hidden(self, x):
        """``h = sigmoid(x W + b_h)``, shape (n_examples, n_hidden)."""
        return pt.sigmoid(pt.dot(x, self.W) + self.b_h)

    def logits(self, h):
        """``z = h W^T + b_v``, shape (n_examples, n_visible)."""
        return pt.dot(h, self.W.T) + self.b_v

    def reconstruct(self, x):
        """``x_hat = sigmoid(z)``, shape (n_examples, n_visible)."""
        return pt.sigmoid(self.logits(self.hidden(x)))

    def cost(
        self,
        x,
        target=None,
        *,
        cost: CostName = "cross_entropy",
        convention: Convention = "per_example",
    ):
        """Reconstruction cost of ``x`` as a symbolic scalar.

        Parameters
        ----------
        x : TensorVariable, shape (n_examples, n_visible)
            What the encoder sees (for a denoising auto-encoder, the
            corrupted input).
        target : TensorVariable, optional
            What the reconstruction is compared with; defaults to ``x``.
        cost : {"cross_entropy", "squared_error"}
        convention : {"per_example", "per_element"}
        """
        target = x if target is None else target
        z = self.logits(self.hidden(x))
        if cost == "cross_entropy":
            return cross_entropy_from_logits(target, z, convention)
        if cost == "squared_error":
            return squared_error(target, pt.sigmoid(z), convention)
        raise ValueError(f"unknown cost {cost!r}; choose one of {COSTS}")

    def get_values(self) -> dict[str, np.ndarray]:
        """Copies of the current parameter arrays, keyed ``W``, ``b_h``, ``b_v``."""
        return {p.name: p.get_value(borrow=False) for p in self.params}

    def set_values(self, values: dict[str, np.ndarray]) -> None:
        """Replace the parameters with copies of ``values`` (same shapes)."""
        values = _checked_values(values, self.dtype)
        if values["W"].shape != (self.n_visible, self.n_hidden):
            raise ValueError(
                f"W has shape {values['W'].shape}; this model needs "
                f"{(self.n_visible, self.n_hidden)}"
            )
        for p in self.params:
            p.set_value(values[p.name])


def _checked_values(values: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    missing = {"W", "b_h", "b_v"} - set(values)
    if missing:
        raise ValueError(f"parameter values lack {sorted(missing)}")
    out = {k: np.array(values[k], dtype=dtype) for k in ("W", "b_h", "b_v")}
    n_visible, n_hidden = out["W"].shape if out["W"].ndim == 2 else (None, None)
    if (
        out["W"].ndim != 2
        or out["b_h"].shape != (n_hidden,)
        or out["b_v"].shape != (n_visible,)
    ):
        raise ValueError(
            f"parameter shapes disagree: W {out['W'].shape}, b_h {out['b_h'].shape}, "
            f"b_v {out['b_v'].shape}; expected (n_visible, n_hidden), (n_hidden,), "
            "(n_visible,)"
        )
    return out
