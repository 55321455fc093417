"""Tests of the finite-difference gradient checks."""

import numpy as np
import pytest

from helpers.gradcheck import (
    numerical_gradient,
    numerical_gradients,
    relative_error,
    verdict,
)


def test_numerical_gradient_of_a_quadratic_form():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    x = rng.normal(size=4)
    g = numerical_gradient(lambda v: v @ A @ v, x)
    assert relative_error(g, (A + A.T) @ x) < 1e-9


def test_numerical_gradient_keeps_shape_and_leaves_input_alone():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    before = x.copy()
    g = numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    assert g.shape == (2, 3)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(g, np.cos(x), atol=1e-8)


def test_numerical_gradient_of_a_scalar_argument():
    g = numerical_gradient(lambda v: float(v) ** 3, np.float64(2.0))
    assert g.shape == ()
    assert g == pytest.approx(12.0, rel=1e-8)


@pytest.mark.parametrize("eps", [0.0, -1e-6, np.inf, np.nan])
def test_numerical_gradient_rejects_a_bad_step(eps):
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(np.sum, np.ones(2), eps)


def test_numerical_gradients_differentiates_each_named_array():
    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    x = rng.normal(size=(5, 3))

    def f(p):
        return np.sum(np.tanh(x @ p["W"] + p["b"]))

    grads = numerical_gradients(f, params)
    d = 1.0 - np.tanh(x @ params["W"] + params["b"]) ** 2
    assert set(grads) == {"W", "b"}
    assert relative_error(grads["W"], x.T @ d) < 1e-8
    assert relative_error(grads["b"], d.sum(axis=0)) < 1e-8


def test_numerical_gradients_does_not_modify_the_parameters():
    params = {"w": np.array([1.0, 2.0])}
    numerical_gradients(lambda p: np.sum(p["w"] ** 2), params)
    np.testing.assert_array_equal(params["w"], [1.0, 2.0])


def test_relative_error_is_symmetric_and_bounded():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    assert relative_error(a, b) == pytest.approx(relative_error(b, a))
    assert 0.0 <= relative_error(a, b) <= 1.0
    assert relative_error(a, -a) == pytest.approx(1.0)


def test_relative_error_of_zeros_is_zero():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_relative_error_sees_a_small_slip():
    a = np.ones(100)
    b = a.copy()
    b[0] = 0.0
    assert relative_error(a, b) > 1e-3


def test_relative_error_rejects_different_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.ones(3), np.ones(4))


def test_verdict_depends_only_on_the_side_of_the_tolerance():
    assert verdict(1e-9) == verdict(5e-7) == "agree (relative error below 1e-06)"
    assert verdict(0.25) == "DISAGREE (relative error 0.25)"
    assert verdict(0.01, tol=0.1).startswith("agree")
    assert verdict(float("nan")).startswith("DISAGREE")
