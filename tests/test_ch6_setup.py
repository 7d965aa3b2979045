"""Unit tests of Section 6.1's recipes in linnet_lib.ch6 (brute-force references, Lemma 3's
constants, Proposition 3(ii))."""

import math

import numpy as np
import pytest

import linnet_lib as ll
from linnet_lib import ch6


@pytest.fixture(scope="module")
def circle():
    return ll.PopulationLogisticLoss([0.6, 0.8], data="circle")


@pytest.fixture(scope="module")
def gauss3():
    return ll.PopulationLogisticLoss([0.0, 0.0, 1.0], data="gaussian", dim=3)


@pytest.mark.parametrize("data", ["circle", "gaussian"])
@pytest.mark.parametrize("r, th", [(0.05, 0.3), (1.0, 2.0), (7.0, -1.0)])
def test_direct_plane_loss_matches_library(data, r, th):
    v = np.array([0.6, 0.8])
    loss = ll.PopulationLogisticLoss(v, data=data, dim=None if data == "circle" else 2)
    w = ch6.plane_frame(v, th, r)
    value, grad = ch6.direct_plane_loss(w, v, data)
    assert value == pytest.approx(loss.value(w[None]), rel=1e-12)
    assert ll.relative_difference(grad, loss.grad(w[None])[0]) < 1e-12


def test_direct_plane_loss_at_zero_and_errors():
    value, grad = ch6.direct_plane_loss([0.0, 0.0], [1.0, 0.0], "circle")
    assert value == pytest.approx(math.log(2.0), rel=1e-14)
    assert grad == pytest.approx([-1 / math.pi, 0.0], abs=1e-14)
    with pytest.raises(ValueError, match="w"):
        ch6.direct_plane_loss([1.0, 2.0, 3.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="v"):
        ch6.direct_plane_loss([1.0, 2.0], [np.nan, 0.0])
    with pytest.raises(ValueError, match="data"):
        ch6.direct_plane_loss([1.0, 2.0], [1.0, 0.0], "cube")
    with pytest.raises(ValueError, match="factor"):
        ch6.direct_plane_loss([1.0, 2.0], [1.0, 0.0], "gaussian", [[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="pieces"):
        ch6.direct_plane_loss([1.0, 2.0], [1.0, 0.0], pieces=0)


def test_direct_loss_in_three_dimensions(gauss3):
    w = np.array([0.3, -1.2, 0.5])
    value, grad = ch6.direct_loss(gauss3, w)
    assert value == pytest.approx(gauss3.value(w[None]), rel=1e-12)
    assert ll.relative_difference(grad, gauss3.grad(w[None])[0]) < 1e-12


def test_plane_helpers(circle, gauss3):
    w = ch6.plane_frame(gauss3.v, 0.7, 2.0)
    assert np.linalg.norm(w) == pytest.approx(2.0)
    assert gauss3.angle(w[None]) == pytest.approx(0.7)
    Q = ch6.plane_coordinates(w, gauss3.v)
    assert Q.T @ Q == pytest.approx(np.eye(2), abs=1e-14)
    assert np.linalg.norm(ch6.out_of_span(w, w, gauss3.v)) < 1e-14
    pts = ch6.random_points(circle, 5, rng=0)
    assert len(pts) == 5 and all(0.01 <= np.linalg.norm(p) <= 10 for p in pts)
    with pytest.raises(ValueError, match="count"):
        ch6.random_points(circle, 0)


def test_constants(circle):
    lam = ch6.lambert_constant()
    assert lam == pytest.approx(0.278464542761074, rel=1e-12)
    assert ch6.logistic_ratio(1 + lam) == pytest.approx(lam, rel=1e-12)
    assert ch6.rayleigh_mean() == pytest.approx(math.sqrt(math.pi / 2), rel=1e-13)
    assert 2 * ch6.projection_moment("circle", 0.0) == pytest.approx(2 / math.pi, rel=1e-13)
    gauss = 2 * ch6.projection_moment("gaussian", 0.0)
    assert gauss == pytest.approx(math.sqrt(2 / math.pi), rel=1e-13)
    assert ch6.projection_moment("circle", 2.0, printed=True) == pytest.approx(
        ch6.projection_moment("circle", 1.0)
    )
    with pytest.raises(ValueError, match="data"):
        ch6.projection_moment("cube", 1.0)
    # a < 0: |t| / (1 + e^{-|t|}) = |t| - |t| / (1 + e^{|t|}), and E|t| = 2 c0 / pi
    assert ch6.projection_moment("circle", -1.0) == pytest.approx(
        2 / math.pi - ch6.projection_moment("circle", 1.0), rel=1e-13
    )
    with pytest.raises(ValueError, match="a"):
        ch6.projection_moment("circle", math.inf)
    sup, r_sup = ch6.sharp_radial_bound(circle)
    assert 0.2327 < sup < 0.2329 and 1.7 < r_sup < 1.8


def test_radial_speed_by_quad(circle):
    # g(r v) = E psi(r |t|), by scipy's quad, against the library's gradient
    for r in (0.3, 2.0):
        g = ch6.radial_speed(circle, [r], [0.0])[0, 0]
        assert ch6.radial_speed_quad("circle", r) == pytest.approx(g, rel=1e-12)
    gauss = ll.PopulationLogisticLoss([1.0, 0.0, 0.0], data="gaussian", dim=3)
    g = ch6.radial_speed(gauss, [1.5], [0.0])[0, 0]
    assert ch6.radial_speed_quad("gaussian", 1.5) == pytest.approx(g, rel=1e-12)
    assert ch6.radial_speed_quad("circle", 0.0) == 0.0
    sup, r_sup = ch6.radial_sup_quad("circle")
    assert sup == pytest.approx(ch6.sharp_radial_bound(circle)[0], rel=1e-10)
    assert 1.7 < r_sup < 1.8
    with pytest.raises(ValueError, match="data"):
        ch6.radial_speed_quad("cube", 1.0)
    with pytest.raises(ValueError, match="r"):
        ch6.radial_speed_quad("circle", -1.0)


def test_lemma3_helpers(circle):
    g = ch6.radial_speed(circle, [0.5, 2.0], [0.0, 1.0, 2.5])
    assert g.shape == (2, 3) and g[:, 2].max() < 0
    ratios = ch6.lemma3_zero_ratios(circle, [1.5])
    assert 1.0 < ratios[0] < 1.01
    assert ch6.lemma3_radius(circle, 0.0) == pytest.approx(4 / math.pi)
    assert ch6.lemma3_derivative_error(circle) < 1e-6
    with pytest.raises(ValueError, match="angle"):
        ch6.radial_zero(circle, 2.0)


def test_lemma2_residual(circle):
    w = np.array([0.3, -2.0])
    assert ch6.lemma2_residual(circle, w, circle.grad(w[None])[0]) < 1e-14
    assert ch6.lemma2_residual(circle, w, circle.grad(w[None])[0], power=1) > 0.01
    assert ch6.lemma2_monte_carlo(circle, 20_000, rng=0) < 5


def test_monte_carlo_and_span():
    X = np.array([[1.0, -1.0], [0.0, 0.0]])
    mean, se = ch6.monte_carlo_gradient(X, np.array([[1.0, -1.0]]), np.zeros(2), [1.0, 0.0])
    assert mean == pytest.approx([-0.5, 0.0]) and se == pytest.approx([0.0, 0.0])
    iso, skew = ch6.span_test_d5(n=20_000, rng=0, count=2)
    assert iso < 5 < 20 < skew
    assert max(ch6.across_v_components([1.0])) < 1e-14
    assert min(ch6.across_v_components([1.0], factor=[[3, 0], [0, 1]])) > 0.1


def test_proposition_helpers(circle):
    s = ch6.proposition1_summary(circle, [1e-3, 1e3], [0.0, math.pi])
    assert s["max_grad"] == pytest.approx(2 / math.pi, rel=1e-3)
    assert s["max_curv"] == pytest.approx(1 / 8, rel=1e-4)
    assert s["hessian_fd"] < 1e-6 and s["cubic_error"] < 1e-5
    vg = ch6.v_gradient_grid(circle, [1.0], [0.0, 3.0])
    assert vg.max() < 0
    forms = ch6.proposition3_forms([circle], [2.0])
    assert forms["printed"][0] > 1 and forms["corrected"][0] < 1e-12
    incs = ch6.v_projection_steps(circle, [0.6, -0.8], t_end=2.0, lr=1.0, steps=5)
    assert incs.min() > 0


def test_angle_profiles(circle):
    prof = ch6.angle_profiles(circle, [1.0, 3.0], np.linspace(0, math.pi, 5))
    expected = circle.c0 * np.sin(prof["angles"]) / math.pi
    assert -prof["angular"] == pytest.approx(np.tile(expected, (2, 1)), abs=1e-14)
    assert prof["radial"].shape == (2, 5)


def test_equation2_error(circle, gauss3):
    pts = [np.array([0.3, -1.2]), np.array([2.0, 0.5])]
    assert ch6.equation2_error(circle, pts) < 1e-10
    assert ch6.equation2_error(circle, pts, sigma_sign=1.0) > 0.1
    assert ch6.equation2_error(gauss3, [np.array([0.2, -0.4, 1.0])]) < 1e-10
    with pytest.raises(ValueError, match="sigma_sign"):
        ch6.direct_plane_loss([1.0, 0.0], [0.0, 1.0], sigma_sign=0.5)


def test_lemma2_residual_parts(circle):
    w = np.array([0.3, -2.0])
    grad = circle.grad(w[None])[0]
    assert ch6.lemma2_residual(circle, w, grad, part="5") < 1e-14
    assert ch6.lemma2_residual(circle, w, grad, part="6") < 1e-14
    assert ch6.lemma2_residual(circle, w, grad, 1, part="5") > 0.01
    with pytest.raises(ValueError, match="part"):
        ch6.lemma2_residual(circle, w, grad, part="7")


def test_equation7_error(circle):
    assert ch6.equation7_error(circle, [0.6, -0.8], t_end=1.0) < 1e-8
    assert ch6.equation7_error(circle, [0.6, -0.8], t_end=1.0, half=1.0) > 0.5
    with pytest.raises(ValueError, match="t_end"):
        ch6.equation7_error(circle, [0.6, -0.8], t_end=0.0)


def test_expected_norm_z(gauss3):
    assert ch6.expected_norm_z(gauss3, 20_000, rng=0) < 4.0
    assert ch6.expected_norm_z(gauss3, 20_000, rng=0, value=math.sqrt(3)) > 10.0


def test_across_v_along_flow(circle):
    t = np.linspace(0.0, 5.0, 6)
    assert ch6.across_v_along_flow(circle, circle.v, -0.5 * circle.v, t).max() < 1e-14
    off = ch6.across_v_along_flow(circle, circle.v, [0.8, -0.6], t)
    assert off[0] == pytest.approx(1.0) and off.min() > 0
