"""helpers.speed: the NumPy baseline, the timer and the compute bound."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import speed
from helpers.params import init_params


def test_flop_per_sample_counts_five_matrix_products():
    assert speed.flop_per_sample(784, 500) == 5 * 2 * 784 * 500
    assert speed.FLOP_PER_SAMPLE == 3_920_000
    assert speed.flop_per_sample(10, 3) == 300


def test_numpy_step_returns_the_cost_and_takes_the_hand_derived_gradient_step(
    binary_rows, reference
):
    params = init_params(12, 5, seed=3, dtype="float64")
    before = {k: v.copy() for k, v in params.items()}
    step = speed.numpy_sgd_step(params, learning_rate=0.25)
    x = binary_rows[:10]
    cost = step(x)
    assert cost == pytest.approx(reference.cost(before, x), rel=1e-12)
    grads = reference.grads(before, x)
    for name in ("W", "b_h", "b_v"):
        np.testing.assert_allclose(
            params[name], before[name] - 0.25 * grads[name], rtol=1e-12, atol=1e-14
        )


def test_numpy_step_matches_the_compiled_pytensor_step(binary_rows):
    from helpers.model import AutoEncoder
    from helpers.training import compile_train_step

    params = init_params(12, 5, seed=4, dtype="float64")
    ae = AutoEncoder(values=params, dtype="float64")
    x = ae.input()
    compiled = compile_train_step([x], ae.cost(x), ae.params, 0.1)
    mine = {k: v.copy() for k, v in params.items()}
    by_hand = speed.numpy_sgd_step(mine, 0.1)
    for start in range(0, 40, 8):
        rows = binary_rows[start : start + 8]
        assert by_hand(rows) == pytest.approx(float(compiled(rows)), rel=1e-12)
    for p in ae.params:
        np.testing.assert_allclose(mine[p.name], p.get_value(), rtol=1e-10)


def test_numpy_step_keeps_float32_parameters_float32(binary_rows):
    params = init_params(12, 5, seed=0, dtype="float32")
    step = speed.numpy_sgd_step(params)
    step(binary_rows[:4].astype("float32"))
    assert {str(v.dtype) for v in params.values()} == {"float32"}


def test_samples_per_second_takes_the_median_after_an_untimed_warm_up(monkeypatch):
    durations = iter([100.0, 1.0, 4.0, 2.0])  # warm-up, then three timed runs
    clock = [0.0]
    monkeypatch.setattr(speed.time, "perf_counter", lambda: clock[0])

    def run():
        clock[0] += next(durations)

    assert speed.samples_per_second(run, 1000, repeats=3) == 1000 / 2.0
    with pytest.raises(StopIteration):
        run()  # exactly four calls were made


def test_samples_per_second_without_warm_up_times_every_call(monkeypatch):
    calls = []
    clock = [0.0]
    monkeypatch.setattr(speed.time, "perf_counter", lambda: clock[0])

    def run():
        calls.append(1)
        clock[0] += 0.5

    assert speed.samples_per_second(run, 10, repeats=1, warm_up=False) == 20.0
    assert len(calls) == 1


def test_compute_bound_keeps_the_fastest_engine(monkeypatch):
    measured = {"numpy": 100.0, "jax": 250.0, "torch": 200.0}
    monkeypatch.setattr(
        speed, "matmul_gflops", lambda dtype, n=2000, engine="numpy": measured[engine]
    )
    bound = speed.compute_bound("float32", engines=tuple(measured))
    assert bound.engine == "jax"
    assert bound.gflops == measured
    assert bound.samples_per_second == pytest.approx(250e9 / speed.FLOP_PER_SAMPLE)


@pytest.mark.parametrize("engine", speed.matmul_engines())
def test_every_installed_engine_multiplies_matrices(engine):
    assert speed.matmul_gflops("float32", n=128, repeats=1, engine=engine) > 0


def test_matmul_gflops_refuses_an_unknown_engine():
    with pytest.raises(ValueError, match="unknown engine 'gpu'"):
        speed.matmul_gflops(n=8, engine="gpu")
