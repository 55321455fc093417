"""The sparse training path: same numbers as the dense one, never densified."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.sparse as ps
import pytensor.tensor as pt
import pytest
import scipy.sparse

from helpers.data import DataError
from helpers.model import AutoEncoder
from helpers.sparse import (
    SparseAutoEncoder,
    compile_scores,
    fit_sparse,
    ndcg_at_k,
    popularity_scorer,
    recall_at_k,
    sparse_masking_noise,
    top_k_unseen,
)
from helpers.training import compile_cost, compile_gradient, compile_train_step, train

ROOT = Path(__file__).resolve().parent.parent


def binary_csr(n_rows, n_cols, density, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = scipy.sparse.random(
        n_rows, n_cols, density=density, format="csr", rng=rng, dtype=dtype
    )
    X.data[:] = 1
    return X


@pytest.fixture(scope="module")
def pair():
    """A sparse and a dense float64 model from the same initial values."""
    sparse_ae = SparseAutoEncoder(40, 7, seed=3, dtype="float64")
    dense_ae = AutoEncoder(values=sparse_ae.get_values(), dtype="float64")
    return sparse_ae, dense_ae


@pytest.mark.parametrize("convention", ["per_example", "per_element"])
def test_cost_and_gradients_match_the_dense_formulation(pair, convention):
    sparse_ae, dense_ae = pair
    X = binary_csr(9, 40, 0.08, seed=1)
    x_s, x_d = sparse_ae.input(), dense_ae.input()
    cost_s = sparse_ae.cost(x_s, convention=convention)
    cost_d = dense_ae.cost(x_d, convention=convention)
    assert compile_cost([x_s], cost_s)(X) == pytest.approx(
        float(compile_cost([x_d], cost_d)(X.toarray())), rel=1e-13
    )
    grads_s = compile_gradient([x_s], cost_s, sparse_ae.params)(X)
    grads_d = compile_gradient([x_d], cost_d, dense_ae.params)(X.toarray())
    for g_s, g_d in zip(grads_s, grads_d, strict=True):
        np.testing.assert_allclose(g_s, g_d, rtol=1e-11, atol=1e-14)


def test_gradients_match_with_a_separate_target(pair):
    """Encoder input x_tilde and target x differ, as in the denoising variant."""
    sparse_ae, dense_ae = pair
    X = binary_csr(6, 40, 0.15, seed=2)
    X_tilde = X.copy()
    X_tilde.data[::3] = 0  # dropped ones, kept as explicit zeros
    x_s, t_s = sparse_ae.input("x_tilde"), sparse_ae.input("x")
    x_d, t_d = dense_ae.input("x_tilde"), dense_ae.input("x")
    cost_s = sparse_ae.cost(x_s, target=t_s)
    cost_d = dense_ae.cost(x_d, target=t_d)
    assert float(compile_cost([x_s, t_s], cost_s)(X_tilde, X)) == pytest.approx(
        float(compile_cost([x_d, t_d], cost_d)(X_tilde.toarray(), X.toarray())),
        rel=1e-13,
    )
    grads_s = compile_gradient([x_s, t_s], cost_s, sparse_ae.params)(X_tilde, X)
    grads_d = compile_gradient([x_d, t_d], cost_d, dense_ae.params)(
        X_tilde.toarray(), X.toarray()
    )
    for g_s, g_d in zip(grads_s, grads_d, strict=True):
        np.testing.assert_allclose(g_s, g_d, rtol=1e-11, atol=1e-14)


def test_the_compiled_step_takes_sparse_input_and_never_densifies_it():
    ae = SparseAutoEncoder(30, 5, seed=0)
    x = ae.input()
    step = compile_train_step([x], ae.cost(x), ae.params, 0.1)
    (input_type,) = [i.type for i in step.maker.fgraph.inputs if i.name == "x"]
    assert isinstance(input_type, ps.SparseTensorType)
    assert input_type.format == "csr"
    ops = {type(node.op).__name__ for node in step.maker.fgraph.toposort()}
    assert "DenseFromSparse" not in ops
    assert "StructuredDot" in ops


def test_training_loop_hands_the_step_csr_minibatches():
    """helpers.training.train indexes rows with X[order[s]]: CSR stays CSR."""
    X = binary_csr(11, 8, 0.3, dtype="float32")
    seen = []

    def step(batch):
        seen.append(batch)
        return 1.0

    train(step, X, n_epochs=2, batch_size=4, progress=False)
    assert len(seen) == 6
    assert all(isinstance(b, scipy.sparse.csr_matrix) for b in seen)
    assert [b.shape[0] for b in seen[:3]] == [4, 4, 3]


def test_fit_sparse_follows_the_dense_fit_step_for_step():
    X = binary_csr(25, 12, 0.2, seed=4)
    sparse_ae = SparseAutoEncoder(12, 4, seed=0, dtype="float64")
    dense_ae = AutoEncoder(values=sparse_ae.get_values(), dtype="float64")
    h_s = fit_sparse(sparse_ae, X, n_epochs=3, batch_size=6, progress=False)
    x = dense_ae.input()
    step = compile_train_step([x], dense_ae.cost(x), dense_ae.params, 0.1)
    h_d = train(step, X.toarray(), n_epochs=3, batch_size=6, progress=False)
    np.testing.assert_allclose(h_s.train_cost, h_d.train_cost, rtol=1e-12)
    for name, value in sparse_ae.get_values().items():
        np.testing.assert_allclose(value, dense_ae.get_values()[name], rtol=1e-10)
    assert h_s.cost_label.startswith("cross-entropy per example")


def test_fit_sparse_learns_and_accepts_any_sparse_format():
    X = scipy.sparse.coo_array(binary_csr(40, 10, 0.2, seed=5, dtype="float32"))
    ae = SparseAutoEncoder(10, 4, seed=0)
    history = fit_sparse(ae, X, n_epochs=15, batch_size=5, progress=False)
    assert history.train_cost[-1] < history.train_cost[0]


def test_fit_sparse_refuses_dense_data_and_the_wrong_width():
    ae = SparseAutoEncoder(10, 4, seed=0)
    with pytest.raises(DataError, match="training data: a dense numpy.ndarray"):
        fit_sparse(ae, np.ones((3, 10)), progress=False)
    with pytest.raises(ValueError, match="has 9 columns but the model has 10"):
        fit_sparse(ae, binary_csr(3, 9, 0.5), progress=False)


def test_squared_error_and_unknown_conventions_are_refused_for_sparse_input():
    ae = SparseAutoEncoder(10, 4, seed=0)
    x = ae.input()
    with pytest.raises(ValueError, match="not available for sparse input"):
        ae.cost(x, cost="squared_error")
    with pytest.raises(ValueError, match="unknown cost convention"):
        ae.cost(x, convention="per_row")


def test_dense_input_still_takes_the_dense_graph():
    ae = SparseAutoEncoder(6, 3, seed=0, dtype="float64")
    x = pt.matrix("x", dtype="float64")
    X = np.eye(2, 6)
    dense = AutoEncoder(values=ae.get_values(), dtype="float64")
    assert float(ae.cost(x).eval({x: X})) == pytest.approx(
        float(dense.cost(x).eval({x: X}))
    )


def test_sparse_masking_noise_drops_stored_ones_only_and_is_seeded():
    rng = pt.random.shared_rng(seed=0)
    x = ps.csr_matrix("x", dtype="float64")
    next_rng, x_tilde = sparse_masking_noise(rng, x, 0.3)
    corrupt = pytensor.function([x], x_tilde, updates={rng: next_rng})
    X = binary_csr(50, 200, 0.1, seed=6)
    first = corrupt(X)
    assert isinstance(first, scipy.sparse.csr_matrix)
    dense, kept = X.toarray(), first.toarray()
    assert set(np.unique(kept)) <= {0.0, 1.0}
    assert (kept <= dense).all()  # only ones are dropped, nothing added
    assert 0.6 < kept.sum() / dense.sum() < 0.8
    assert (corrupt(X).toarray() != kept).any()  # a new mask each call
    rng.set_value(np.random.default_rng(0))
    np.testing.assert_array_equal(corrupt(X).toarray(), kept)


def test_sparse_masking_noise_rejects_bad_levels():
    x = ps.csr_matrix("x")
    for level in (-0.1, 1.0):
        with pytest.raises(ValueError, match="corruption level"):
            sparse_masking_noise(pt.random.shared_rng(seed=0), x, level)


def test_fit_sparse_rejects_bad_corruption_levels():
    ae = SparseAutoEncoder(10, 4, seed=0)
    for level in (-0.1, 1.0):
        with pytest.raises(ValueError, match="corruption level"):
            fit_sparse(ae, binary_csr(3, 10, 0.5), corruption_level=level)


def test_denoising_fit_is_seeded():
    X = binary_csr(30, 10, 0.3, seed=7, dtype="float32")
    runs = []
    for seed in (0, 0, 1):
        ae = SparseAutoEncoder(10, 4, seed=0)
        fit_sparse(ae, X, corruption_level=0.4, n_epochs=2, seed=seed, progress=False)
        runs.append(ae.get_values()["W"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_compile_scores_gives_the_dense_logits():
    ae = SparseAutoEncoder(8, 3, seed=0, dtype="float64")
    X = binary_csr(4, 8, 0.4, seed=8)
    x = pt.matrix("x", dtype="float64")
    dense_logits = ae.logits(ae.hidden(x)).eval({x: X.toarray()})
    np.testing.assert_allclose(compile_scores(ae)(X), dense_logits, rtol=1e-12)


def test_top_k_unseen_skips_seen_items_and_breaks_ties_by_index():
    seen = scipy.sparse.csr_matrix([[0, 1, 0, 0, 1], [0, 0, 0, 0, 0]])

    def scores(rows):
        return np.tile([1.0, 9.0, 5.0, 5.0, 7.0], (rows.shape[0], 1))

    np.testing.assert_array_equal(
        top_k_unseen(scores, seen, k=3, batch_size=1), [[2, 3, 0], [1, 4, 2]]
    )
    for k in (0, 6):
        with pytest.raises(ValueError, match="k must be between 1 and 5"):
            top_k_unseen(scores, seen, k=k)


def test_top_k_unseen_agrees_with_a_full_stable_sort():
    rng = np.random.default_rng(9)
    S = rng.integers(0, 6, size=(30, 50)).astype(float)  # many ties
    seen = binary_csr(30, 50, 0.2, seed=9)
    top = top_k_unseen(lambda rows: S, seen, k=10)  # one block of 30 rows
    masked = S.copy()
    masked[seen.nonzero()] = -np.inf
    expected = np.argsort(-masked, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(top, expected)


def test_top_k_unseen_refuses_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        top_k_unseen(
            lambda rows: np.full(rows.shape, np.nan), binary_csr(2, 5, 0.2), k=2
        )


def test_recall_and_ndcg_on_hand_computed_cases():
    held = scipy.sparse.csr_matrix(
        [[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1]]
    )
    perfect = np.array([[0, 1], [4, 5], [2, 3]])
    assert recall_at_k(perfect, held) == 1.0  # the empty row is left out
    assert ndcg_at_k(perfect, held) == 1.0
    none = np.array([[4, 5], [0, 1], [0, 1]])
    assert recall_at_k(none, held) == 0.0
    assert ndcg_at_k(none, held) == 0.0
    one_second = np.array([[5, 0], [0, 1], [0, 1]])  # one hit at rank 2, user 0
    assert recall_at_k(one_second, held) == pytest.approx(0.25)
    expected = (1 / np.log2(3)) / (1 + 1 / np.log2(3)) / 2
    assert ndcg_at_k(one_second, held) == pytest.approx(expected)


def test_recall_divides_by_k_when_more_items_are_held_out():
    held = scipy.sparse.csr_matrix([[1, 1, 1, 1, 1]])
    assert recall_at_k(np.array([[0, 1]]), held) == 1.0


def test_popularity_scorer_ranks_by_training_counts():
    X = scipy.sparse.csr_matrix([[1, 0, 1, 0], [0, 0, 1, 1], [1, 0, 1, 0]])
    top = top_k_unseen(popularity_scorer(X), X, k=2)
    np.testing.assert_array_equal(top, [[3, 1], [0, 1], [3, 1]])


def test_benchmark_short_run_prints_both_paths_and_a_crossover():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sparse_vs_dense.py"), "--short"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "rows/s" in line)
    assert "sparse rows/s" in header and "dense rows/s" in header
    table = [line for line in lines if line.split()[:1] in (["real"], ["synthetic"])]
    assert len(table) == 3
    for line in table:
        sparse_rate, dense_rate = (float(v) for v in line.split()[2:4])
        assert sparse_rate > 0 and dense_rate > 0
        assert float(line.split()[-1]) < 1e-4  # both paths trained alike
    assert lines[-1].startswith("crossover: ")
