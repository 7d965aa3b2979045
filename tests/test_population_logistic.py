"""Tests of linnet_lib.population_logistic: the population logistic loss of Lin, Sun & Zhang (2021).

The implementation reduces L exactly to a kink-free radial integral (see its docstring). The
references here do not: they integrate the raw integrand ``ln(1 + exp(-sgn(v^T x) w^T x))`` by
adaptive quadrature, over the angle of x on the circle (``scipy.integrate.quad``) and over the
plane in polar coordinates for the Gaussian (``scipy.integrate.cubature``), split at the kinks
(v^T x = 0) and graded around the zeros of w^T x. Closed-form series at w = r v, the paper's
identities (Lemma 2, Props. 1-3 and 4), finite differences and Monte Carlo complete the checks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import comb, expit, factorial2, zeta

import linnet_lib as ll
from linnet_lib.population_logistic import EmpiricalLogisticLoss, PopulationLogisticLoss

NON_FINITE = [np.nan, np.inf, -np.inf]
NORMS = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3]
ANGLES = [0.0, 1e-4, math.pi / 6, math.pi / 2, 2 * math.pi / 3, math.pi - 1e-4, math.pi]
V = np.array([0.6, 0.8])
E = np.array([-0.8, 0.6])  # V rotated by +pi/2
C0 = {"circle": 1.0, "gaussian": math.sqrt(math.pi / 2)}
LAMBDA_MAX = {"circle": 0.5, "gaussian": 1.0}  # largest eigenvalue of Sigma = E x x^T


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


def row(r: float, angle: float, v=V, e=E) -> np.ndarray:
    """The row W = w^T with ||w|| = r at the given angle from v (towards e)."""
    return (r * (math.cos(angle) * v + math.sin(angle) * e))[None, :]


def central_differences(f, W: np.ndarray, h: float) -> np.ndarray:
    """Central differences of a scalar or array function ``f`` of the row ``W``, one per entry."""
    out = []
    for i in range(W.size):
        step = np.zeros_like(W)
        step.flat[i] = h
        out.append((np.asarray(f(W + step)) - np.asarray(f(W - step))) / (2 * h))
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# Brute-force references (independent of the implementation's reduction)


def _ell(z: float) -> float:
    return math.log1p(math.exp(-z)) if z > 0 else -z + math.log1p(math.exp(z))


def _sigma_neg(z: float) -> float:
    """sigma(-z) = 1 / (1 + e^z), without overflow."""
    if z > 0:
        t = math.exp(-z)
        return t / (1.0 + t)
    return 1.0 / (1.0 + math.exp(z))


def _breaks(lo, hi, extra, centres, scale, base=4.0):
    """Sorted breakpoints of [lo, hi]: ``extra`` and ``centres +- base^k / scale`` (k >= 0)."""
    pts = {lo, hi, *[p for p in extra if lo < p < hi]}
    for c in centres:
        for k in range(12):
            for p in (c, c - base**k / scale, c + base**k / scale):
                if lo < p < hi:
                    pts.add(p)
    pts = sorted(pts)
    out = [pts[0]]
    for p in pts[1:-1]:
        if p - out[-1] > 1e-12 and hi - p > 1e-12:
            out.append(p)
    return [*out, hi]


def _angles_of_zeros(w, v):
    """Kinks (v^T x = 0) in [0, 2 pi) and zeros of w^T x (with periodic copies) as angles."""
    theta_v, theta_w = math.atan2(v[1], v[0]), math.atan2(w[1], w[0])
    kinks = [(theta_v + math.pi / 2 + k * math.pi) % (2 * math.pi) for k in range(2)]
    zeros = [theta_w + math.pi / 2 + k * math.pi for k in range(-2, 3)]
    return kinks, zeros


def circle_reference(w, v):
    """(L, grad L) for x uniform on S^1: ``scipy.integrate.quad`` on the raw angle integral."""
    w0, w1 = map(float, w)
    v0, v1 = map(float, v)
    r = math.hypot(w0, w1)

    def parts(phi):
        c, s = math.cos(phi), math.sin(phi)
        y = 1.0 if v0 * c + v1 * s >= 0 else -1.0
        return y, c, s, y * (w0 * c + w1 * s)

    def value(phi):
        return _ell(parts(phi)[3])

    def grad0(phi):
        y, c, _, z = parts(phi)
        return -y * c * _sigma_neg(z)

    def grad1(phi):
        y, _, s, z = parts(phi)
        return -y * s * _sigma_neg(z)

    kinks, zeros = _angles_of_zeros(w, v)
    uniform = list(np.linspace(0.0, 2 * math.pi, 33))
    pts = _breaks(0.0, 2 * math.pi, kinks + uniform, zeros, max(r, 1.0))
    out = []
    for f in (value, grad0, grad1):
        total = 0.0
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            total += integrate.quad(f, a, b, epsabs=1e-20, epsrel=1e-13, limit=500)[0]
        out.append(total / (2 * math.pi))
    return out[0], np.array(out[1:])


def gaussian_reference(w, v):
    """(L, grad L) for x ~ N(0, I_2): adaptive ``scipy.integrate.cubature`` in polar coordinates
    (angle phi, radius rho <= 12) on rectangles split at the kinks and graded around w^T x = 0
    and rho = 0."""
    w, v = np.asarray(w, dtype=float), np.asarray(v, dtype=float)
    r = float(np.hypot(*w))

    def f(P):
        phi, rho = P[:, 0], P[:, 1]
        x = np.stack([np.cos(phi), np.sin(phi)])
        y = np.where(v @ x >= 0, 1.0, -1.0)
        z = y * rho * (w @ x)
        density = rho * np.exp(-0.5 * rho * rho) / (2 * math.pi)
        s = expit(-z)
        return np.stack(
            [
                density * np.logaddexp(0.0, -z),
                -density * y * rho * x[0] * s,
                -density * y * rho * x[1] * s,
            ],
            axis=-1,
        )

    kinks, zeros = _angles_of_zeros(w, v)
    phis = _breaks(0.0, 2 * math.pi, kinks, zeros, max(r, 1.0), base=32.0)
    rhos = _breaks(0.0, 12.0, [], [0.0], max(r, 1.0), base=32.0)
    total = np.zeros(3)
    for a, b in zip(phis[:-1], phis[1:], strict=True):
        for c, d in zip(rhos[:-1], rhos[1:], strict=True):
            res = integrate.cubature(
                f, [a, c], [b, d], rule="gk21", rtol=1e-12, atol=1e-22, max_subdivisions=100000
            )
            assert res.status == "converged"
            total += res.estimate
    return total[0], total[1:]


# ---------------------------------------------------------------------------------------------
# Accuracy against the references


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("r", NORMS)
def test_circle_value_and_gradient_match_brute_force_quadrature(r, angle):
    loss = PopulationLogisticLoss(V)
    W = row(r, angle)
    value, grad = circle_reference(W[0], V)
    assert relative_error(loss.value(W), value) < 1e-10
    assert relative_error(loss.grad(W)[0], grad) < 1e-10


GAUSSIAN_CASES = [(r, a) for r in NORMS for a in (0.0, 2 * math.pi / 3, math.pi)] + [
    (1e-1, 1e-4),
    (1e-1, math.pi / 2),
    (10.0, math.pi / 6),
    (10.0, math.pi - 1e-4),
    (1e3, 1e-4),
]


@pytest.mark.parametrize(("r", "angle"), GAUSSIAN_CASES)
def test_gaussian_value_and_gradient_match_brute_force_cubature(r, angle):
    loss = PopulationLogisticLoss(V, data="gaussian", dim=2)
    W = row(r, angle)
    value, grad = gaussian_reference(W[0], V)
    assert relative_error(loss.value(W), value) < 1e-10
    assert relative_error(loss.grad(W)[0], grad) < 1e-10


def test_gaussian_in_three_dimensions_matches_the_reference_in_the_plane_of_w_and_v(rng):
    Q = ll.random_orthogonal(3, rng)
    b1, b2 = Q[:, 0], Q[:, 1]
    v = 0.6 * b1 + 0.8 * b2
    w = 3.0 * (0.2 * b1 - 0.9 * b2)
    loss = PopulationLogisticLoss(v, data="gaussian", dim=3)
    value, grad_plane = gaussian_reference([w @ b1, w @ b2], [0.6, 0.8])
    assert relative_error(loss.value(w[None]), value) < 1e-10
    assert relative_error(loss.grad(w[None])[0], grad_plane[0] * b1 + grad_plane[1] * b2) < 1e-10


def _radial_reference(data: str, r: float):
    """F(r) = L(r v), F'(r), F''(r) and h(r) = E[x_2^2 sigma'(r x_1)] by 1-D adaptive quad."""
    if data == "circle":
        hi = math.pi / 2

        def density(t):
            return 2 / math.pi

        def u(t):
            return math.sin(t)

        def perp2(t):
            return math.cos(t) ** 2
    else:
        hi = 40.0

        def density(t):
            return 2 * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)

        def u(t):
            return t

        def perp2(t):
            return 1.0

    pts = _breaks(0.0, hi, [], [0.0], max(r, 1.0))

    def Q(f):
        return sum(
            integrate.quad(f, a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
            for a, b in zip(pts[:-1], pts[1:], strict=True)
        )

    def dsig(z):
        return expit(z) * expit(-z)

    return (
        Q(lambda t: density(t) * _ell(r * u(t))),
        -Q(lambda t: density(t) * u(t) * _sigma_neg(r * u(t))),
        Q(lambda t: density(t) * u(t) ** 2 * dsig(r * u(t))),
        Q(lambda t: density(t) * perp2(t) * dsig(r * u(t))),
    )


@pytest.mark.parametrize("data", ["circle", "gaussian"])
def test_value_gradient_and_hessian_along_v_match_one_dimensional_quadrature(data):
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    for r in NORMS:
        F, dF, d2F, h = _radial_reference(data, r)
        W = row(r, 0.0)
        assert relative_error(loss.value(W), F) < 1e-12
        assert relative_error(loss.grad(W)[0], dF * V) < 1e-12
        along, across = loss.curvatures(W)
        assert relative_error(along, d2F) < 1e-12
        assert relative_error(across, h) < 1e-12
        H = loss.hessian(W)
        assert relative_error(H, d2F * np.outer(V, V) + h * np.outer(E, E)) < 1e-14


# ---------------------------------------------------------------------------------------------
# Closed forms at w = r v: L(r v) = F(r) = E ln(1 + exp(-r |x_1|))


def _log_cosh_coefficient(n: int) -> float:
    """c_n in ln cosh(x) = sum_{n>=1} c_n x^{2n} (from B_{2n} written with zeta(2n))."""
    return (-1) ** (n + 1) * (4.0**n - 1) * zeta(2 * n) / (n * math.pi ** (2 * n))


def _small_r_series(data: str, r: float, terms: int) -> tuple[float, float, float]:
    """F(r) = ln 2 - r E|u| / 2 + sum_n c_n (r/2)^{2n} E u^{2n} (ln(1 + e^{-z}) =
    ln 2 - z/2 + ln cosh(z/2)), F' and F''; convergent on the circle for r < pi, asymptotic for
    the Gaussian."""
    if data == "circle":
        mean_abs = 2 / math.pi

        def moment(n):
            return comb(2 * n, n, exact=True) / 4.0**n
    else:
        mean_abs = math.sqrt(2 / math.pi)

        def moment(n):
            return float(factorial2(2 * n - 1, exact=True))

    ns = range(1, terms + 1)
    F = math.log(2) - r * mean_abs / 2
    F += sum(_log_cosh_coefficient(n) * (r / 2) ** (2 * n) * moment(n) for n in ns)
    dF = -mean_abs / 2
    dF += sum(_log_cosh_coefficient(n) * n * (r / 2) ** (2 * n - 1) * moment(n) for n in ns)
    d2F = sum(
        _log_cosh_coefficient(n) * n * (2 * n - 1) / 2 * (r / 2) ** (2 * n - 2) * moment(n)
        for n in ns
    )
    return F, dF, d2F


def _large_r_series(data: str, r: float, terms: int = 10) -> tuple[float, float, float]:
    """Watson's lemma: F(r) ~ sum_m a_m (2m)! eta(2m + 2) / r^{2m+1}, with
    int_0^inf t^k ln(1 + e^{-t}) dt = k! eta(k + 2) and a_m the Taylor coefficients of the
    density of u = |x_1| (circle: (2/pi)(1 - u^2)^{-1/2}; Gaussian: 2 phi(u)); error O(e^{-r})."""

    def eta(s):
        return (1 - 2.0 ** (1 - s)) * zeta(s)

    def a(m):
        if data == "circle":
            return 2 / math.pi * comb(2 * m, m, exact=True) / 4.0**m
        return 2 / math.sqrt(2 * math.pi) * (-1) ** m / (2.0**m * math.factorial(m))

    b = [a(m) * math.factorial(2 * m) * eta(2 * m + 2) for m in range(terms)]
    F = sum(bm / r ** (2 * m + 1) for m, bm in enumerate(b))
    dF = -sum(bm * (2 * m + 1) / r ** (2 * m + 2) for m, bm in enumerate(b))
    d2F = sum(bm * (2 * m + 1) * (2 * m + 2) / r ** (2 * m + 3) for m, bm in enumerate(b))
    return F, dF, d2F


@pytest.mark.parametrize(
    ("data", "r"),
    [("circle", r) for r in (1e-3, 1e-2, 1e-1, 1.0)]
    + [("gaussian", r) for r in (1e-3, 1e-2, 1e-1)],
)
def test_value_gradient_and_curvature_at_w_parallel_to_v_match_small_norm_series(data, r):
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    F, dF, d2F = _small_r_series(data, r, terms=30 if data == "circle" else 8)
    assert relative_error(loss.value(row(r, 0.0)), F) < 1e-13
    assert relative_error(loss.grad(row(r, 0.0))[0], dF * V) < 1e-13
    assert relative_error(loss.curvatures(row(r, 0.0))[0], d2F) < 1e-13


@pytest.mark.parametrize("data", ["circle", "gaussian"])
@pytest.mark.parametrize("r", [100.0, 1e3])
def test_value_gradient_and_curvature_at_w_parallel_to_v_match_large_norm_asymptotics(data, r):
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    F, dF, d2F = _large_r_series(data, r)
    assert relative_error(loss.value(row(r, 0.0)), F) < 1e-13
    assert relative_error(loss.grad(row(r, 0.0))[0], dF * V) < 1e-13
    assert relative_error(loss.curvatures(row(r, 0.0))[0], d2F) < 1e-13


def test_circle_loss_at_large_norm_along_v_is_pi_over_6r_to_leading_order():
    """F(r) = (2/pi) eta(2) / r + O(r^-3) = pi / (6 r) (1 + 1.15e-6 at r = 1e3)."""
    loss = PopulationLogisticLoss(V)
    assert loss.value(row(1e3, 0.0)) == pytest.approx(math.pi / 6e3, rel=2e-6)


# ---------------------------------------------------------------------------------------------
# Derivatives: finite differences


@pytest.mark.parametrize("data", ["circle", "gaussian"])
@pytest.mark.parametrize("r", NORMS)
def test_gradient_matches_central_differences_of_the_value(data, r):
    """Step h = 1e-6 max(1, r): round-off ~ eps L / h and truncation ~ h^2 L''' / 6 stay below
    2e-7 relative (the worst case, w parallel to v at r = 1e3, has |grad| ~ 5e-7 against a
    third derivative ~ (c0 / pi) / r^2)."""
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    for angle in ANGLES:
        W = row(r, angle)
        fd = central_differences(loss.value, W, 1e-6 * max(1.0, r))
        assert relative_error(loss.grad(W)[0], fd) < 1e-6


@pytest.mark.parametrize("data", ["circle", "gaussian"])
@pytest.mark.parametrize("r", NORMS)
def test_hessian_matches_central_differences_of_the_gradient(data, r):
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    for angle in ANGLES:
        W = row(r, angle)
        fd = central_differences(lambda X: loss.grad(X)[0], W, 1e-5 * max(1.0, r))
        assert relative_error(loss.hessian(W), fd) < 1e-9


def test_gaussian_gradient_and_hessian_match_central_differences_in_five_dimensions(rng):
    v = rng.standard_normal(5)
    v /= np.linalg.norm(v)
    loss = PopulationLogisticLoss(v, data="gaussian", dim=5)
    for scale in (1e-2, 1.0, 30.0):
        W = scale * rng.standard_normal((1, 5))
        h = 1e-6 * max(1.0, scale)
        assert relative_error(loss.grad(W)[0], central_differences(loss.value, W, h)) < 1e-6
        fd = central_differences(lambda X: loss.grad(X)[0], W, 10 * h)
        assert relative_error(loss.hessian(W), fd) < 1e-8


# ---------------------------------------------------------------------------------------------
# Known facts (Lin, Sun & Zhang 2021)


@pytest.mark.parametrize(("data", "dim"), [("circle", None), ("gaussian", 2), ("gaussian", 4)])
def test_at_zero_the_loss_is_ln2_gradient_is_minus_c0_over_pi_v_and_hessian_is_sigma_over_4(
    data, dim
):
    v = np.zeros(dim or 2)
    v[:2] = V
    loss = PopulationLogisticLoss(v, data=data, dim=dim)
    W = np.zeros((1, v.size))
    assert loss.value(W) == math.log(2)
    np.testing.assert_allclose(loss.grad(W)[0], -C0[data] / math.pi * v, rtol=1e-15)
    np.testing.assert_allclose(loss.hessian(W), loss.covariance / 4, rtol=1e-14, atol=1e-16)
    assert loss.c0 == C0[data]


@pytest.mark.parametrize("data", ["circle", "gaussian"])
def test_hessian_is_positive_definite_and_bounded_by_a_quarter_of_lambda_max(data):
    """Prop. 1: L is convex and lambda_max(Sigma)/4-smooth, but not strongly convex."""
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    for r in [0.0, *NORMS]:
        for angle in ANGLES:
            H = loss.hessian(row(r, angle))
            np.testing.assert_array_equal(H, H.T)
            eig = np.linalg.eigvalsh(H)
            assert eig[0] > 0
            assert eig[-1] <= LAMBDA_MAX[data] / 4 * (1 + 1e-14)
    along, across = loss.curvatures(row(1e3, 1.0))
    assert along < 1e-8  # ~ r^-3: not strongly convex
    assert across < 1e-3  # ~ (c0 / pi) / r
    np.testing.assert_allclose(
        np.linalg.eigvalsh(loss.hessian(row(0.5, 1.0))),
        sorted(loss.curvatures(row(0.5, 1.0))),
        rtol=1e-13,
    )


@pytest.mark.parametrize("data", ["circle", "gaussian"])
def test_hessian_across_w_is_the_radial_slope_over_the_norm(data):
    """h(r) = (F'(r) + c0/pi) / r: the curvature across w comes from the norm in L = F(r) + ..."""
    loss = PopulationLogisticLoss(V, data=data, dim=2)
    for r in (0.1, 1.0, 10.0):
        W = row(r, 0.0)
        slope = V @ loss.grad(W)[0]
        assert E @ loss.hessian(W) @ E == pytest.approx((slope + loss.c0 / math.pi) / r, rel=1e-12)


@st.composite
def weights_and_directions(draw):
    """(loss, W): a loss (circle, or Gaussian in 2..6 dimensions) and a row W with log-uniform
    norm in [1e-3, 1e3] at a uniform angle in [0, pi] from v."""
    data = draw(st.sampled_from(["circle", "gaussian"]))
    dim = 2 if data == "circle" else draw(st.integers(2, 6))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    Q = ll.random_orthogonal(dim, gen)
    v, e = Q[:, 0], Q[:, 1]
    r = 10.0 ** draw(st.floats(-3, 3))
    angle = draw(st.floats(0, math.pi))
    loss = PopulationLogisticLoss(v, data=data, dim=dim if data == "gaussian" else None)
    return loss, row(r, angle, v, e)


@given(weights_and_directions())
def test_lemma2_the_gradient_turns_w_towards_v_at_rate_c0_sin2_over_pi(case):
    """Lemma 2: -v^T (I - wbar wbar^T) grad L(w) = c0 sin^2(theta) / pi for every norm."""
    loss, W = case
    w = W[0]
    wbar = w / np.linalg.norm(w)
    g = loss.grad(W)[0]
    lhs = -(loss.v @ g - (loss.v @ wbar) * (wbar @ g))
    assert lhs == pytest.approx(loss.c0 * math.sin(loss.angle(W)) ** 2 / math.pi, abs=1e-13)


@given(weights_and_directions())
def test_gradient_lies_in_the_span_of_w_and_v(case):
    loss, W = case
    basis, _ = np.linalg.qr(np.column_stack([W[0], loss.v]))
    g = loss.grad(W)[0]
    assert np.linalg.norm(g - basis @ (basis.T @ g)) <= 1e-14 * np.linalg.norm(g)


@given(weights_and_directions())
def test_prop2_and_prop3_v_descends_and_the_gradient_is_at_most_c0(case):
    """Prop. 2(i): v^T grad L < 0; Prop. 3(i): ||grad L|| <= c0 (c-Lipschitz, Prop. 1)."""
    loss, W = case
    g = loss.grad(W)[0]
    assert loss.v @ g < 0
    assert np.linalg.norm(g) <= loss.c0


@given(weights_and_directions(), st.integers(0, 2**32 - 1))
def test_loss_is_midpoint_convex(case, seed):
    loss, W = case
    W2 = W + np.linalg.norm(W) * np.random.default_rng(seed).standard_normal(W.shape)
    mid = loss.value((W + W2) / 2)
    assert mid <= (loss.value(W) + loss.value(W2)) / 2 * (1 + 1e-14)


def test_angle_is_the_angle_between_w_and_v():
    loss = PopulationLogisticLoss(V)
    for angle in ANGLES:
        assert loss.angle(row(2.0, angle)) == pytest.approx(angle, abs=1e-15)
    assert loss.angle(np.zeros((1, 2))) == 0.0


# ---------------------------------------------------------------------------------------------
# With the training routines of the library


def test_depth_two_gradient_flow_follows_prop4_exactly():
    """Prop. 4 (N = 2): cos theta(t) = 1 - 2 / (C1 e^{2 c0 t / pi} + 1), C1 = (1+cos0)/(1-cos0),
    along the end-to-end flow and the per-layer flow from a balanced start (Figure 1 set-up)."""
    loss = PopulationLogisticLoss([0.0, 1.0])
    W0 = np.array([[0.6, -0.8]])
    t = np.linspace(0.0, 4.0, 9)
    cos0 = -0.8
    expected = 1 - 2 / ((1 + cos0) / (1 - cos0) * np.exp(2 * t / math.pi) + 1)
    end_to_end = ll.gradient_flow(loss, W0, t, depth=2)
    per_layer = ll.gradient_flow(loss, ll.balanced_init(W0, 2, rng=0), t)
    for result in (end_to_end, per_layer):
        cos = np.array([math.cos(loss.angle(W)) for W in result.end_to_end])
        np.testing.assert_allclose(cos, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(end_to_end.end_to_end, per_layer.end_to_end, rtol=1e-7, atol=1e-9)


def test_gradient_descent_on_a_deep_network_turns_w_towards_v():
    loss = PopulationLogisticLoss([0.0, 1.0])
    layers = ll.balanced_init(np.array([[0.6, -0.8]]), 3, rng=1)
    result = ll.gradient_descent(loss, layers, lr=0.05, steps=300, record_every=30)
    cos = np.array([math.cos(loss.angle(W)) for W in result.end_to_end])
    assert not result.diverged
    assert np.all(np.diff(cos) > 0)
    assert cos[-1] > 0.5
    assert result.loss[-1] < result.loss[0]


# ---------------------------------------------------------------------------------------------
# Sampling and the empirical loss


@pytest.mark.parametrize(("data", "dim"), [("circle", None), ("gaussian", 3)])
def test_sample_shapes_and_labels(data, dim):
    v = np.array([0.0, 1.0, 0.0][: dim or 2])
    loss = PopulationLogisticLoss(v, data=data, dim=dim)
    X, y = loss.sample(50, rng=3)
    assert X.shape == (v.size, 50)
    assert y.shape == (1, 50)
    np.testing.assert_array_equal(y[0], np.where(v @ X >= 0, 1.0, -1.0))
    if data == "circle":
        np.testing.assert_allclose(np.linalg.norm(X, axis=0), 1.0, rtol=1e-15)
    X2, y2 = loss.sample(50, rng=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize(("data", "dim"), [("circle", None), ("gaussian", 5)])
def test_monte_carlo_loss_and_gradient_agree_with_the_population(data, dim, rng):
    """Fresh samples: the empirical loss and gradient are within 5 standard errors of the
    population values (this also checks the reduction to span(w, v) for d > 2)."""
    d = dim or 2
    v = rng.standard_normal(d)
    v /= np.linalg.norm(v)
    loss = PopulationLogisticLoss(v, data=data, dim=dim)
    W = 1.5 * rng.standard_normal((1, d))
    X, y = loss.sample(200_000, rng)
    margins = y * (W @ X)
    per_sample_loss = np.logaddexp(0.0, -margins)[0]
    per_sample_grad = -(y * expit(-margins)) * X
    empirical = EmpiricalLogisticLoss(X, y)
    n = X.shape[1]
    assert empirical.value(W) == pytest.approx(per_sample_loss.mean(), rel=1e-12)
    np.testing.assert_allclose(empirical.grad(W)[0], per_sample_grad.mean(axis=1), rtol=1e-10)
    se_loss = per_sample_loss.std() / math.sqrt(n)
    se_grad = per_sample_grad.std(axis=1) / math.sqrt(n)
    assert abs(empirical.value(W) - loss.value(W)) < 5 * se_loss
    assert np.all(np.abs(empirical.grad(W)[0] - loss.grad(W)[0]) < 5 * se_grad)


def test_sample_loss_is_an_empirical_loss_on_fresh_samples():
    loss = PopulationLogisticLoss(V)
    batch = loss.sample_loss(1000, rng=7)
    X, y = loss.sample(1000, rng=7)
    assert isinstance(batch, EmpiricalLogisticLoss)
    assert batch.shape == (1, 2)
    np.testing.assert_array_equal(batch.X, X)
    np.testing.assert_array_equal(batch.y, y)


def test_empirical_gradient_matches_finite_differences(rng, numerical_gradient):
    X = rng.standard_normal((3, 40))
    y = np.where(rng.standard_normal((1, 40)) >= 0, 1.0, -1.0)
    loss = EmpiricalLogisticLoss(X, y)
    W = rng.standard_normal((1, 3))
    assert relative_error(loss.grad(W), numerical_gradient(loss.value, W)) < 1e-7


def test_empirical_loss_is_stable_for_huge_weights():
    X = np.array([[1.0, -1.0, 2.0]])
    y = np.array([[1.0, 1.0, -1.0]])
    loss = EmpiricalLogisticLoss(X, y)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss.value(np.array([[1e6]])) == pytest.approx((1e6 + 2e6) / 3, rel=1e-12)
        # -(1/3) sum_i y_i sigma(-margin_i) x_i = -(1/3) (0 + 1 * 1 * (-1) + (-1) * 1 * 2) = 1
        np.testing.assert_allclose(loss.grad(np.array([[1e6]])), [[1.0]], rtol=1e-15)


def test_empirical_loss_validates_its_sample():
    X = np.ones((2, 4))
    with pytest.raises(ValueError, match=r"\by\b.*shape \(1, 4\)"):
        EmpiricalLogisticLoss(X, np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"\by\b.*\+1 or -1"):
        EmpiricalLogisticLoss(X, np.array([[1.0, 0.0, 1.0, -1.0]]))
    with pytest.raises(ValueError, match=r"\bX\b"):
        EmpiricalLogisticLoss(np.ones(4), np.ones((1, 4)))


# ---------------------------------------------------------------------------------------------
# Interface and validation


def test_population_loss_is_a_loss_with_a_row_shape():
    loss = PopulationLogisticLoss(np.eye(4)[2], data="gaussian", dim=4)
    assert isinstance(loss, ll.Loss)
    assert ll.PopulationLogisticLoss is PopulationLogisticLoss
    assert loss.shape == (1, 4)
    assert type(loss.value(np.ones((1, 4)))) is float
    assert loss.grad(np.ones((1, 4))).shape == (1, 4)
    assert loss.hessian(np.ones((1, 4))).shape == (4, 4)
    np.testing.assert_array_equal(loss.covariance, np.eye(4))
    assert "gaussian" in repr(loss)


def test_v_within_tolerance_of_unit_norm_is_accepted_and_renormalised():
    loss = PopulationLogisticLoss(np.array([0.6, 0.8]) * (1 + 5e-13))
    assert np.linalg.norm(loss.v) == pytest.approx(1.0, abs=2e-16)


@pytest.mark.parametrize("scale", [1 + 1e-9, 0.5, 2.0])
def test_rejects_v_that_is_not_a_unit_vector(scale):
    with pytest.raises(ValueError, match=r"\bv\b must be a unit vector"):
        PopulationLogisticLoss(V * scale)


def test_rejects_the_zero_vector_as_v():
    with pytest.raises(ValueError, match=r"\bv\b must be a unit vector"):
        PopulationLogisticLoss([0.0, 0.0])


@pytest.mark.parametrize("bad", [[[0.6, 0.8]], [[0.6], [0.8]], [1.0], 1.0, [], "v"])
def test_rejects_v_of_the_wrong_shape(bad):
    with pytest.raises(ValueError, match=r"\bv\b"):
        PopulationLogisticLoss(bad)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_rejects_non_finite_v(bad):
    with pytest.raises(ValueError, match=r"\bv\b must have finite entries"):
        PopulationLogisticLoss([bad, 1.0])


def test_circle_rejects_v_outside_the_plane():
    with pytest.raises(ValueError, match=r"\bv\b must have 2 entries for data='circle'"):
        PopulationLogisticLoss([0.0, 0.0, 1.0])


@pytest.mark.parametrize("bad", ["Circle", "sphere", "", None, 2])
def test_rejects_unknown_data(bad):
    with pytest.raises(ValueError, match=r"\bdata\b must be one of"):
        PopulationLogisticLoss(V, data=bad)


def test_gaussian_requires_dim():
    with pytest.raises(ValueError, match=r"\bdim\b is required"):
        PopulationLogisticLoss(V, data="gaussian")


@pytest.mark.parametrize("dim", [3, 1])
def test_gaussian_rejects_dim_inconsistent_with_v(dim):
    with pytest.raises(ValueError, match=r"\bdim\b|\bv\b must have dim"):
        PopulationLogisticLoss(V, data="gaussian", dim=dim)


@pytest.mark.parametrize("bad", [2.0, True, "2", 0])
def test_gaussian_rejects_dim_that_is_not_an_integer_at_least_two(bad):
    with pytest.raises(ValueError, match=r"\bdim\b"):
        PopulationLogisticLoss(V, data="gaussian", dim=bad)


@pytest.mark.parametrize("bad", [3, 1, 2.0, "2"])
def test_circle_rejects_dim_other_than_two(bad):
    with pytest.raises(ValueError, match=r"\bdim\b"):
        PopulationLogisticLoss(V, data="circle", dim=bad)


def test_circle_accepts_dim_two():
    assert PopulationLogisticLoss(V, data="circle", dim=2).shape == (1, 2)


@pytest.mark.parametrize("method", ["value", "grad", "hessian", "curvatures", "angle"])
@pytest.mark.parametrize("bad_shape", [(2, 1), (1, 3), (2, 2), (2,)])
def test_rejects_W_of_the_wrong_shape(method, bad_shape):
    loss = PopulationLogisticLoss(V)
    with pytest.raises(ValueError, match=r"\bW\b"):
        getattr(loss, method)(np.ones(bad_shape))


@pytest.mark.parametrize("method", ["value", "grad", "hessian", "curvatures", "angle"])
@pytest.mark.parametrize("bad", NON_FINITE)
def test_rejects_non_finite_W(method, bad):
    loss = PopulationLogisticLoss(V)
    with pytest.raises(ValueError, match=r"\bW\b must have finite entries"):
        getattr(loss, method)(np.array([[1.0, bad]]))


def test_rejects_W_whose_norm_overflows():
    with pytest.raises(ValueError, match=r"\bW\b is too large"):
        PopulationLogisticLoss(V).grad(np.array([[1.5e308, 1.5e308]]))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10"])
def test_sample_rejects_bad_n(bad):
    with pytest.raises(ValueError, match=r"\bn\b"):
        PopulationLogisticLoss(V).sample(bad, rng=0)


def test_sample_rejects_bad_rng():
    with pytest.raises(ValueError, match=r"\brng\b"):
        PopulationLogisticLoss(V).sample(10, rng="seed")
