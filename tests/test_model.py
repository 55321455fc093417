"""Tests of :mod:`helpers.model`: costs, conventions, gradients, the model API.

Functions compiled with PyTensor's default mode (Numba) are few and built
once per module; side checks use ``FAST_COMPILE``, which applies no
stabilizing rewrites and compiles in a fraction of a second.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import GradientError, disconnected_grad, verify_grad
from pytensor.graph.replace import clone_replace

from helpers.model import (
    CONVENTIONS,
    AutoEncoder,
    cross_entropy_from_logits,
    describe_cost,
    naive_cross_entropy,
    reduce_cost,
    squared_error,
)
from helpers.params import init_params
from helpers.training import compile_gradient

FAST = "FAST_COMPILE"

# Targets and logits far beyond where sigmoid(z) rounds to exactly 0 or 1.
EXTREME_X = np.array([[1.0, 0.0, 1.0, 0.0, 0.5], [0.0, 1.0, 0.25, 1.0, 1.0]])
EXTREME_Z = np.array([[-800.0, 800.0, 40.0, -60.0, 3.0], [0.0, -1e4, 2.0, 90.0, -5.0]])


def _softplus_cost(x, z):
    """Elementwise ``log(1 + exp(z)) - x z`` with NumPy's stable logaddexp."""
    return np.logaddexp(0.0, z) - x * z


def _naive_numpy(x, z):
    x_hat = 1.0 / (1.0 + np.exp(-z))
    return -x * np.log(x_hat) - (1 - x) * np.log(1 - x_hat)


@pytest.fixture(scope="module")
def grey_rows():
    """8 rows of 12 targets in [0, 1], grey levels included (float64)."""
    rng = np.random.default_rng(7)
    X = rng.random((8, 12))
    X[:4] = X[:4] < 0.3
    return X


@pytest.fixture(scope="module")
def compiled64():
    """A float64 12x5 model with its two costs and its gradient compiled."""
    ae = AutoEncoder(12, 5, seed=3, dtype="float64")
    x = ae.input()
    costs = pytensor.function(
        [x], [ae.cost(x, convention=c) for c in ("per_example", "per_element")]
    )
    grad = compile_gradient([x], ae.cost(x), ae.params)
    return SimpleNamespace(ae=ae, x=x, costs=costs, grad=grad)


# --- numerical stability -----------------------------------------------------------


def test_numpy_naive_formula_breaks_where_logits_do_not():
    with np.errstate(all="ignore"):
        naive = _naive_numpy(EXTREME_X, EXTREME_Z)
    stable = _softplus_cost(EXTREME_X, EXTREME_Z)
    assert not np.isfinite(naive).all()
    assert np.isfinite(stable).all()
    # Where sigmoid(z) has not rounded, the two agree.
    ok = np.isfinite(naive)
    np.testing.assert_allclose(naive[ok], stable[ok], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "safe", "unsafe"), [("float32", 15.0, 20.0), ("float64", 30.0, 40.0)]
)
def test_where_the_naive_formula_starts_failing(dtype, safe, unsafe):
    # The model's docstring: log(0) once |z| exceeds ~17 (float32), ~37 (float64).
    x = np.zeros((1, 1), dtype)
    with np.errstate(all="ignore"):
        assert np.isfinite(_naive_numpy(x, np.full((1, 1), safe, dtype))).all()
        assert not np.isfinite(_naive_numpy(x, np.full((1, 1), unsafe, dtype))).all()


def test_compiled_cross_entropy_from_logits_is_finite_and_right():
    x, z = pt.matrix("x"), pt.matrix("z")
    f = pytensor.function([x, z], cross_entropy_from_logits(x, z))
    expected = _softplus_cost(EXTREME_X, EXTREME_Z).sum(axis=1).mean()
    value = float(f(EXTREME_X, EXTREME_Z))
    assert math.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_from_logits_float32_without_rewrites():
    x, z = pt.matrix("x", dtype="float32"), pt.matrix("z", dtype="float32")
    f = pytensor.function([x, z], cross_entropy_from_logits(x, z), mode=FAST)
    value = float(f(EXTREME_X.astype("f4"), EXTREME_Z.astype("f4")))
    expected = _softplus_cost(EXTREME_X, EXTREME_Z).sum(axis=1).mean()
    assert value == pytest.approx(expected, rel=1e-6)


def test_compiled_naive_formula_without_rewrites_is_not_finite():
    x, z = pt.matrix("x"), pt.matrix("z")
    f = pytensor.function([x, z], naive_cross_entropy(x, pt.sigmoid(z)), mode=FAST)
    assert not math.isfinite(float(f(EXTREME_X, EXTREME_Z)))
    # Confident and wrong: -1 * log(0) is inf, where the true cost is 800 each.
    assert float(f([[1.0, 0.0]], [[-800.0, 800.0]])) == math.inf
    # Confident and right: 0 * log(0) is nan, where the true cost is 0.
    assert math.isnan(float(f([[1.0, 0.0]], [[800.0, -800.0]])))
    # With moderate logits it is the same cost as the stable form.
    moderate = np.clip(EXTREME_Z, -5, 5)
    expected = _softplus_cost(EXTREME_X, moderate).sum(axis=1).mean()
    assert float(f(EXTREME_X, moderate)) == pytest.approx(expected, rel=1e-12)


def test_naive_formula_on_a_given_reconstruction_is_infinite():
    x, x_hat = pt.matrix("x"), pt.matrix("x_hat")
    f = pytensor.function([x, x_hat], naive_cross_entropy(x, x_hat), mode=FAST)
    with np.errstate(all="ignore"):
        x_hat_values = 1.0 / (1.0 + np.exp(-EXTREME_Z))
    assert x_hat_values.min() == 0.0
    assert x_hat_values.max() == 1.0
    assert not math.isfinite(float(f(EXTREME_X, x_hat_values)))


def test_default_mode_rewrites_the_naive_formula_when_it_sees_the_sigmoid():
    # PyTensor's stabilizing rewrites turn log(sigmoid(z)) into -softplus(-z),
    # as naive_cross_entropy's docstring says; this records that they do.
    x, z = pt.matrix("x"), pt.matrix("z")
    f = pytensor.function([x, z], naive_cross_entropy(x, pt.sigmoid(z)))
    expected = _softplus_cost(EXTREME_X, EXTREME_Z).sum(axis=1).mean()
    assert float(f(EXTREME_X, EXTREME_Z)) == pytest.approx(expected, rel=1e-9)


# --- the two cost conventions ---------------------------------------------------------


def test_conventions_against_numpy(compiled64, grey_rows, reference):
    per_example, per_element = (float(c) for c in compiled64.costs(grey_rows))
    values = compiled64.ae.get_values()
    L = reference.elementwise_cost(values, grey_rows)
    assert per_example == pytest.approx(L.sum(axis=1).mean(), rel=1e-12)
    assert per_element == pytest.approx(L.mean(), rel=1e-12)
    assert per_element == pytest.approx(per_example / 12, rel=1e-12)


def test_reduce_cost_conventions_directly():
    m = pt.matrix("m")
    values = np.arange(12.0).reshape(3, 4)
    per_example = reduce_cost(m, "per_example").eval({m: values}, mode=FAST)
    per_element = reduce_cost(m, "per_element").eval({m: values}, mode=FAST)
    assert float(per_example) == pytest.approx(values.sum() / 3)
    assert float(per_element) == pytest.approx(values.sum() / 12)
    assert CONVENTIONS == ("per_example", "per_element")


@pytest.mark.parametrize("convention", ["per_row", "sum", None])
def test_unknown_convention(convention):
    with pytest.raises(ValueError, match="unknown cost convention"):
        reduce_cost(pt.matrix("m"), convention)


def test_unknown_cost():
    ae = AutoEncoder(4, 2)
    with pytest.raises(ValueError, match="unknown cost 'hinge'"):
        ae.cost(ae.input(), cost="hinge")


def test_describe_cost():
    per_example = describe_cost("cross_entropy", "per_example", 12)
    per_element = describe_cost("squared_error", "per_element", 12)
    assert per_example.startswith("cross-entropy per example")
    assert "summed over 12 inputs" in per_example
    assert per_element.startswith("squared-error per element")
    assert "12 inputs" in per_element


# --- gradients ------------------------------------------------------------------------


def test_gradient_matches_hand_derived_numpy(compiled64, grey_rows, reference):
    grads = compiled64.grad(grey_rows)
    expected = reference.grads(compiled64.ae.get_values(), grey_rows)
    for p, g in zip(compiled64.ae.params, grads, strict=True):
        assert g.shape == p.get_value().shape
        np.testing.assert_allclose(g, expected[p.name], rtol=1e-9, atol=1e-12)


def test_gradient_matches_central_differences(compiled64, grey_rows):
    ae, eps = compiled64.ae, 1e-6
    start = ae.get_values()
    grads = dict(zip(("W", "b_h", "b_v"), compiled64.grad(grey_rows), strict=True))
    try:
        for name, value in start.items():
            numeric = np.zeros_like(value)
            for i in np.ndindex(value.shape):
                moved = {k: v.copy() for k, v in start.items()}
                moved[name][i] += eps
                ae.set_values(moved)
                up = float(compiled64.costs(grey_rows)[0])
                moved[name][i] -= 2 * eps
                ae.set_values(moved)
                down = float(compiled64.costs(grey_rows)[0])
                numeric[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8)
    finally:
        ae.set_values(start)


def test_reference_gradient_is_itself_right(grey_rows, reference):
    # The hand-derived gradient against central differences of its own cost,
    # so that the comparisons above rest on a checked reference.
    values = init_params(12, 5, seed=11, dtype="float64")
    rng = np.random.default_rng(0)
    values = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in values.items()}
    for convention in CONVENTIONS:
        grads = reference.grads(values, grey_rows, convention)
        for name in ("b_v", "W"):
            for i in list(np.ndindex(values[name].shape))[:20]:
                up = {k: v.copy() for k, v in values.items()}
                down = {k: v.copy() for k, v in values.items()}
                up[name][i] += 1e-6
                down[name][i] -= 1e-6
                numeric = (
                    reference.cost(up, grey_rows, convention)
                    - reference.cost(down, grey_rows, convention)
                ) / 2e-6
                assert grads[name][i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_per_element_gradient_is_per_example_over_n_visible(grey_rows, reference):
    ae = AutoEncoder(12, 5, seed=3, dtype="float64")
    x = ae.input()
    g_ex = compile_gradient([x], ae.cost(x), ae.params, mode=FAST)(grey_rows)
    g_el = compile_gradient(
        [x], ae.cost(x, convention="per_element"), ae.params, mode=FAST
    )(grey_rows)
    expected = reference.grads(ae.get_values(), grey_rows, "per_element")
    for p, a, b in zip(ae.params, g_ex, g_el, strict=True):
        np.testing.assert_allclose(b, a / 12, rtol=1e-12)
        np.testing.assert_allclose(b, expected[p.name], rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_verify_grad_on_the_model_cost(grey_rows, convention):
    ae = AutoEncoder(12, 5, seed=5, dtype="float64")
    x = ae.input()
    graph = ae.cost(x, convention=convention)

    def cost_of(W, b_h, b_v):
        replace = {ae.W: W, ae.b_h: b_h, ae.b_v: b_v, x: pt.constant(grey_rows)}
        return clone_replace(graph, replace=replace)

    values = ae.get_values()
    verify_grad(
        cost_of,
        [values["W"], values["b_h"] + 0.1, values["b_v"] - 0.2],
        rng=np.random.default_rng(1),
        mode=FAST,
    )


def test_verify_grad_catches_a_wrong_gradient(grey_rows):
    # The check above can fail: a cost whose symbolic gradient is half the
    # true one (half of z is hidden from grad) is refused.
    def half_hidden(z):
        z_same = 0.5 * disconnected_grad(z) + 0.5 * z
        return cross_entropy_from_logits(pt.constant(grey_rows), z_same)

    z = np.linspace(-3, 3, 96).reshape(8, 12)
    with pytest.raises(GradientError):
        verify_grad(half_hidden, [z], rng=np.random.default_rng(1), mode=FAST)


def test_verify_grad_on_logits_and_targets(grey_rows):
    z = np.random.default_rng(4).normal(0, 3, grey_rows.shape)
    verify_grad(
        cross_entropy_from_logits,
        [np.clip(grey_rows, 0.05, 0.95), z],
        rng=np.random.default_rng(2),
        mode=FAST,
    )


# --- the AutoEncoder class ----------------------------------------------------------


def test_defaults_are_the_classic_tutorial():
    ae = AutoEncoder()
    assert (ae.n_visible, ae.n_hidden, ae.dtype) == (784, 500, "float32")
    values = ae.get_values()
    expected = init_params(784, 500, seed=0)
    for name, value in values.items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, expected[name])
    assert np.abs(values["W"]).max() <= 4 * math.sqrt(6 / (784 + 500))
    np.testing.assert_array_equal(values["b_h"], 0.0)
    np.testing.assert_array_equal(values["b_v"], 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameters_and_input_have_the_model_dtype(dtype):
    ae = AutoEncoder(12, 5, dtype=dtype)
    assert [p.name for p in ae.params] == ["W", "b_h", "b_v"]
    assert {p.type.dtype for p in ae.params} == {dtype}
    assert ae.input().type.dtype == dtype
    assert ae.input().ndim == 2
    assert ae.cost(ae.input()).type.dtype == dtype


def test_reconstruction_matches_numpy(binary_rows, reference):
    ae = AutoEncoder(12, 5, seed=8)
    x = ae.input()
    hidden, recon = pytensor.function([x], [ae.hidden(x), ae.reconstruct(x)])(
        binary_rows.astype(np.float32)
    )
    _, H, Z = reference.forward(ae.get_values(), binary_rows)
    assert hidden.shape == (40, 5)
    assert recon.dtype == np.float32
    np.testing.assert_allclose(hidden, H, rtol=1e-5)
    np.testing.assert_allclose(recon, reference.sigmoid(Z), rtol=1e-5)


def test_denoising_target_and_squared_error(binary_rows, reference):
    ae = AutoEncoder(12, 5, seed=8, dtype="float64")
    x, target = ae.input("x"), ae.input("target")
    f = pytensor.function(
        [x, target],
        [ae.cost(x, target), ae.cost(x, target, cost="squared_error")],
        mode=FAST,
    )
    noisy = binary_rows * (np.arange(12) % 3 != 0)  # every third input dropped
    cross_entropy, squared = f(noisy, binary_rows)
    _, _, Z = reference.forward(ae.get_values(), noisy)
    X_hat = reference.sigmoid(Z)
    with np.errstate(all="raise"):
        L = -binary_rows * np.log(X_hat) - (1 - binary_rows) * np.log(1 - X_hat)
    assert float(cross_entropy) == pytest.approx(L.sum(axis=1).mean(), rel=1e-12)
    expected = ((binary_rows - X_hat) ** 2).sum(axis=1).mean()
    assert float(squared) == pytest.approx(expected, rel=1e-12)


def test_squared_error_per_element():
    x, y = pt.matrix("x"), pt.matrix("y")
    a, b = np.zeros((2, 3)), np.array([[1.0, 0.0, 0.5], [0.0, 0.5, 0.0]])
    value = squared_error(x, y, "per_element").eval({x: a, y: b}, mode=FAST)
    assert float(value) == pytest.approx((1 + 0.25 + 0.25) / 6)


def test_get_values_returns_copies():
    ae = AutoEncoder(12, 5, seed=1)
    values = ae.get_values()
    values["W"][:] = 0.0
    assert np.abs(ae.W.get_value()).max() > 0


def test_values_are_copied_and_cast():
    start = init_params(12, 5, seed=2, dtype="float64")
    ae = AutoEncoder(values=start, dtype="float32")
    assert (ae.n_visible, ae.n_hidden) == (12, 5)
    assert ae.W.get_value().dtype == np.float32
    np.testing.assert_allclose(ae.W.get_value(), start["W"], rtol=1e-7)
    start["W"][:] = 7.0
    assert ae.W.get_value().max() < 7.0


def test_set_values_round_trip_and_cast():
    ae = AutoEncoder(12, 5, seed=1)
    new = init_params(12, 5, seed=99, dtype="float64")
    ae.set_values(new)
    for name, value in ae.get_values().items():
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, new[name], rtol=1e-7)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda v: v.pop("b_v"), "lack ['b_v']"),
        (lambda v: v.update(b_h=np.zeros(4)), "shapes disagree"),
        (lambda v: v.update(W=np.zeros(60)), "shapes disagree"),
        (
            lambda v: v.update(W=np.zeros((6, 10)), b_h=np.zeros(10), b_v=np.zeros(6)),
            "this model needs (12, 5)",
        ),
    ],
    ids=["missing", "bias-shape", "flat-W", "other-model"],
)
def test_set_values_refuses(change, fragment):
    ae = AutoEncoder(12, 5, seed=1)
    before = ae.get_values()
    values = init_params(12, 5)
    change(values)
    with pytest.raises(ValueError) as info:
        ae.set_values(values)
    assert fragment in str(info.value)
    np.testing.assert_array_equal(ae.W.get_value(), before["W"])
