"""Cost variants of the auto-encoder: each is a scalar, and training is unchanged.

Symbolic differentiation means the training step only ever needs a scalar
cost: :func:`pytensor.grad` finds its gradient, whatever the formula. The
pieces here are the extra terms of the classic variants, written on the
symbols of :mod:`helpers.model` (``W``, ``h``, ``x``, ``x_tilde``):

* :func:`weight_decay`, ``lam * sum(W**2)``;
* :func:`kl_sparsity` and :func:`l1_sparsity`, penalties on the hidden code;
* :func:`masking_noise`, the corruption ``x -> x_tilde`` of a denoising
  auto-encoder, drawn inside the compiled function from a seeded generator.

:func:`compile_step` is :func:`helpers.training.compile_train_step` plus
the updates of any random generator state, and :func:`train_variant` trains
a fresh model on any cost built by a small function, with the same SGD step
and loop for every variant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytensor
import pytensor.tensor as pt

from helpers.model import AutoEncoder
from helpers.training import (
    History,
    checked_sets,
    compile_cost,
    compile_train_step,
    sgd_updates,
    train,
)

__all__ = [
    "compile_step",
    "kl_sparsity",
    "l1_sparsity",
    "masking_noise",
    "train_variant",
    "weight_decay",
]


def weight_decay(W, weight: float):
    """L2 weight decay ``weight * sum(W**2)``, to add to a cost.

    Parameters
    ----------
    W : TensorVariable or SharedVariable, shape (n_visible, n_hidden)
        Only the weights are decayed, not the biases.
    weight : float
        The coefficient ``lam``; 0 gives no decay.

    Returns
    -------
    TensorVariable, scalar, dtype of ``W``

    Examples
    --------
    >>> W = pt.matrix("W")
    >>> float(weight_decay(W, 0.5).eval({W: [[1.0, 2.0]]}))
    2.5
    """
    if weight < 0:
        raise ValueError(f"weight decay must be >= 0, got {weight}")
    return pt.cast(weight, W.dtype) * pt.sqr(W).sum()


def kl_sparsity(h, rho: float = 0.05, eps: float = 1e-6):
    """Sum over hidden units of ``KL(rho || rho_hat_j)``, pulling activity to rho.

    ``rho_hat_j`` is unit j's mean activation over the minibatch; the
    penalty is ``sum_j rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) /
    (1 - rho_hat_j))``, zero when every ``rho_hat_j`` equals ``rho`` and
    growing fast as a unit becomes always on or always off.

    Parameters
    ----------
    h : TensorVariable, shape (n_examples, n_hidden)
        Hidden activations in (0, 1), such as ``AutoEncoder.hidden(x)``.
    rho : float
        Target mean activation, in (0, 1).
    eps : float
        ``rho_hat`` is clipped to ``[eps, 1 - eps]`` so that the logarithms
        stay finite if a unit saturates on a whole minibatch.

    Returns
    -------
    TensorVariable, scalar, dtype of ``h``

    Examples
    --------
    >>> h = pt.matrix("h")
    >>> float(kl_sparsity(h, 0.5).eval({h: [[0.4, 0.6], [0.6, 0.4]]}))
    0.0
    >>> round(float(kl_sparsity(h, 0.1).eval({h: [[0.5], [0.5]]})), 4)
    0.3681
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"target activation rho must be in (0, 1), got {rho}")
    low, high = np.asarray(eps, h.dtype), np.asarray(1.0 - eps, h.dtype)
    rho_hat = pt.clip(h.mean(axis=0), low, high)
    rho_c = pt.cast(rho, h.dtype)
    kl = rho_c * pt.log(rho_c / rho_hat) + (1 - rho_c) * pt.log(
        (1 - rho_c) / (1 - rho_hat)
    )
    return kl.sum()


def l1_sparsity(h):
    """L1 norm of the hidden code, summed over units, mean over examples.

    Parameters
    ----------
    h : TensorVariable, shape (n_examples, n_hidden)

    Returns
    -------
    TensorVariable, scalar, dtype of ``h``

    Examples
    --------
    >>> h = pt.matrix("h")
    >>> float(l1_sparsity(h).eval({h: [[0.5, -0.5], [1.0, 0.0]]}))
    1.0
    """
    return pt.abs(h).sum(axis=1).mean()


def masking_noise(rng, x, corruption_level: float):
    """Masking noise: each input set to 0 with probability ``corruption_level``.

    Parameters
    ----------
    rng : RandomGeneratorSharedVariable
        A shared generator from ``pytensor.tensor.random.shared_rng``. The
        mask is drawn from it inside whatever function is compiled from
        ``x_tilde``; that function must update ``rng`` to ``next_rng``
        (``updates={rng: next_rng}``) for its state to advance call by call.
    x : TensorVariable, shape (n_examples, n_visible)
    corruption_level : float
        Probability in [0, 1) of zeroing each input.

    Returns
    -------
    next_rng : RandomGeneratorVariable
        The generator state after the draw.
    x_tilde : TensorVariable, same shape and dtype as ``x``
        ``x`` times a 0/1 mask whose ones have probability
        ``1 - corruption_level``.

    Examples
    --------
    >>> rng = pt.random.shared_rng(seed=0)
    >>> x = pt.matrix("x")
    >>> next_rng, x_tilde = masking_noise(rng, x, 0.5)
    >>> corrupt = pytensor.function([x], x_tilde, updates={rng: next_rng})
    >>> ones = np.ones((2, 8))
    >>> first, second = corrupt(ones), corrupt(ones)
    >>> bool((first == second).all())   # the state moved on: a new mask
    False
    >>> rng.set_value(seed=0)           # re-seed: the same sequence again
    >>> bool((corrupt(ones) == first).all())
    True
    """
    if not 0.0 <= corruption_level < 1.0:
        raise ValueError(f"corruption level must be in [0, 1), got {corruption_level}")
    next_rng, keep = rng.bernoulli(p=1.0 - corruption_level, size=x.shape)
    return next_rng, x * pt.cast(keep, x.dtype)


def _update_pairs(updates) -> list[tuple]:
    if isinstance(updates, Mapping):
        return list(updates.items())
    return [tuple(pair) for pair in updates]


def compile_step(inputs, cost, params, learning_rate=0.1, *, updates=(), mode=None):
    """One SGD step on any cost, plus the state updates the cost needs.

    The parameter updates are :func:`helpers.training.sgd_updates`, the
    same for every cost; ``updates`` only adds state that is not trained,
    such as the random generator behind :func:`masking_noise`. Without
    ``updates`` this is exactly :func:`helpers.training.compile_train_step`.

    Parameters
    ----------
    inputs : list of TensorVariable
    cost : TensorVariable, scalar
    params : sequence of SharedVariable
    learning_rate : float or scalar variable
    updates : mapping or sequence of (SharedVariable, Variable) pairs
        For example ``{rng: next_rng}``; must not name a parameter.
    mode : str or pytensor Mode, optional

    Returns
    -------
    pytensor.compile.function.types.Function
        Returns the cost before the step; updates params and state.

    Examples
    --------
    >>> ae = AutoEncoder(6, 3, seed=0)
    >>> x = ae.input()
    >>> rng = pt.random.shared_rng(seed=0)
    >>> next_rng, x_tilde = masking_noise(rng, x, 0.3)
    >>> step = compile_step(
    ...     [x], ae.cost(x_tilde, target=x), ae.params, updates={rng: next_rng}
    ... )
    >>> float(step(np.ones((4, 6), dtype="float32"))) > 0
    True
    """
    extra = _update_pairs(updates)
    if not extra:
        return compile_train_step(inputs, cost, params, learning_rate, mode=mode)
    clash = [str(v) for v, _ in extra if any(v is p for p in params)]
    if clash:
        raise ValueError(
            f"updates name the trained parameters {clash}; their updates come "
            "from the gradient"
        )
    return pytensor.function(
        inputs,
        cost,
        updates=[*sgd_updates(cost, params, learning_rate), *extra],
        mode=mode,
    )


CostBuilder = Callable[[AutoEncoder, pt.TensorVariable], object]


def train_variant(
    build_cost: CostBuilder,
    X_train: np.ndarray,
    X_valid: np.ndarray | None = None,
    *,
    n_hidden: int = 100,
    learning_rate: float = 0.1,
    n_epochs: int = 5,
    batch_size: int = 20,
    seed: int = 0,
    progress: bool = False,
    dtype: str = "float32",
    mode=None,
) -> tuple[AutoEncoder, History]:
    """Train a fresh auto-encoder on the cost ``build_cost`` writes.

    Every variant gets the same initial parameters (from ``seed``), the same
    gradient-and-update code (:func:`compile_step`), the same minibatch
    order and the same validation measure; only the cost differs.

    Parameters
    ----------
    build_cost : callable
        ``build_cost(ae, x)`` returns the training cost as a symbolic scalar,
        or a pair ``(cost, updates)`` when the cost draws random numbers
        (``updates`` as in :func:`compile_step`).
    X_train : array-like, shape (n_examples, n_visible)
        Values in [0, 1], any numeric dtype; cast once to ``dtype``.
    X_valid : array-like, shape (n_valid, n_visible), optional
    n_hidden, n_epochs, batch_size, seed : int
    learning_rate : float
    progress : bool
        Show a progress bar per epoch.
    dtype : {"float32", "float64"}
        dtype of the parameters and of the data as the model sees it.
    mode : str or pytensor Mode, optional

    Returns
    -------
    ae : AutoEncoder
        The trained model.
    history : History
        ``train_cost`` is the variant's own cost (penalties included);
        ``valid_cost`` is the plain cross-entropy of clean inputs, the one
        number every variant is compared on.

    Examples
    --------
    >>> X = (np.random.default_rng(0).random((40, 6)) < 0.3).astype("float32")
    >>> def plain(ae, x):
    ...     return ae.cost(x)
    >>> ae, history = train_variant(plain, X, X[:10], n_hidden=3, n_epochs=2)
    >>> history.n_epochs, len(history.valid_cost)
    (2, 2)
    """
    X_train, X_valid = checked_sets(X_train, X_valid, dtype)
    ae = AutoEncoder(X_train.shape[1], n_hidden, seed=seed, dtype=dtype)
    x = ae.input()
    built = build_cost(ae, x)
    cost, updates = built if isinstance(built, tuple) else (built, ())
    step = compile_step([x], cost, ae.params, learning_rate, updates=updates, mode=mode)
    valid_fn = compile_cost([x], ae.cost(x), mode=mode)
    history = train(
        step,
        X_train,
        n_epochs=n_epochs,
        batch_size=batch_size,
        seed=seed,
        valid_cost=valid_fn,
        X_valid=X_valid,
        progress=progress,
    )
    return ae, history
