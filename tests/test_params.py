"""Tests of :mod:`helpers.params`: seeded initial parameters."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from helpers.params import INIT_SCHEMES, init_params, uniform_bound


@pytest.mark.parametrize(("n_visible", "n_hidden"), [(784, 500), (12, 5), (1, 1)])
def test_uniform_bounds(n_visible, n_hidden):
    glorot = math.sqrt(6.0 / (n_visible + n_hidden))
    assert uniform_bound(n_visible, n_hidden, "tanh_uniform") == pytest.approx(glorot)
    assert uniform_bound(n_visible, n_hidden) == pytest.approx(4 * glorot)


def test_uniform_bound_of_other_schemes_is_an_error():
    with pytest.raises(ValueError, match="normal"):
        uniform_bound(10, 10, "normal")


def test_defaults_are_the_classic_tutorial():
    defaults = {
        name: p.default for name, p in inspect.signature(init_params).parameters.items()
    }
    assert defaults["dtype"] == "float32"
    assert defaults["scheme"] == "sigmoid_uniform"
    p = init_params(784, 500)
    assert p["W"].shape == (784, 500)
    assert p["b_h"].shape == (500,)
    assert p["b_v"].shape == (784,)
    assert {v.dtype for v in p.values()} == {np.dtype(np.float32)}
    np.testing.assert_array_equal(p["b_h"], 0.0)
    np.testing.assert_array_equal(p["b_v"], 0.0)
    bound = 4 * math.sqrt(6.0 / (784 + 500))
    assert np.abs(p["W"]).max() <= bound
    # 392,000 uniform draws fill the interval: the extremes come within 0.1 %.
    assert p["W"].max() > 0.999 * bound
    assert p["W"].min() < -0.999 * bound
    assert abs(float(p["W"].mean())) < 0.01 * bound


def test_uniform_weights_look_uniform():
    W = init_params(300, 200, seed=3, dtype="float64")["W"]
    a = 4 * math.sqrt(6.0 / 500)
    # The variance of U(-a, a) is a**2 / 3; each decile holds a tenth.
    assert W.var() == pytest.approx(a**2 / 3, rel=0.02)
    counts, _ = np.histogram(W, bins=10, range=(-a, a))
    np.testing.assert_allclose(counts / W.size, 0.1, atol=0.005)


def test_tanh_and_normal_and_zeros_schemes():
    tanh = init_params(50, 30, scheme="tanh_uniform", dtype="float64")["W"]
    assert np.abs(tanh).max() <= math.sqrt(6.0 / 80)
    assert np.abs(tanh).max() > 0.9 * math.sqrt(6.0 / 80)
    normal = init_params(300, 200, scheme="normal", dtype="float64")["W"]
    assert normal.std() == pytest.approx(0.01, rel=0.02)
    zeros = init_params(5, 3, scheme="zeros")
    for value in zeros.values():
        np.testing.assert_array_equal(value, 0.0)
    assert set(INIT_SCHEMES) == {"sigmoid_uniform", "tanh_uniform", "normal", "zeros"}


def test_same_seed_same_arrays_other_seed_other_arrays():
    first, again = init_params(12, 5, seed=4), init_params(12, 5, seed=4)
    other = init_params(12, 5, seed=5)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["W"], other["W"])


def test_generator_as_seed():
    from_int = init_params(12, 5, seed=9)
    from_gen = init_params(12, 5, seed=np.random.default_rng(9))
    np.testing.assert_array_equal(from_int["W"], from_gen["W"])


def test_float64_is_the_float32_draw_unrounded():
    p32 = init_params(12, 5, seed=2, dtype="float32")
    p64 = init_params(12, 5, seed=2, dtype="float64")
    assert p64["W"].dtype == np.float64
    np.testing.assert_array_equal(p32["W"], p64["W"].astype(np.float32))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_visible": 0, "n_hidden": 5}, "n_visible=0"),
        ({"n_visible": 4, "n_hidden": 0}, "n_hidden=0"),
        ({"n_visible": 4, "n_hidden": 2, "dtype": "float16"}, "float16"),
        ({"n_visible": 4, "n_hidden": 2, "dtype": "int32"}, "int32"),
        ({"n_visible": 4, "n_hidden": 2, "scheme": "he"}, "'he'"),
    ],
)
def test_init_params_refuses(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        init_params(**kwargs)
    assert fragment in str(info.value)
