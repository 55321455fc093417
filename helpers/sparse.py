"""The auto-encoder on sparse binary data: a SciPy CSR minibatch, end to end.

Binary data such as "who rated which movie" is mostly zeros. Here the data
stays a ``scipy.sparse.csr_matrix`` from loading to the compiled training
step, whose input is a PyTensor sparse variable (``pytensor.sparse``). The
model is :class:`helpers.model.AutoEncoder` (the same shared ``W``, ``b_h``,
``b_v``); only the graphs that touch the input change::

    a     = x W                    # structured_dot: ~ nnz(x) * n_hidden work
    h     = sigmoid(a + b_h)
    z     = h W^T + b_v            # dense, shape (n_rows, n_visible)
    cost  = sum_ij softplus(z_ij) - sum_ij t_ij z_ij

``t`` is the target (``x`` itself, or the clean rows when ``x`` is a
corrupted copy). The cross term never needs ``t`` dense, since
``z = h W^T + b_v`` gives::

    sum_ij t_ij z_ij = sum_ik h_ik (t W)_ik + sum_j (sum_i t_ij) b_v_j

and when ``t`` is ``x``, ``t W`` is the ``a`` already computed. The
reconstruction itself is dense: every minibatch produces a
(batch, n_visible) array of logits, since a score is needed for every item,
rated or not. What is never densified is the data set, nor a minibatch of it.

The training step is :func:`helpers.training.compile_train_step` (with
the random generator's update added to :func:`helpers.training.sgd_updates`
when the input is corrupted) and the loop is :func:`helpers.training.train`,
unchanged: indexing rows of a CSR matrix with an array (``X[order[s]]``)
gives a CSR minibatch.

The ranking half (:func:`top_k_unseen`, :func:`recall_at_k`,
:func:`ndcg_at_k`, :func:`popularity_scorer`) turns the model into a
recommender: score every item a user has not seen, keep the best ``k``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytensor
import pytensor.sparse as ps
import pytensor.tensor as pt
import scipy.sparse

from helpers.data import check_sparse_unit_range
from helpers.model import CONVENTIONS, AutoEncoder, describe_cost
from helpers.training import (
    History,
    compile_train_step,
    minibatch_slices,
    sgd_updates,
    train,
)

__all__ = [
    "SparseAutoEncoder",
    "compile_scores",
    "fit_sparse",
    "ndcg_at_k",
    "popularity_scorer",
    "recall_at_k",
    "sparse_masking_noise",
    "top_k_unseen",
]


def _is_sparse(x) -> bool:
    return isinstance(x.type, ps.SparseTensorType)


class SparseAutoEncoder(AutoEncoder):
    """:class:`~helpers.model.AutoEncoder` whose input is a sparse CSR matrix.

    Same constructor, parameters and methods; :meth:`input` gives a sparse
    variable, and :meth:`hidden` and :meth:`cost` use sparse products when
    they are given one (a dense input still takes the dense graphs).

    Examples
    --------
    >>> ae = SparseAutoEncoder(n_visible=6, n_hidden=3, seed=0)
    >>> x = ae.input()
    >>> x.type.format, x.type.dtype
    ('csr', 'float32')
    >>> X = scipy.sparse.csr_matrix(np.eye(2, 6, dtype="float32"))
    >>> pytensor.function([x], ae.reconstruct(x))(X).shape
    (2, 6)
    """

    def input(self, name: str = "x"):
        """A symbolic sparse minibatch, CSR, (n_rows, n_visible), in ``dtype``."""
        return ps.csr_matrix(name, dtype=self.dtype)

    def hidden(self, x):
        """``h = sigmoid(x W + b_h)``; ``x W`` is a sparse product if ``x`` is."""
        if not _is_sparse(x):
            return super().hidden(x)
        return pt.sigmoid(ps.structured_dot(x, self.W) + self.b_h)

    def cost(
        self,
        x,
        target=None,
        *,
        cost: str = "cross_entropy",
        convention: str = "per_example",
    ):
        """Cross-entropy of the reconstruction of sparse ``x`` against ``target``.

        Parameters
        ----------
        x : SparseVariable, CSR, shape (n_rows, n_visible)
            What the encoder sees (for a denoising auto-encoder, the
            corrupted rows).
        target : SparseVariable, optional
            What the reconstruction is compared with; defaults to ``x``.
        cost : {"cross_entropy"}
            The only cost with a sparse target here: squared error needs
            ``(t - x_hat)**2`` at every entry, which is a dense target.
        convention : {"per_example", "per_element"}
            As in :func:`helpers.model.reduce_cost`.

        Returns
        -------
        TensorVariable, scalar
            Equal (up to rounding) to the dense model's cost on the same rows.
        """
        if not _is_sparse(x):
            return super().cost(x, target, cost=cost, convention=convention)
        if cost != "cross_entropy":
            raise ValueError(
                f"cost {cost!r} is not available for sparse input; the sparse "
                "path computes cross_entropy (a dense target would be needed)"
            )
        a = ps.structured_dot(x, self.W)
        h = pt.sigmoid(a + self.b_h)
        z = self.logits(h)
        t_W = a if target is None else ps.structured_dot(target, self.W)
        t = x if target is None else target
        cross = (h * t_W).sum() + pt.dot(ps.sp_sum(t, axis=0), self.b_v)
        total = pt.softplus(z).sum() - cross
        n_rows = pt.cast(x.shape[0], self.dtype)
        if convention == "per_example":
            return total / n_rows
        if convention == "per_element":
            return total / (n_rows * pt.cast(self.n_visible, self.dtype))
        raise ValueError(
            f"unknown cost convention {convention!r}; choose one of {CONVENTIONS}"
        )


def sparse_masking_noise(rng, x, corruption_level: float):
    """Drop each stored one of a minibatch with probability ``corruption_level``.

    Masking noise for sparse rows, as a denoising auto-encoder uses: only
    the stored values are drawn for (zeros stay zeros), and the result keeps
    ``x``'s structure, with the dropped entries stored as explicit zeros.

    Parameters
    ----------
    rng : RandomGeneratorSharedVariable
        From ``pytensor.tensor.random.shared_rng``; the compiled function
        must update it to ``next_rng`` for a new mask on every call.
    x : SparseVariable, CSR
    corruption_level : float
        Probability in [0, 1) of dropping each stored value.

    Returns
    -------
    next_rng : RandomGeneratorVariable
    x_tilde : SparseVariable, CSR, same shape and dtype as ``x``

    Examples
    --------
    >>> rng = pt.random.shared_rng(seed=0)
    >>> x = ps.csr_matrix("x", dtype="float64")
    >>> next_rng, x_tilde = sparse_masking_noise(rng, x, 0.5)
    >>> corrupt = pytensor.function([x], x_tilde, updates={rng: next_rng})
    >>> X = scipy.sparse.csr_matrix(np.ones((2, 50)))
    >>> kept = corrupt(X).sum()
    >>> bool(0 < kept < 100)
    True
    """
    if not 0.0 <= corruption_level < 1.0:
        raise ValueError(f"corruption level must be in [0, 1), got {corruption_level}")
    data, indices, indptr, shape = ps.csm_properties(x)
    next_rng, keep = rng.binomial(n=1, p=1.0 - corruption_level, size=data.shape)
    x_tilde = ps.CSR(data * pt.cast(keep, data.dtype), indices, indptr, shape)
    return next_rng, x_tilde


def fit_sparse(
    model: SparseAutoEncoder,
    X,
    *,
    corruption_level: float = 0.0,
    learning_rate=0.1,
    batch_size: int = 20,
    n_epochs: int = 15,
    seed: int = 0,
    convention: str = "per_example",
    progress: bool = True,
    on_epoch: Callable | None = None,
    mode=None,
) -> History:
    """Train ``model`` on the rows of a sparse matrix, with minibatch SGD.

    Parameters
    ----------
    model : SparseAutoEncoder
        Trained in place.
    X : scipy.sparse matrix, shape (n_rows, n_visible)
        Values in [0, 1]; converted once to CSR in the model's dtype (see
        :func:`helpers.data.check_sparse_unit_range`), never to a dense array.
    corruption_level : float
        If positive, a denoising auto-encoder: each stored one of a
        minibatch is dropped with this probability before encoding (a new
        draw every step, seeded by ``seed``), and the clean rows are the
        target. The recorded cost is then the corrupted-input cost.
    learning_rate, batch_size, n_epochs, seed, convention, progress, on_epoch
        As in :func:`helpers.training.fit`; ``seed`` also seeds the noise.
    mode : str or pytensor Mode, optional

    Returns
    -------
    History
        Training cost per epoch (no validation set).

    Examples
    --------
    >>> rows = np.random.default_rng(0).random((30, 8)) < 0.2
    >>> X = scipy.sparse.csr_matrix(rows)
    >>> ae = SparseAutoEncoder(8, 4, seed=0)
    >>> h = fit_sparse(ae, X, n_epochs=20, batch_size=5, progress=False)
    >>> h.train_cost[-1] < h.train_cost[0]
    True
    """
    X = check_sparse_unit_range(X, model.dtype, "training data")
    if X.shape[1] != model.n_visible:
        raise ValueError(
            f"training data has {X.shape[1]} columns but the model has "
            f"{model.n_visible} visible units"
        )
    if not 0.0 <= corruption_level < 1.0:
        raise ValueError(f"corruption level must be in [0, 1), got {corruption_level}")
    x = model.input()
    if corruption_level > 0:
        rng = pt.random.shared_rng(seed=seed)
        next_rng, x_tilde = sparse_masking_noise(rng, x, corruption_level)
        cost = model.cost(x_tilde, target=x, convention=convention)
        # The SGD updates plus the generator's, so each step draws a new mask.
        updates = [*sgd_updates(cost, model.params, learning_rate), (rng, next_rng)]
        step = pytensor.function([x], cost, updates=updates, mode=mode)
    else:
        cost = model.cost(x, convention=convention)
        step = compile_train_step([x], cost, model.params, learning_rate, mode=mode)
    history = History(
        cost_label=describe_cost("cross_entropy", convention, model.n_visible)
    )
    return train(
        step,
        X,
        n_epochs=n_epochs,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        on_epoch=on_epoch,
        history=history,
    )


def compile_scores(model: SparseAutoEncoder, *, mode=None) -> Callable:
    """Compile the scores of every item for sparse rows: the logits ``z``.

    ``x_hat = sigmoid(z)`` ranks the items in the same order, but in float32
    it rounds to exactly 1.0 for every ``z`` above about 17, which would make
    the best items tie; the logits keep them apart.

    Returns
    -------
    callable
        Maps a CSR minibatch (n_rows, n_visible) to a dense array of the same
        shape.
    """
    x = model.input()
    return pytensor.function([x], model.logits(model.hidden(x)), mode=mode)


def popularity_scorer(X_train) -> Callable:
    """The most-popular baseline: every user gets the items' rating counts.

    Parameters
    ----------
    X_train : scipy.sparse matrix, shape (n_users, n_items)

    Returns
    -------
    callable
        Like :func:`compile_scores`'s result: maps rows to an
        (n_rows, n_items) array of scores, here the same counts in each row.

    Examples
    --------
    >>> X = scipy.sparse.csr_matrix([[1, 0, 1], [0, 0, 1]])
    >>> popularity_scorer(X)(X[:1])
    array([[1., 0., 2.]])
    """
    counts = np.asarray(X_train.sum(axis=0), dtype=np.float64).ravel()

    def scores(rows):
        return np.tile(counts, (rows.shape[0], 1))

    return scores


def top_k_unseen(
    score_rows: Callable, X_seen, k: int = 20, batch_size: int = 256
) -> np.ndarray:
    """The ``k`` best-scored items of each row that the row has not seen.

    Parameters
    ----------
    score_rows : callable
        Maps a CSR block of rows of ``X_seen`` to dense scores
        (:func:`compile_scores`, :func:`popularity_scorer`).
    X_seen : scipy.sparse matrix, shape (n_users, n_items)
        What each user is known to have rated (the training data): those
        items are never recommended.
    k : int
    batch_size : int
        Rows scored at a time; only a (batch_size, n_items) block of scores
        exists at once.

    Returns
    -------
    numpy.ndarray of int, shape (n_users, k)
        Item indices, best first. Equal scores are ordered by item index. A
        row with fewer than ``k`` unseen items ends with seen ones.

    Examples
    --------
    >>> X = scipy.sparse.csr_matrix([[1, 0, 0, 0], [0, 0, 0, 0]])
    >>> scores = lambda rows: np.tile([4.0, 1.0, 3.0, 3.0], (rows.shape[0], 1))
    >>> top_k_unseen(scores, X, k=2)
    array([[2, 3],
           [0, 2]])
    """
    X_seen = scipy.sparse.csr_matrix(X_seen)
    n_rows, n_items = X_seen.shape
    if not 1 <= k <= n_items:
        raise ValueError(f"k must be between 1 and {n_items} items, got {k}")
    top = np.empty((n_rows, k), dtype=np.int64)
    for s in minibatch_slices(n_rows, batch_size):
        block = X_seen[s]
        cost = -np.array(score_rows(block), dtype=np.float64)  # low is good
        if np.isnan(cost).any():
            raise ValueError("the scores contain NaN; did training diverge?")
        cost[block.nonzero()] = np.inf
        # A partial sort finds each row's k-th best cost; the items at least
        # that good (ties included) are then sorted by (cost, item index).
        kth = np.partition(cost, k - 1, axis=1)[:, k - 1]
        for row, (costs, bound) in enumerate(zip(cost, kth, strict=True)):
            items = np.flatnonzero(costs <= bound)
            top[s.start + row] = items[np.lexsort((items, costs[items]))][:k]
    return top


def _held_items(X_held) -> list[np.ndarray]:
    X_held = scipy.sparse.csr_matrix(X_held)
    X_held.eliminate_zeros()
    return [
        X_held.indices[X_held.indptr[i] : X_held.indptr[i + 1]]
        for i in range(X_held.shape[0])
    ]


def recall_at_k(top: np.ndarray, X_held) -> float:
    """Share of each user's held-out items found in the top ``k``, averaged.

    For a user with held-out set ``H`` and recommendations ``top`` (length
    ``k``), recall@k is ``|top & H| / min(k, |H|)``, so that 1 means "as many
    hits as possible" even when ``H`` has more than ``k`` items. The mean is
    over users with at least one held-out item.

    Examples
    --------
    >>> held = scipy.sparse.csr_matrix([[0, 1, 1, 0], [1, 0, 0, 0]])
    >>> recall_at_k(np.array([[1, 3], [2, 3]]), held)
    0.25
    """
    values = [
        np.isin(row, items).sum() / min(len(row), len(items))
        for row, items in zip(top, _held_items(X_held), strict=True)
        if len(items)
    ]
    return float(np.mean(values))


def ndcg_at_k(top: np.ndarray, X_held) -> float:
    """Normalized discounted cumulative gain of the top ``k``, averaged.

    A hit at rank ``r`` (1-based) counts ``1 / log2(r + 1)``; the sum is
    divided by the best possible sum, all of ``min(k, |H|)`` first places
    hits. Averaged over users with at least one held-out item.

    Examples
    --------
    >>> held = scipy.sparse.csr_matrix([[0, 1, 1, 0]])
    >>> round(ndcg_at_k(np.array([[3, 1]]), held), 4)   # one hit, at rank 2
    0.3869
    """
    k = top.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    values = [
        discount[np.isin(row, items)].sum() / discount[: min(k, len(items))].sum()
        for row, items in zip(top, _held_items(X_held), strict=True)
        if len(items)
    ]
    return float(np.mean(values))
