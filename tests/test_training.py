"""Tests of :mod:`helpers.training`: SGD steps, the minibatch loop and ``fit``.

The loop is tested with a fake ``step`` that records the rows it is given
and returns costs the test chose, so "every row once per epoch" and "the
epoch cost is the row-weighted mean" are checked exactly. Compiled steps
use a 12x5 model (PyTensor caches a compiled graph whatever the sizes).
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytensor
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import training
from helpers.data import DataError, train_valid_split
from helpers.model import AutoEncoder
from helpers.training import (
    DivergenceError,
    History,
    compile_train_step,
    evaluate,
    fit,
    minibatch_slices,
    sgd_updates,
    train,
)

FAST = "FAST_COMPILE"


class RecordingStep:
    """A stand-in for a compiled step: rows carry their index in column 0.

    Each call records the indices it saw and returns the mean of
    ``row_cost(index)`` over the batch, as a per-row-averaged cost does.
    """

    def __init__(self, row_cost=lambda i: i**2, fail_at=None):
        self.row_cost = row_cost
        self.fail_at = fail_at
        self.batches: list[np.ndarray] = []

    def __call__(self, batch):
        self.batches.append(batch[:, 0].astype(int))
        if self.fail_at == len(self.batches):
            return np.float32(np.nan)
        return np.float32(np.mean(self.row_cost(batch[:, 0])))

    def epochs(self, per_epoch):
        return [
            self.batches[i : i + per_epoch]
            for i in range(0, len(self.batches), per_epoch)
        ]


def _rows(n, width=3):
    X = np.zeros((n, width), dtype=np.float32)
    X[:, 0] = np.arange(n)
    return X


# --- minibatch_slices ----------------------------------------------------------------


def test_minibatch_slices_keep_the_remainder():
    assert [(s.start, s.stop) for s in minibatch_slices(10, 4)] == [
        (0, 4),
        (4, 8),
        (8, 10),
    ]
    assert [(s.start, s.stop) for s in minibatch_slices(3, 20)] == [(0, 3)]
    assert [(s.start, s.stop) for s in minibatch_slices(20, 20)] == [(0, 20)]
    assert minibatch_slices(0, 5) == []


@given(n=st.integers(0, 200), batch_size=st.integers(1, 50))
def test_minibatch_slices_cover_every_row_once(n, batch_size):
    slices = minibatch_slices(n, batch_size)
    covered = np.concatenate([np.arange(n)[s] for s in slices] + [np.array([], int)])
    np.testing.assert_array_equal(covered, np.arange(n))
    sizes = [s.stop - s.start for s in slices]
    assert all(size == batch_size for size in sizes[:-1])
    assert all(0 < size <= batch_size for size in sizes)
    assert len(slices) == math.ceil(n / batch_size)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_minibatch_slices_refuse_empty_batches(batch_size):
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        minibatch_slices(10, batch_size)


# --- the training loop, with a fake step ---------------------------------------------


def test_every_row_once_per_epoch_in_batches_of_4_4_2():
    step = RecordingStep()
    history = train(step, _rows(10), n_epochs=3, batch_size=4, progress=False)
    assert history.n_epochs == 3
    epochs = step.epochs(3)
    assert len(epochs) == 3
    for batches in epochs:
        assert [len(b) for b in batches] == [4, 4, 2]
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    orders = [np.concatenate(batches) for batches in epochs]
    assert not np.array_equal(orders[0], orders[1])  # reshuffled each epoch


def test_epoch_cost_is_the_row_weighted_mean():
    step = RecordingStep(row_cost=lambda i: i**2)
    history = train(step, _rows(10), n_epochs=2, batch_size=4, progress=False)
    exact = float(np.mean(np.arange(10.0) ** 2))  # 28.5, whatever the order
    assert history.train_cost == pytest.approx([exact, exact], rel=1e-6)
    # The unweighted mean of the three batch costs would differ: the test can
    # tell the two apart.
    batch_means = [np.mean(b**2) for b in step.epochs(3)[0]]
    assert float(np.mean(batch_means)) != pytest.approx(exact, rel=1e-3)


def test_shuffles_are_seeded():
    runs = {}
    for name, seed in [("a", 5), ("b", 5), ("c", 6)]:
        step = RecordingStep()
        train(step, _rows(12), n_epochs=3, batch_size=5, seed=seed, progress=False)
        runs[name] = np.concatenate(step.batches)
    np.testing.assert_array_equal(runs["a"], runs["b"])
    assert not np.array_equal(runs["a"], runs["c"])


def test_a_set_smaller_than_one_batch_still_trains():
    step = RecordingStep()
    history = train(step, _rows(3), n_epochs=2, batch_size=20, progress=False)
    assert [sorted(b) for b in step.batches] == [[0, 1, 2], [0, 1, 2]]
    assert history.train_cost == pytest.approx([5 / 3, 5 / 3])


def test_divergence_stops_training_with_a_clear_error():
    step = RecordingStep(fail_at=5)
    seen = []
    with pytest.raises(DivergenceError) as info:
        train(
            step,
            _rows(10),
            n_epochs=3,
            batch_size=4,
            progress=False,
            on_epoch=lambda epoch, history: seen.append(epoch),
        )
    assert (info.value.epoch, info.value.batch) == (2, 2)
    assert math.isnan(info.value.cost)
    assert "Lower the learning rate" in str(info.value)
    assert seen == [1]
    assert isinstance(info.value, FloatingPointError)


def test_validation_cost_after_each_epoch_weighted_by_rows():
    chunks = []

    def valid_cost(X):
        chunks.append(len(X))
        return np.float32(np.mean(X[:, 0]))

    X_valid = _rows(2500)
    history = train(
        RecordingStep(),
        _rows(10),
        n_epochs=2,
        batch_size=4,
        valid_cost=valid_cost,
        X_valid=X_valid,
        progress=False,
    )
    assert chunks == [1000, 1000, 500] * 2
    assert history.valid_cost == pytest.approx([1249.5, 1249.5])


@pytest.mark.parametrize("X_valid", [None, _rows(0)], ids=["none", "empty"])
def test_no_validation_without_rows(X_valid):
    history = train(
        RecordingStep(),
        _rows(6),
        n_epochs=2,
        batch_size=4,
        valid_cost=lambda X: 1 / 0,
        X_valid=X_valid,
        progress=False,
    )
    assert history.valid_cost == []


def test_evaluate_matches_one_call_on_the_whole_set():
    X = np.random.default_rng(0).random((23, 4))

    def mean_of_rows(rows):
        return rows.sum(axis=1).mean()

    assert evaluate(mean_of_rows, X, batch_size=5) == pytest.approx(mean_of_rows(X))


def test_on_epoch_and_history_bookkeeping():
    calls = []
    history = History(train_cost=[99.0], cost_label="label")
    result = train(
        RecordingStep(),
        _rows(8),
        n_epochs=2,
        batch_size=3,
        progress=False,
        history=history,
        on_epoch=lambda epoch, h: calls.append((epoch, len(h.train_cost))),
    )
    assert result is history
    assert calls == [(1, 2), (2, 3)]
    assert history.train_cost[0] == 99.0
    assert history.n_epochs == 3
    assert len(history.seconds) == 2
    assert all(s >= 0 for s in history.seconds)


def test_progress_bar_only_when_asked(capsys):
    train(RecordingStep(), _rows(8), n_epochs=1, batch_size=3, progress=False)
    assert capsys.readouterr().err == ""
    train(RecordingStep(), _rows(8), n_epochs=1, batch_size=3, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def test_defaults_are_the_classic_tutorial():
    for function in (fit, train):
        defaults = {
            name: p.default
            for name, p in inspect.signature(function).parameters.items()
        }
        assert defaults["batch_size"] == 20
        assert defaults["n_epochs"] == 15
    fit_defaults = inspect.signature(fit).parameters
    assert fit_defaults["learning_rate"].default == 0.1
    assert fit_defaults["cost"].default == "cross_entropy"
    assert fit_defaults["convention"].default == "per_example"


# --- learning rates and SGD steps ---------------------------------------------------


LEARNING_RATES = {
    "python float": lambda: 0.1,
    "numpy float64": lambda: np.float64(0.1),
    "float64 shared": lambda: pytensor.shared(np.float64(0.1), name="lr"),
    "float32 shared": lambda: pytensor.shared(np.float32(0.1), name="lr"),
}


@pytest.mark.parametrize("kind", list(LEARNING_RATES))
def test_one_step_moves_parameters_by_lr_times_gradient(kind, binary_rows, reference):
    lr = LEARNING_RATES[kind]()
    ae = AutoEncoder(12, 5, seed=3, dtype="float32")
    x = ae.input()
    step = compile_train_step([x], ae.cost(x), ae.params, lr)
    X = binary_rows.astype(np.float32)

    before = ae.get_values()
    cost = step(X)
    after = ae.get_values()
    assert {p.type.dtype for p in ae.params} == {"float32"}
    assert {v.dtype for v in after.values()} == {np.dtype(np.float32)}
    assert float(cost) == pytest.approx(reference.cost(before, X), rel=1e-5)
    grads = reference.grads(before, X)
    for name in before:
        moved = before[name].astype(np.float64) - after[name]
        np.testing.assert_allclose(moved, 0.1 * grads[name], rtol=1e-4, atol=1e-6)

    if isinstance(lr, pytensor.compile.SharedVariable):
        # A shared rate can be changed between calls without recompiling.
        lr.set_value(np.asarray(0.025, dtype=lr.type.dtype))
        step(X)
        grads = reference.grads(after, X)
        again = ae.get_values()
        for name in after:
            moved = after[name].astype(np.float64) - again[name]
            np.testing.assert_allclose(moved, 0.025 * grads[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("lr", "error", "fragment"),
    [
        (0, ValueError, "positive finite"),
        (0.0, ValueError, "positive finite"),
        (-0.1, ValueError, "positive finite"),
        (np.float64(-1.0), ValueError, "positive finite"),
        (math.nan, ValueError, "positive finite"),
        (math.inf, ValueError, "positive finite"),
        ("0.1", TypeError, "got str"),
        (None, TypeError, "got NoneType"),
        ([0.1], TypeError, "got list"),
    ],
)
def test_invalid_learning_rates(lr, error, fragment):
    w = pytensor.shared(np.float32(1.0), name="w")
    with pytest.raises(error) as info:
        sgd_updates(w**2, [w], lr)
    assert "learning rate" in str(info.value)
    assert fragment in str(info.value)


def test_learning_rate_must_be_a_scalar_variable():
    w = pytensor.shared(np.float32(1.0), name="w")
    with pytest.raises(ValueError, match="must be a scalar, got 1 dimensions"):
        sgd_updates(w**2, [w], pytensor.shared(np.array([0.1])))


def test_fit_refuses_invalid_learning_rate(binary_rows):
    with pytest.raises(ValueError, match="learning rate"):
        fit(AutoEncoder(12, 5), binary_rows, learning_rate=-1.0, progress=False)


# --- fit ------------------------------------------------------------------------


def _short_fit(X, X_valid=None, *, model_seed=0, seed=0, **kwargs):
    ae = AutoEncoder(12, 5, seed=model_seed)
    history = fit(
        ae, X, X_valid, n_epochs=2, batch_size=8, seed=seed, progress=False, **kwargs
    )
    return ae, history


@pytest.fixture(scope="module")
def float_run(binary_rows):
    """Parameters after a short fit on float64 rows: what every dtype must give."""
    ae, history = _short_fit(binary_rows)
    return ae.get_values(), history


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_fit_casts_any_numeric_dtype_once(dtype, binary_rows, float_run, monkeypatch):
    received = []
    real_train = training.train

    def spy(step, X, **kwargs):
        received.append((X, kwargs["X_valid"]))
        return real_train(step, X, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    X = binary_rows.astype(dtype)
    ae, history = _short_fit(X, X[:5])
    ((X_seen, X_valid_seen),) = received
    for array in (X_seen, X_valid_seen):
        assert array.dtype == np.float32
        assert array.flags.c_contiguous
    np.testing.assert_array_equal(X_seen, binary_rows)
    values, reference_history = float_run
    for name, value in ae.get_values().items():
        np.testing.assert_array_equal(value, values[name])
    assert history.train_cost == reference_history.train_cost


def test_fit_casts_to_a_float64_model(binary_rows, monkeypatch):
    received = []
    monkeypatch.setattr(training, "train", lambda step, X, **kw: received.append(X))
    fit(AutoEncoder(12, 5, dtype="float64"), binary_rows > 0.5, mode=FAST)
    assert received[0].dtype == np.float64


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (np.full((4, 12), 255, dtype=np.uint8), "values range from 255 to 255"),
        (np.full((4, 12), 2, dtype=np.int64), "values range from 2 to 2"),
        (np.full((4, 12), -0.5), "values range from -0.5 to -0.5"),
        (np.full((4, 12), np.nan), "48 values are NaN"),
    ],
    ids=["uint8-grey", "int", "negative", "nan"],
)
@pytest.mark.parametrize("which", ["training", "validation"])
def test_fit_refuses_values_outside_unit_range(values, fragment, which, binary_rows):
    args = (values, None) if which == "training" else (binary_rows, values)
    with pytest.raises(DataError) as info:
        fit(AutoEncoder(12, 5), *args, progress=False)
    assert str(info.value).startswith(f"{which} data: ")
    assert fragment in str(info.value)


def test_fit_refuses_the_wrong_width(binary_rows):
    with pytest.raises(ValueError, match="13 columns but the model has 12"):
        fit(AutoEncoder(12, 5), np.zeros((4, 13)), progress=False)
    with pytest.raises(ValueError, match="validation data has 11 columns"):
        fit(AutoEncoder(12, 5), binary_rows, np.zeros((4, 11)), progress=False)


def test_fit_with_an_empty_validation_set_validates_nothing(binary_rows):
    _, history = _short_fit(binary_rows, binary_rows[:0])
    assert history.valid_cost == []
    assert len(history.train_cost) == 2


def test_fit_on_fewer_rows_than_a_batch(binary_rows):
    ae = AutoEncoder(12, 5, seed=0)
    before = ae.get_values()
    history = fit(ae, binary_rows[:3], n_epochs=2, batch_size=20, progress=False)
    assert len(history.train_cost) == 2
    assert all(math.isfinite(c) for c in history.train_cost)
    assert not np.array_equal(ae.W.get_value(), before["W"])


def test_same_seed_same_parameters_other_seed_other_parameters(binary_rows):
    first, _ = _short_fit(binary_rows, model_seed=1, seed=1)
    again, _ = _short_fit(binary_rows, model_seed=1, seed=1)
    other_init, _ = _short_fit(binary_rows, model_seed=2, seed=1)
    other_order, _ = _short_fit(binary_rows, model_seed=1, seed=2)
    for name, value in first.get_values().items():
        np.testing.assert_array_equal(value, again.get_values()[name])
    for other in (other_init, other_order):
        assert not np.array_equal(first.W.get_value(), other.W.get_value())


def test_per_element_convention_is_per_example_rescaled(binary_rows):
    # Gradients scale by 1/n_visible too, so a learning rate n_visible times
    # larger makes exactly the same steps: costs differ by n_visible only.
    runs = {}
    for convention, lr in [("per_example", 0.1), ("per_element", 1.2)]:
        ae = AutoEncoder(12, 5, seed=4, dtype="float64")
        history = fit(
            ae,
            binary_rows,
            binary_rows[:10],
            learning_rate=lr,
            convention=convention,
            n_epochs=2,
            batch_size=8,
            progress=False,
            mode=FAST,
        )
        runs[convention] = (ae, history)
    (ae_ex, h_ex), (ae_el, h_el) = runs["per_example"], runs["per_element"]
    np.testing.assert_allclose(np.array(h_el.train_cost) * 12, h_ex.train_cost)
    np.testing.assert_allclose(np.array(h_el.valid_cost) * 12, h_ex.valid_cost)
    np.testing.assert_allclose(ae_el.W.get_value(), ae_ex.W.get_value(), rtol=1e-9)
    assert "per example" in h_ex.cost_label
    assert "per element" in h_el.cost_label


def test_short_run_on_real_mnist(mnist_binary, reference):
    # The built-in rows are sorted by digit: shuffle before taking subsets.
    X_train, X_valid = train_valid_split(mnist_binary, 0.1, seed=0)
    X_train, X_valid = X_train[:1000], X_valid[:200]
    ae = AutoEncoder(784, 500, seed=0)
    start = ae.get_values()
    history = fit(ae, X_train, X_valid, n_epochs=2, progress=False)
    assert len(history.train_cost) == 2
    assert len(history.valid_cost) == 2
    assert history.train_cost[1] < history.train_cost[0]
    assert all(math.isfinite(c) for c in history.valid_cost)
    # Both are below the cost of the untrained model, computed in NumPy.
    assert history.train_cost[1] < reference.cost(start, X_train)
    assert history.valid_cost[1] < reference.cost(start, X_valid)
    assert history.cost_label.startswith("cross-entropy per example")
    assert "784 inputs" in history.cost_label
