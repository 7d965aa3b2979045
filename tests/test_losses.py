"""Tests of linnet_lib.losses: values, gradients (by finite differences) and validation."""

from __future__ import annotations

import numpy as np
import pytest

import linnet_lib as ll

NON_FINITE = [np.nan, np.inf, -np.inf]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


@pytest.fixture
def data(rng):
    """Regression data with samples as columns: X (d_0=3, m=7), Y (d_n=2, m=7), and a point W."""
    return rng.standard_normal((3, 7)), rng.standard_normal((2, 7)), rng.standard_normal((2, 3))


# ---------------------------------------------------------------------------------------------
# SquareLoss


def test_square_loss_value_is_half_squared_frobenius_residual(data):
    X, Y, W = data
    expected = 0.5 * np.sum((W @ X - Y) ** 2)
    assert ll.SquareLoss(X, Y).value(W) == pytest.approx(expected, rel=1e-14)


def test_square_loss_mean_normalization_divides_by_sample_count(data):
    X, Y, W = data
    total = ll.SquareLoss(X, Y, normalization="sum")
    mean = ll.SquareLoss(X, Y, normalization="mean")
    assert mean.value(W) == pytest.approx(total.value(W) / 7, rel=1e-14)
    np.testing.assert_allclose(mean.grad(W), total.grad(W) / 7, rtol=1e-14)


def test_square_loss_default_normalization_is_sum(data):
    X, Y, W = data
    assert ll.SquareLoss(X, Y).value(W) == ll.SquareLoss(X, Y, normalization="sum").value(W)


@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_square_loss_grad_matches_finite_differences(data, numerical_gradient, normalization):
    X, Y, W = data
    loss = ll.SquareLoss(X, Y, normalization=normalization)
    assert relative_error(loss.grad(W), numerical_gradient(loss.value, W)) < 1e-6


def test_square_loss_grad_has_closed_form(data):
    X, Y, W = data
    np.testing.assert_allclose(ll.SquareLoss(X, Y).grad(W), (W @ X - Y) @ X.T, rtol=1e-14)


def test_square_loss_shape_is_output_by_input(data):
    X, Y, _ = data
    assert ll.SquareLoss(X, Y).shape == (2, 3)


def test_square_loss_value_is_a_python_float(data):
    X, Y, W = data
    assert type(ll.SquareLoss(X, Y).value(W)) is float


def test_square_loss_to_target_is_half_squared_distance(rng):
    Y = rng.standard_normal((2, 4))
    W = rng.standard_normal((2, 4))
    loss = ll.SquareLoss.to_target(Y)
    assert loss.shape == (2, 4)
    assert loss.value(W) == pytest.approx(0.5 * np.sum((W - Y) ** 2), rel=1e-14)
    np.testing.assert_allclose(loss.grad(W), W - Y, rtol=1e-14)


def test_square_loss_to_target_is_minimised_at_the_target(rng):
    Y = rng.standard_normal((3, 2))
    loss = ll.SquareLoss.to_target(Y)
    assert loss.value(Y) == 0.0
    np.testing.assert_array_equal(loss.grad(Y), np.zeros((3, 2)))


@pytest.mark.parametrize("bad", NON_FINITE)
def test_square_loss_rejects_non_finite_X(data, bad):
    X, Y, _ = data
    X = X.copy()
    X[0, 0] = bad
    with pytest.raises(ValueError, match=r"\bX\b"):
        ll.SquareLoss(X, Y)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_square_loss_rejects_non_finite_Y(data, bad):
    X, Y, _ = data
    Y = Y.copy()
    Y[1, 2] = bad
    with pytest.raises(ValueError, match=r"\bY\b"):
        ll.SquareLoss(X, Y)


def test_square_loss_rejects_mismatched_sample_counts(rng):
    with pytest.raises(ValueError, match=r"X and Y must have the same number of columns"):
        ll.SquareLoss(rng.standard_normal((3, 7)), rng.standard_normal((2, 6)))


def test_square_loss_rejects_X_that_is_not_a_matrix(rng):
    with pytest.raises(ValueError, match=r"\bX\b"):
        ll.SquareLoss(np.ones(7), rng.standard_normal((2, 7)))


@pytest.mark.parametrize("bad", ["Mean", "average", "", None])
def test_square_loss_rejects_bad_normalization(data, bad):
    X, Y, _ = data
    with pytest.raises(ValueError, match="normalization"):
        ll.SquareLoss(X, Y, normalization=bad)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_square_loss_to_target_rejects_non_finite_target(bad):
    with pytest.raises(ValueError, match=r"\bY\b"):
        ll.SquareLoss.to_target(np.array([[1.0, bad]]))


# ---------------------------------------------------------------------------------------------
# LpLoss


@pytest.mark.parametrize("p", [2, 3, 4, 2.5])
@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_lp_loss_grad_matches_finite_differences(data, numerical_gradient, p, normalization):
    X, Y, W = data
    loss = ll.LpLoss(X, Y, p=p, normalization=normalization)
    assert relative_error(loss.grad(W), numerical_gradient(loss.value, W)) < 1e-6


def test_lp_loss_value_is_sum_of_pth_powers_over_p(data):
    X, Y, W = data
    expected = np.sum(np.abs(W @ X - Y) ** 3) / 3
    assert ll.LpLoss(X, Y, p=3).value(W) == pytest.approx(expected, rel=1e-14)


def test_lp_loss_mean_normalization_divides_by_sample_count(data):
    X, Y, W = data
    total = ll.LpLoss(X, Y, p=4)
    mean = ll.LpLoss(X, Y, p=4, normalization="mean")
    assert mean.value(W) == pytest.approx(total.value(W) / 7, rel=1e-14)
    np.testing.assert_allclose(mean.grad(W), total.grad(W) / 7, rtol=1e-14)


@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_lp_loss_with_p_two_equals_square_loss(data, normalization):
    X, Y, W = data
    lp = ll.LpLoss(X, Y, p=2, normalization=normalization)
    square = ll.SquareLoss(X, Y, normalization=normalization)
    assert lp.value(W) == pytest.approx(square.value(W), rel=1e-14)
    np.testing.assert_allclose(lp.grad(W), square.grad(W), rtol=1e-13)


def test_lp_loss_is_zero_with_zero_gradient_at_an_exact_fit(rng):
    X = rng.standard_normal((3, 5))
    W = rng.standard_normal((2, 3))
    loss = ll.LpLoss(X, W @ X, p=4)
    assert loss.value(W) == pytest.approx(0.0, abs=1e-40)
    assert np.abs(loss.grad(W)).max() < 1e-30


@pytest.mark.parametrize("bad_p", [1.999, 1, 0, -2])
def test_lp_loss_rejects_p_below_two(data, bad_p):
    X, Y, _ = data
    with pytest.raises(ValueError, match=r"\bp\b"):
        ll.LpLoss(X, Y, p=bad_p)


@pytest.mark.parametrize("bad_p", [np.nan, np.inf, True, "4", None])
def test_lp_loss_rejects_p_that_is_not_a_finite_real(data, bad_p):
    X, Y, _ = data
    with pytest.raises(ValueError, match=r"\bp\b"):
        ll.LpLoss(X, Y, p=bad_p)


def test_lp_loss_rejects_mismatched_sample_counts(rng):
    with pytest.raises(ValueError, match=r"X and Y must have the same number of columns"):
        ll.LpLoss(rng.standard_normal((3, 7)), rng.standard_normal((2, 8)), p=3)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_lp_loss_rejects_non_finite_data(data, bad):
    X, Y, _ = data
    Y = Y.copy()
    Y[0, 0] = bad
    with pytest.raises(ValueError, match=r"\bY\b"):
        ll.LpLoss(X, Y, p=3)


def test_lp_loss_rejects_bad_normalization(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match="normalization"):
        ll.LpLoss(X, Y, p=3, normalization="median")


# ---------------------------------------------------------------------------------------------
# Loss base class: shared argument checks of value(W) and grad(W)


class Quartic(ll.Loss):
    """A custom loss through the base class: l(W) = sum W^4 / 4."""

    def __init__(self, shape):
        self.shape = shape

    def _value(self, W):
        return np.sum(W**4) / 4

    def _grad(self, W):
        return W**3


def test_loss_subclass_gets_value_and_grad_from_the_base_class():
    loss = Quartic((1, 2))
    assert loss.value([[1.0, 2.0]]) == pytest.approx(17 / 4)
    np.testing.assert_array_equal(loss.grad([[1.0, 2.0]]), [[1.0, 8.0]])


def test_loss_base_value_returns_float():
    assert type(Quartic((1, 1)).value(np.array([[2.0]]))) is float


@pytest.mark.parametrize(
    "loss",
    [
        Quartic((2, 3)),
        ll.SquareLoss.to_target(np.ones((2, 3))),
        ll.LpLoss(np.ones((3, 1)), np.ones((2, 1)), 3),
    ],
)
@pytest.mark.parametrize("method", ["value", "grad"])
def test_loss_rejects_W_of_wrong_shape(loss, method):
    with pytest.raises(ValueError, match=r"\bW\b"):
        getattr(loss, method)(np.ones((3, 2)))


@pytest.mark.parametrize("method", ["value", "grad"])
@pytest.mark.parametrize("bad", NON_FINITE)
def test_loss_rejects_non_finite_W(method, bad):
    loss = ll.SquareLoss.to_target(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"\bW\b"):
        getattr(loss, method)(np.array([[1.0, bad]]))


@pytest.mark.parametrize("method", ["value", "grad"])
def test_loss_rejects_W_that_is_not_a_matrix(method):
    loss = ll.SquareLoss.to_target(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"\bW\b"):
        getattr(loss, method)(np.ones(2))
