"""Training steps that keep the data on the library side: the fast path.

The classic Theano recipe ``train(x_batch)`` copies a minibatch from NumPy
into the compiled function on every call. The faster pattern, also from the
Theano tutorials (``givens``), puts the whole training set in a shared
variable once and passes only the row numbers of a minibatch; the function
gathers the rows itself. :func:`compile_scan_steps` goes one step further:
one call runs several minibatch updates in a ``scan`` loop, so Python is
crossed once per several steps.

Both take the cost as a function ``cost_fn(x)`` of a symbolic minibatch, so
any cost built from the model's shared parameters works.

:class:`ScanSteps` packages the scan function for the training loop: it
holds the data, compiles with the fastest installed backend
(:mod:`helpers.backends`), and hands back NumPy parameters after each call.
:func:`helpers.training.fit` trains through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace

from helpers import backends
from helpers.training import sgd_updates

__all__ = [
    "TRANSPOSED_CARRY_BACKENDS",
    "ScanSteps",
    "compile_indexed_step",
    "compile_scan_steps",
]

log = logging.getLogger(__name__)


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
    carry_transposed: bool = False,
):
    """Compile a function that runs several SGD steps in one call.

    Parameters
    ----------
    cost_fn, params, X_shared, learning_rate, mode
        As for :func:`compile_indexed_step`.
    carry_transposed : bool
        Carry every matrix parameter through the loop transposed: the loop
        holds ``W.T`` in row-major memory, the cost sees its transpose (so
        ``W`` itself), and ``W`` gets the transpose of the final value back.
        The same computation in another memory layout, rounded differently
        (float32 results differ in the last digits); which layout makes the
        loop faster depends on the backend (see
        :data:`TRANSPOSED_CARRY_BACKENDS`).

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

    Examples
    --------
    >>> from helpers.model import AutoEncoder
    >>> X = pytensor.shared(np.eye(4, 6, dtype="float32"))
    >>> ends = {}
    >>> for flip in (False, True):
    ...     ae = AutoEncoder(6, 3, seed=0)
    ...     steps = compile_scan_steps(ae.cost, ae.params, X, carry_transposed=flip)
    ...     costs = steps(np.array([[0, 1], [2, 3]]))
    ...     ends[flip] = np.asarray(ae.W.get_value())
    >>> ends[True].shape, bool(np.allclose(ends[False], ends[True], atol=1e-6))
    ((6, 3), True)
    """
    params = list(params)
    flipped = [carry_transposed and p.type.ndim == 2 for p in params]
    x = pt.matrix("x", dtype=X_shared.dtype)
    template = cost_fn(x)

    def one_step(idx_k, *state):
        replacements = {x: _rows(X_shared, idx_k)}
        for p, carried, flip in zip(params, state, flipped, strict=True):
            replacements[p] = carried.T if flip else carried
        cost = graph_replace(template, replacements, strict=False)
        updates = sgd_updates(cost, list(state), learning_rate)
        return [cost, *(new for _, new in updates)]

    idx = pt.matrix("idx", dtype="int64")
    outputs = pytensor.scan(
        one_step,
        sequences=[idx],
        outputs_info=[
            None,
            *(p.T if f else p for p, f in zip(params, flipped, strict=True)),
        ],
        mode=mode,  # the loop body compiles with the same rewrites
        return_updates=False,
    )
    costs, finals = outputs[0], outputs[1:]
    ends = [f[-1].T if flip else f[-1] for f, flip in zip(finals, flipped, strict=True)]
    steps = pytensor.function(
        [idx],
        costs,
        updates=list(zip(params, ends, strict=True)),
        mode=mode,
    )
    steps.trust_input = True
    return steps


#: Backends whose loop :class:`ScanSteps` compiles with ``carry_transposed``
#: unless told otherwise. On JAX the 784-500 model's training step ran
#: faster with ``W`` carried as (500, 784); on Numba it ran slower. ``make
#: bench`` times both layouts on every backend.
TRANSPOSED_CARRY_BACKENDS = frozenset({"jax"})

#: Rows per call that :class:`ScanSteps` aims at by default: enough steps per
#: call that the per-call cost vanishes, few enough that a stop request or
#: the progress bar waits well under a second.
ROWS_PER_CALL = 2048


class ScanSteps:
    """Several SGD steps per call over data held by the library.

    Parameters
    ----------
    cost_fn : callable
        ``cost_fn(x)``, the scalar cost of a symbolic minibatch (for the
        auto-encoder, ``model.cost`` or a lambda around it).
    params : sequence of SharedVariable
        Trained in place.
    X : numpy.ndarray, shape (n_examples, n_features)
        Training rows in the parameters' dtype. Held once, in 64-byte-aligned
        memory (``X`` itself when it already is), so no call copies it.
    learning_rate : float or scalar variable
    batch_size : int
        Chooses the default ``steps_per_call``; any batch size can be run.
    backend : {"auto", "jax", "numba", "c"}
        See :func:`helpers.backends.pick_backend`.
    mode : str or Mode, optional
        A PyTensor compile mode that overrides ``backend``: the steps compile
        with the mode's backend (:func:`helpers.backends.backend_of_mode`).
    steps_per_call : int, optional
        Default: about :data:`ROWS_PER_CALL` rows per call.
    carry_transposed : bool, optional
        See :func:`compile_scan_steps`. Default: on the backends in
        :data:`TRANSPOSED_CARRY_BACKENDS`. Only the speed and the rounding
        differ.

    Attributes
    ----------
    backend : str
        The backend that compiled the steps (``mode``'s, when one is given).
    mode : str or Mode
        The compile mode used, for compiling more functions the same way.
    carry_transposed : bool
        Whether the loop carries the matrix parameters transposed.
    compile_seconds : float
        Time to build and compile the function (the first call of a shape
        may add the backend's own compilation, cached on disk for the jax
        backend).

    Examples
    --------
    >>> from helpers.model import AutoEncoder
    >>> ae = AutoEncoder(6, 3, seed=0)
    >>> X = np.ones((8, 6), dtype="float32")
    >>> steps = ScanSteps(ae.cost, ae.params, X, 0.1, batch_size=2, backend="numba")
    >>> costs = steps.run(np.arange(8).reshape(4, 2))   # four steps, one call
    >>> costs.shape, type(ae.W.get_value()).__name__
    ((4,), 'ndarray')
    """

    def __init__(
        self,
        cost_fn: Callable,
        params: Sequence,
        X: np.ndarray,
        learning_rate=0.1,
        *,
        batch_size: int = 20,
        backend: str = "auto",
        mode=None,
        steps_per_call: int | None = None,
        carry_transposed: bool | None = None,
    ):
        if steps_per_call is None:
            steps_per_call = max(1, ROWS_PER_CALL // max(1, batch_size))
        if steps_per_call < 1:
            raise ValueError(f"steps per call must be at least 1, got {steps_per_call}")
        self.steps_per_call = int(steps_per_call)
        self.params = list(params)
        X = np.asarray(X)
        dtype = self.params[0].type.dtype
        if X.dtype != dtype:
            raise TypeError(
                f"X is {X.dtype} but the parameters are {dtype}: cast it first "
                f"(X.astype('{dtype}')), or build the model in {X.dtype}"
            )
        if mode is None:
            self.backend = backends.pick_backend(backend)
            mode = backends.compile_mode(self.backend)
        else:
            self.backend = backends.backend_of_mode(backends.prepare_mode(mode))
        self.mode = mode
        if carry_transposed is None:
            carry_transposed = self.backend in TRANSPOSED_CARRY_BACKENDS
        elif not isinstance(carry_transposed, bool | np.bool_):
            raise TypeError(
                "carry_transposed must be True, False or None (the backend's "
                f"choice), not {carry_transposed!r}"
            )
        self.carry_transposed = bool(carry_transposed)
        self.X = backends.as_aligned(X)
        self.n_rows = self.X.shape[0]
        start = time.perf_counter()
        # Compiled on an empty stand-in, then given the rows: PyTensor's JAX
        # linker turns the value a shared variable has while compiling into a
        # JAX array it keeps for the function's lifetime, a second copy of
        # the whole data set. Calls read self.X in place.
        empty = backends.aligned_empty((0, *self.X.shape[1:]), self.X.dtype)
        self._X_shared = pytensor.shared(empty, borrow=True, name="X_train")
        self._steps = compile_scan_steps(
            cost_fn,
            self.params,
            self._X_shared,
            learning_rate,
            mode=mode,
            carry_transposed=self.carry_transposed,
        )
        self._X_shared.set_value(self.X, borrow=True)
        self.compile_seconds = time.perf_counter() - start

    def run(self, rows: np.ndarray) -> np.ndarray:
        """Apply one SGD step per row of ``rows``, in order.

        Parameters
        ----------
        rows : numpy.ndarray of int64, shape (n_steps, batch)
            Row numbers into the held data, one minibatch per row.

        Returns
        -------
        numpy.ndarray, shape (n_steps,)
            Each minibatch's cost, computed before its own update.

        Raises
        ------
        IndexError
            For a row number outside ``0 .. n_rows - 1`` (the jax backend
            would otherwise clamp it and train on another row).
        TypeError
            For ``rows`` that are not a 2-D array of integers.
        """
        rows = np.asarray(rows)
        if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.integer):
            raise TypeError(
                "rows must be a 2-D integer array, one minibatch of row numbers "
                f"per row; got a {rows.ndim}-D {rows.dtype} array"
            )
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(
                f"row numbers run from {rows.min()} to {rows.max()}, but the held "
                f"data has rows 0 to {self.n_rows - 1}"
            )
        costs = np.array(self._steps(np.ascontiguousarray(rows, dtype=np.int64)))
        # The jax backend leaves its own arrays in the shared variables, and
        # with carry_transposed the C and Python backends leave transposed
        # views; give callers (checkpoints, plots, get_value) row-major
        # NumPy arrays back.
        for p in self.params:
            value = p.get_value(borrow=True)
            if type(value) is not np.ndarray or not value.flags.c_contiguous:
                p.set_value(np.ascontiguousarray(value))
        return costs
