"""Tests of linnet_lib.norms: the 2 x 2 completion problem of Proposition 5 and its tools."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import linnet_lib as ll  # noqa: E402
from linnet_lib import norms  # noqa: E402

finite = st.floats(-5, 5, allow_nan=False)


@given(st.lists(finite, min_size=4, max_size=4))
def test_completion_2x2_is_equation_15(entries):
    W = np.array(entries).reshape(2, 2)
    expected = ((W[0, 1] - 1) ** 2 + (W[1, 0] - 1) ** 2 + W[1, 1] ** 2) / 6
    assert norms.completion_2x2().value(W) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_completion_2x2_other_values_and_errors():
    loss = norms.completion_2x2((1.0, -1.0, 0.0))
    assert loss.value(np.array([[7.0, 1.0], [-1.0, 0.0]])) == 0.0
    for bad in [(1.0, 1.0), (1.0, np.nan, 0.0), "abc", [[1.0, 1.0, 0.0]]]:
        with pytest.raises(ValueError, match="values"):
            norms.completion_2x2(bad)


def test_proof_constants_frobenius_and_other_norms():
    c, cp = norms.proof_constants()
    assert c == pytest.approx(1 / np.sqrt(6))
    assert cp == pytest.approx(-8.0)
    c, cp = norms.proof_constants(lambda M: np.linalg.norm(M, "nuc"))
    assert (c, cp) == pytest.approx((1 / np.sqrt(6), -8.0))
    c, cp = norms.proof_constants(lambda M: np.linalg.norm(np.diag([2.0, 1.0]) @ M))
    assert (c, cp) == pytest.approx((2 / np.sqrt(6), -12.0))


@given(st.floats(0.01, 100))
def test_proof_constants_scale_with_the_norm(scale):
    c1, cp1 = norms.proof_constants()
    c2, cp2 = norms.proof_constants(lambda M: scale * np.linalg.norm(M))
    assert c2 == pytest.approx(scale * c1)
    assert cp2 == pytest.approx(scale * cp1)


def test_proof_constants_errors():
    with pytest.raises(ValueError, match="norm"):
        norms.proof_constants("fro")
    with pytest.raises(ValueError, match="norm"):
        norms.proof_constants(lambda M: 0.0)
    with pytest.raises(ValueError, match="norm"):
        norms.proof_constants(lambda M: "x")


@given(st.lists(finite, min_size=4, max_size=4))
def test_bounds_hold_on_matrices_with_nonnegative_determinant(entries):
    # The proof's two inequalities hold for every W with det >= 0, not only along a flow.
    W = np.array(entries).reshape(2, 2)
    if np.linalg.det(W) < 0:
        W = W[::-1].copy()
    loss_value = norms.completion_2x2().value(W)
    c, cp = norms.proof_constants()
    assert np.linalg.norm(W) >= norms.norm_bound(loss_value, c, cp) - 1e-9
    for other in (lambda M: np.linalg.norm(M, "nuc"), lambda M: np.abs(M).sum()):
        co, cpo = norms.proof_constants(other)
        assert other(W) >= norms.norm_bound(loss_value, co, cpo) - 1e-9
    b = norms.w11_bound(loss_value)
    if loss_value < 1 / 6 and abs(np.linalg.det(W)) > 1e-9:
        assert abs(W[0, 0]) >= b - 1e-9


def test_bounds_values_and_errors():
    assert norms.norm_bound(1 / 6, 1.0, -1.0) == pytest.approx(np.sqrt(6) - 1)
    assert np.isinf(norms.norm_bound(0.0, 1.0, -1.0))
    assert norms.w11_bound(1 / 24) == pytest.approx(0.5**2 / 0.5)
    assert np.isnan(norms.w11_bound(0.2))
    assert np.isinf(norms.w11_bound(np.array([0.0, 0.1]))[0])
    for bad in [-1.0, np.nan, [], [[0.1]]]:
        with pytest.raises(ValueError, match="loss_values"):
            norms.w11_bound(bad)
    with pytest.raises(ValueError, match="c must"):
        norms.norm_bound(0.1, 0.0, -1.0)
    with pytest.raises(ValueError, match="c_prime"):
        norms.norm_bound(0.1, 1.0, np.inf)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("sign", [-1, 1])
def test_signed_start_balanced(depth, sign):
    layers = norms.signed_start(depth, 1e-2, sign, rng=depth)
    W = ll.end_to_end(layers)
    assert np.sign(np.linalg.det(W)) == sign
    assert ll.unbalancedness(layers) < 1e-15
    assert 1e-4 < np.linalg.norm(W) < 1e-1


def test_signed_start_rank_one_and_gaussian():
    layers = norms.signed_start(3, 1e-2, 0, rng=0)
    assert np.linalg.det(ll.end_to_end(layers)) == 0.0
    assert np.linalg.norm(ll.end_to_end(layers)) == pytest.approx(1e-2)
    g = norms.signed_start(2, 8e-3, 1, rng=1, balanced=False)
    assert np.linalg.det(ll.end_to_end(g)) > 0
    assert ll.unbalancedness(g) > 1e-6


def test_signed_start_errors():
    with pytest.raises(ValueError, match="depth"):
        norms.signed_start(0, 1e-2)
    with pytest.raises(ValueError, match="scale"):
        norms.signed_start(2, 0.0)
    with pytest.raises(ValueError, match="det_sign"):
        norms.signed_start(2, 1e-2, 2)
    with pytest.raises(ValueError, match="det_sign"):
        norms.signed_start(2, 1e-2, True)
    with pytest.raises(ValueError, match="det_sign = 0"):
        norms.signed_start(2, 1e-2, 0, balanced=False)


def test_rank_one_start_stays_exactly_singular():
    run = norms.flow(norms.completion_2x2(), norms.signed_start(3, 1e-2, 0, rng=0), 1e3, 20)
    # the product of the layers is computed with round-off, but each layer keeps an exact zero row
    # or column, so the end-to-end determinant is exactly zero in exact arithmetic on the stored values
    for layer in run.weights:
        assert np.all(np.linalg.det(layer) == 0.0)
    assert np.abs(np.linalg.det(run.end_to_end)).max() < 1e-12


def test_flow_keeps_the_sign_and_matches_the_growth_law():
    run = norms.flow(norms.completion_2x2(), norms.signed_start(3, 1e-2, 1, rng=0), 1e7, 30)
    assert np.all(np.linalg.det(run.end_to_end) > 0)
    assert run.t[0] == 0 and run.t[-1] == pytest.approx(1e7)
    w11, loss = norms.growth_prediction(run.t[-1], 3)
    assert run.end_to_end[-1, 0, 0] == pytest.approx(w11, rel=1e-2)
    assert run.loss[-1] == pytest.approx(loss, rel=2e-2)


def test_flow_errors():
    loss, layers = norms.completion_2x2(), norms.signed_start(2, 1e-2, 1, rng=0)
    with pytest.raises(ValueError, match="t_min"):
        norms.flow(loss, layers, 1.0, t_min=2.0)
    with pytest.raises(ValueError, match="count"):
        norms.flow(loss, layers, 1.0, count=1)
    with pytest.raises(ValueError, match="t_max"):
        norms.flow(loss, layers, -1.0)


def test_growth_prediction_values_and_errors():
    w11, loss = norms.growth_prediction(np.array([1.5, 3.0]), 2)
    assert w11 == pytest.approx([3.0 ** (1 / 3), 6.0 ** (1 / 3)])
    assert loss == pytest.approx(1 / (6 * w11**2))
    with pytest.raises(ValueError, match="depth"):
        norms.growth_prediction(1.0, 1)
    with pytest.raises(ValueError, match="t must"):
        norms.growth_prediction(0.0, 2)


def test_slow_curve():
    tau = np.array([0.3, 0.1, 0.01])
    W = norms.slow_curve(tau)
    loss = norms.completion_2x2()
    assert W.shape == (3, 2, 2)
    assert np.allclose(np.linalg.det(W), 0.0, atol=1e-12)
    assert np.allclose(W[:, 0, 1], 1 - tau**2) and np.allclose(W[:, 1, 0], 1 - tau**2)
    assert np.allclose([6 * loss.value(M) for M in W], tau**2 * (1 + tau**4), rtol=1e-12)
    assert norms.slow_curve(0.5).shape == (2, 2)
    for bad in (0.0, 1.0, [[0.5]], np.nan):
        with pytest.raises(ValueError, match="tau"):
            norms.slow_curve(bad)


def test_norm_rate_coefficient_predicts_the_gap_on_the_slow_curve():
    cases = {
        "Frobenius": (np.linalg.norm, 0.0),
        "nuclear": (lambda M: np.linalg.norm(M, "nuc"), 0.0),
        "l1": (lambda M: np.abs(M).sum(), 2.0),
        "max-row-sum": (lambda M: np.linalg.norm(M, np.inf), 1.0),
    }
    tau = 1e-4
    W = norms.slow_curve(tau)
    six_l = 6 * norms.completion_2x2().value(W)
    for norm, expected in cases.values():
        D = norms.norm_rate_coefficient(norm)
        assert D == pytest.approx(expected, abs=1e-6)
        c, _ = norms.proof_constants(norm)
        gap = norm(W) * np.sqrt(six_l / 6) / c - 1
        assert gap == pytest.approx(D * np.sqrt(six_l), abs=3 * six_l)
    with pytest.raises(ValueError, match="h"):
        norms.norm_rate_coefficient(np.linalg.norm, h=0.0)
    with pytest.raises(ValueError, match="norm"):
        norms.norm_rate_coefficient("fro")


def test_gd_stability_limit():
    assert norms.gd_stability_limit(1e-2, 3) == pytest.approx(600**0.75)
    assert norms.gd_stability_limit(0.5, 2) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="lr"):
        norms.gd_stability_limit(0.0, 3)
    with pytest.raises(ValueError, match="depth"):
        norms.gd_stability_limit(1e-2, 1)


def test_first_sign_change():
    assert norms.first_sign_change([1.0, 2.0, 0.0, -1.0], 1) == 2
    assert norms.first_sign_change([-1.0, -2.0], -1) is None
    assert norms.first_sign_change([0.0, 0.0, 1e-30], 0) == 2
    with pytest.raises(ValueError, match="reference_sign"):
        norms.first_sign_change([1.0], 2)
    with pytest.raises(ValueError, match="values"):
        norms.first_sign_change([np.nan], 1)


@given(st.floats(-2, 2), st.floats(0.1, 10))
def test_tail_slope_recovers_a_power_law(power, scale):
    lv = np.logspace(-8, -1, 30)
    assert norms.tail_slope(lv, scale * lv**power, 1e-2) == pytest.approx(power, abs=1e-9)


def test_tail_slope_errors():
    lv = np.logspace(-8, -1, 10)
    with pytest.raises(ValueError, match="fewer than 3"):
        norms.tail_slope(lv, lv, 1e-8)
    with pytest.raises(ValueError, match="norms"):
        norms.tail_slope(lv, -lv, 1.0)
    with pytest.raises(ValueError, match="norms"):
        norms.tail_slope(lv, lv[:-1], 1.0)


def test_plot_norm_vs_loss():
    fig, ax = plt.subplots()
    lv = np.logspace(-6, -1, 20)
    norms.plot_norm_vs_loss(ax, {"a": (lv, 1 / np.sqrt(lv), {"color": "C0"})}, 0.4, -8.0)
    assert len(ax.get_lines()) == 3
    assert ax.xaxis_inverted()
    with pytest.raises(ValueError, match="curves"):
        norms.plot_norm_vs_loss(ax, {}, 0.4, -8.0)
    with pytest.raises(ValueError, match="same length"):
        norms.plot_norm_vs_loss(ax, {"a": (lv, lv[:-1], {})}, 0.4, -8.0)
    plt.close(fig)


def test_flow_matches_the_general_gradient_flow():
    loss, layers = norms.completion_2x2(), norms.signed_start(3, 1e-2, 1, rng=3)
    run = norms.flow(loss, layers, 50.0, 12, rtol=1e-12, atol=1e-14)
    reference = ll.gradient_flow(loss, layers, run.t, rtol=1e-12, atol=1e-14)
    assert np.abs(run.end_to_end - reference.end_to_end).max() < 1e-8
    assert run.loss == pytest.approx(reference.loss, rel=1e-6, abs=1e-12)
    for j in range(3):
        assert np.abs(run.weights[j] - reference.weights[j]).max() < 1e-8


def test_flow_general_loss_route_matches_the_completion_route():
    class Square(ll.Loss):
        shape = (2, 2)

        def _value(self, W):
            return norms.completion_2x2()._value(W)

        def _grad(self, W):
            return norms.completion_2x2()._grad(W)

    layers = norms.signed_start(2, 1e-2, 1, rng=0)
    a = norms.flow(norms.completion_2x2(), layers, 20.0, 10)
    b = norms.flow(Square(), layers, 20.0, 10)
    assert np.abs(a.end_to_end - b.end_to_end).max() < 1e-9


def test_flow_reports_determinant_crossings_between_solver_steps():
    loss = norms.completion_2x2()
    balanced = norms.flow(loss, norms.signed_start(3, 1e-2, 1, rng=0), 1e4, 20)
    assert balanced.info["det_crossings"].size == 0
    assert balanced.info["solver_steps"] > 100
    # an unbalanced depth-2 start loses the sign early (see the book's remark), seen by the steps
    unbalanced = norms.flow(loss, norms.signed_start(2, 8e-3, 1, rng=0, balanced=False), 1e3, 20)
    crossings = unbalanced.info["det_crossings"]
    assert crossings.size >= 1
    det = np.linalg.det(unbalanced.end_to_end)
    k = norms.first_sign_change(det, 1)
    assert crossings[0] >= unbalanced.t[k - 1]


def test_flow_rejects_other_shapes():
    with pytest.raises(ValueError, match="2 x 2"):
        norms.flow(norms.completion_2x2(), [np.eye(3)], 1.0)
    with pytest.raises(ValueError, match="loss"):
        norms.flow(ll.SquareLoss(np.eye(3), np.eye(3)), [np.eye(2)], 1.0)


def test_norm_bound_exponent():
    assert norms.norm_bound(0.01, 1.0, -1.0, exponent=1.0) == pytest.approx(99.0)
    assert norms.norm_bound(0.01, 2.0, 0.0) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="exponent"):
        norms.norm_bound(0.01, 1.0, 0.0, exponent=0.0)
