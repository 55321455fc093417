"""Tests of the cost variants: penalties, masking noise, the shared SGD step."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from helpers.model import AutoEncoder
from helpers.training import compile_cost, compile_train_step, train
from helpers.variants import (
    compile_step,
    kl_sparsity,
    l1_sparsity,
    masking_noise,
    train_variant,
    weight_decay,
)

N_VISIBLE, N_HIDDEN = 12, 5


def _binary(n_rows, seed=0, p=0.3):
    rng = np.random.default_rng(seed)
    return (rng.random((n_rows, N_VISIBLE)) < p).astype("float32")


def _denoising_step(seed=1, corruption_level=0.3):
    """A denoising training step, and what it needs to inspect and replay it."""
    ae = AutoEncoder(N_VISIBLE, N_HIDDEN, seed=0)
    x = ae.input()
    noise_rng = pt.random.shared_rng(seed=seed, name="noise_rng")
    next_rng, x_tilde = masking_noise(noise_rng, x, corruption_level)
    cost = ae.cost(x_tilde, target=x)
    step = compile_step([x], cost, ae.params, 0.1, updates={noise_rng: next_rng})
    return ae, noise_rng, step


# --- penalties -------------------------------------------------------------


def test_weight_decay_value_and_gradient():
    W = pytensor.shared(np.array([[1.0, -2.0], [0.5, 0.0]], dtype="float32"))
    penalty = weight_decay(W, 0.1)
    assert float(penalty.eval()) == pytest.approx(0.1 * (1 + 4 + 0.25))
    grad = pytensor.grad(penalty, W).eval()
    np.testing.assert_allclose(grad, 2 * 0.1 * W.get_value(), rtol=1e-6)
    assert penalty.dtype == "float32"


def test_weight_decay_refuses_a_negative_weight():
    with pytest.raises(ValueError, match=">= 0"):
        weight_decay(pt.matrix("W"), -1.0)


def test_kl_sparsity_is_zero_at_the_target_and_positive_elsewhere():
    h = pt.matrix("h", dtype="float32")
    at_target = np.full((4, 3), 0.05, dtype="float32")
    assert float(kl_sparsity(h, 0.05).eval({h: at_target})) == pytest.approx(
        0.0, abs=1e-6
    )
    busy = np.full((4, 3), 0.5, dtype="float32")
    assert float(kl_sparsity(h, 0.05).eval({h: busy})) > 0.5


@pytest.mark.parametrize("penalty", [kl_sparsity, l1_sparsity])
def test_sparsity_penalties_keep_the_dtype_of_h(penalty):
    for dtype in ("float32", "float64"):
        assert penalty(pt.matrix("h", dtype=dtype)).dtype == dtype


def test_kl_sparsity_stays_finite_when_units_saturate():
    h = pt.matrix("h", dtype="float32")
    penalty = kl_sparsity(h, 0.05)
    for value in (0.0, 1.0):
        saturated = np.full((4, 3), value, dtype="float32")
        assert np.isfinite(float(penalty.eval({h: saturated})))


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, 1.5])
def test_kl_sparsity_refuses_a_target_outside_0_1(rho):
    with pytest.raises(ValueError, match="rho"):
        kl_sparsity(pt.matrix("h"), rho)


def test_l1_sparsity_sums_units_and_averages_examples():
    h = pt.matrix("h")
    value = l1_sparsity(h).eval({h: [[0.25, 0.75], [1.0, 1.0]]})
    assert float(value) == pytest.approx((1.0 + 2.0) / 2)


# --- masking noise -----------------------------------------------------------


def test_masking_noise_zeroes_about_the_corruption_level():
    noise_rng = pt.random.shared_rng(seed=3)
    x = pt.matrix("x", dtype="float32")
    next_rng, x_tilde = masking_noise(noise_rng, x, 0.3)
    assert x_tilde.dtype == "float32"
    corrupt = pytensor.function([x], x_tilde, updates={noise_rng: next_rng})
    data = np.random.default_rng(0).random((200, 784)).astype("float32")
    out = corrupt(data)
    kept = out != 0
    assert out.dtype == np.float32
    assert abs((~kept).mean() - 0.3) < 0.01
    np.testing.assert_array_equal(out[kept], data[kept])


def test_masking_noise_at_level_zero_keeps_everything():
    noise_rng = pt.random.shared_rng(seed=3)
    x = pt.matrix("x", dtype="float32")
    next_rng, x_tilde = masking_noise(noise_rng, x, 0.0)
    corrupt = pytensor.function([x], x_tilde, updates={noise_rng: next_rng})
    data = np.ones((5, 7), dtype="float32")
    np.testing.assert_array_equal(corrupt(data), data)


@pytest.mark.parametrize("level", [-0.1, 1.0, 2.0])
def test_masking_noise_refuses_levels_outside_0_1(level):
    with pytest.raises(ValueError, match="corruption level"):
        masking_noise(pt.random.shared_rng(seed=0), pt.matrix("x"), level)


def test_two_calls_draw_different_masks_and_reseeding_replays_them():
    noise_rng = pt.random.shared_rng(seed=7)
    x = pt.matrix("x", dtype="float32")
    next_rng, x_tilde = masking_noise(noise_rng, x, 0.3)
    corrupt = pytensor.function([x], x_tilde, updates={noise_rng: next_rng})
    ones = np.ones((20, N_VISIBLE), dtype="float32")
    first, second = corrupt(ones), corrupt(ones)
    assert not np.array_equal(first, second)
    noise_rng.set_value(seed=7)
    np.testing.assert_array_equal(corrupt(ones), first)
    np.testing.assert_array_equal(corrupt(ones), second)


def test_the_training_step_advances_the_random_state_on_every_call():
    _, noise_rng, step = _denoising_step()
    batch = _binary(20)
    states = [noise_rng.get_value().bit_generator.state["state"]]
    for _ in range(3):
        step(batch)
        states.append(noise_rng.get_value().bit_generator.state["state"])
    assert len({str(s) for s in states}) == 4


def test_the_same_seed_replays_the_same_training_run():
    batch = _binary(20)

    def run(seed):
        ae, noise_rng, step = _denoising_step(seed=seed)
        start = ae.get_values()
        costs = [float(step(batch)) for _ in range(4)]
        # Same parameters, same minibatch: only the masks changed the cost.
        ae.set_values(start)
        noise_rng.set_value(seed=seed)
        replay = [float(step(batch)) for _ in range(4)]
        return costs, replay, ae.get_values()

    costs, replay, params = run(seed=1)
    assert replay == costs
    assert len(set(costs)) == len(costs)
    other, _, _ = run(seed=2)
    assert other != costs
    again, _, params_again = run(seed=1)
    assert again == costs
    for name in params:
        np.testing.assert_array_equal(params[name], params_again[name])


def test_denoising_step_compiles_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, step = _denoising_step()
        step(_binary(4))


# --- the shared SGD step --------------------------------------------------


def test_compile_step_without_updates_matches_compile_train_step():
    batch = _binary(8)
    results = []
    for compile_fn in (compile_step, compile_train_step):
        ae = AutoEncoder(N_VISIBLE, N_HIDDEN, seed=0)
        x = ae.input()
        step = compile_fn([x], ae.cost(x), ae.params, 0.1)
        results.append([float(step(batch)) for _ in range(3)])
    assert results[0] == results[1]


def test_compile_step_accepts_a_list_of_update_pairs():
    ae = AutoEncoder(N_VISIBLE, N_HIDDEN, seed=0)
    x = ae.input()
    noise_rng = pt.random.shared_rng(seed=0)
    next_rng, x_tilde = masking_noise(noise_rng, x, 0.3)
    step = compile_step(
        [x], ae.cost(x_tilde, target=x), ae.params, updates=[(noise_rng, next_rng)]
    )
    before = str(noise_rng.get_value().bit_generator.state)
    step(_binary(4))
    assert str(noise_rng.get_value().bit_generator.state) != before


def test_compile_step_refuses_updates_of_trained_parameters():
    ae = AutoEncoder(N_VISIBLE, N_HIDDEN, seed=0)
    x = ae.input()
    with pytest.raises(ValueError, match="trained parameters"):
        compile_step([x], ae.cost(x), ae.params, updates={ae.W: ae.W * 0.5})


# --- training a variant -----------------------------------------------------


def test_train_variant_of_the_plain_cost_reproduces_the_classic_loop():
    X = _binary(60)

    def plain(ae, x):
        return ae.cost(x)

    ae, history = train_variant(
        plain, X, X[:10], n_hidden=N_HIDDEN, n_epochs=3, batch_size=10
    )
    # One compiled step per minibatch, the arrays passed on every call.
    reference = AutoEncoder(N_VISIBLE, N_HIDDEN, seed=0)
    x = reference.input()
    step = compile_train_step([x], reference.cost(x), reference.params, 0.1)
    expected = train(
        step,
        X,
        n_epochs=3,
        batch_size=10,
        valid_cost=compile_cost([x], reference.cost(x)),
        X_valid=X[:10],
        progress=False,
    )
    assert history.train_cost == expected.train_cost
    assert history.valid_cost == expected.valid_cost
    np.testing.assert_array_equal(ae.W.get_value(), reference.W.get_value())


def test_train_variant_scores_every_variant_on_the_clean_cross_entropy():
    X = _binary(60)

    def decayed(ae, x):
        return ae.cost(x) + weight_decay(ae.W, 10.0)

    ae, history = train_variant(
        decayed, X, X, n_hidden=N_HIDDEN, n_epochs=1, batch_size=60
    )
    x = ae.input()
    clean = pytensor.function([x], ae.cost(x))
    # One full-batch epoch: the validation number is the plain cost after it,
    # far below the training number, which includes the large penalty.
    assert history.valid_cost[-1] == pytest.approx(float(clean(X)), rel=1e-6)
    assert history.train_cost[-1] > history.valid_cost[-1] + 1.0


def test_train_variant_takes_a_cost_with_random_state():
    X = _binary(40)

    def denoising(ae, x):
        noise_rng = pt.random.shared_rng(seed=1)
        next_rng, x_tilde = masking_noise(noise_rng, x, 0.3)
        return ae.cost(x_tilde, target=x), {noise_rng: next_rng}

    runs = [
        train_variant(denoising, X, n_hidden=N_HIDDEN, n_epochs=2)[1].train_cost
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert all(np.isfinite(runs[0]))


def test_train_variant_treats_an_empty_validation_set_as_none():
    X = _binary(20)
    _, history = train_variant(
        lambda ae, x: ae.cost(x), X, X[:0], n_hidden=N_HIDDEN, n_epochs=1
    )
    assert history.valid_cost == []
