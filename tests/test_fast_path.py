"""The default training path: backends, data held once, many steps per call."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import backends
from helpers.model import AutoEncoder
from helpers.steps import TRANSPOSED_CARRY_BACKENDS, ScanSteps, compile_indexed_step
from helpers.training import (
    DivergenceError,
    TrainingInterrupted,
    call_plan,
    compile_train_step,
    fit,
    minibatch_slices,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
INSTALLED = ["numba", pytest.param("jax", marks=needs_jax)]


def run_python(code: str) -> str:
    """Run ``code`` in a fresh Python process at the project root; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def rows():
    rng = np.random.default_rng(3)
    return (rng.random((50, 12)) < 0.3).astype("float64")


# ------------------------------------------------------------ backends


def test_auto_picks_jax_when_installed_else_numba(monkeypatch):
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    monkeypatch.setattr(backends, "_has_jax", lambda: True)
    assert backends.pick_backend("auto") == "jax"
    assert backends.pick_backend(None) == "jax"
    monkeypatch.setattr(backends, "_has_jax", lambda: False)
    assert backends.pick_backend("auto") == "numba"


def test_the_environment_variable_overrides_auto_only(monkeypatch):
    monkeypatch.setenv(backends.ENV_VAR, "c")
    assert backends.pick_backend("auto") == "c"
    assert backends.pick_backend("numba") == "numba"
    monkeypatch.setenv(backends.ENV_VAR, "cuda")
    with pytest.raises(ValueError, match=f"{backends.ENV_VAR} is set to 'cuda'"):
        backends.pick_backend("auto")
    with pytest.raises(ValueError, match="or unset it"):
        backends.pick_backend(None)


@pytest.mark.parametrize("value", ["AUTO", " auto ", ""])
def test_an_auto_environment_variable_means_auto(monkeypatch, value):
    monkeypatch.setenv(backends.ENV_VAR, value)
    monkeypatch.setattr(backends, "_has_jax", lambda: False)
    assert backends.pick_backend("auto") == "numba"
    assert backends.pick_backend(" Auto") == "numba"


def test_backend_names_ignore_case_and_spaces(monkeypatch):
    monkeypatch.setenv(backends.ENV_VAR, " NumBa ")
    assert backends.pick_backend("auto") == "numba"
    assert backends.pick_backend(" C ") == "c"


@pytest.mark.parametrize(
    "mode, backend",
    [("NUMBA", "numba"), ("FAST_RUN", "numba"), ("CVM", "c"), ("C", "c")]
    + [("FAST_COMPILE", "python"), ("JAX", "jax")],
)
def test_the_backend_of_a_mode_is_its_linker(mode, backend):
    assert backends.backend_of_mode(mode) == backend
    from pytensor.compile.mode import get_mode

    assert backends.backend_of_mode(get_mode(mode)) == backend


def test_the_backend_of_an_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        backends.backend_of_mode("TURBO")


def test_asking_for_jax_without_jax_says_what_to_do(monkeypatch):
    monkeypatch.setattr(backends, "_has_jax", lambda: False)
    with pytest.raises(ValueError, match="needs JAX, which is not installed"):
        backends.pick_backend("jax")


@pytest.mark.parametrize(
    ("backend", "mode"), [("jax", "JAX"), ("numba", "NUMBA"), ("c", "CVM")]
)
def test_compile_modes(backend, mode):
    if backend == "jax" and not HAS_JAX:
        pytest.skip("JAX is not installed")
    assert backends.compile_mode(backend) == mode


@given(
    st.tuples(st.integers(0, 40), st.integers(1, 40)),
    st.sampled_from(["float32", "float64", "uint8"]),
)
def test_aligned_arrays_start_on_64_bytes(shape, dtype):
    a = backends.aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == np.dtype(dtype)
    assert a.flags.c_contiguous and a.flags.writeable
    if a.size:
        assert a.ctypes.data % 64 == 0


def test_as_aligned_copies_only_when_needed():
    X = backends.aligned_empty((6, 5), "float32")
    X[:] = 0.5
    assert backends.as_aligned(X) is X
    unaligned = np.zeros(6 * 5 + 1, dtype="float32")[1:].reshape(6, 5)
    assert unaligned.ctypes.data % 64 != 0
    copy = backends.as_aligned(unaligned)
    assert copy is not unaligned and copy.ctypes.data % 64 == 0
    np.testing.assert_array_equal(copy, unaligned)
    cast = backends.as_aligned(np.ones((3, 2), dtype=bool), "float32")
    assert cast.dtype == np.float32 and cast.sum() == 6


@needs_jax
def test_jax_updates_keep_float32_parameters_float32():
    # PyTensor 3.0.7's JAX sums returned float64 for Sum{acc=float64}; the
    # bias gradients are such sums, so b_h and b_v turned float64.
    ae = AutoEncoder(12, 4, seed=0)
    x = ae.input()
    mode = backends.compile_mode("jax")
    step = compile_train_step([x], ae.cost(x), ae.params, 0.1, mode=mode)
    step(np.ones((3, 12), dtype="float32"))
    assert {np.asarray(p.get_value()).dtype.name for p in ae.params} == {"float32"}


@needs_jax
def test_a_jax_mode_passed_straight_to_fit_trains_in_float32():
    # In a fresh process: the sum fix must come with mode="JAX" alone.
    code = (
        "import numpy as np\n"
        "from helpers.model import AutoEncoder\n"
        "from helpers.training import fit\n"
        "ae = AutoEncoder(12, 4, seed=0)\n"
        "X = np.random.default_rng(0).random((30, 12)) < 0.3\n"
        "fit(ae, X, X[:5], n_epochs=2, batch_size=4, mode='JAX', progress=False)\n"
        "print(sorted({str(np.asarray(p.get_value()).dtype) for p in ae.params}))\n"
    )
    assert run_python(code).split("\n")[-2] == "['float32']"


# ------------------------------------------------------------ ScanSteps


@pytest.mark.parametrize("carry_transposed", [False, True])
@pytest.mark.parametrize("backend", INSTALLED)
def test_scan_steps_equal_one_step_per_call(backend, carry_transposed, rows):
    order = np.random.default_rng(0).permutation(50)[:48].reshape(6, 8)
    ae = AutoEncoder(12, 5, seed=1, dtype="float64")
    steps = ScanSteps(
        ae.cost,
        ae.params,
        rows,
        0.5,
        backend=backend,
        carry_transposed=carry_transposed,
    )
    costs = steps.run(order)
    twin = AutoEncoder(12, 5, seed=1, dtype="float64")
    one = compile_indexed_step(twin.cost, twin.params, pytensor.shared(rows), 0.5)
    expected = [float(one(r)) for r in order]
    np.testing.assert_allclose(costs, expected, rtol=1e-12)
    for p, q in zip(ae.params, twin.params, strict=True):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-12)


@pytest.mark.parametrize("backend", INSTALLED)
def test_parameters_come_back_as_writable_numpy_arrays(backend, rows):
    ae = AutoEncoder(12, 5, seed=0)
    steps = ScanSteps(ae.cost, ae.params, rows.astype("float32"), backend=backend)
    # The loop's layout of W is the backend's choice; W comes back as it was.
    assert steps.carry_transposed == (backend in TRANSPOSED_CARRY_BACKENDS)
    steps.run(np.arange(10).reshape(2, 5))
    for p in ae.params:
        value = p.get_value(borrow=True)
        assert type(value) is np.ndarray and value.dtype == np.float32
    W = ae.get_values()["W"]
    assert W.shape == (12, 5) and W.flags.c_contiguous and W.flags.writeable
    assert steps.backend == backend


def test_transposed_w_comes_back_row_major_from_a_node_by_node_backend(rows):
    # The Python backend (like C) leaves the transposed loop value as a view.
    ae = AutoEncoder(12, 5, seed=0)
    X = rows.astype("float32")
    steps = ScanSteps(ae.cost, ae.params, X, mode="FAST_COMPILE", carry_transposed=True)
    steps.run(np.arange(10).reshape(2, 5))
    W = ae.W.get_value(borrow=True)
    assert W.shape == (12, 5) and W.flags.c_contiguous


@pytest.mark.parametrize("flag", ["false", 0, 1.0])
def test_carry_transposed_takes_only_a_bool_or_none(rows, flag):
    ae = AutoEncoder(12, 5, seed=0)
    with pytest.raises(TypeError, match="carry_transposed must be True, False or"):
        ScanSteps(ae.cost, ae.params, rows.astype("float32"), carry_transposed=flag)


@pytest.mark.parametrize("backend", INSTALLED)
def test_the_data_is_held_once_without_a_copy_when_aligned(backend):
    X = backends.aligned_empty((40, 12), "float32")
    X[:] = 1.0
    ae = AutoEncoder(12, 5, seed=0)
    steps = ScanSteps(ae.cost, ae.params, X, backend=backend)
    assert steps.X is X and steps.n_rows == 40
    assert steps._X_shared.get_value(borrow=True) is X
    steps.run(np.arange(40).reshape(4, 10))
    assert steps._X_shared.get_value(borrow=True) is X


MEMORY_PROBE = """
import numpy as np
from helpers import backends
from helpers.model import AutoEncoder
from helpers.steps import ScanSteps

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

X = backends.aligned_empty(({n_rows}, 784), "float32")
X[:] = (np.arange(784) % 7 == 0)
ae = AutoEncoder(784, 50, seed=0)
before = rss()
steps = ScanSteps(ae.cost, ae.params, X, batch_size=20, backend="{backend}")
steps.run(np.arange(2000).reshape(100, 20))
print(rss() - before, X.nbytes)
"""


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads /proc (Linux)"
)
@pytest.mark.parametrize("backend", INSTALLED)
def test_compiling_and_training_add_no_copy_of_the_data(backend):
    # Memory grows with compiling whatever the data; a copy of the rows
    # anywhere would add about one byte per byte of data on top. Compare
    # 2,000 rows with 42,000 (125 MB more).

    def growth(n_rows: int) -> tuple[int, int]:
        out = run_python(MEMORY_PROBE.format(backend=backend, n_rows=n_rows))
        grown, n_bytes = map(int, out.split()[-2:])
        return grown, n_bytes

    small, big = growth(2_000), growth(42_000)
    per_byte = (big[0] - small[0]) / (big[1] - small[1])
    assert per_byte < 0.5, f"memory grew by {per_byte:.2f} bytes per byte of data"


def test_the_training_split_is_held_without_a_copy(rows):
    from helpers.data import train_valid_split

    X_train, X_valid = train_valid_split(rows, 0.2, seed=0)
    assert X_train.ctypes.data % 64 == 0 and X_train.flags.c_contiguous
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    assert ScanSteps(ae.cost, ae.params, X_train, backend="numba").X is X_train


def test_steps_per_call_follow_the_batch_size(rows):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    assert ScanSteps(ae.cost, ae.params, rows, batch_size=20).steps_per_call == 102
    assert ScanSteps(ae.cost, ae.params, rows, batch_size=4096).steps_per_call == 1
    with pytest.raises(ValueError, match="steps per call must be at least 1"):
        ScanSteps(ae.cost, ae.params, rows, steps_per_call=0)


# ------------------------------------------------------------ the loop


@given(st.integers(1, 60), st.integers(1, 25), st.integers(1, 9))
def test_call_plan_covers_every_minibatch_once_in_order(n, batch, per_call):
    plan = call_plan(n, batch, per_call)
    slices = minibatch_slices(n, batch)
    assert [first for first, _, _ in plan] == sorted({f for f, _, _ in plan})
    covered = [i for first, stop, _ in plan for i in range(first, stop)]
    assert covered == list(range(len(slices)))
    for first, stop, rows in plan:
        assert rows.start == slices[first].start and rows.stop == slices[stop - 1].stop
        sizes = {s.stop - s.start for s in slices[first:stop]}
        assert len(sizes) == 1  # one call, one minibatch size
        assert first % per_call == 0 or first == n // batch


@pytest.mark.parametrize("backend", INSTALLED)
def test_fast_loop_matches_the_classic_loop(backend, rows):
    # float64: the scan graph and the one-step graph round alike to 1e-12.
    fast = AutoEncoder(12, 5, seed=2, dtype="float64")
    h_fast = fit(
        fast,
        rows,
        n_epochs=3,
        batch_size=7,
        steps_per_call=3,
        backend=backend,
        progress=False,
    )
    classic = AutoEncoder(12, 5, seed=2, dtype="float64")
    x = classic.input()
    step = compile_train_step([x], classic.cost(x), classic.params, 0.1)
    h_classic = train(step, rows, n_epochs=3, batch_size=7, progress=False)
    np.testing.assert_allclose(h_fast.train_cost, h_classic.train_cost, rtol=1e-12)
    np.testing.assert_allclose(
        fast.W.get_value(), classic.W.get_value(), rtol=1e-12, atol=1e-15
    )


class StopAfter:
    """``should_stop`` that says yes from its ``n``-th question on, like a flag."""

    def __init__(self, n: int):
        self.n, self.asked = n, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked >= self.n


@pytest.mark.parametrize("backend", INSTALLED)
def test_stop_between_calls_and_resume_bit_for_bit(backend, rows):
    X = rows.astype("float32")
    settings = dict(n_epochs=3, batch_size=4, steps_per_call=5, seed=4)
    settings.update(backend=backend, progress=False)
    whole = AutoEncoder(12, 5, seed=0)
    expected = fit(whole, X, **settings)

    parts = AutoEncoder(12, 5, seed=0)
    with pytest.raises(TrainingInterrupted) as stopped:
        fit(parts, X, should_stop=StopAfter(6), **settings)
    state = stopped.value.state
    # 13 minibatches per epoch in calls of 5, 5, 2 and the short one, then
    # one question at the epoch's end: the sixth question comes after the
    # first call of the second epoch.
    assert (state.epochs_done, state.batches_done) == (1, 5)
    history = fit(parts, X, resume=state, **settings)
    assert history.train_cost[-2:] == expected.train_cost[-2:]
    for p, q in zip(parts.params, whole.params, strict=True):
        np.testing.assert_array_equal(p.get_value(), q.get_value())


def test_resume_from_inside_a_call_finishes_that_call_first(rows):
    # A state saved by a loop with fewer steps per call (here, the classic
    # one) can stop anywhere; the fast loop continues from there.
    settings = dict(n_epochs=2, batch_size=4, seed=1, progress=False)
    whole = AutoEncoder(12, 5, seed=0, dtype="float64")
    expected = fit(whole, rows, steps_per_call=5, **settings)
    classic = AutoEncoder(12, 5, seed=0, dtype="float64")
    x = classic.input()
    step = compile_train_step([x], classic.cost(x), classic.params, 0.1)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(step, rows, should_stop=StopAfter(3), **settings)
    assert stopped.value.state.batches_done == 3
    calls = []
    steps_run = ScanSteps.run

    def spy(self, order):
        calls.append(len(order))
        return steps_run(self, order)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ScanSteps, "run", spy)
        history = fit(
            classic, rows, steps_per_call=5, resume=stopped.value.state, **settings
        )
    assert calls[:3] == [2, 5, 2]  # up to minibatch 5, then on the boundaries
    np.testing.assert_allclose(history.train_cost, expected.train_cost, rtol=1e-12)


def test_divergence_names_the_minibatch_inside_a_call(rows):
    ae = AutoEncoder(12, 5, seed=0)
    with pytest.raises(DivergenceError) as error:
        fit(
            ae,
            rows.astype("float32"),
            learning_rate=1e38,
            batch_size=5,
            steps_per_call=10,
            backend="numba",
            progress=False,
        )
    # The first step's cost comes before any update, so it is finite; the
    # step of 1e38 makes the next one overflow, in the middle of the call.
    assert (error.value.epoch, error.value.batch) == (1, 2)
    assert not np.isfinite(error.value.cost)


def test_train_refuses_an_empty_set(rows):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    x = ae.input()
    step = compile_train_step([x], ae.cost(x), ae.params, 0.1)
    with pytest.raises(ValueError, match="no rows to train on"):
        train(step, rows[:0], n_epochs=1, progress=False)


def test_train_refuses_other_rows_than_the_steps_hold(rows):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    steps = ScanSteps(ae.cost, ae.params, rows, backend="numba")
    with pytest.raises(ValueError, match="hold 50 rows of data but X has 10"):
        train(steps, rows[:10], n_epochs=1, progress=False)


def test_train_refuses_other_data_of_the_same_size(rows):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    steps = ScanSteps(ae.cost, ae.params, rows, backend="numba")
    other = 1.0 - rows
    with pytest.raises(ValueError, match="X differs from the data the steps hold"):
        train(steps, other, n_epochs=1, progress=False)
    # An equal copy is the same data: it trains.
    history = train(steps, rows.copy(), n_epochs=1, batch_size=10, progress=False)
    assert len(history.train_cost) == 1


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("bad", [[[0, 50]], [[-1, 3]], [[49, 10**9]]])
def test_scan_steps_refuse_row_numbers_outside_the_data(backend, rows, bad):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    steps = ScanSteps(ae.cost, ae.params, rows, backend=backend)
    before = ae.get_values()
    with pytest.raises(IndexError, match="the held data has rows 0 to 49"):
        steps.run(np.array(bad))
    for name, value in ae.get_values().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("bad", [np.array([0, 1, 2]), np.array([[0.0, 1.0]])])
def test_scan_steps_want_a_matrix_of_integer_row_numbers(rows, bad):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    steps = ScanSteps(ae.cost, ae.params, rows, backend="numba")
    with pytest.raises(TypeError, match="rows must be a 2-D integer array"):
        steps.run(bad)


def test_scan_steps_refuse_data_of_another_dtype(rows):
    ae = AutoEncoder(12, 5, seed=0, dtype="float32")
    with pytest.raises(TypeError, match=r"X is float64 but the parameters are float32"):
        ScanSteps(ae.cost, ae.params, rows, backend="numba")


@needs_jax
def test_a_mode_decides_the_backend_the_steps_report(monkeypatch, rows):
    monkeypatch.setenv(backends.ENV_VAR, "numba")
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    steps = ScanSteps(ae.cost, ae.params, rows, backend="numba", mode="JAX")
    assert steps.backend == "jax"
    assert type(steps._steps.maker.linker).__name__ == "JAXLinker"
    assert ScanSteps(ae.cost, ae.params, rows, mode="NUMBA").backend == "numba"


@pytest.mark.parametrize(
    "batch_size, error, message",
    [(0, ValueError, "at least 1, got 0"), (-5, ValueError, "at least 1, got -5")]
    + [(2.5, TypeError, "whole number, got 2.5"), (True, TypeError, "whole number")],
)
def test_fit_checks_the_batch_size_first(rows, batch_size, error, message):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    with pytest.raises(error, match=message):
        fit(ae, rows, batch_size=batch_size, progress=False)


def test_a_stop_at_the_end_of_an_epoch_says_so():
    from helpers.training import LoopState

    state = LoopState(2, 0, 0.0, {})
    assert str(TrainingInterrupted(state)) == "training stopped after epoch 2"
    state = LoopState(2, 7, 1.0, {})
    assert str(TrainingInterrupted(state)) == (
        "training stopped after minibatch 7 of epoch 3"
    )


def test_an_epoch_is_saved_before_it_is_reported(rows):
    ae = AutoEncoder(12, 5, seed=0, dtype="float64")
    steps = ScanSteps(ae.cost, ae.params, rows, backend="numba")
    calls = []
    train(
        steps,
        steps.X,
        n_epochs=2,
        batch_size=10,
        progress=False,
        on_epoch=lambda epoch, history: calls.append(("reported", epoch)),
        on_checkpoint=lambda state, history: calls.append(("saved", state.epochs_done)),
    )
    assert calls == [("saved", 1), ("reported", 1), ("saved", 2), ("reported", 2)]
