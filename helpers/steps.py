"""Training steps that keep the data on the library side.

The classic Theano recipe ``train(x_batch)`` copies a minibatch from NumPy
into the compiled function on every call. The faster pattern, also from the
Theano tutorials (``givens``), puts the whole training set in a shared
variable once and passes only the row numbers of a minibatch; the function
gathers the rows itself. :func:`compile_scan_steps` goes one step further:
one call runs several minibatch updates in a ``scan`` loop, so Python is
crossed once per several steps.

Both take the cost as a function ``cost_fn(x)`` of a symbolic minibatch, so
any cost built from the model's shared parameters works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace

from helpers.training import sgd_updates

__all__ = ["compile_indexed_step", "compile_scan_steps"]


def _rows(X_shared, idx):
    return X_shared[idx]


def compile_indexed_step(
    cost_fn: Callable,
    params: Sequence,
    X_shared,
    learning_rate=0.1,
    *,
    mode=None,
):
    """Compile an SGD step that takes the row numbers of its minibatch.

    Parameters
    ----------
    cost_fn : callable
        ``cost_fn(x)`` returns the scalar cost of a symbolic minibatch ``x``
        of shape (batch, n_features), built from ``params``.
    params : sequence of SharedVariable
    X_shared : SharedVariable, shape (n_examples, n_features)
        The training rows, held by the library.
    learning_rate : float or scalar variable
    mode : str or Mode, optional

    Returns
    -------
    Function
        ``step(idx)`` with ``idx`` an int64 vector of row numbers; returns
        the minibatch cost before the update. Input checks are skipped
        (``trust_input``): pass a C-contiguous ``int64`` array.

    Examples
    --------
    >>> import numpy as np
    >>> from helpers.model import AutoEncoder
    >>> ae = AutoEncoder(6, 3, seed=0)
    >>> X = pytensor.shared(np.ones((4, 6), dtype="float32"))
    >>> step = compile_indexed_step(ae.cost, ae.params, X)
    >>> float(step(np.array([0, 2]))) > 0
    True
    """
    idx = pt.vector("idx", dtype="int64")
    cost = cost_fn(_rows(X_shared, idx))
    step = pytensor.function(
        [idx], cost, updates=sgd_updates(cost, params, learning_rate), mode=mode
    )
    step.trust_input = True
    return step


def compile_scan_steps(
    cost_fn: Callable,
    params: Sequence,
    X_shared,
    learning_rate=0.1,
    *,
    mode=None,
):
    """Compile a function that runs several SGD steps in one call.

    Parameters
    ----------
    cost_fn, params, X_shared, learning_rate, mode
        As for :func:`compile_indexed_step`.

    Returns
    -------
    Function
        ``steps(idx)`` with ``idx`` an int64 matrix (n_steps, batch): row
        ``k`` holds the row numbers of the ``k``-th minibatch. It applies the
        ``n_steps`` updates in order and returns their costs, a vector of
        length ``n_steps``, each computed before its own update.

    Notes
    -----
    Inside the loop the parameters are loop-carried values; ``cost_fn`` is
    built once on the shared variables and its graph re-targeted to them.
    The results equal ``n_steps`` calls of :func:`compile_indexed_step` up to
    floating-point rounding (the compiled graphs differ).
    """
    params = list(params)
    x = pt.matrix("x", dtype=X_shared.dtype)
    template = cost_fn(x)

    def one_step(idx_k, *state):
        replacements = {
            x: _rows(X_shared, idx_k),
            **dict(zip(params, state, strict=True)),
        }
        cost = graph_replace(template, replacements, strict=False)
        updates = sgd_updates(cost, list(state), learning_rate)
        return [cost, *(new for _, new in updates)]

    idx = pt.matrix("idx", dtype="int64")
    outputs = pytensor.scan(
        one_step,
        sequences=[idx],
        outputs_info=[None, *params],
        return_updates=False,
    )
    costs, finals = outputs[0], outputs[1:]
    steps = pytensor.function(
        [idx],
        costs,
        updates=[(p, final[-1]) for p, final in zip(params, finals, strict=True)],
        mode=mode,
    )
    steps.trust_input = True
    return steps
