"""Unit tests of linnet_lib.directional (Lin, Sun & Zhang 2021, section 3)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linnet_lib as ll
from linnet_lib import directional as dr

CIRCLE = ll.PopulationLogisticLoss([0.0, 1.0])


def test_c0_matches_the_loss():
    assert dr.c0("circle") == CIRCLE.c0 == 1.0
    gauss = ll.PopulationLogisticLoss([0.0, 0.0, 1.0], data="gaussian", dim=3)
    assert dr.c0("gaussian") == pytest.approx(gauss.c0, rel=1e-15)
    assert dr.c0("gaussian") == pytest.approx(math.sqrt(math.pi / 2))
    with pytest.raises(ValueError, match="data"):
        dr.c0("sphere")


@given(st.floats(1e-3, math.pi - 1e-3))
def test_angle_exponent_inverts_cos(theta):
    u = dr.angle_exponent(theta)
    assert 1.0 - dr.one_minus_cos(u) == pytest.approx(math.cos(theta), abs=1e-12)


def test_angle_exponent_limits_and_errors():
    assert dr.angle_exponent(0.0) == np.inf
    assert dr.angle_exponent(math.pi / 2) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="theta"):
        dr.angle_exponent(-0.1)
    with pytest.raises(ValueError, match="theta"):
        dr.angle_exponent(np.nan)


def test_polar_velocity_matches_lemma2():
    w = np.array([0.3, -2.0])
    dr_dt, dcos_dt = dr.polar_velocity(CIRCLE, w)
    theta = CIRCLE.angle(w[None, :])
    assert dcos_dt == pytest.approx(math.sin(theta) ** 2 / (math.pi * np.linalg.norm(w)))
    g = CIRCLE.grad(w[None, :])[0]
    assert dr_dt == pytest.approx(-(w @ g) / np.linalg.norm(w))
    with pytest.raises(ValueError, match="non-zero"):
        dr.polar_velocity(CIRCLE, [0.0, 0.0])


def test_polar_flow_agrees_with_cartesian_flow():
    t = np.linspace(0.0, 3.0, 7)
    r, theta = dr.polar_flow(CIRCLE, [0.6, -0.8], t)
    W = ll.gradient_flow(CIRCLE, np.array([[0.6, -0.8]]), t, depth=1).end_to_end[:, 0]
    assert np.allclose(r, np.linalg.norm(W, axis=1), rtol=1e-9)
    assert np.allclose(theta, [CIRCLE.angle(w[None]) for w in W], atol=1e-9)
    with pytest.raises(ValueError, match="parallel"):
        dr.polar_flow(CIRCLE, [0.0, 2.0], t)
    with pytest.raises(ValueError, match="t_eval"):
        dr.polar_flow(CIRCLE, [0.6, -0.8], [1.0, 0.5])


def test_norm_turning_time():
    T, wT = dr.norm_turning_time(CIRCLE, [0.6, -0.8], 50.0)
    assert T == pytest.approx(2.4487, abs=1e-3)
    assert abs(wT @ CIRCLE.grad(wT[None])[0]) < 1e-12
    # a start whose norm rises at once: T = 0
    T0, w = dr.norm_turning_time(CIRCLE, [0.0, 0.5], 10.0)
    assert T0 == 0.0 and np.allclose(w, [0.0, 0.5])
    # window too short: no turn yet
    Tinf, _ = dr.norm_turning_time(CIRCLE, [0.6, -0.8], 1.0)
    assert Tinf == math.inf
    with pytest.raises(ValueError, match="t_max"):
        dr.norm_turning_time(CIRCLE, [0.6, -0.8], 0.0)


def test_theorem1_constants_and_continuity():
    assert dr.theorem1_a2(1.0) == pytest.approx(4 / (math.sqrt(0.6) * math.pi))
    assert dr.theorem1_a2(1.0, printed=True) == pytest.approx(4 / math.sqrt(0.6 * math.pi))
    with pytest.raises(ValueError, match="c0_value"):
        dr.theorem1_a2(0.0)
    args = (1.0, 1.0, 2.5, 2.0, 0.45, 1.0)
    u = dr.theorem1_exponent(np.array([2.0, 2.0 + 1e-12]), *args)
    assert u[1] == pytest.approx(dr.angle_exponent(1.0), abs=1e-9)  # continuous at T
    assert u[0] == pytest.approx(2 / math.pi * 2.0 + dr.angle_exponent(2.5))
    printed = dr.theorem1_exponent(np.array([2.0 + 1e-12]), *args, printed=True)
    assert printed[0] > u[1] + 0.1  # the printed constant jumps at T
    # C2 outside the root (our copy's literal form): starts at C2 + B2 just after T
    literal = dr.theorem1_exponent(np.array([2.0, 3.0]), *args, c2_under_root=False)
    b2 = dr.angle_exponent(1.0) - 4.0 * 0.45 / (0.6 * math.pi)
    assert literal[0] == u[0]
    assert literal[1] == pytest.approx(dr.theorem1_a2(1.0) + 0.45**2 / 0.6 + b2)
    with pytest.raises(ValueError, match="norm0"):
        dr.theorem1_exponent(1.0, 1.0, 0.0, 2.5, 2.0, 0.45, 1.0)


def _step(w, lr):
    return w - lr * CIRCLE.grad(w[None])[0]


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 20.0), st.floats(0.01, math.pi - 0.01), st.floats(0.01, 100.0))
def test_one_step_identities(r, theta, lr):
    w = r * np.array([math.sin(theta), math.cos(theta)])
    w1 = _step(w, lr)
    g = CIRCLE.grad(w[None])[0]
    cos0, cos1 = w[1] / np.linalg.norm(w), w1[1] / np.linalg.norm(w1)
    inc = dr.gd_cos_increment(CIRCLE.v, w, w1, g, lr)
    assert inc == pytest.approx(cos1 - cos0, abs=1e-12)
    assert dr.gd_norm_sq(w, w1, 1.0, lr, theta) == pytest.approx(w1 @ w1, rel=1e-11)


def test_one_step_errors():
    w = np.array([0.6, -0.8])
    with pytest.raises(ValueError, match="lr"):
        dr.gd_cos_increment(CIRCLE.v, w, w, w, 0.0)
    with pytest.raises(ValueError, match="w must"):
        dr.gd_norm_sq([0.0, 0.0], w, 1.0, 0.1, 1.0)


def test_lemma4_and_lemma5_bounds():
    lrs = np.array([0.5, 0.5])
    b4 = dr.lemma4_bound(-0.8, 1.0, 1.0, lrs)
    s1 = 0.5 / math.sqrt(1 + 0.25)
    s2 = s1 + 0.5 / math.sqrt(1 + 0.5)
    assert np.allclose(b4, 1.8 * np.exp(-0.2 / math.pi * np.array([0, s1, s2])))
    b5 = dr.lemma5_bound(0.5, 2.0, 1.0, lrs, 1.0)
    s1 = 0.5 / math.sqrt(4 + 0.25 + 0.3)
    s2 = s1 + 0.5 / math.sqrt(4 + 0.5 + 0.6)
    assert np.allclose(b5, 0.5 * np.exp(-0.75 / math.pi * np.array([0, s1, s2])))
    with pytest.raises(ValueError, match="lrs"):
        dr.lemma4_bound(-0.8, 1.0, 1.0, [0.1, -0.1])
    with pytest.raises(ValueError, match="cos0"):
        dr.lemma4_bound(1.5, 1.0, 1.0, lrs)
    with pytest.raises(ValueError, match="delta"):
        dr.lemma5_bound(0.5, 1.0, 1.0, lrs, 0.0)


def test_condition11_and_threshold():
    W = [np.array([0.6, -0.8])]
    for _ in range(3):
        W.append(_step(W[-1], 1.0))
    W = np.array(W)
    delta = dr.condition11_delta(CIRCLE.v, W, 1.0, np.ones(3))
    assert delta[0] == np.inf  # cos < 0 at the start
    for n in range(3):
        cos = W[n] @ CIRCLE.v / np.linalg.norm(W[n])
        if cos > 0:
            lhs = np.linalg.norm(W[n + 1]) + W[n] @ W[n + 1] / np.linalg.norm(W[n])
            assert lhs == pytest.approx((1 + delta[n]) * cos / math.pi)
    with pytest.raises(ValueError, match="rows"):
        dr.condition11_delta(CIRCLE.v, W[:2], 1.0, np.ones(3))
    assert dr.theorem2_threshold(2.0, 1.0) == pytest.approx(2 * (1 + 1 / math.pi))
    with pytest.raises(ValueError, match="lr_max"):
        dr.theorem2_threshold(0.0, 1.0)


# -- the recipes of section 6.2 (linnet_lib.ch6) ---------------------------------------------------


@pytest.fixture(scope="module")
def flow():
    return ll.ch6.flow_with_turn(CIRCLE, [0.6, -0.8], 10.0)


def test_flow_with_turn_and_lemma1(flow):
    assert flow["T"] == pytest.approx(2.4487, abs=1e-3)
    assert np.isclose(flow["t"], flow["T"]).any()
    rep = ll.ch6.lemma1_report(flow)
    assert rep["wrong_sign"] == 0 and rep["min_gap"] >= -1e-12 and rep["g_at_T"] < 1e-12
    grid = ll.ch6.flow_grid(5.0, math.inf, 11)
    assert grid.size == 11 + 59 and grid[-1] == 5.0  # no refinement at an infinite T
    assert ll.ch6.flow_grid(5.0, 2.0, 11).size > grid.size


def test_theorem1_ratios(flow):
    derived = ll.ch6.theorem1_ratios(flow)
    assert derived["ratio"] <= 1 + 1e-12 and derived["violation"] <= 1e-12
    printed = ll.ch6.theorem1_ratios(flow, printed=True)
    assert printed["violation"] == pytest.approx(0.34, abs=0.01)
    assert ll.ch6.theorem1_ratios(flow, scale2=1.01)["ratio"] > 1.001


def test_polar_flow_error():
    assert ll.ch6.polar_flow_error(CIRCLE, [0.6, -0.8], np.linspace(0, 2, 5)) < 1e-9


def test_gd_recipes():
    run = ll.ch6.gd_run(CIRCLE, [0.6, -0.8], 1.0, 30)
    assert run["W"].shape == (31, 2) and run["lrs"].shape == (30,)
    e8, e10 = ll.ch6.identity_residuals(CIRCLE, run)
    assert e8 < 1e-12 and e10 < 1e-12
    ratio4, n0 = ll.ch6.lemma4_ratio(CIRCLE, run)
    assert n0 == 3 and ratio4 <= 1
    ratio5, delta = ll.ch6.lemma5_ratio(CIRCLE, run)
    assert ratio5 <= 1 and delta > 1
    ph2 = ll.ch6.theorem2_phase2(CIRCLE, run)
    assert ph2["n1"] == 8 and ph2["delta"] >= 1 and ph2["ratio"] <= 1
    none = ll.ch6.theorem2_phase2(CIRCLE, ll.ch6.gd_run(CIRCLE, [0.6, -0.8], 50.0, 3))
    assert none["n1"] is None


def test_figure_logistic():
    import matplotlib

    matplotlib.use("Agg")
    data = ll.ch6.figure_logistic(CIRCLE, [0.6, -0.8], lrs=(1.0,), t_end=4.0)
    fig = ll.ch6.plot_logistic(data)
    assert len(fig.axes) == 2
    matplotlib.pyplot.close(fig)


def test_classical_step_cap():
    assert dr.classical_step_cap(CIRCLE.covariance) == pytest.approx(16.0)
    assert dr.classical_step_cap(np.eye(3)) == pytest.approx(8.0)
    with pytest.raises(ValueError, match="covariance"):
        dr.classical_step_cap(np.ones((2, 3)))
    with pytest.raises(ValueError, match="covariance"):
        dr.classical_step_cap(np.zeros((2, 2)))


# -- section 4: deep linear networks ---------------------------------------------------------------


def _induced(depth, t, w0=(0.6, -0.8)):
    res = ll.gradient_flow(CIRCLE, np.array([w0]), t, depth=depth)
    W = res.end_to_end[:, 0, :]
    r = np.linalg.norm(W, axis=1)
    return W, r, np.arccos(np.clip(W[:, 1] / r, -1.0, 1.0))


def test_proposition4_matches_the_depth2_flow():
    t = np.linspace(0.0, 10.0, 101)
    _, _, theta = _induced(2, t)
    u = dr.proposition4_exponent(t, 1.0, theta[0])
    assert np.max(np.abs(np.cos(theta) - (1.0 - dr.one_minus_cos(u)))) < 1e-8
    assert dr.proposition4_exponent(0.0, 1.0, math.pi / 2) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("depth", [3, 4, 6])
def test_theorem3_and_lemma8_bracket_the_flow(depth):
    t = np.linspace(0.0, 30.0, 601)
    _, r, theta = _induced(depth, t)
    i = int(np.argmin(r))
    lo, up = dr.theorem3_exponents(t, 1.0, depth, r[0], theta[0], t[i], r[i], theta[i])
    u = dr.angle_exponent(theta)
    ok = np.isfinite(u)
    assert np.all(u[ok] - lo[ok] >= -1e-7)
    assert np.all(up[ok] - u[ok] >= -1e-7)
    low, high = dr.lemma8_norm_bounds(t, 1.0, depth, r[0])
    assert np.all(r >= low * (1 - 1e-9)) and np.all(r <= high * (1 + 1e-9))
    assert lo[0] == pytest.approx(u[0]) and up[0] == pytest.approx(u[0])
    # a larger upper-bound constant F stays an upper bound; a smaller one breaks it early
    _, up_small = dr.theorem3_exponents(
        t, 1.0, depth, r[0], theta[0], t[i], r[i], theta[i], scale_upper=0.5
    )
    assert np.any(up_small[ok] < u[ok])


def test_induced_rate_and_validation():
    assert dr.induced_exponent_rate(1.0, 1.0, 4) == pytest.approx(2 / math.pi)
    assert dr.induced_exponent_rate(1.0, 4.0, 2) == pytest.approx(2 / math.pi)
    with pytest.raises(ValueError, match="norm"):
        dr.induced_exponent_rate(1.0, 0.0, 3)
    with pytest.raises(ValueError, match="depth"):
        dr.lemma8_norm_bounds(1.0, 1.0, 2, 1.0)
    with pytest.raises(ValueError, match="depth"):
        dr.theorem3_exponents(1.0, 1.0, 2, 1.0, 1.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="norm0"):
        dr.theorem3_exponents(1.0, 1.0, 3, -1.0, 1.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="c0_value"):
        dr.proposition4_exponent(1.0, 0.0, 1.0)


def test_theorem3_e_printed_and_read():
    # read: E is the exponent at the start, so the upper bound starts on the curve
    for theta in (0.3, 1.52, 2.5):
        assert dr.theorem3_e(theta) == pytest.approx(float(dr.angle_exponent(theta)))
    # printed, read literally: -2 ln(|tan theta| / 2), far off near pi/2
    assert dr.theorem3_e(1.52, printed=True) == pytest.approx(
        -2 * math.log(abs(math.tan(1.52)) / 2)
    )
    assert dr.theorem3_e(1.52, printed=True) < -3.0 < dr.theorem3_e(1.52)
    with pytest.raises(ValueError, match="theta0"):
        dr.theorem3_e(-1.0)
