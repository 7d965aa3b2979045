"""Tests of linnet_lib.sensing: matrix sensing and completion losses, nuclear-norm baseline."""

import numpy as np
import pytest

import linnet_lib as ll

sensing = ll.sensing


def numeric_grad(loss, W, h=1e-6):
    G = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        G[idx] = (loss.value(W + E) - loss.value(W - E)) / (2 * h)
    return G


def test_sensing_loss_value_and_gradient():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((7, 3, 4)), rng.standard_normal(7)
    loss = sensing.SensingLoss(A, b)
    W = rng.standard_normal((3, 4))
    expected = sum((np.sum(W * A[i]) - b[i]) ** 2 for i in range(7)) / (2 * 7)
    assert loss.value(W) == pytest.approx(expected)
    assert ll.relative_difference(loss.grad(W), numeric_grad(loss, W)) < 1e-7
    assert np.allclose(loss.residuals(W), [np.sum(W * A[i]) - b[i] for i in range(7)])


def test_regression_is_a_special_case_of_sensing():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(4), rng.standard_normal(3)
    A = np.array([np.outer(np.eye(3)[i], x) for i in range(3)])
    loss = sensing.SensingLoss(A, y)
    regression = ll.SquareLoss(x[:, None], y[:, None], normalization="sum")
    W = rng.standard_normal((3, 4))
    assert loss.value(W) == pytest.approx(regression.value(W) / 3)


def test_completion_equals_sensing_with_indicator_matrices():
    rng = np.random.default_rng(2)
    T = rng.standard_normal((4, 5))
    comp = sensing.CompletionLoss.observe(T, 9, rng)
    A = np.zeros((9, 4, 5))
    A[np.arange(9), comp.rows, comp.cols] = 1.0
    sens = sensing.SensingLoss(A, comp.values)
    W = rng.standard_normal((4, 5))
    assert comp.value(W) == pytest.approx(sens.value(W))
    assert np.allclose(comp.grad(W), sens.grad(W))
    assert comp.value(T) == 0.0
    assert comp.mask().sum() == 9


@pytest.mark.parametrize(
    "A, b, name",
    [
        (np.ones((3, 2)), np.ones(3), "measurements"),
        (np.ones((0, 2, 2)), np.ones(0), "measurements"),
        (np.full((2, 2, 2), np.nan), np.ones(2), "measurements"),
        (np.ones((2, 2, 2)), np.ones(3), "values"),
        (np.ones((2, 2, 2)), np.array([1.0, np.inf]), "values"),
    ],
)
def test_sensing_loss_validates(A, b, name):
    with pytest.raises(ValueError, match=name):
        sensing.SensingLoss(A, b)


def test_sensing_loss_rejects_wrong_shape_W():
    loss = sensing.SensingLoss(np.ones((2, 3, 4)), np.ones(2))
    with pytest.raises(ValueError, match="W"):
        loss.value(np.ones((4, 3)))


@pytest.mark.parametrize(
    "args, name",
    [
        (((2, 2), [0, 5], [0, 1], [1.0, 2.0]), "rows and cols"),
        (((2, 2), [0, 0], [1, 1], [1.0, 2.0]), "distinct"),
        (((2, 2), [0.0, 1.0], [0, 1], [1.0, 2.0]), "integer"),
        (((2, 2), [0, 1], [0, 1], [1.0]), "same length"),
        (((2, 2), [0, 1], [0, 1], [1.0, np.nan]), "finite"),
        (((2, 0), [0], [0], [1.0]), "shape"),
    ],
)
def test_completion_loss_validates(args, name):
    with pytest.raises(ValueError, match=name):
        sensing.CompletionLoss(*args)


def test_observe_validates_count():
    with pytest.raises(ValueError, match="count"):
        sensing.CompletionLoss.observe(np.ones((2, 2)), 5)


def test_low_rank_target_rank_and_scale():
    T = sensing.low_rank_target((6, 5), 2, rng=0)
    assert np.linalg.matrix_rank(T) == 2
    assert np.linalg.norm(T) == pytest.approx(np.sqrt(30))
    with pytest.raises(ValueError, match="rank"):
        sensing.low_rank_target((3, 3), 4)


def test_gaussian_sensing_is_exact_at_target():
    T = sensing.low_rank_target((5, 5), 1, rng=3)
    loss = sensing.gaussian_sensing(T, 10, rng=4)
    assert loss.value(T) < 1e-28
    with pytest.raises(ValueError, match="count"):
        sensing.gaussian_sensing(T, 0)


def test_nuclear_norm_recovers_low_rank_from_enough_sensing_measurements():
    rng = np.random.default_rng(0)
    T = sensing.low_rank_target((12, 12), 1, rng)
    W = sensing.nuclear_norm_minimizer(sensing.gaussian_sensing(T, 80, rng))
    assert ll.relative_difference(W, T) < 1e-5


def test_nuclear_norm_minimizer_fits_completion_constraints_and_is_not_larger():
    rng = np.random.default_rng(1)
    T = sensing.low_rank_target((10, 10), 2, rng)
    loss = sensing.CompletionLoss.observe(T, 40, rng)
    W = sensing.nuclear_norm_minimizer(loss)
    assert np.abs(W[loss.rows, loss.cols] - loss.values).max() < 1e-6
    assert np.linalg.norm(W, "nuc") <= np.linalg.norm(T, "nuc") + 1e-6


def test_nuclear_norm_minimizer_rejects_other_losses():
    with pytest.raises(ValueError, match="loss"):
        sensing.nuclear_norm_minimizer(ll.SquareLoss.to_target(np.eye(2)))


def test_nuclear_norm_solvers_agree():
    rng = np.random.default_rng(2)
    T = sensing.low_rank_target((12, 12), 2, rng)
    loss = sensing.CompletionLoss.observe(T, 60, rng)
    scs = sensing.nuclear_norm_minimizer(loss)
    clarabel = sensing.nuclear_norm_minimizer(loss, solver="CLARABEL")
    assert np.linalg.norm(scs, "nuc") == pytest.approx(np.linalg.norm(clarabel, "nuc"), rel=1e-6)


def test_nuclear_norm_minimizer_rejects_bad_solver_and_tolerance():
    loss = sensing.CompletionLoss((2, 2), np.array([0]), np.array([1]), np.array([1.0]))
    with pytest.raises(ValueError, match="solver"):
        sensing.nuclear_norm_minimizer(loss, solver="MOSEK")
    with pytest.raises(ValueError, match="tolerance"):
        sensing.nuclear_norm_minimizer(loss, tolerance=0.0)


def test_effective_rank():
    assert sensing.effective_rank(np.diag([1.0, 1.0, 0.0])) == pytest.approx(2.0)
    assert sensing.effective_rank(np.zeros((2, 2))) == 0.0


def test_regression_as_sensing_matches_square_loss():
    rng = np.random.default_rng(5)
    X, Y, W = rng.standard_normal((4, 7)), rng.standard_normal((3, 7)), rng.standard_normal((3, 4))
    sensing_loss = sensing.regression_as_sensing(X, Y)
    regression = ll.SquareLoss(X, Y, normalization="mean")
    assert sensing_loss.count == 21
    assert 3 * sensing_loss.value(W) == pytest.approx(regression.value(W), rel=1e-12)
    np.testing.assert_allclose(3 * sensing_loss.grad(W), regression.grad(W), rtol=1e-12, atol=1e-14)


def test_regression_as_sensing_rejects_mismatched_samples():
    with pytest.raises(ValueError, match="columns"):
        sensing.regression_as_sensing(np.ones((2, 3)), np.ones((1, 4)))


def test_spectrum_target_has_the_given_singular_values():
    T = sensing.spectrum_target((7, 5), [3.0, 2.0, 0.5], rng=0)
    np.testing.assert_allclose(np.linalg.svd(T, compute_uv=False)[:3], [3.0, 2.0, 0.5], rtol=1e-12)
    assert np.linalg.matrix_rank(T) == 3
    with pytest.raises(ValueError, match="singular_values"):
        sensing.spectrum_target((2, 2), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        sensing.spectrum_target((2, 2), [1.0, -1.0])
