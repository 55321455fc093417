"""Gradients, compiled training steps and the minibatch training loop.

The pattern is Theano's, unchanged in PyTensor: build a symbolic scalar cost,
let :func:`pytensor.grad` derive its gradient with respect to a list of
shared variables, and compile one function whose ``updates`` move each
parameter a step down that gradient every time it is called.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable

from helpers.data import check_unit_range
from helpers.model import AutoEncoder, describe_cost

__all__ = [
    "DivergenceError",
    "History",
    "LoopState",
    "TrainingInterrupted",
    "call_plan",
    "compile_cost",
    "compile_gradient",
    "compile_train_step",
    "checked_sets",
    "fit",
    "minibatch_slices",
    "sgd_updates",
    "train",
]

log = logging.getLogger(__name__)


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite cost."""

    def __init__(self, epoch: int, batch: int, cost: float, what: str = "the cost"):
        self.epoch, self.batch, self.cost = epoch, batch, cost
        super().__init__(
            f"{what} became {cost} in epoch {epoch}, minibatch {batch}; training "
            "diverged. Lower the learning rate (for example by a factor of 10) or "
            "check the data for extreme values"
        )


@dataclass
class LoopState:
    """Where the training loop stands, enough to continue it exactly.

    Attributes
    ----------
    epochs_done : int
        Epochs completed.
    batches_done : int
        Minibatches completed of the epoch after those (0 at an epoch's end).
    partial_total : float
        Row-weighted cost sum over those minibatches.
    rng_state : dict
        The shuffling generator's ``bit_generator.state`` at the start of the
        epoch in progress (before its permutation was drawn). Plain JSON.
    """

    epochs_done: int
    batches_done: int
    partial_total: float
    rng_state: dict

    def describe(self) -> str:
        """Where the loop stands, in words: "epoch 2", "minibatch 7 of epoch 3"."""
        if self.batches_done:
            return f"minibatch {self.batches_done} of epoch {self.epochs_done + 1}"
        return f"epoch {self.epochs_done}"

    def to_json(self) -> dict:
        return {
            "epochs_done": self.epochs_done,
            "batches_done": self.batches_done,
            "partial_total": self.partial_total,
            "rng_state": self.rng_state,
        }

    @classmethod
    def from_json(cls, doc: dict) -> LoopState:
        return cls(
            epochs_done=int(doc["epochs_done"]),
            batches_done=int(doc["batches_done"]),
            partial_total=float(doc["partial_total"]),
            rng_state=dict(doc["rng_state"]),
        )


class TrainingInterrupted(Exception):
    """Training stopped on request between two minibatches.

    Attributes
    ----------
    state : LoopState
        Where to continue from; the parameters hold the updates of every
        completed minibatch.
    """

    def __init__(self, state: LoopState):
        self.state = state
        super().__init__(f"training stopped after {state.describe()}")


def _learning_rate(learning_rate):
    """Validate a learning rate and return it as a symbolic scalar."""
    if isinstance(learning_rate, bool | np.bool_):
        raise TypeError("learning rate must be a number, not a boolean")
    if isinstance(learning_rate, np.ndarray) and learning_rate.ndim == 0:
        learning_rate = learning_rate[()]
    if isinstance(learning_rate, Real | np.number):
        value = float(learning_rate)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"learning rate must be a positive finite number, got {learning_rate}"
            )
        return pt.constant(value)
    if isinstance(learning_rate, SharedVariable | pt.TensorVariable):
        if learning_rate.ndim != 0:
            raise ValueError(
                f"learning rate must be a scalar, got {learning_rate.ndim} dimensions"
            )
        return learning_rate
    raise TypeError(
        "learning rate must be a number or a scalar (shared) variable, got "
        f"{type(learning_rate).__name__}"
    )


def sgd_updates(cost, params: Sequence, learning_rate=0.1) -> list[tuple]:
    """Plain stochastic gradient descent updates for any scalar cost.

    Parameters
    ----------
    cost : TensorVariable, scalar
    params : sequence of SharedVariable
        The parameters to train; ``pytensor.grad`` differentiates ``cost``
        with respect to each.
    learning_rate : float, numpy scalar, or scalar (shared) variable
        A shared variable lets a caller change the rate between calls.
        Whatever its dtype, each update is cast to its parameter's dtype, so
        a float64 rate never turns float32 parameters into float64 ones.

    Returns
    -------
    list of (SharedVariable, TensorVariable)
        ``(p, p - learning_rate * d cost / d p)`` for each parameter, ready
        for ``pytensor.function(..., updates=...)``.

    Examples
    --------
    >>> w = pytensor.shared(np.float32(3.0), name="w")
    >>> step = pytensor.function([], w**2, updates=sgd_updates(w**2, [w], 0.25))
    >>> float(step()), float(w.get_value())  # cost before the step, w after
    (9.0, 1.5)
    """
    lr = _learning_rate(learning_rate)
    grads = pytensor.grad(cost, list(params))
    return [
        (p, pt.cast(p - pt.cast(lr, p.dtype) * g, p.dtype))
        for p, g in zip(params, grads, strict=True)
    ]


def compile_train_step(inputs, cost, params, learning_rate=0.1, *, mode=None):
    """Compile one SGD step: returns the cost, then updates ``params``.

    Parameters
    ----------
    inputs : list of TensorVariable
        The function's arguments (for the auto-encoder, the minibatch ``x``).
    cost : TensorVariable, scalar
    params : sequence of SharedVariable
    learning_rate : float or scalar variable
        See :func:`sgd_updates`.
    mode : str or pytensor Mode, optional
        PyTensor compile mode; ``None`` uses PyTensor's default (Numba).

    Returns
    -------
    pytensor.compile.function.types.Function
        Called with a minibatch, it returns the cost computed with the
        parameters as they were before the step.
    """
    return pytensor.function(
        inputs, cost, updates=sgd_updates(cost, params, learning_rate), mode=mode
    )


def compile_cost(inputs, cost, *, mode=None):
    """Compile ``cost`` as a function of ``inputs``, with no updates."""
    return pytensor.function(inputs, cost, mode=mode)


def compile_gradient(inputs, cost, params, *, mode=None):
    """Compile the gradients of ``cost`` with respect to each of ``params``.

    Returns a function of ``inputs`` giving one array per parameter, each
    with that parameter's shape.
    """
    return pytensor.function(inputs, pytensor.grad(cost, list(params)), mode=mode)


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(
            f"batch size must be a whole number, got {batch_size!r} "
            f"({type(batch_size).__name__})"
        )
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")


def minibatch_slices(n_examples: int, batch_size: int) -> list[slice]:
    """Cut ``n_examples`` rows into consecutive minibatches, keeping the rest.

    Every row lands in exactly one minibatch; the last one is smaller when
    ``batch_size`` does not divide ``n_examples``, and a set smaller than one
    batch gives a single short minibatch.

    Examples
    --------
    >>> [(s.start, s.stop) for s in minibatch_slices(10, 4)]
    [(0, 4), (4, 8), (8, 10)]
    >>> [(s.start, s.stop) for s in minibatch_slices(3, 20)]
    [(0, 3)]
    """
    _check_batch_size(batch_size)
    return [
        slice(start, min(start + batch_size, n_examples))
        for start in range(0, n_examples, batch_size)
    ]


def evaluate(cost_fn: Callable, X: np.ndarray, batch_size: int = 1000) -> float:
    """Mean of a per-row-averaged cost over all of ``X``, in chunks.

    Each chunk's cost is weighted by its number of rows, so the result is
    the same as one call on the whole set, without its memory.
    """
    total = 0.0
    for s in minibatch_slices(X.shape[0], batch_size):
        total += float(cost_fn(X[s])) * (s.stop - s.start)
    return total / X.shape[0]


@dataclass
class History:
    """What :func:`train` measured, one entry per epoch.

    Attributes
    ----------
    train_cost : list of float
        Mean minibatch cost over the rows seen in the epoch, each computed
        before that minibatch's update (as the classic tutorials report it).
    valid_cost : list of float
        Cost on the validation set after the epoch, or empty without one.
    seconds : list of float
        Wall-clock time of each epoch's training (validation excluded).
    cost_label : str
        What the numbers are, e.g. "cross-entropy per example (...)".
    """

    train_cost: list[float] = field(default_factory=list)
    valid_cost: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cost_label: str = ""

    @property
    def n_epochs(self) -> int:
        return len(self.train_cost)


def train(
    step: Callable,
    X: np.ndarray,
    *,
    n_epochs: int = 15,
    batch_size: int = 20,
    seed: int = 0,
    valid_cost: Callable | None = None,
    X_valid: np.ndarray | None = None,
    progress: bool = True,
    on_epoch: Callable | None = None,
    history: History | None = None,
    resume: LoopState | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[LoopState, History], None] | None = None,
) -> History:
    """Run minibatch training: shuffle, step through every row, record costs.

    Parameters
    ----------
    step : callable or ScanSteps
        A compiled training step (:func:`compile_train_step`) taking one
        minibatch of rows of ``X`` and returning its cost; or a
        :class:`helpers.steps.ScanSteps` built on ``X``, which runs several
        minibatches per call on data it holds (the fast path).
    X : numpy.ndarray, shape (n_examples, n_features)
        Training rows, already in the dtype ``step`` expects.
    n_epochs, batch_size : int
    seed : int
        Seeds the row order; each epoch draws a fresh permutation from one
        generator, so the same seed replays the same sequence.
    valid_cost : callable, optional
        A compiled cost function evaluated on ``X_valid`` after each epoch.
    X_valid : numpy.ndarray, optional
    progress : bool
        Show a ``tqdm`` progress bar over each epoch's minibatches.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, history)`` after each epoch (epochs count
        from 1), for example to print a line.
    history : History, optional
        Append to this history instead of starting a new one.
    resume : LoopState, optional
        Continue from a saved state (with ``history`` and the parameters
        saved alongside it): the remaining minibatches of an interrupted
        epoch run in the order they would have, so the result is the same,
        bit for bit, as a run that was never stopped.
    should_stop : callable, optional
        Checked after every call of the step (every minibatch for a plain
        step, every ``steps_per_call`` minibatches for ``ScanSteps``); when it
        returns true, training stops and :class:`TrainingInterrupted` is
        raised with the state to resume from (a signal handler can set the
        flag it reads).
    on_checkpoint : callable, optional
        Called as ``on_checkpoint(state, history)`` at the end of every
        epoch, before ``on_epoch``, to save what a resume needs: by the time
        an epoch is reported, it is saved.

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        When a minibatch cost is NaN or infinite.
    TrainingInterrupted
        When ``should_stop`` asked to stop.
    """
    from tqdm import tqdm

    history = History() if history is None else history
    runner = step if hasattr(step, "steps_per_call") else _PerCall(step, X)
    n = X.shape[0]
    if n == 0:
        raise ValueError("X has no rows to train on")
    if getattr(runner, "n_rows", n) != n:
        raise ValueError(
            f"the steps hold {runner.n_rows} rows of data but X has {n}; pass the "
            "array they were built on (steps.X)"
        )
    held = getattr(runner, "X", X)
    if held is not X and not np.array_equal(held, X):
        raise ValueError(
            "X differs from the data the steps hold, and the steps train on the "
            "data they hold: pass the array they were built on (steps.X), or "
            "build new steps for X"
        )
    rng = np.random.default_rng(seed)
    first_epoch, skip, total = 1, 0, 0.0
    if resume is not None:
        rng.bit_generator.state = resume.rng_state
        first_epoch = resume.epochs_done + 1
        skip, total = resume.batches_done, resume.partial_total
    calls = call_plan(n, batch_size, runner.steps_per_call)
    n_batches = calls[-1][1]
    for epoch in range(first_epoch, n_epochs + 1):
        rng_state = rng.bit_generator.state
        order = rng.permutation(n)
        start = time.perf_counter()
        bar = tqdm(
            total=n_batches,
            desc=f"epoch {epoch}/{n_epochs}",
            unit="batch",
            leave=False,
            disable=not progress,
            initial=skip,
        )
        for first, stop, rows in _calls_from(calls, skip):
            costs = runner.run(order[rows].reshape(stop - first, -1))
            size = rows.stop - rows.start
            for batch, cost in enumerate(costs.tolist(), start=first + 1):
                if not math.isfinite(cost):
                    bar.close()
                    raise DivergenceError(epoch, batch, cost)
                total += cost * (size // len(costs))
            bar.update(stop - first)
            if should_stop is not None and should_stop() and stop < n_batches:
                bar.close()
                raise TrainingInterrupted(LoopState(epoch - 1, stop, total, rng_state))
        bar.close()
        history.seconds.append(time.perf_counter() - start)
        history.train_cost.append(total / n)
        if valid_cost is not None and X_valid is not None and X_valid.shape[0]:
            history.valid_cost.append(evaluate(valid_cost, X_valid))
        log.info(
            "epoch %d: train %.4f%s",
            epoch,
            history.train_cost[-1],
            f", valid {history.valid_cost[-1]:.4f}" if history.valid_cost else "",
        )
        skip, total = 0, 0.0
        if on_checkpoint is not None:
            on_checkpoint(LoopState(epoch, 0, 0.0, rng.bit_generator.state), history)
        if on_epoch is not None:
            on_epoch(epoch, history)
        if should_stop is not None and should_stop() and epoch < n_epochs:
            raise TrainingInterrupted(LoopState(epoch, 0, 0.0, rng.bit_generator.state))
    return history


class _PerCall:
    """A compiled one-minibatch step seen as a runner of one step per call."""

    steps_per_call = 1

    def __init__(self, step: Callable, X: np.ndarray):
        self.step, self.X = step, X

    def run(self, rows: np.ndarray) -> np.ndarray:
        return np.array([float(self.step(self.X[rows[0]]))])


def call_plan(n: int, batch_size: int, steps_per_call: int) -> list[tuple]:
    """Cut an epoch's minibatches into calls of up to ``steps_per_call`` steps.

    Returns ``(first, stop, rows)`` per call: minibatches ``first`` up to
    ``stop`` (0-based, ``stop`` excluded) over positions ``rows`` of the
    epoch's row order. Calls start at multiples of ``steps_per_call``, and
    the short last minibatch (if any) gets a call of its own, so a run that
    stops between two calls and resumes makes exactly the calls of a run that
    never stopped. Minibatches are those of :func:`minibatch_slices`.

    Examples
    --------
    >>> [(a, b, (r.start, r.stop)) for a, b, r in call_plan(10, 3, 2)]
    [(0, 2, (0, 6)), (2, 3, (6, 9)), (3, 4, (9, 10))]
    """
    slices = minibatch_slices(n, batch_size)
    n_full = n // batch_size
    plan = [
        (first, min(first + steps_per_call, n_full))
        for first in range(0, n_full, steps_per_call)
    ]
    if len(slices) > n_full:
        plan.append((n_full, n_full + 1))
    return [
        (first, stop, slice(slices[first].start, slices[stop - 1].stop))
        for first, stop in plan
    ]


def _calls_from(calls: list[tuple], skip: int):
    """The calls of :func:`call_plan` left after ``skip`` minibatches.

    A resume point inside a call (a state saved by a loop with fewer steps
    per call) starts with a shorter call up to the next boundary.
    """
    for first, stop, rows in calls:
        if stop <= skip:
            continue
        if first < skip:
            size = (rows.stop - rows.start) // (stop - first)
            rows = slice(rows.start + (skip - first) * size, rows.stop)
            first = skip
        yield first, stop, rows


def checked_sets(X_train, X_valid, dtype: str, n_visible: int | None = None):
    """Check training and validation rows and cast each once to ``dtype``.

    Parameters
    ----------
    X_train : array-like, shape (n_examples, n_visible)
    X_valid : array-like, shape (n_valid, n_visible), or None
        An empty validation set counts as none.
    dtype : {"float32", "float64"}
    n_visible : int, optional
        Required width; defaults to that of ``X_train``.

    Returns
    -------
    X_train, X_valid : numpy.ndarray or None
        C-contiguous, of dtype ``dtype``, values in [0, 1].
    """
    X_train = check_unit_range(X_train, dtype, "training data")
    n_visible = X_train.shape[1] if n_visible is None else n_visible
    if X_valid is not None and np.shape(X_valid)[:1] == (0,):
        X_valid = None  # an empty validation set means none
    if X_valid is not None:
        X_valid = check_unit_range(X_valid, dtype, "validation data")
    for name, X in (("training", X_train), ("validation", X_valid)):
        if X is not None and X.shape[1] != n_visible:
            raise ValueError(
                f"{name} data has {X.shape[1]} columns but the model has "
                f"{n_visible} visible units"
            )
    return X_train, X_valid


def fit(
    model: AutoEncoder,
    X_train: np.ndarray,
    X_valid: np.ndarray | None = None,
    *,
    learning_rate=0.1,
    batch_size: int = 20,
    n_epochs: int = 15,
    seed: int = 0,
    cost: str = "cross_entropy",
    convention: str = "per_example",
    progress: bool = True,
    on_epoch: Callable | None = None,
    backend: str = "auto",
    mode=None,
    steps_per_call: int | None = None,
    history: History | None = None,
    resume: LoopState | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[LoopState, History], None] | None = None,
) -> History:
    """Train an :class:`~helpers.model.AutoEncoder` on rows of data.

    Builds the cost graph, derives the gradient, compiles the training steps
    and a validation cost, and runs :func:`train`. The training set is held
    by the compiled function, which gathers each minibatch's rows itself and
    runs many minibatch steps per call (:class:`helpers.steps.ScanSteps`).
    Data of any numeric dtype (bool, uint8, int, float) is checked to lie in
    [0, 1] and cast once to the model's dtype before the first step.

    Parameters
    ----------
    model : AutoEncoder
        Trained in place: its shared variables hold the result.
    X_train : array-like, shape (n_examples, n_visible)
    X_valid : array-like, shape (n_valid, n_visible), optional
    learning_rate : float, numpy scalar or scalar shared variable
    batch_size, n_epochs, seed : int
    cost : {"cross_entropy", "squared_error"}
    convention : {"per_example", "per_element"}
        How the cost is reduced; every recorded number uses it, and
        ``History.cost_label`` says which.
    progress : bool
    on_epoch : callable, optional
    backend : {"auto", "jax", "numba", "c"}
        The compiler (:func:`helpers.backends.pick_backend`); ``"auto"``
        takes the fastest one installed. The one used is logged.
    mode : str or Mode, optional
        A PyTensor compile mode that overrides ``backend``'s.
    steps_per_call : int, optional
        Minibatch steps per call of the compiled function (default: about
        2,048 rows' worth). A stop request waits for the call to finish.
    history, resume, should_stop, on_checkpoint
        Passed to :func:`train`: continue a saved run, stop on request, save
        a checkpoint after every epoch.

    Returns
    -------
    History

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 6)) < 0.3          # bool data, cast once
    >>> ae = AutoEncoder(6, 4, seed=0)
    >>> h = fit(ae, X, n_epochs=20, batch_size=4, progress=False)
    >>> h.train_cost[-1] < h.train_cost[0]
    True
    """
    from helpers.steps import ScanSteps

    _check_batch_size(batch_size)
    X_train, X_valid = checked_sets(X_train, X_valid, model.dtype, model.n_visible)
    steps = ScanSteps(
        lambda x: model.cost(x, cost=cost, convention=convention),
        model.params,
        X_train,
        learning_rate,
        batch_size=batch_size,
        backend=backend,
        mode=mode,
        steps_per_call=steps_per_call,
    )
    log.info(
        "training with the %s backend, %d minibatch steps per call",
        steps.backend,
        steps.steps_per_call,
    )
    x = model.input()
    graph = model.cost(x, cost=cost, convention=convention)
    valid_fn = None
    if X_valid is not None:
        valid_fn = compile_cost([x], graph, mode=steps.mode)
    if history is None:
        history = History()
    history.cost_label = describe_cost(cost, convention, model.n_visible)
    return train(
        steps,
        steps.X,
        n_epochs=n_epochs,
        batch_size=batch_size,
        seed=seed,
        valid_cost=valid_fn,
        X_valid=X_valid,
        progress=progress,
        on_epoch=on_epoch,
        history=history,
        resume=resume,
        should_stop=should_stop,
        on_checkpoint=on_checkpoint,
    )
