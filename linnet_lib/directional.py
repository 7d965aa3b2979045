"""Directional convergence (Lin, Sun & Zhang 2021): the angle to the labelling direction converges
while the norm diverges.

Notation of the paper: ``v`` is the unit labelling direction, ``theta`` the angle between the
weight ``w`` (the end-to-end row of a network) and ``v``, ``c0 = E ||x_2||`` for the 2-D marginal of
the data. Every bound on ``cos theta`` of the form ``cos theta >= 1 - 2 / (e^u + 1)`` is handled
through its *exponent* ``u``: the exact angle has exponent ``angle_exponent(theta) =
-2 ln tan(theta / 2)``, so such a bound says ``angle_exponent(theta(t)) >= u(t)``.

Section 3 of the paper (logistic regression, N = 1):

* the gradient flow in polar form, Eq. (4) (:func:`polar_velocity`, :func:`polar_flow`);
* the norm's turning time T of Lemma 1 (:func:`norm_turning_time`);
* Theorem 1's two-phase exponents, with the constant A2 as printed and as derived
  (:func:`theorem1_a2`, :func:`theorem1_exponent`);
* the exact one-step identities of gradient descent, Eqs. (8) and (10), and the bounds of
  Lemma 4, Lemma 5 and Theorem 2 (:func:`gd_cos_increment`, :func:`gd_norm_sq`,
  :func:`lemma4_bound`, :func:`lemma5_bound`, :func:`condition11_delta`,
  :func:`theorem2_threshold`).

Section 4 (deep linear networks, the end-to-end row of a balanced depth-N network): the exponent's
rate of Lemma 7 (:func:`induced_exponent_rate`), Proposition 4's exact solution for N = 2
(:func:`proposition4_exponent`), the norm bounds of Lemma 8 (:func:`lemma8_norm_bounds`) and
Theorem 3's lower and upper bounds for N > 2 (:func:`theorem3_exponents`). The induced flow itself,
Eq. (14), is ``training.gradient_flow(loss, w, t, depth=N)`` (chapter 1's end-to-end dynamics).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import expit

from . import _validate as val

DATA = ("circle", "gaussian")


def c0(data: str) -> float:
    """The paper's ``c0 = E ||x_2||``, the mean norm of a 2-D marginal of the data: 1 for x uniform
    on the unit circle, ``sqrt(pi / 2)`` (the mean of a chi distribution with 2 degrees of freedom)
    for x standard Gaussian."""
    if not isinstance(data, str) or data not in DATA:
        raise ValueError(f"data must be one of {DATA}, got {data!r}")
    return 1.0 if data == "circle" else math.sqrt(0.5 * math.pi)


def angle_exponent(theta):
    """``u = -2 ln tan(theta / 2)``, so that ``cos theta = 1 - 2 / (e^u + 1)`` exactly.

    Increasing as theta decreases: +inf at theta = 0, 0 at pi/2, -inf at pi."""
    theta = np.asarray(theta, dtype=float)
    if np.any(~np.isfinite(theta)) or np.any(theta < 0) or np.any(theta > math.pi):
        raise ValueError("theta must lie in [0, pi]")
    with np.errstate(divide="ignore"):
        return -2.0 * np.log(np.tan(0.5 * theta))


def one_minus_cos(u):
    """``2 / (e^u + 1)``: the bound on ``1 - cos theta`` carried by an exponent u."""
    return 2.0 * expit(-np.asarray(u, dtype=float))


def _row(w) -> np.ndarray:
    w = np.asarray(w, dtype=float).reshape(-1)
    if w.size < 2 or not np.all(np.isfinite(w)):
        raise ValueError(f"w must be a finite vector with at least 2 entries, got {w!r}")
    if not np.linalg.norm(w) > 0:
        raise ValueError("w must be non-zero")
    return w


def polar_velocity(loss, w) -> tuple[float, float]:
    """``(d||w||/dt, d cos(theta)/dt)`` along the gradient flow ``dw/dt = -grad L(w)`` at ``w``.

    ``d||w||/dt = -wbar^T grad L`` (Eq. (7) divided by ``||w||``) and Eq. (4),
    ``d cos theta / dt = -(1 / ||w||) (v - (wbar^T v) wbar)^T grad L(w)``. ``loss`` is a
    :class:`~linnet_lib.population_logistic.PopulationLogisticLoss` (it supplies ``v``)."""
    w = _row(w)
    g = loss.grad(w[None, :])[0]
    r = float(np.linalg.norm(w))
    wbar = w / r
    cos = float(loss.v @ wbar)
    return -float(wbar @ g), -float((loss.v - cos * wbar) @ g) / r


def polar_flow(loss, w0, t_eval, *, rtol: float = 1e-12, atol: float = 1e-14):
    """Integrate the flow in polar form, ``(||w||, theta)`` with Eq. (4) for the angle, from ``w0``.

    The flow stays in the plane spanned by ``w0`` and ``v`` (the gradient lies in span(w, v)), on
    the side of ``w0``; ``w = r (cos theta v + sin theta e)`` with ``e`` the unit vector of that plane
    orthogonal to v. Requires ``w0`` not parallel to v. Returns ``(r, theta)`` at ``t_eval``.
    """
    w0 = _row(w0)
    t = np.asarray(t_eval, dtype=float)
    if t.ndim != 1 or t.size == 0 or t[0] < 0 or np.any(np.diff(t) <= 0):
        raise ValueError("t_eval must be a non-empty increasing array of times >= 0")
    perp = w0 - (loss.v @ w0) * loss.v
    if not np.linalg.norm(perp) > 1e-12 * np.linalg.norm(w0):
        raise ValueError("w0 must not be parallel to v")
    e = perp / np.linalg.norm(perp)

    def rhs(_, y):
        r, theta = y
        w = r * (math.cos(theta) * loss.v + math.sin(theta) * e)
        dr, dcos = polar_velocity(loss, w)
        return [dr, -dcos / math.sin(theta)]

    theta0 = math.atan2(float(np.linalg.norm(perp)), float(loss.v @ w0))
    sol = solve_ivp(
        rhs,
        (0.0, t[-1]),
        [float(np.linalg.norm(w0)), theta0],
        t_eval=t,
        method="DOP853",
        rtol=rtol,
        atol=atol,
    )
    if sol.status != 0:
        raise RuntimeError(f"polar flow failed: {sol.message}")
    return sol.y[0], sol.y[1]


def norm_turning_time(
    loss, w0, t_max: float, *, rtol: float = 1e-12, atol: float = 1e-14
) -> tuple[float, np.ndarray]:
    """Lemma 1's ``T = inf{t : d||w||^2/dt >= 0}`` for the gradient flow from ``w0``, by event location.

    ``g(w) = -w^T grad L(w) = (1/2) d||w||^2/dt`` (Eq. (7)); solve_ivp locates the first zero of g
    crossed upwards (from the falling phase to the rising one). Returns ``(T, w(T))``; T = 0 if
    the norm does not fall at the start, and ``(inf, w(t_max))`` if no upward crossing occurs before
    ``t_max``.
    """
    w0 = _row(w0)
    t_max = val.real("t_max", t_max, low=0.0, strict_low=True)

    def g(_, w):
        return -float(w @ loss.grad(w[None, :])[0])

    if g(0.0, w0) >= 0:
        return 0.0, w0.copy()
    g.terminal = True
    g.direction = 1.0

    def rhs(_, w):
        return -loss.grad(w[None, :])[0]

    sol = solve_ivp(rhs, (0.0, t_max), w0, method="DOP853", rtol=rtol, atol=atol, events=g)
    if sol.status == -1:
        raise RuntimeError(f"flow failed: {sol.message}")
    if sol.t_events[0].size == 0:
        return math.inf, sol.y[:, -1].copy()
    return float(sol.t_events[0][0]), sol.y_events[0][0].copy()


def theorem1_a2(c0_value: float, *, printed: bool = False) -> float:
    """Theorem 1's constant A2: as derived, ``4 c0 / (sqrt(0.6) pi)``; as printed in the paper,
    ``4 c0 / sqrt(0.6 pi)`` (which the flow violates; see the notebook's erratum)."""
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    if printed:
        return 4.0 * c / math.sqrt(0.6 * math.pi)
    return 4.0 * c / (math.sqrt(0.6) * math.pi)


def theorem1_exponent(
    t,
    c0_value: float,
    norm0: float,
    theta0: float,
    T: float,
    normT: float,
    thetaT: float,
    *,
    printed: bool = False,
    c2_under_root: bool = True,
    scale1: float = 1.0,
    scale2: float = 1.0,
    power: float = 0.5,
):
    """Theorem 1's exponent u(t): ``cos theta(t) >= 1 - 2 / (e^{u(t)} + 1)``.

    For ``t <= T``: ``A1 t + B1`` with ``A1 = 2 c0 / (pi ||w(0)||)`` and
    ``B1 = -2 ln tan(theta(0) / 2)``. For ``t > T``: ``A2 sqrt(t - T + C2) + B2`` with
    ``C2 = ||w(T)||^2 / 0.6`` and ``B2 = -2 ln tan(theta(T) / 2) - 4 c0 ||w(T)|| / (0.6 pi)``;
    A2 from :func:`theorem1_a2` (``printed`` selects the paper's printed constant). With the
    derived A2 the second phase starts at the true exponent, ``A2 sqrt(C2) + B2 = u(T)``; the
    first ends at ``A1 T + B1``, below ``u(T)`` whenever the norm fell before T, so the bound
    jumps up at T (the printed A2 starts the second phase above ``u(T)``). ``scale1``,
    ``scale2`` (multiplying A1, A2) and ``power`` (the exponent 1/2 of the second phase) exist
    for sharpness controls. ``c2_under_root=False`` takes our text copy's literal form of the
    second phase, ``A2 sqrt(t - T) + C2 + B2`` (C2 outside the root).
    """
    t = np.asarray(t, dtype=float)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    norm0 = val.real("norm0", norm0, low=0.0, strict_low=True)
    normT = val.real("normT", normT, low=0.0, strict_low=True)
    T = val.real("T", T, low=0.0)
    a1 = scale1 * 2.0 * c / (math.pi * norm0)
    b1 = float(angle_exponent(theta0))
    a2 = scale2 * theorem1_a2(c, printed=printed)
    c2 = normT**2 / 0.6
    b2 = float(angle_exponent(thetaT)) - 4.0 * c * normT / (0.6 * math.pi)
    if c2_under_root:
        late = a2 * (np.maximum(t - T, 0.0) + c2) ** power + b2
    else:
        late = a2 * np.maximum(t - T, 0.0) ** power + c2 + b2
    return np.where(t <= T, a1 * t + b1, late)


# -- gradient descent ------------------------------------------------------------------------------


def gd_cos_increment(v, w, w_next, grad, lr: float) -> float:
    """The right side of Eq. (8): ``cos theta(n+1) - cos theta(n)`` for one gradient-descent step
    ``w_next = w - lr * grad``, as ``(1 / ||w_next||) [-lr (v - (wbar^T v) wbar)^T grad
    - (||w_next|| - wbar^T w_next) cos theta(n)]``. An identity for any vector ``grad``."""
    w, w_next = _row(w), _row(w_next)
    grad = np.asarray(grad, dtype=float).reshape(-1)
    lr = val.real("lr", lr, low=0.0, strict_low=True)
    wbar = w / np.linalg.norm(w)
    cos = float(v @ wbar)
    r_next = float(np.linalg.norm(w_next))
    along = float(wbar @ w_next)
    return (-lr * float((v - cos * wbar) @ grad) - (r_next - along) * cos) / r_next


def gd_norm_sq(w, w_next, c0_value: float, lr: float, theta: float) -> float:
    """The right side of Eq. (10): ``||w(n+1)||^2 = (wbar(n)^T w(n+1))^2
    + (c0 lr / pi)^2 sin^2 theta(n)``, which holds for the population gradient on spherically
    symmetric data (by Lemma 2, the part of the gradient across w is ``-(c0 / pi) (I - wbar
    wbar^T) v``). The paper's proof (its Lemma 12) is in the appendix the source lacks."""
    w, w_next = _row(w), _row(w_next)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    lr = val.real("lr", lr, low=0.0, strict_low=True)
    wbar = w / np.linalg.norm(w)
    return float(wbar @ w_next) ** 2 + (c * lr / math.pi) ** 2 * math.sin(theta) ** 2


def _cosine(cos0) -> float:
    cos0 = val.real("cos0", cos0, low=-1.0)
    if cos0 > 1.0:
        raise ValueError(f"cos0 must be <= 1, got {cos0!r}")
    return cos0


def _lrs(lrs) -> np.ndarray:
    lrs = np.asarray(lrs, dtype=float).reshape(-1)
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError("lrs must be a non-empty array of positive step sizes")
    return lrs


def lemma4_bound(cos0: float, norm0: float, c0_value: float, lrs):
    """Lemma 4, Eq. (9): the bound ``1 - cos theta(n) <= (1 - cos theta(0)) e^{-B S_n^-}`` for
    n = 0, ..., len(lrs), with ``S_n^- = sum_{k<n} lr_k / sqrt(A + sum_{i<=k} lr_i^2)``,
    ``A = ||w(0)||^2 / c0^2`` and ``B = (1 + cos theta(0)) / pi``. Valid while cos theta < 0
    (and at the first step where it turns non-negative)."""
    lrs = _lrs(lrs)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    norm0 = val.real("norm0", norm0, low=0.0, strict_low=True)
    cos0 = _cosine(cos0)
    a = norm0**2 / c**2
    b = (1.0 + cos0) / math.pi
    s = np.concatenate([[0.0], np.cumsum(lrs / np.sqrt(a + np.cumsum(lrs**2)))])
    return (1.0 - cos0) * np.exp(-b * s)


def lemma5_bound(cos0: float, norm0: float, c0_value: float, lrs, delta: float):
    """Lemma 5, Eq. (12): ``1 - cos theta(n) <= (1 - cos theta(0)) e^{-B S_n^+}`` for
    n = 0, ..., len(lrs), with ``S_n^+ = sum_{k<n} lr_k / sqrt(A + sum_{i<=k} (lr_i^2 + C lr_i))``,
    ``A = ||w(0)||^2 / c0^2``, ``B = delta (1 + cos theta(0)) / ((1 + delta) pi)`` and
    ``C = 0.6 / c0^2``; valid when condition (11) holds with this delta at every step."""
    lrs = _lrs(lrs)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    norm0 = val.real("norm0", norm0, low=0.0, strict_low=True)
    cos0 = _cosine(cos0)
    delta = val.real("delta", delta, low=0.0, strict_low=True)
    a = norm0**2 / c**2
    b = delta * (1.0 + cos0) / ((1.0 + delta) * math.pi)
    s = np.concatenate([[0.0], np.cumsum(lrs / np.sqrt(a + np.cumsum(lrs**2 + 0.6 / c**2 * lrs)))])
    return (1.0 - cos0) * np.exp(-b * s)


def condition11_delta(v, W, c0_value: float, lrs):
    """The largest delta for which condition (11) of Lemma 5,
    ``||w(n+1)|| + wbar(n)^T w(n+1) >= (1 + delta) c0 lr_n cos theta(n) / pi``, holds at each step
    of a run ``W`` (rows w(0), ..., w(N)) made with step sizes ``lrs`` (length N): +inf at steps
    with cos theta(n) <= 0 (where (11) holds for every delta)."""
    W = np.asarray(W, dtype=float)
    lrs = _lrs(lrs)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    if W.ndim != 2 or W.shape[0] != lrs.size + 1:
        raise ValueError(f"W must have len(lrs) + 1 = {lrs.size + 1} rows, got shape {W.shape}")
    norms = np.linalg.norm(W, axis=1)
    wbar = W[:-1] / norms[:-1, None]
    cos = wbar @ v
    lhs = norms[1:] + np.einsum("ij,ij->i", wbar, W[1:])
    with np.errstate(divide="ignore"):
        delta = np.where(cos > 0, math.pi * lhs / (c * lrs * cos) - 1.0, np.inf)
    return delta


def theorem2_threshold(lr_max: float, c0_value: float) -> float:
    """Theorem 2's ``R1 = lr_max c0 (1 + 1 / pi)``: from the first step n1 with
    ``v^T w(n1) >= R1``, condition (11) holds with delta = 1 and Eq. (12) applies."""
    lr_max = val.real("lr_max", lr_max, low=0.0, strict_low=True)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    return lr_max * c * (1.0 + 1.0 / math.pi)


def classical_step_cap(covariance) -> float:
    """``2 / beta`` with ``beta = lambda_max(Sigma) / 4``, the smoothness constant of the logistic
    loss (Proposition 1 of Lin, Sun & Zhang): the classical step-size cap for gradient descent,
    which Remark 3 says the direction does not need."""
    sigma = val.matrix("covariance", covariance)
    if sigma.shape[0] != sigma.shape[1] or not np.allclose(sigma, sigma.T):
        raise ValueError(f"covariance must be a symmetric square matrix, got shape {sigma.shape}")
    beta = float(np.linalg.eigvalsh(sigma)[-1]) / 4.0
    if not beta > 0:
        raise ValueError("covariance must have a positive eigenvalue")
    return 2.0 / beta


def condition11_gain(cos_n, theta_n, norm_next, c0_value: float, lrs, delta):
    """What condition (11) buys at a step: combining Eqs. (8) and (10),
    ``cos theta(n+1) - cos theta(n) = (delta_n / (1 + delta_n)) c0 lr_n sin^2 theta(n) /
    (pi ||w(n+1)||)`` exactly, with ``delta_n`` the largest delta of (11) at that step
    (:func:`condition11_delta`). Arrays over steps; ``delta`` may be +inf (cos theta(n) <= 0)."""
    lrs = _lrs(lrs)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    delta = np.asarray(delta, dtype=float)
    norm_next = np.asarray(norm_next, dtype=float)
    if np.any(norm_next <= 0):
        raise ValueError("norm_next must be positive")
    with np.errstate(invalid="ignore"):
        keep = np.where(np.isinf(delta), 1.0, delta / (1.0 + delta))
    return keep * c * lrs * np.sin(np.asarray(theta_n, dtype=float)) ** 2 / (math.pi * norm_next)


def condition11_chain_delta(norm, lr, grad_norm, cos, c0_value: float):
    """The paper's sufficient route to (11) after Lemma 5: ``||w(n+1)|| + wbar(n)^T w(n+1) >=
    2 (||w(n)|| - lr ||grad L(w(n))||)``, so (11) holds with
    ``delta = 2 pi (||w(n)|| - lr ||grad L||) / (c0 lr cos theta(n)) - 1``, returned here. With
    the worst case ``||grad L|| = c0`` and ``cos theta = 1`` it equals 1 exactly at
    ``||w(n)|| = R1`` (:func:`theorem2_threshold`)."""
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    lr = np.asarray(lr, dtype=float)
    if np.any(lr <= 0):
        raise ValueError("lr must be positive")
    return (
        2.0 * math.pi * (np.asarray(norm) - lr * np.asarray(grad_norm)) / (c * lr * np.asarray(cos))
        - 1.0
    )


# -- section 4: deep linear networks ---------------------------------------------------------------
# The end-to-end row w_e of a balanced depth-N network moves by Eq. (14); its angle then obeys
# Lemma 7, d cos theta / dt = (c0 / pi) sin^2 theta ||w_e||^{1 - 2/N}, i.e. the exponent
# u = -2 ln tan(theta / 2) grows at the rate (2 c0 / pi) ||w_e||^{1 - 2/N}. Every bound below is
# that rate integrated against a bound on the norm (Lemma 8), written as an exponent.


def _depth(depth, minimum: int = 2) -> int:
    return val.positive_int("depth", depth, minimum=minimum)


def induced_exponent_rate(c0_value: float, norm, depth: int):
    """``du/dt = (2 c0 / pi) ||w_e||^{1 - 2/N}`` for the exponent ``u = angle_exponent(theta)``
    of a balanced depth-N network (Lemma 7, Eq. (16), rewritten for u)."""
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    n = _depth(depth, minimum=1)
    norm = np.asarray(norm, dtype=float)
    if np.any(~np.isfinite(norm)) or np.any(norm <= 0):
        raise ValueError("norm must be positive and finite")
    return 2.0 * c / math.pi * norm ** (1.0 - 2.0 / n)


def proposition4_exponent(t, c0_value: float, theta0: float):
    """Proposition 4 (N = 2): ``u(t) = u(0) + 2 c0 t / pi`` exactly, i.e.
    ``cos theta(t) = 1 - 2 / (C1 e^{2 c0 t / pi} + 1)`` with
    ``C1 = (1 + cos theta0) / (1 - cos theta0) = e^{u(0)}``."""
    t = np.asarray(t, dtype=float)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    return float(angle_exponent(theta0)) + 2.0 * c * t / math.pi


def lemma8_norm_bounds(t, c0_value: float, depth: int, norm0: float, *, growth: float = 0.6):
    """Lemma 8(i) for depth N > 2: ``(||w0||^{2/N - 1} + (N - 2) c0 t)^{-N/(N-2)} <= ||w_e(t)||
    <= (||w0||^{2/N} + 0.6 t)^{N/2}``. The upper bound uses ``-w^T grad L <= 0.3`` (Lemma 3(i)),
    the lower one ``||grad L|| <= c0`` (Proposition 3(i)). Returns ``(lower, upper)``.

    Along Eq. (14), ``d ||w_e||^{2/N} / dt = 2 g`` and ``d ||w_e||^{2/N - 1} / dt =
    (N - 2) wbar^T grad L`` exactly, so the constants are bounds on ``2 g`` and on
    ``wbar^T grad L``: ``growth`` (default the paper's 0.6) replaces the first, and passing
    ``c0_value`` = any bound on ``wbar^T grad L`` (its supremum is ``2 c0 / pi``) the second."""
    t = np.asarray(t, dtype=float)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    n = _depth(depth, minimum=3)
    r0 = val.real("norm0", norm0, low=0.0, strict_low=True)
    growth = val.real("growth", growth, low=0.0, strict_low=True)
    lower = (r0 ** (2.0 / n - 1.0) + (n - 2) * c * t) ** (-n / (n - 2.0))
    upper = (r0 ** (2.0 / n) + growth * t) ** (n / 2.0)
    return lower, upper


def theorem3_exponents(
    t,
    c0_value: float,
    depth: int,
    norm0: float,
    theta0: float,
    T: float,
    normT: float,
    thetaT: float,
    *,
    scale1: float = 1.0,
    scale2: float = 1.0,
    scale_upper: float = 1.0,
    power: float | None = None,
):
    """Theorem 3 (N > 2) as exponents ``(lower, upper)``: ``lower(t) <= u(t) <= upper(t)`` with
    ``u = angle_exponent(theta)``.

    * t <= T: ``cos theta >= 1 - 2 / (C1 (A1 t / B1 + 1)^alpha + 1)``, i.e.
      ``lower = u(0) + alpha ln(1 + A1 t / B1)``, with ``A1 = (N - 2) c0``,
      ``B1 = ||w_e(0)||^{2/N - 1}``, ``alpha = 2 / ((N - 2) pi)`` and ``C1 = e^{u(0)}``.
    * t > T: ``lower = A2 (t - T) + B2`` with ``A2 = 2 c0 ||w_e(T)||^{1 - 2/N} / pi`` and
      ``B2 = u(T)``.
    * all t: ``upper = F ((0.6 t + D)^{N/2} - D^{N/2}) + E`` with ``D = ||w_e(0)||^{2/N}``,
      ``F = 4 c0 / (0.6 N pi)`` and ``E = u(0)`` (the paper's "tan theta(0)/2" read as
      tan(theta(0)/2)).

    ``scale1`` (on alpha), ``scale2`` (on A2), ``scale_upper`` (on F) and ``power`` (replacing
    the exponent N/2 of the upper bound) exist for sharpness controls.
    """
    t = np.asarray(t, dtype=float)
    c = val.real("c0_value", c0_value, low=0.0, strict_low=True)
    n = _depth(depth, minimum=3)
    r0 = val.real("norm0", norm0, low=0.0, strict_low=True)
    rT = val.real("normT", normT, low=0.0, strict_low=True)
    T = val.real("T", T, low=0.0)
    u0 = float(angle_exponent(theta0))
    uT = float(angle_exponent(thetaT))
    a1 = (n - 2) * c
    b1 = r0 ** (2.0 / n - 1.0)
    alpha = scale1 * 2.0 / ((n - 2) * math.pi)
    a2 = scale2 * 2.0 * c * rT ** (1.0 - 2.0 / n) / math.pi
    early = u0 + alpha * np.log1p(a1 * np.maximum(t, 0.0) / b1)
    lower = np.where(t <= T, early, a2 * (t - T) + uT)
    d = r0 ** (2.0 / n)
    p = n / 2.0 if power is None else val.real("power", power, low=0.0, strict_low=True)
    f = scale_upper * 4.0 * c / (0.6 * n * math.pi)
    upper = f * ((0.6 * t + d) ** p - d**p) + theorem3_e(theta0)
    return lower, upper


def theorem3_e(theta0: float, *, printed: bool = False) -> float:
    """Theorem 3's constant E of the upper bound. As derived (and as B2 is written):
    ``-2 ln tan(theta0 / 2) = u(0)``, so that the upper bound starts on the curve. As our text copy
    prints it, read literally: ``-2 ln |tan(theta0) / 2|``, which is not u(0) (a misplaced
    parenthesis, by the paper or by its conversion)."""
    theta0 = val.real("theta0", theta0, low=0.0)
    if printed:
        return -2.0 * math.log(abs(math.tan(theta0)) / 2.0)
    return float(angle_exponent(theta0))


# -- section 4: the induced flow itself (Eq. (14)), the norm's turn (Lemma 6), Lemma 8(ii) -------


def induced_velocity(w, grad, depth: int) -> np.ndarray:
    """Eq. (14) as printed: ``dw_e/dt = -||w_e||^{2 - 2/N} (grad + (N - 1) wbar wbar^T grad)``
    for the end-to-end row ``w_e`` of a balanced depth-N network, with ``grad = grad L(w_e)``.

    Written out from the paper's formula, independently of chapter 1's general end-to-end
    velocity (``dynamics.end_to_end_velocity``), of which it is the single-output case (the notes'
    Exercise 1). Depth 1 is plain gradient flow."""
    w = _row(w)
    grad = np.asarray(grad, dtype=float).reshape(-1)
    if grad.shape != w.shape or not np.all(np.isfinite(grad)):
        raise ValueError(f"grad must be a finite vector of the shape of w {w.shape}")
    n = _depth(depth, minimum=1)
    r = float(np.linalg.norm(w))
    wbar = w / r
    return -(r ** (2.0 - 2.0 / n)) * (grad + (n - 1) * float(wbar @ grad) * wbar)


def radial_rate(loss, w, depth: int) -> float:
    """``dg/dt`` along Eq. (14) at ``w``, for ``g(w) = -w^T grad L(w)`` (the paper's Eq. (7)):
    ``-(grad L + H w)^T dw/dt`` with H the Hessian of L (``loss.hessian``). Lemma 8(ii) says it
    is positive wherever g = 0 (a stationary norm)."""
    w = _row(w)
    grad = loss.grad(w[None, :])[0]
    hess = loss.hessian(w[None, :])
    return -float((grad + hess @ w) @ induced_velocity(w, grad, depth))


def induced_flow(loss, w0, t_eval, depth: int, *, rtol: float = 1e-12, atol: float = 1e-14) -> dict:
    """Integrate Eq. (14) (:func:`induced_velocity`) from ``w0`` with ``solve_ivp`` (DOP853) and
    locate every sign change of ``g = -w^T grad L`` by event location.

    Along Eq. (14), ``d||w_e||^2/dt = 2 N ||w_e||^{2 - 2/N} g``: the norm's derivative has the
    sign of g, so the sign changes of g are the norm's turns. solve_ivp checks the sign of g at
    every step and refines each crossing by root finding on its dense output. Returns a dict
    with ``t``, the rows ``W`` at ``t_eval``, ``up`` and ``down`` (times of the upward and
    downward crossings of zero by g up to ``t_eval[-1]``), Lemma 6's ``T`` (0 if ``g(w0) >= 0``,
    else the first upward crossing, inf if there is none) and ``wT = w_e(T)`` (the last row if
    T is inf).
    """
    w0 = _row(w0)
    n = _depth(depth, minimum=1)
    t = np.asarray(t_eval, dtype=float)
    if t.ndim != 1 or t.size == 0 or t[0] < 0 or np.any(np.diff(t) <= 0) or t[-1] <= 0:
        raise ValueError("t_eval must be a non-empty increasing array of times >= 0, ending > 0")
    rtol = val.real("rtol", rtol, low=0.0, strict_low=True)
    atol = val.real("atol", atol, low=0.0, strict_low=True)

    def g(_, w):
        return -float(w @ loss.grad(w[None, :])[0])

    def up(s, w):
        return g(s, w)

    def down(s, w):
        return g(s, w)

    up.direction, down.direction = 1.0, -1.0

    def rhs(_, w):
        return induced_velocity(w, loss.grad(w[None, :])[0], n)

    sol = solve_ivp(
        rhs, (0.0, t[-1]), w0, t_eval=t, method="DOP853", rtol=rtol, atol=atol, events=(up, down)
    )
    if sol.status != 0 or sol.y.shape[1] != t.size:
        raise RuntimeError(f"induced flow failed before t = {t[-1]:g}: {sol.message}")
    ups, downs = sol.t_events
    W = sol.y.T.copy()
    if g(0.0, w0) >= 0:
        T, wT = 0.0, w0.copy()
    elif ups.size:
        T, wT = float(ups[0]), sol.y_events[0][0].copy()
    else:
        T, wT = math.inf, W[-1].copy()
    return {"t": sol.t, "W": W, "up": ups, "down": downs, "T": T, "wT": wT}
