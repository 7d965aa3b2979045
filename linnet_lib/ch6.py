"""Chapter 6, "Directional convergence" (Lin, Sun & Zhang 2021): the recipes and figures of its
notebooks. One section per notebook; the mathematics lives in concept modules (the population loss
in ``population_logistic``)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from scipy.integrate import quad
from scipy.optimize import minimize_scalar
from scipy.special import expit, lambertw

from . import _validate as _val
from . import directional as _dr
from .checks import relative_difference
from .networks import end_to_end
from .population_logistic import EmpiricalLogisticLoss, PopulationLogisticLoss
from .stats import loglog_slope
from .training import (
    descent_loop,
    descent_result,
    descent_settings,
    gradient_descent,
    gradient_flow,
)

# --- 6.1 Set-up: the loss on spherically symmetric data -------------------------------------------
# Brute-force references that integrate equations (1) and (2) directly (no reduction, no symmetry
# argument), the constants of Lemma 3 and Proposition 3(ii), and the section's figure.

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)
_RHO_MAX = 12.0  # Gaussian radius cut-off: exp(-72) is far below round-off


def _plane_vector(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite vector of shape (2,), got {value!r}")
    return arr


def _arc_rule(cuts, pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre on [0, 2 pi), split at the angles ``cuts`` and each arc cut into
    ``pieces`` equal parts: nodes and weights (weights sum to 2 pi)."""
    ends = np.unique(np.concatenate([np.mod(cuts, 2 * math.pi), [0.0, 2 * math.pi]]))
    nodes, weights = [], []
    for a, b in zip(ends[:-1], ends[1:], strict=True):
        grid = np.linspace(a, b, pieces + 1)
        for lo, hi in zip(grid[:-1], grid[1:], strict=True):
            nodes.append(0.5 * (hi + lo) + 0.5 * (hi - lo) * _GL_NODES)
            weights.append(0.5 * (hi - lo) * _GL_WEIGHTS)
    return np.concatenate(nodes), np.concatenate(weights)


def direct_plane_loss(
    w, v, data: str = "circle", factor=None, pieces: int = 4, sigma_sign: float = -1.0
):
    """Equation (1) and its gradient (2) integrated directly over the plane, by brute force.

    ``x = C z`` with z uniform on the unit circle (``data='circle'``) or standard Gaussian in
    R^2 (``data='gaussian'``) and ``C = factor`` (default the identity; any invertible 2 x 2 gives
    a non-symmetric distribution). Returns ``(L, grad)`` with ``L = E ln(1 + exp(-y w^T x))``,
    ``grad = -E[y x sigma(-y w^T x)]`` and ``y = sgn(v^T x)``: polar quadrature, Gauss-Legendre
    on arcs split where ``v^T x = 0`` (the label jumps) and where ``w^T x = 0`` (the boundary
    layer), and Gauss-Legendre in the radius on [0, 12] for the Gaussian. Accurate to ~1e-13
    for ``||w||`` up to about 10; it uses neither spherical symmetry nor the exact reduction.
    ``sigma_sign=+1`` integrates a wrong gradient, ``-E[y x sigma(+y w^T x)]`` (a control).
    """
    w, v = _plane_vector("w", w), _plane_vector("v", v)
    if sigma_sign not in (-1.0, 1.0):
        raise ValueError(f"sigma_sign must be -1 or +1, got {sigma_sign!r}")
    if data not in ("circle", "gaussian"):
        raise ValueError(f"data must be 'circle' or 'gaussian', got {data!r}")
    C = np.eye(2) if factor is None else _val.matrix("factor", factor, shape=(2, 2))
    if abs(np.linalg.det(C)) < 1e-12:
        raise ValueError("factor must be invertible")
    pieces = _val.positive_int("pieces", pieces)
    a, b = C.T @ w, C.T @ v  # w^T x = a^T z, v^T x = b^T z
    cuts = [math.atan2(p[1], p[0]) + s for p in (a, b) for s in (0.5 * math.pi, -0.5 * math.pi)]
    phi, omega = _arc_rule(np.array(cuts), pieces)
    u = np.stack([np.cos(phi), np.sin(phi)])  # (2, K) directions of z
    y = np.where(b @ u >= 0.0, 1.0, -1.0)
    if data == "circle":
        rho, rw = np.ones(1), np.ones(1) / (2 * math.pi)
    else:  # density rho exp(-rho^2 / 2) / (2 pi) d rho d phi
        rho = 0.5 * _RHO_MAX * (_GL_NODES + 1.0)
        rw = 0.5 * _RHO_MAX * _GL_WEIGHTS * rho * np.exp(-0.5 * rho**2) / (2 * math.pi)
    margin = y * (a @ u) * rho[:, None]  # (R, K): y w^T x
    weight = rw[:, None] * omega[None, :]
    value = float(np.sum(weight * np.logaddexp(0.0, -margin)))
    coef = weight * y * rho[:, None] * expit(sigma_sign * margin)  # y rho sigma(-y w^T x)
    grad_z = -(u @ coef.sum(axis=0))
    return value, C @ grad_z


def plane_frame(v, angle: float, norm: float) -> np.ndarray:
    """The point ``w = norm (cos(angle) v + sin(angle) e)`` with e a fixed unit vector
    orthogonal to v (the next coordinate direction made orthogonal to v)."""
    v = np.asarray(v, dtype=float)
    e = np.roll(v, 1) if v.size > 2 else np.array([-v[1], v[0]])
    e = e - (e @ v) * v
    if np.linalg.norm(e) < 1e-8:
        e = np.eye(v.size)[1] - v[1] * v
    e = e / np.linalg.norm(e)
    return norm * (math.cos(angle) * v + math.sin(angle) * e)


def radial_speed(loss: PopulationLogisticLoss, norms, angles) -> np.ndarray:
    """Lemma 3's ``g(w) = -w^T grad L(w)`` (equation 7) on the grid ``norms x angles``."""
    out = np.empty((len(norms), len(angles)))
    for i, r in enumerate(norms):
        for j, th in enumerate(angles):
            w = plane_frame(loss.v, th, r)
            out[i, j] = -float(w @ loss.grad(w[None, :])[0])
    return out


def lambert_constant() -> float:
    """``max_{z >= 0} z / (1 + e^z) = W(1/e) ~ 0.2785`` (W the Lambert function), reached at
    ``z = 1 + W(1/e)``: the pointwise bound behind Lemma 3(i)."""
    return float(lambertw(math.exp(-1.0)).real)


def logistic_ratio(z) -> np.ndarray:
    """``z / (1 + e^z)``, stably."""
    z = np.asarray(z, dtype=float)
    return z * expit(-z)


def sharp_radial_bound(loss: PopulationLogisticLoss) -> tuple[float, float]:
    """``sup_w g(w)`` and the norm where it is reached: g is largest at theta = 0, where
    ``g = -r F'(r) = E[r|x_1| / (1 + e^{r|x_1|})]``; maximised over log r."""

    def neg(log_r):
        w = np.exp(log_r) * loss.v
        return float(w @ loss.grad(w[None, :])[0])

    res = minimize_scalar(neg, bounds=(-3.0, 5.0), method="bounded", options={"xatol": 1e-10})
    return -float(res.fun), float(np.exp(res.x))


def radial_speed_quad(data: str, r: float) -> float:
    """``g(r v) = E[psi(r |t|)]`` with ``psi(z) = z / (1 + e^z)`` and t the marginal of x on v,
    written out from equation (2) at ``w = r v`` and integrated by ``scipy.integrate.quad``:
    ``(2 / pi) int_0^{pi/2} psi(r cos(phi)) dphi`` on the circle,
    ``sqrt(2 / pi) int_0^inf psi(r t) e^{-t^2 / 2} dt`` for the Gaussian. An independent reference
    for :func:`sharp_radial_bound` (it uses neither the loss class nor its quadrature)."""
    r = _val.real("r", r, low=0.0)
    opts = {"epsabs": 1e-15, "epsrel": 1e-13, "limit": 200}
    psi = lambda z: z * float(expit(-z))  # noqa: E731
    if data == "circle":
        value, _ = quad(lambda phi: psi(r * math.cos(phi)), 0.0, math.pi / 2, **opts)
        return float(2.0 / math.pi * value)
    if data == "gaussian":
        value, _ = quad(lambda t: psi(r * t) * math.exp(-0.5 * t * t), 0.0, math.inf, **opts)
        return float(math.sqrt(2.0 / math.pi) * value)
    raise ValueError(f"data must be 'circle' or 'gaussian', got {data!r}")


def radial_sup_quad(data: str) -> tuple[float, float]:
    """``sup_r`` of :func:`radial_speed_quad` and the norm where it is reached: a grid of 101
    norms from 1e-2 to 1e3, then a bounded search in log r between the best point's neighbours."""
    log_r = np.linspace(math.log(1e-2), math.log(1e3), 101)
    values = [radial_speed_quad(data, math.exp(x)) for x in log_r]
    k = min(max(int(np.argmax(values)), 1), log_r.size - 2)
    res = minimize_scalar(
        lambda x: -radial_speed_quad(data, math.exp(x)),
        bounds=(log_r[k - 1], log_r[k + 1]),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return -float(res.fun), float(math.exp(res.x))


def lemma3_radius(loss: PopulationLogisticLoss, angle: float, constant: float = 2.0) -> float:
    """Lemma 3(iv)'s radius ``c0 |cos(theta)| / (constant pi L)`` with ``L = E||x||^2 / 8`` over
    the 2-D marginal (1/8 on the circle, 1/4 for the Gaussian); the paper's constant is 2."""
    big_l = (1.0 if loss.data == "circle" else 2.0) / 8.0
    return loss.c0 * abs(math.cos(angle)) / (constant * math.pi * big_l)


def radial_zero(loss: PopulationLogisticLoss, angle: float) -> float:
    """The norm ``r* > 0`` where g changes sign along the ray at ``angle`` < pi/2 (bisection in
    log r; g > 0 below it)."""
    lo, hi = 1e-6, 1e3
    g = lambda r: radial_speed(loss, [r], [angle])[0, 0]  # noqa: E731
    if not (g(lo) > 0 > g(hi)):
        raise ValueError(f"angle must give g > 0 near 0 and g < 0 far out, got {angle!r}")
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
    return math.sqrt(lo * hi)


def projection_moment(data: str, a: float, printed: bool = False) -> float:
    """``E_t[|t| / (1 + e^{a|t|})]`` for t the marginal of x on v (``t = cos(phi)`` on the circle,
    ``t ~ N(0, 1)`` for the Gaussian), by 1-D Gauss-Legendre, independent of the loss class.
    Any real ``a`` (``a < 0`` is a point opposite to v). ``printed=True`` drops the ``a``
    (Proposition 3(ii) as printed: ``e^{|t|}``)."""
    a = _val.real("a", a)
    s = 1.0 if printed else a
    if data == "circle":  # E over phi uniform on [0, pi/2] of t = cos(phi)
        phi, wts = _arc_rule(np.array([0.0]), 8)
        t = np.abs(np.cos(phi))
        return float(wts @ (t * expit(-s * t)) / (2 * math.pi))
    if data == "gaussian":
        t = 0.5 * _RHO_MAX * (_GL_NODES + 1.0)
        wts = 0.5 * _RHO_MAX * _GL_WEIGHTS * np.exp(-0.5 * t * t) * math.sqrt(2 / math.pi)
        return float(wts @ (t * expit(-s * t)))
    raise ValueError(f"data must be 'circle' or 'gaussian', got {data!r}")


def monte_carlo_gradient(X, y, w, v) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and standard error of ``-y x sigma(-y w^T x)`` (equation 2's integrand) for
    samples in the columns of X and labels y (shape ``(1, n)``)."""
    X = _val.matrix("X", X)
    terms = -(y * expit(-y * (np.asarray(w) @ X))) * X
    n = X.shape[1]
    return terms.mean(axis=1), terms.std(axis=1, ddof=1) / math.sqrt(n)


def out_of_span(vec, w, v) -> np.ndarray:
    """The part of ``vec`` orthogonal to span(w, v)."""
    Q, _ = np.linalg.qr(np.stack([np.asarray(w, float), np.asarray(v, float)], axis=1))
    return vec - Q @ (Q.T @ vec)


def angle_profiles(loss: PopulationLogisticLoss, norms, angles) -> dict[str, np.ndarray]:
    """For the figure: along rays at ``angles`` for each norm, the loss, the radial speed
    ``g = -w^T grad L`` and the angular component ``-e^T grad L`` (e the unit vector of
    span(w, v) orthogonal to w, pointing towards v), which Lemma 2 says is ``c0 sin(theta)/pi``
    whatever the norm."""
    shape = (len(norms), len(angles))
    out = {k: np.empty(shape) for k in ("loss", "radial", "angular")}
    for i, r in enumerate(norms):
        for j, th in enumerate(angles):
            w = plane_frame(loss.v, th, r)
            grad = loss.grad(w[None, :])[0]
            e = plane_frame(loss.v, th - 0.5 * math.pi, 1.0)
            out["loss"][i, j] = loss.value(w[None, :])
            out["radial"][i, j] = -float(w @ grad)
            out["angular"][i, j] = float(e @ grad)
    out["norms"], out["angles"] = np.asarray(norms, float), np.asarray(angles, float)
    return out


def plot_angle_profiles(axes, prof: dict, c0: float) -> None:
    """Three panels over the angle: the loss, Lemma 3's g with the bounds 0.3 and W(1/e), and
    the angular gradient component with Lemma 2's ``c0 sin(theta) / pi``."""
    th = prof["angles"]
    for i, r in enumerate(prof["norms"]):
        kw = dict(label=f"||w|| = {r:g}", color=f"C{i}")
        axes[0].plot(th, prof["loss"][i], **kw)
        axes[1].plot(th, prof["radial"][i], **kw)
        axes[2].plot(th, -prof["angular"][i], lw=3 - 0.5 * i, **kw)
    axes[1].axhline(0.3, color="k", ls="--", lw=1, label="0.3 (printed)")
    axes[1].axhline(lambert_constant(), color="k", ls=":", lw=1, label="W(1/e)")
    axes[1].set_ylim(-0.6, 0.35)  # the positive cap and the two bounds; g falls far below
    axes[2].plot(th, c0 * np.sin(th) / math.pi, "k--", lw=1, label="c0 sin(θ)/π")
    titles = ("loss L(w)", "g(w) = -wᵀ∇L", "angular part -eᵀ∇L")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xlabel("angle θ between w and v")
        ax.set_title(title)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("value")


def rayleigh_mean() -> float:
    """``E||x||`` for x standard Gaussian in the plane, ``int_0^12 rho^2 exp(-rho^2/2) d rho``
    by Gauss-Legendre (c0 of the Gaussian; closed form sqrt(pi/2))."""
    rho = 0.5 * _RHO_MAX * (_GL_NODES + 1.0)
    return float(0.5 * _RHO_MAX * _GL_WEIGHTS @ (rho**2 * np.exp(-0.5 * rho**2)))


def random_points(loss: PopulationLogisticLoss, count: int, rng=None) -> list[np.ndarray]:
    """``count`` points w with log-uniform norm in [1e-2, 10] and uniform random direction."""
    gen = _val.rng(rng)
    count = _val.positive_int("count", count)
    out = []
    for _ in range(count):
        d = gen.standard_normal(loss.dim)
        out.append(10 ** gen.uniform(-2.0, 1.0) * d / np.linalg.norm(d))
    return out


def plane_coordinates(w, v) -> np.ndarray:
    """An orthonormal basis ``Q`` (d x 2) of span(w, v), its first column v."""
    w, v = np.asarray(w, float), np.asarray(v, float)
    e = w - (w @ v) * v
    if np.linalg.norm(e) < 1e-12 * max(np.linalg.norm(w), 1.0):
        e = np.roll(v, 1) - (np.roll(v, 1) @ v) * v
    return np.stack([v, e / np.linalg.norm(e)], axis=1)


def direct_loss(
    loss: PopulationLogisticLoss, w, sigma_sign: float = -1.0
) -> tuple[float, np.ndarray]:
    """Brute-force ``(L(w), grad L(w))`` from equations (1)-(2) in the plane of w and v (the
    projection of N(0, I_d) onto a plane is N(0, I_2), and the gradient's part across the plane
    vanishes for it), mapped back to R^d. ``sigma_sign`` as in :func:`direct_plane_loss`."""
    Q = plane_coordinates(w, loss.v)
    value, grad = direct_plane_loss(Q.T @ w, Q.T @ loss.v, loss.data, sigma_sign=sigma_sign)
    return value, Q @ grad


def equation2_error(loss: PopulationLogisticLoss, points, sigma_sign: float = -1.0) -> float:
    """Equation (2) against equation (1), both integrated by brute force (:func:`direct_loss`): the
    largest relative difference over ``points`` between the integrated gradient (2) and fourth-order
    central differences of the integrated loss (1), step ``1e-3 max(1, ||w||)``. With
    ``sigma_sign=+1`` the gradient integrand has the wrong sign in the exponent (a control)."""
    worst = 0.0
    for w in points:
        w = np.asarray(w, dtype=float)
        h = 1e-3 * max(1.0, float(np.linalg.norm(w)))
        f = lambda x: direct_loss(loss, x)[0]  # noqa: E731
        fd = np.array(
            [
                (8 * (f(w + h * e) - f(w - h * e)) - f(w + 2 * h * e) + f(w - 2 * h * e)) / (12 * h)
                for e in np.eye(loss.dim)
            ]
        )
        worst = max(worst, relative_difference(fd, direct_loss(loss, w, sigma_sign)[1]))
    return worst


def across_v_components(scales, factor=None) -> list[float]:
    """The size of the brute-force gradient's component orthogonal to v at ``w = a v``, v = (0.6, 0.8),
    for each a in ``scales``: on the circle and for the Gaussian ``x = factor z`` (when a
    ``factor`` is given, only the Gaussian)."""
    v = np.array([0.6, 0.8])
    e = np.array([-0.8, 0.6])
    kinds = ("circle", "gaussian") if factor is None else ("gaussian",)
    return [
        abs(float(e @ direct_plane_loss(a * v, v, kind, factor)[1]))
        for a in scales
        for kind in kinds
    ]


def span_test_d5(n: int = 100_000, rng=None, count: int = 5) -> tuple[float, float]:
    """Monte Carlo in d = 5: the largest norm of the part of the sample gradient outside
    span(w, v) in units of its standard error, over ``count`` random w, for N(0, I_5) and for an anisotropic Gaussian
    (standard deviations 1, 2, 0.5, 1.5, 1 along a rotated frame)."""
    gen = _val.rng(rng)
    v = np.eye(5)[0]
    R, _ = np.linalg.qr(gen.standard_normal((5, 5)))
    C = R @ np.diag([1.0, 2.0, 0.5, 1.5, 1.0]) @ R.T
    worst = [0.0, 0.0]
    for _ in range(count):
        w = gen.standard_normal(5)
        Z = gen.standard_normal((5, n))
        for k, X in enumerate((Z, C @ Z)):
            y = np.where(v @ X >= 0.0, 1.0, -1.0)
            mean, _ = monte_carlo_gradient(X, y, w, v)  # the error bar is taken in the basis B
            full, _ = np.linalg.qr(np.column_stack([plane_coordinates(w, v), np.eye(5)]))
            B = full[:, 2:5]  # orthonormal basis of the complement of span(w, v)
            cov = B.T @ np.cov(-(y * expit(-y * (w @ X))) * X) @ B
            ratio = np.abs(B.T @ mean) / np.sqrt(np.diag(cov) / n)
            worst[k] = max(worst[k], float(np.max(ratio)))
    return worst[0], worst[1]


def lemma2_residual(
    loss: PopulationLogisticLoss, w, grad, power: int = 2, part: str = "both"
) -> float:
    """The largest absolute residual of Lemma 2: equation (6) (vector) and equation (5) with ``sin^power``;
    ``part='5'`` or ``'6'`` returns one of them."""
    if part not in ("both", "5", "6"):
        raise ValueError(f"part must be 'both', '5' or '6', got {part!r}")
    w = np.asarray(w, float)
    wbar = w / np.linalg.norm(w)
    cos_t = float(np.clip(wbar @ loss.v, -1.0, 1.0))
    P = np.eye(loss.dim) - np.outer(wbar, wbar)
    eq6 = -(P @ grad) - loss.c0 / math.pi * (P @ loss.v)
    eq5 = -(loss.v @ P @ grad) - loss.c0 * (1 - cos_t**2) ** (power / 2) / math.pi
    res = {"5": abs(float(eq5)), "6": float(np.max(np.abs(eq6)))}
    return max(res.values()) if part == "both" else res[part]


def lemma2_monte_carlo(loss: PopulationLogisticLoss, n: int, rng=None) -> float:
    """``|sample mean of the left side of (5) - c0 sin^2(theta) / pi| / standard error``, at the
    angle 2 pi / 3 and norm 1.5."""
    gen = _val.rng(rng)
    w = plane_frame(loss.v, 2 * math.pi / 3, 1.5)
    X, y = loss.sample(n, gen)
    wbar = w / np.linalg.norm(w)
    q = loss.v - (loss.v @ wbar) * wbar
    terms = (y * expit(-y * (w @ X))) * (q @ X)  # -q^T grad, per sample
    se = float(terms.std(ddof=1)) / math.sqrt(n)
    target = loss.c0 * math.sin(2 * math.pi / 3) ** 2 / math.pi
    return abs(float(terms.mean()) - target) / se


def lemma3_derivative_error(loss: PopulationLogisticLoss, step: float = 1e-4) -> float:
    """Max relative error of the central difference of g in theta against
    ``-(c0/pi) r sin(theta)``, over r in {0.1, 1, 10} and theta in [0.2, pi/2]."""
    worst = 0.0
    for r in (0.1, 1.0, 10.0):
        for th in np.linspace(0.2, 0.5 * math.pi, 7):
            g = radial_speed(loss, [r], [th - step, th + step])[0]
            fd = (g[1] - g[0]) / (2 * step)
            exact = -loss.c0 / math.pi * r * math.sin(th)
            worst = max(worst, abs(fd - exact) / abs(exact))
    return worst


def lemma3_zero_ratios(loss: PopulationLogisticLoss, angles) -> list[float]:
    """``r*(theta) / (c0 cos(theta) / (pi L))`` for each angle (< pi/2): the sign change of g
    over the radius of Lemma 3(iv) with the constant pi instead of the paper's 2 pi."""
    return [radial_zero(loss, th) / lemma3_radius(loss, th, 1.0) for th in angles]


def _expected_norm(loss: PopulationLogisticLoss) -> float:
    """``c = E||x||``: 1 on the circle, ``sqrt(2) Gamma((d+1)/2) / Gamma(d/2)`` for N(0, I_d)."""
    if loss.data == "circle":
        return 1.0
    d = loss.dim
    return math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))


def proposition1_summary(loss: PopulationLogisticLoss, norms, angles) -> dict[str, float]:
    """Figures of Proposition 1 on the grid: max ||grad L||, max and min Hessian eigenvalue
    (from ``curvatures``), the Hessian against central differences of the gradient at a few w,
    ``|r^3 F''(r) / (p1(0) pi^2 / 3) - 1|`` at r = 1e3 and ``r^2 F''`` at 1e2 over at 1e3."""
    max_grad, curv = 0.0, []
    for r in norms:
        for th in angles:
            w = plane_frame(loss.v, th, r)[None, :]
            max_grad = max(max_grad, float(np.linalg.norm(loss.grad(w))))
        curv.extend(loss.curvatures(plane_frame(loss.v, 0.0, r)[None, :]))
    fd_err, h = 0.0, 1e-5
    for r, th in ((0.3, 0.4), (2.0, 2.0), (8.0, 1.2)):
        w = plane_frame(loss.v, th, r)
        H = loss.hessian(w[None, :])
        cols = [
            (loss.grad((w + h * e)[None, :])[0] - loss.grad((w - h * e)[None, :])[0]) / (2 * h)
            for e in np.eye(loss.dim)
        ]
        fd_err = max(fd_err, relative_difference(np.array(cols), H))
    p1 = 1 / math.pi if loss.data == "circle" else 1 / math.sqrt(2 * math.pi)
    along = lambda r: loss.curvatures(r * loss.v[None, :])[0]  # noqa: E731
    return {
        "max_grad": max_grad,
        "c": _expected_norm(loss),
        "max_curv": max(curv),
        "min_curv": min(curv),
        "hessian_fd": fd_err,
        "cubic_error": abs(1e9 * along(1e3) / (p1 * math.pi**2 / 3) - 1),
        "quadratic_ratio": (1e4 * along(1e2)) / (1e6 * along(1e3)),
    }


def v_gradient_grid(loss: PopulationLogisticLoss, norms, angles) -> np.ndarray:
    """``v^T grad L(w)`` on the grid (Proposition 2(i))."""
    out = np.empty((len(norms), len(angles)))
    for i, r in enumerate(norms):
        for j, th in enumerate(angles):
            out[i, j] = float(loss.grad(plane_frame(loss.v, th, r)[None, :])[0] @ loss.v)
    return out


def v_projection_steps(loss, w0, t_end: float, lr: float, steps: int) -> np.ndarray:
    """Increments of ``v^T w`` between records of a gradient flow to ``t_end`` (40 records) and
    of ``steps`` gradient-descent steps of size ``lr``, from ``w0`` (Proposition 2(ii), (iv))."""
    from .training import gradient_descent, gradient_flow

    W0 = np.asarray(w0, float)[None, :]
    flow = gradient_flow(loss, [W0], np.linspace(0.0, t_end, 41), rtol=1e-10, atol=1e-12)
    desc = gradient_descent(loss, [W0], lr, steps)
    incs = [np.diff(np.asarray(r.end_to_end)[:, 0, :] @ loss.v) for r in (flow, desc)]
    return np.concatenate(incs)


def proposition3_forms(losses, scales) -> dict[str, np.ndarray]:
    """Relative differences at ``w = a v`` between the brute-force gradient and: the printed
    form ``+E|t|/(1 + e^|t|) v``, the form with the sign fixed but without a, the corrected
    ``-E|t|/(1 + e^{a|t|}) v``; and between the corrected form and the library gradient."""
    out = {k: [] for k in ("printed", "no_a", "corrected", "library")}
    for loss in losses:
        for a in scales:
            w = a * loss.v
            _, grad = direct_loss(loss, w)
            printed = projection_moment(loss.data, a, printed=True) * loss.v
            corrected = -projection_moment(loss.data, a) * loss.v
            out["printed"].append(relative_difference(printed, grad))
            out["no_a"].append(relative_difference(-printed, grad))
            out["corrected"].append(relative_difference(corrected, grad))
            out["library"].append(relative_difference(corrected, loss.grad(w[None, :])[0]))
    return {k: np.array(v) for k, v in out.items()}


def equation7_error(loss: PopulationLogisticLoss, w0, t_end: float = 10.0, half: float = 0.5):
    """Equation (7) along the gradient flow from ``w0``: the largest difference, relative to
    ``max |g|``, between ``half * d||w||^2/dt`` (five-point central differences of the flow's
    ``||w||^2`` on a grid of step 0.01) and ``g(w) = -w^T grad L(w)``. The paper's ``half`` is 1/2."""
    t_end = _val.real("t_end", t_end, low=0.0, strict_low=True)
    h = 0.01
    t = np.arange(0.0, t_end + 0.5 * h, h)
    W = gradient_flow(loss, np.asarray(w0, float)[None, :], t, depth=1).end_to_end[:, 0, :]
    sq = np.einsum("ij,ij->i", W, W)
    deriv = (8 * (sq[3:-1] - sq[1:-3]) - sq[4:] + sq[:-4]) / (12 * h)
    g = np.array([-float(w @ loss.grad(w[None, :])[0]) for w in W[2:-2]])
    return float(np.max(np.abs(half * deriv - g)) / np.max(np.abs(g)))


def expected_norm_z(loss: PopulationLogisticLoss, n: int, rng=None, value=None) -> float:
    """Proposition 1's ``c = E||x||`` (``value``, default the closed form used by
    :func:`proposition1_summary`) against the mean of ``||x||`` over ``n`` samples: the difference
    in units of its standard error."""
    X, _ = loss.sample(n, rng)
    norms = np.linalg.norm(X, axis=0)
    target = _expected_norm(loss) if value is None else float(value)
    se = float(norms.std(ddof=1)) / math.sqrt(X.shape[1])
    return abs(float(norms.mean()) - target) / se


def across_v_along_flow(loss, v, w0, t) -> np.ndarray:
    """``||w(t) - (v^T w(t)) v||`` along the gradient flow of ``loss`` (any depth-1 loss on rows,
    e.g. a sample's :class:`~linnet_lib.population_logistic.EmpiricalLogisticLoss`) from ``w0``:
    the part of the weight across v (Remark 2: zero for all t when ``w0`` is parallel to v)."""
    v = np.asarray(v, dtype=float)
    W = gradient_flow(loss, np.asarray(w0, float)[None, :], t, depth=1).end_to_end[:, 0, :]
    return np.linalg.norm(W - np.outer(W @ v, v), axis=1)


# --- 6.2 Logistic regression (N = 1) --------------------------------------------------------------


# Angles below this are not resolved by the population gradient near w || v at large norms (see
# PopulationLogisticLoss); the GD bounds are checked only at steps with a larger angle.
ANGLE_FLOOR = 1e-6


def _angles(loss, W) -> np.ndarray:
    """Angles of the rows of ``W`` to v, as ``loss.angle`` computes them, vectorised."""
    along = W @ loss.v
    across = np.linalg.norm(W - along[:, None] * loss.v, axis=1)
    return np.arctan2(across, along)


def logistic_flow(loss, w0, t) -> dict:
    """Gradient flow (depth 1, default tolerances of ``gradient_flow``) from ``w0`` at times ``t``:
    the weights, their norms, angles to v, ``1 - cos theta`` (as ``2 sin^2(theta/2)``) and
    ``g = -w^T grad L = (1/2) d||w||^2/dt``."""
    w0 = np.asarray(w0, dtype=float)
    W = gradient_flow(loss, w0[None, :], t, depth=1).end_to_end[:, 0, :]
    theta = _angles(loss, W)
    g = np.array([-float(w @ loss.grad(w[None, :])[0]) for w in W])
    return {
        "t": np.asarray(t, dtype=float),
        "W": W,
        "norm": np.linalg.norm(W, axis=1),
        "theta": theta,
        "omc": 2.0 * np.sin(0.5 * theta) ** 2,
        "g": g,
    }


def flow_grid(t_end: float, T: float, n: int = 601) -> np.ndarray:
    """A uniform grid on [0, t_end], refined (400 more points) on [0, 2T] and geometrically (60
    points from 1e-6 to 1) just after 0 and just after T, where Theorem 1's phases start."""
    parts = [np.linspace(0.0, t_end, n), np.geomspace(1e-6, 1.0, 60)]
    if math.isfinite(T) and T > 0:
        parts += [np.linspace(0.0, 2.0 * T, 401), T + np.geomspace(1e-6, 1.0, 60)]
    t = np.unique(np.concatenate(parts))
    return t[t <= t_end]


def polar_flow_error(loss, w0, t) -> float:
    """Largest difference between the polar form (Eq. (4)) and the Cartesian flow: max over t of
    ``|r_polar - ||w||| / ||w||`` and ``|theta_polar - theta|``."""
    r, theta = _dr.polar_flow(loss, w0, t)
    run = logistic_flow(loss, w0, t)
    return float(max(np.max(np.abs(r / run["norm"] - 1)), np.max(np.abs(theta - run["theta"]))))


def flow_with_turn(loss, w0, t_end: float) -> dict:
    """The flow from ``w0`` on ``flow_grid(t_end, T)`` (:func:`logistic_flow`) with Lemma 1's
    turning time T and ``w(T)`` located by :func:`~linnet_lib.directional.norm_turning_time`."""
    T, wT = _dr.norm_turning_time(loss, w0, t_end)
    run = logistic_flow(loss, w0, flow_grid(t_end, T))
    return {**run, "T": T, "wT": wT, "loss": loss}


def lemma1_report(flow: dict, shift: float = 1.0) -> dict:
    """Lemma 1 along a :func:`flow_with_turn`: the number of grid times with the wrong sign of
    d||w||^2/dt (Eq. (3): negative before T, non-negative after) or of the norm's increments, in
    total and before and after T, the gap ``min ||w(t)|| - ||w(T)||`` (>= 0 when T is the norm's
    minimum) and ``|g(w(T))|``. ``shift`` multiplies T (a control: a wrong T must show wrong
    signs). The grid time T itself, where g vanishes by construction (its sign is round-off), is
    left out of the counts of g, also when ``shift`` moves the dividing time."""
    shift = _val.real("shift", shift, low=0.0, strict_low=True)
    t, g, norm, wT = flow["t"], flow["g"], flow["norm"], flow["wT"]
    T = flow["T"] * shift
    off_turn = t != flow["T"]
    before, after = (t < T) & off_turn, (t > T) & off_turn
    steps = np.diff(norm)
    wrong_before = int(np.sum(g[before] >= 0) + np.sum(steps[t[1:] <= T] >= 0))
    wrong_after = int(np.sum(g[after] < 0) + np.sum(steps[t[:-1] >= T] <= 0))
    grad_T = flow["loss"].grad(wT[None, :])[0]
    return {
        "T": T,
        "normT": float(np.linalg.norm(wT)),
        "wrong_sign": wrong_before + wrong_after,
        "wrong_before": wrong_before,
        "wrong_after": wrong_after,
        "min_gap": float(np.min(norm) - np.linalg.norm(wT)) if math.isfinite(T) else -np.inf,
        "g_at_T": abs(float(wT @ grad_T)),
    }


def theorem1_ratios(flow: dict, *, printed=False, restart=True, **perturb) -> dict:
    """Theorem 1 along a :func:`flow_with_turn`: the ratio of ``1 - cos theta`` to the theorem's
    bound (<= 1 when the bound holds), its maximum and where (``t_worst``), the first grid time
    at which it exceeds ``1 + 1e-6`` (``t_first``, inf if none; far above round-off), and the largest violation
    ``cos_bound - cos theta`` (> 0 when the bound fails) and where. ``jump`` is ``u(T)`` minus
    the first phase's exponent ``A1 T + B1`` at T: the second phase restarts at the true
    exponent ``u(T)``, so the bound's exponent jumps up by this much at T (> 0 when the norm fell
    before T). Without ``restart`` the first phase's bound is used at all times; ``perturb``
    (scale1, scale2, power) goes to :func:`~linnet_lib.directional.theorem1_exponent`."""
    loss, t, T, wT = flow["loss"], flow["t"], flow["T"], flow["wT"]
    args = (
        _dr.c0(loss.data),
        flow["norm"][0],
        flow["theta"][0],
        T if restart else t[-1],
        float(np.linalg.norm(wT)),
        loss.angle(wT[None, :]),
    )
    u = _dr.theorem1_exponent(t, *args, printed=printed, **perturb)
    bound = _dr.one_minus_cos(u)
    ratio = flow["omc"] / bound
    excess = flow["omc"] - bound
    k, j = int(np.argmax(ratio)), int(np.argmax(excess))
    above = np.flatnonzero(ratio > 1.0 + 1e-6)
    first_at_T = float(_dr.theorem1_exponent(T, *args, printed=printed, **perturb))
    return {
        "ratio": float(ratio[k]),
        "t_worst": float(t[k]),
        "t_first": float(t[above[0]]) if above.size else math.inf,
        "violation": float(excess[j]),
        "t_violation": float(t[j]),
        "jump": float(_dr.angle_exponent(args[-1])) - first_at_T,
        "bound": bound,
    }


def theorem1_tightness(flow: dict) -> tuple[float, float]:
    """How far Theorem 1's constants could be raised along a :func:`flow_with_turn`: the smallest
    ratio over t in (0, T] of ``u(t) - B1`` to ``A1 t`` and over t > T of ``u(t) - B2`` to
    ``A2 sqrt(t - T + C2)`` (u the exact exponent of the angle). Both are >= 1 when the bound
    holds and near 1 when it is tight."""
    loss, t, T, wT = flow["loss"], flow["t"], flow["T"], flow["wT"]
    args = (
        t,
        _dr.c0(loss.data),
        flow["norm"][0],
        flow["theta"][0],
        T,
        float(np.linalg.norm(wT)),
        loss.angle(wT[None, :]),
    )
    base = _dr.theorem1_exponent(*args, scale1=0.0, scale2=0.0)
    slope = _dr.theorem1_exponent(*args) - base
    kappa = (_dr.angle_exponent(flow["theta"]) - base) / np.where(slope > 0, slope, np.nan)
    first, second = (t > 0) & (t <= T), t > T
    return float(np.nanmin(kappa[first])), float(np.nanmin(kappa[second]))


def gd_run(loss, w0, lr: float, steps: int) -> dict:
    """Gradient descent (depth 1) from ``w0`` with a constant step: weights, gradients, norms,
    cosines, angles and ``1 - cos theta``."""
    w0 = np.asarray(w0, dtype=float)
    res = gradient_descent(loss, [w0[None, :]], lr, steps)
    W = res.end_to_end[:, 0, :]
    theta = _angles(loss, W)
    return {
        "lr": float(lr),
        "lrs": np.full(W.shape[0] - 1, float(lr)),
        "W": W,
        "grad": np.array([loss.grad(w[None, :])[0] for w in W[:-1]]),
        "norm": np.linalg.norm(W, axis=1),
        "cos": W @ loss.v / np.linalg.norm(W, axis=1),
        "theta": theta,
        "omc": 2.0 * np.sin(0.5 * theta) ** 2,
        "loss": res.loss,
    }


def identity_residuals(loss, run) -> tuple[float, float]:
    """Largest residuals of Eq. (8) (absolute, on the change of cos theta) and Eq. (10) (relative,
    on ``||w(n+1)||^2``) along a :func:`gd_run`."""
    W, G, cos, lr = run["W"], run["grad"], run["cos"], run["lr"]
    c0 = _dr.c0(loss.data)
    e8 = max(
        abs(_dr.gd_cos_increment(loss.v, W[k], W[k + 1], G[k], lr) - (cos[k + 1] - cos[k]))
        for k in range(len(G))
    )
    e10 = max(
        abs(_dr.gd_norm_sq(W[k], W[k + 1], c0, lr, run["theta"][k]) / run["norm"][k + 1] ** 2 - 1)
        for k in range(len(G))
    )
    return float(e8), float(e10)


def _ratio(run, bound, start: int, stop: int, factor: float) -> float:
    """Max over steps start+1..stop (angle above ANGLE_FLOOR) of ``(1 - cos) / bound``, with the
    bound's exponent multiplied by ``factor``."""
    scaled = bound[0] * (bound / bound[0]) ** factor
    omc = run["omc"][start:]
    idx = np.arange(1, min(stop - start, len(bound) - 1) + 1)
    idx = idx[run["theta"][start + idx] > ANGLE_FLOOR]
    return float(np.max(omc[idx] / scaled[idx])) if idx.size else math.nan


def lemma4_ratio(loss, run, factor: float = 1.0, until: bool = True) -> tuple[float, int]:
    """Lemma 4 (Eq. (9)) along a GD run that starts with v^T w < 0: the largest ratio of
    ``1 - cos theta(n)`` to the bound over n = 1..n0 (n0 the first step with cos >= 0). With
    ``until=False`` the ratio is taken over the whole run, whatever the sign of v^T w(0) (for
    controls of the lemma's hypotheses)."""
    cos = run["cos"]
    n0 = int(np.argmax(cos >= 0)) if np.any(cos >= 0) else len(cos) - 1
    bound = _dr.lemma4_bound(cos[0], run["norm"][0], _dr.c0(loss.data), run["lrs"])
    stop = n0 if until else len(bound) - 1
    return _ratio(run, bound, 0, stop, factor), n0


def lemma5_ratio(loss, run, fraction: float = 0.99, factor: float = 1.0) -> tuple[float, float]:
    """Lemma 5 (Eq. (12)) from step 0 with delta = ``fraction`` times the largest delta for which
    condition (11) holds along the whole run: (largest ratio over the run, that largest delta)."""
    c0 = _dr.c0(loss.data)
    delta = float(np.min(_dr.condition11_delta(loss.v, run["W"], c0, run["lrs"])))
    bound = _dr.lemma5_bound(run["cos"][0], run["norm"][0], c0, run["lrs"], fraction * delta)
    return _ratio(run, bound, 0, len(bound) - 1, factor), delta


def theorem2_phase2(loss, run, factor: float = 1.0) -> dict:
    """Theorem 2's second phase: n1 = the first step with ``v^T w >= lr c0 (1 + 1/pi)``, the
    smallest delta of condition (11) from n1 on (>= 1 is what the theorem uses), the smallest
    delta of the paper's sufficient route (``chain``,
    :func:`~linnet_lib.directional.condition11_chain_delta`) and of ``delta - chain`` (``slack``, >= 0 when the route is valid)
    from n1 on, and the largest ratio of ``1 - cos`` to Eq. (12) restarted at n1 with delta = 1."""
    c0 = _dr.c0(loss.data)
    W = run["W"]
    hit = W @ loss.v >= _dr.theorem2_threshold(run["lr"], c0)
    if not np.any(hit):
        return {
            "n1": None,
            "delta": math.nan,
            "chain": math.nan,
            "slack": math.nan,
            "ratio": math.nan,
        }
    n1 = int(np.argmax(hit))
    lrs = run["lrs"][n1:]
    deltas = _dr.condition11_delta(loss.v, W[n1:], c0, lrs)
    chain = _dr.condition11_chain_delta(
        run["norm"][n1:-1], lrs, np.linalg.norm(run["grad"][n1:], axis=1), run["cos"][n1:-1], c0
    )
    bound = _dr.lemma5_bound(run["cos"][n1], run["norm"][n1], c0, lrs, 1.0)
    return {
        "n1": n1,
        "delta": float(np.min(deltas)),
        "chain": float(np.min(chain)),
        "slack": float(np.min(deltas - chain)),
        "ratio": _ratio(run, bound, n1, len(W) - 1, factor),
    }


def exponent_speed_error(loss, w0, t_end: float = 10.0, depth: int = 1) -> float:
    """Remark 1 and the proof of Theorem 1: along the flow from ``w0`` the exponent
    ``u = -2 ln tan(theta/2)`` moves at ``du/dt = 2 c0 / (pi ||w||)`` (Eq. (4) with Lemma 2). The
    largest relative difference between five-point central differences of u (grid step 0.01) and
    the rate ``induced_exponent_rate(c0, ||w||, depth)``: depth 1 is the claim; depth N > 2 gives
    ``||w||^{1 - 2/N}``, the deep-network rate of Lemma 7 (a control)."""
    h = 0.01
    t = np.arange(0.0, _val.real("t_end", t_end, low=0.0, strict_low=True) + 0.5 * h, h)
    run = logistic_flow(loss, w0, t)
    u = _dr.angle_exponent(run["theta"])
    du = (8 * (u[3:-1] - u[1:-3]) - u[4:] + u[:-4]) / (12 * h)
    rate = _dr.induced_exponent_rate(loss.c0, run["norm"][2:-2], depth)
    return float(np.max(np.abs(du / rate - 1.0)))


def growth_slopes(loss, w0, times) -> dict:
    """Propositions 2(iii) and 3(iii): along the flow from ``w0``, the slopes of ``||w||^3`` and
    ``(v^T w)^3`` between consecutive ``times`` (on the circle both tend to pi/2: along v,
    ``g ~ (pi/6) / ||w||``), and of ``||w||^2`` (the wrong exponent)."""
    times = np.asarray(times, dtype=float)
    W = gradient_flow(loss, np.asarray(w0, float)[None, :], times, depth=1).end_to_end[:, 0, :]
    norm, along = np.linalg.norm(W, axis=1), W @ loss.v
    dt = np.diff(times)
    return {
        "norm3": np.diff(norm**3) / dt,
        "along3": np.diff(along**3) / dt,
        "norm2": np.diff(norm**2) / dt,
        "along": along,
    }


def descent_projection(loss, w0, lrs) -> np.ndarray:
    """``v^T w(n)`` along gradient descent from ``w0`` with the step sizes ``lrs`` (any positive
    sequence, e.g. summable ones for the control of Proposition 3(iv))."""
    lrs = np.asarray(lrs, dtype=float).reshape(-1)
    if lrs.size == 0 or np.any(~np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError("lrs must be a non-empty array of positive step sizes")
    w = np.asarray(w0, dtype=float).copy()
    out = [float(w @ loss.v)]
    for lr in lrs:
        w = w - lr * loss.grad(w[None, :])[0]
        out.append(float(w @ loss.v))
    return np.array(out)


def condition11_report(loss, run) -> dict:
    """Condition (11) along a :func:`gd_run`: the largest deviation, relative to the flow's gain
    ``c0 lr sin^2 theta / (pi ||w(n+1)||)``, of the step's increase of cos theta (as
    ``(1 - cos)(n) - (1 - cos)(n+1)``, without cancellation) from ``delta_n / (1 + delta_n)`` times
    the gain (``identity``), and from ``1 / (1 + delta_n)`` times it (``swapped``, a control), over
    steps with cos theta(n) > 0 and an angle above ANGLE_FLOOR; and the smallest slack
    ``delta_n - chain_n`` of the paper's sufficient route
    (:func:`~linnet_lib.directional.condition11_chain_delta`) with the largest ``(1 + chain_n) / (1 + delta_n)``."""
    c0 = _dr.c0(loss.data)
    W, lrs = run["W"], run["lrs"]
    delta = _dr.condition11_delta(loss.v, W, c0, lrs)
    theta, omc, norm = run["theta"], run["omc"], run["norm"]
    keep = (run["cos"][:-1] > 0) & (theta[:-1] > ANGLE_FLOOR)
    gain = _dr.condition11_gain(run["cos"][:-1], theta[:-1], norm[1:], c0, lrs, np.inf)
    inc = omc[:-1] - omc[1:]
    share = _dr.condition11_gain(run["cos"][:-1], theta[:-1], norm[1:], c0, lrs, delta)
    chain = _dr.condition11_chain_delta(
        norm[:-1], lrs, np.linalg.norm(run["grad"], axis=1), run["cos"][:-1], c0
    )
    if not np.any(keep):
        return {"identity": math.nan, "swapped": math.nan, "slack": math.nan, "chain": math.nan}
    k = keep
    return {
        "identity": float(np.max(np.abs(inc[k] - share[k]) / gain[k])),
        "swapped": float(np.max(np.abs(inc[k] - gain[k] / (1 + delta[k])) / gain[k])),
        "slack": float(np.min(delta[k] - chain[k])),
        "chain": float(np.max((1 + chain[k]) / (1 + delta[k]))),
    }


def figure_logistic(loss, w0, lrs=(0.1, 1.0, 5.0), t_end: float = 20.0) -> dict:
    """Data of the section's figure: the flow (with Theorem 1's bound drawn from 0 and restarted
    at T) and gradient descent at the steps ``lrs`` up to time ``t_end`` (t = step x lr)."""
    flow = flow_with_turn(loss, w0, t_end)
    bound = theorem1_ratios(flow)["bound"]
    runs = {lr: gd_run(loss, w0, lr, int(round(t_end / lr))) for lr in lrs}
    return {"flow": flow, "bound": bound, "gd": runs, "t_end": t_end}


def plot_logistic(data: dict):
    """Two panels against t: the angle theta (log scale) with Theorem 1's bound on it, and the
    norm ||w||; the flow as a line, gradient descent as markers, T marked."""
    fig, (ax_a, ax_n) = plt.subplots(1, 2, figsize=(10, 3.8))
    run = data["flow"]
    t, T = run["t"], run["T"]
    bound_theta = 2.0 * np.arcsin(np.sqrt(np.clip(data["bound"] / 2.0, 0.0, 1.0)))
    ax_a.semilogy(t, run["theta"], "k-", label="gradient flow")
    ax_a.semilogy(t, bound_theta, "k--", label="Theorem 1 bound (restarted at T)")
    ax_n.plot(t, run["norm"], "k-", label="gradient flow")
    for (lr, gd), marker in zip(data["gd"].items(), "os^v", strict=False):
        tg = lr * np.arange(len(gd["theta"]))
        keep = gd["theta"] > ANGLE_FLOOR
        every = max(1, len(tg) // 40)
        ax_a.semilogy(
            tg[keep][::every],
            gd["theta"][keep][::every],
            marker,
            ms=4,
            mfc="none",
            label=f"GD, step {lr:g}",
        )
        ax_n.plot(
            tg[::every], gd["norm"][::every], marker, ms=4, mfc="none", label=f"GD, step {lr:g}"
        )
    for ax in (ax_a, ax_n):
        ax.axvline(T, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("time t (GD: step index x step size)")
        ax.set_xlim(0, data["t_end"])
    ax_a.set_ylabel("angle theta to v (radians)")
    ax_n.set_ylabel("norm ||w||")
    ax_a.legend(fontsize=8)
    ax_n.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- 6.3 Deep linear networks ---------------------------------------------------------------------

# The end-to-end row w_e of a balanced depth-N network (the paper's section 4): its flow, Eq. (14),
# is integrated by ``directional.induced_flow`` and compared with the per-layer flow of
# ``training.gradient_flow``; every bound is checked through the exponent u = -2 ln tan(theta / 2).


def figure1_layers(w0, depth: int, rng=None) -> list[np.ndarray]:
    """The initialisation of the paper's Figure 1(b): ``W_1 = u_2 u_1^T``,
    ``W_i = u_{i+1} u_i^T`` (1 < i < N) and ``W_N = u_N^T``, with ``u_1 = w0`` and
    ``u_2, ..., u_N`` random unit vectors of the same dimension (from ``rng``). The product is
    ``w0^T``; the network is balanced exactly when ``||w0|| = 1``. Depth 1 returns ``[w0^T]``."""
    w0 = np.asarray(w0, dtype=float).reshape(-1)
    if w0.size < 2 or not np.all(np.isfinite(w0)) or not np.linalg.norm(w0) > 0:
        raise ValueError(f"w0 must be a finite non-zero vector with at least 2 entries, got {w0!r}")
    n = _val.positive_int("depth", depth)
    gen = _val.rng(rng)
    u = [w0]
    for _ in range(n - 1):
        x = gen.standard_normal(w0.size)
        u.append(x / np.linalg.norm(x))
    if n == 1:
        return [w0[None, :].copy()]
    return [np.outer(u[j + 1], u[j]) for j in range(n - 1)] + [u[-1][None, :].copy()]


def eq14_departure(loss, layers, t) -> float:
    """Largest relative difference ``||w_layers(t) - w_14(t)|| / ||w_14(t)||`` over ``t`` between
    the end-to-end row of the per-layer gradient flow from ``layers`` and Eq. (14) integrated
    from the same product (``directional.induced_flow``, depth ``len(layers)``)."""
    ws = _val.weights("layers", layers)
    per_layer = gradient_flow(loss, ws, t).end_to_end[:, 0, :]
    induced = _dr.induced_flow(loss, per_layer[0], t, len(ws))["W"]
    return float(
        np.max(np.linalg.norm(per_layer - induced, axis=1) / np.linalg.norm(induced, axis=1))
    )


def eq14_vs_theorem1(loss, w0, t, depth: int) -> float:
    """Largest relative difference over ``t`` between Eq. (14) (``directional.induced_flow``) and
    chapter 1's end-to-end dynamics (``gradient_flow(loss, w0, t, depth=N)``) from ``w0``."""
    w0 = np.asarray(w0, dtype=float)
    general = gradient_flow(loss, w0[None, :], t, depth=depth).end_to_end[:, 0, :]
    induced = _dr.induced_flow(loss, w0, t, depth)["W"]
    return float(
        np.max(np.linalg.norm(general - induced, axis=1) / np.linalg.norm(induced, axis=1))
    )


def deep_flow(loss, w0, depth: int, t_end: float) -> dict:
    """Eq. (14) from ``w0`` up to ``t_end``, with the keys of :func:`logistic_flow` (t, W, norm,
    theta, omc, g) and T, wT, the times ``up``/``down`` at which g crosses zero, ``depth`` and
    ``loss``. One integration on ``flow_grid(t_end, inf)`` locates T (event location); a second,
    short one restarts from w(T) and adds T and 60 times from T + 1e-6 to T + 1 to the grid,
    where Theorem 3's second phase starts."""
    n = _val.positive_int("depth", depth)
    t_end = _val.real("t_end", t_end, low=0.0, strict_low=True)
    run = _dr.induced_flow(loss, w0, flow_grid(t_end, math.inf), n)
    t, W, T = run["t"], run["W"], run["T"]
    if 0.0 < T < t_end:
        extra = np.geomspace(1e-6, min(1.0, t_end - T), 60)
        after = _dr.induced_flow(loss, run["wT"], extra, n)["W"]
        t = np.concatenate([t, [T], T + extra])
        W = np.concatenate([W, run["wT"][None, :], after])
        order = np.argsort(t, kind="stable")
        t, W = t[order], W[order]
    return {
        **_flow_record(loss, t, W, T=T, wT=run["wT"], depth=n),
        "g": np.array([-float(w @ loss.grad(w[None, :])[0]) for w in W]),
        "up": run["up"],
        "down": run["down"],
    }


def _stencil(times, h: float) -> np.ndarray:
    """The times ``t_k + (-2h, -h, 0, h, 2h)`` of 5-point central differences, flattened."""
    times = np.asarray(times, dtype=float)
    if (
        times.ndim != 1
        or times.size == 0
        or np.any(times < 2 * h)
        or np.any(np.diff(times) <= 4 * h)
    ):
        raise ValueError("times must increase by more than 4 h, starting at >= 2 h")
    return (times[:, None] + h * np.arange(-2, 3)[None, :]).ravel()


def _central(values, h: float) -> np.ndarray:
    """5-point central differences of ``values`` recorded on :func:`_stencil` (rows of 5)."""
    f = np.asarray(values, dtype=float).reshape(-1, 5)
    return (f[:, 0] - 8.0 * f[:, 1] + 8.0 * f[:, 3] - f[:, 4]) / (12.0 * h)


def lemma7_errors(loss, layers, times, *, h: float = 1e-2, depths=None) -> dict:
    """Lemma 7 along the per-layer flow from ``layers``: for each N in ``depths`` (default the
    network's depth), the largest relative difference over ``times`` between ``d cos theta / dt``
    (5-point central differences with step ``h``) and Eq. (16),
    ``(c0 / pi) sin^2 theta ||w_e||^{1 - 2/N}`` = ``(sin^2 theta / 2) du/dt`` with the exponent's
    rate from :func:`~linnet_lib.directional.induced_exponent_rate`."""
    ws = _val.weights("layers", layers)
    depths = [len(ws)] if depths is None else [_val.positive_int("depths", n) for n in depths]
    h = _val.real("h", h, low=0.0, strict_low=True)
    run = gradient_flow(loss, ws, _stencil(times, h))
    W = run.end_to_end[:, 0, :]
    r = np.linalg.norm(W, axis=1)
    cos = W @ loss.v / r
    fd = _central(cos, h)
    mid = slice(2, None, 5)
    sin2 = 1.0 - cos[mid] ** 2
    out = {}
    for n in depths:
        rate = 0.5 * sin2 * _dr.induced_exponent_rate(_dr.c0(loss.data), r[mid], n)
        out[n] = float(np.max(np.abs(fd / rate - 1.0)))
    return out


def layer_flow(loss, layers, t_end: float) -> dict:
    """The per-layer gradient flow from ``layers`` on ``flow_grid(t_end, inf)``, as a dict with
    the keys of :func:`deep_flow` that Theorem 3 and Lemma 8 need (T set to inf, wT to the last
    row): for controls with unbalanced starts."""
    ws = _val.weights("layers", layers)
    t_end = _val.real("t_end", t_end, low=0.0, strict_low=True)
    t = flow_grid(t_end, math.inf)
    W = gradient_flow(loss, ws, t).end_to_end[:, 0, :]
    return _flow_record(loss, t, W, T=math.inf, wT=W[-1].copy(), depth=len(ws))


def _flow_record(loss, t, W, *, T: float, wT, depth: int) -> dict:
    """The record of an end-to-end flow that :func:`deep_flow` and :func:`layer_flow` share."""
    theta = _angles(loss, W)
    return {
        "t": t,
        "W": W,
        "norm": np.linalg.norm(W, axis=1),
        "theta": theta,
        "omc": 2.0 * np.sin(0.5 * theta) ** 2,
        "T": T,
        "wT": wT,
        "depth": depth,
        "loss": loss,
    }


def lemma8_ratios(flow: dict, *, c0_value=None, growth: float = 0.6) -> dict:
    """Lemma 8(i) along a :func:`deep_flow`: ``low = min ||w_e|| / lower`` and
    ``up = min upper / ||w_e||`` over the grid (both >= 1 when the bounds hold; near 1 when
    tight), with the lower bound's constant ``c0_value`` (default c0) and the upper's ``growth``
    (default 0.6) as in :func:`~linnet_lib.directional.lemma8_norm_bounds`."""
    c = _dr.c0(flow["loss"].data) if c0_value is None else c0_value
    lower, upper = _dr.lemma8_norm_bounds(
        flow["t"], c, flow["depth"], flow["norm"][0], growth=growth
    )
    return {
        "low": float(np.min(flow["norm"] / lower)),
        "up": float(np.min(upper / flow["norm"])),
        "lower": lower,
        "upper": upper,
    }


_MIN_RISE = 1e-9  # smallest exponent increment used in a tightness ratio (u is known to ~1e-13)


def theorem3_margins(flow: dict, *, floor: float = ANGLE_FLOOR, **perturb) -> dict:
    """Theorem 3 along a :func:`deep_flow`, on grid times where the angle exceeds ``floor``:
    ``first = min (u - lower_18)`` over all t (Eq. (18), the first phase's bound, which holds
    for every t), ``second = min (u - lower)`` over t >= T (restarted at T) and
    ``upper = min (upper - u)``; each >= 0 when its bound holds (u the exact exponent). With
    ``kappa_*``, the largest factor by which alpha, A2 or 1/F could be multiplied with the
    bound still holding (>= 1 when it holds, near 1 when tight), ``at_zero`` (the largest
    ``|bound - u|`` at t = 0, where both bounds are exact) and ``t_stop`` (the last time kept).
    A flow with T = inf (:func:`layer_flow`) has no second phase. ``perturb`` (scale1, scale2,
    scale_upper, power) goes to :func:`~linnet_lib.directional.theorem3_exponents`."""
    loss, t, T = flow["loss"], flow["t"], flow["T"]
    keep = flow["theta"] > floor
    u = _dr.angle_exponent(flow["theta"])
    args = (
        _dr.c0(loss.data),
        flow["depth"],
        flow["norm"][0],
        flow["theta"][0],
    )
    rT, thT = float(np.linalg.norm(flow["wT"])), loss.angle(flow["wT"][None, :])
    low18, upper = _dr.theorem3_exponents(t, *args, t[-1], rT, thT, **perturb)
    low, _ = _dr.theorem3_exponents(t, *args, min(T, t[-1]), rT, thT, **perturb)
    after = keep & (t >= T)
    u0, uT = u[0], float(_dr.angle_exponent(thT))
    inc18, incT, incU = low18 - u0, low - uT, upper - u0
    with np.errstate(divide="ignore", invalid="ignore"):  # increments above round-off only
        k18 = np.where(keep & (inc18 > _MIN_RISE), (u - u0) / inc18, np.inf)
        kT = np.where(after & (incT > _MIN_RISE), (u - uT) / incT, np.inf)
        kU = np.where(keep & (incU > _MIN_RISE), incU / (u - u0), np.inf)
    return {
        "first": float(np.min((u - low18)[keep])),
        "second": float(np.min((u - low)[after])) if np.any(after) else math.inf,
        "upper": float(np.min((upper - u)[keep])),
        "kappa_first": float(np.min(k18)),
        "kappa_second": float(np.min(kT)),
        "kappa_upper": float(np.min(kU)),
        "at_zero": float(max(abs(low18[0] - u0), abs(upper[0] - u0))),
        "t_stop": float(t[keep][-1]),
    }


def proposition4_error(loss, w0, t, *, depth: int = 2, rate_scale: float = 1.0) -> float:
    """Largest ``|u(t) - u_4(t)|`` over ``t`` (where the angle exceeds ``ANGLE_FLOOR``) between the
    exponent u of Eq. (14) at ``depth`` from ``w0`` and Proposition 4's ``u(0) + 2 c0 t / pi``,
    with the rate multiplied by ``rate_scale``: a relative accuracy on ``tan(theta / 2)``."""
    rate_scale = _val.real("rate_scale", rate_scale, low=0.0, strict_low=True)
    W = _dr.induced_flow(loss, w0, t, depth)["W"]
    theta = _angles(loss, W)
    keep = theta > ANGLE_FLOOR
    exact = _dr.proposition4_exponent(t, rate_scale * _dr.c0(loss.data), theta[0])
    return float(np.max(np.abs(_dr.angle_exponent(theta[keep]) - exact[keep])))


def radial_rate_error(loss, w0, depth: int, times, *, h: float = 1e-2) -> float:
    """Largest relative difference between ``directional.radial_rate`` and the 5-point central
    difference of ``g = -w^T grad L`` along Eq. (14) from ``w0`` (step ``h``) at ``times``."""
    h = _val.real("h", h, low=0.0, strict_low=True)
    W = _dr.induced_flow(loss, w0, _stencil(times, h), depth)["W"]
    fd = _central([-float(w @ loss.grad(w[None, :])[0]) for w in W], h)
    exact = np.array([_dr.radial_rate(loss, w, depth) for w in W[2::5]])
    return float(np.max(np.abs(fd - exact) / np.abs(exact)))


def remark5_gaps(flow: dict) -> tuple[float, float]:
    """Remark 5 along a :func:`deep_flow`: ``||w_e(T)||`` over Lemma 8's lower bound at T, and
    the exponent's gain after T over Theorem 3's second-phase gain,
    ``(u(t) - u(T)) / (A2 (t - T))`` at the last grid time where the angle exceeds
    ``ANGLE_FLOOR`` (both > 1 when the bounds are loose)."""
    loss, t, T, n = flow["loss"], flow["t"], flow["T"], flow["depth"]
    c0 = _dr.c0(loss.data)
    lower, _ = _dr.lemma8_norm_bounds(T, c0, n, flow["norm"][0])
    rT = float(np.linalg.norm(flow["wT"]))
    k = int(np.flatnonzero(flow["theta"] > ANGLE_FLOOR)[-1])
    u = _dr.angle_exponent([flow["theta"][k], loss.angle(flow["wT"][None, :])])
    a2 = 2.0 * c0 / math.pi * rT ** (1.0 - 2.0 / n)
    return rT / float(lower), float((u[0] - u[1]) / (a2 * (t[k] - T)))


def stationary_norm_rates(loss, angles, depth: int) -> np.ndarray:
    """Lemma 8(ii) at every stationary norm on the rays at ``angles`` (< pi/2): the rate
    ``dg/dt`` along Eq. (14) at the norm where g vanishes (:func:`radial_zero`)."""
    return np.array(
        [_dr.radial_rate(loss, plane_frame(loss.v, a, radial_zero(loss, a)), depth) for a in angles]
    )


def second_phase_speed(flow: dict, delta: float = 1e-3) -> tuple[float, float]:
    """Remark 4 along a :func:`deep_flow`: the exponent's measured speed just after T,
    ``(u(T + delta) - u(T)) / delta`` (integrated afresh from w(T)), and Theorem 3's
    ``A2 = 2 c0 ||w_e(T)||^{1 - 2/N} / pi``."""
    loss, n, wT = flow["loss"], flow["depth"], flow["wT"]
    delta = _val.real("delta", delta, low=0.0, strict_low=True)
    w1 = _dr.induced_flow(loss, wT, [delta], n)["W"][-1]
    u = _dr.angle_exponent([loss.angle(wT[None, :]), loss.angle(w1[None, :])])
    a2 = _dr.c0(loss.data) * 2.0 / math.pi * float(np.linalg.norm(wT)) ** (1.0 - 2.0 / n)
    return float((u[1] - u[0]) / delta), a2


def figure_depths(loss, w0, depths=(1, 2, 3, 4, 6), t_end: float = 30.0) -> dict:
    """Data of the section's figure: :func:`deep_flow` from ``w0`` for each depth."""
    return {n: deep_flow(loss, w0, n, t_end) for n in depths}


def plot_depths(runs: dict):
    """Two panels against t: cos theta and ||w_e|| (log scale) for each depth, T marked by a
    dotted line of the depth's colour."""
    fig, (ax_c, ax_n) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (n, run) in enumerate(runs.items()):
        kw = dict(color=f"C{i}", label=f"N = {n}")
        cos = 1.0 - run["omc"]
        ax_c.plot(run["t"], cos, **kw)
        ax_n.semilogy(run["t"], run["norm"], **kw)
        if math.isfinite(run["T"]):
            for ax in (ax_c, ax_n):
                ax.axvline(run["T"], color=f"C{i}", lw=0.8, ls=":")
    for ax in (ax_c, ax_n):
        ax.set_xlabel("time t")
        ax.set_xlim(0, runs[next(iter(runs))]["t"][-1])
        ax.legend(fontsize=8)
    ax_c.set_ylabel("cos θ (angle to v)")
    ax_n.set_ylabel("norm ||w_e|| (log scale)")
    fig.tight_layout()
    return fig


# --- 6.4 Figure 1 ---------------------------------------------------------------------------------
# The paper's Figure 1 (its section 5): x uniform on the circle, v = (0, 1), w_e(0) = (0.6, -0.8),
# SGD with 1000 fresh samples per step and step 1e-3, for a linear predictor (a) and a depth-4
# network (b), with the exact-gradient flow beside it. Then the angle's exponent against depth, and
# the Explore section's runs.

FIGURE1_W0 = (0.6, -0.8)
FIGURE1_LR = 1e-3
FIGURE1_BATCH = 1000
FIGURE1_T_END = 25.0
# The paper's restart points, n = 5000 (a) and n = 18000 (b), as times t = n x step.
PAPER_RESTART = {1: 5.0, 4: 18.0}


def _turn(loss, w0, depth: int, t_max: float) -> tuple[float, np.ndarray]:
    """Lemma 1 / Lemma 6's turning time T of the induced flow (14) from ``w0`` up to ``t_max``
    and ``w_e(T)`` (inf and the last row if the norm falls until ``t_max``)."""
    run = _dr.induced_flow(loss, w0, [_val.real("t_max", t_max, low=0.0, strict_low=True)], depth)
    return run["T"], run["wT"]


class FreshBatches:
    """Fresh mini-batches of ``size`` samples from a :class:`~linnet_lib.population_logistic.PopulationLogisticLoss`, one per SGD
    step, for ``gradient_descent(..., step_loss=batches)``: ``batches(k)`` is the
    :class:`~linnet_lib.population_logistic.EmpiricalLogisticLoss` of batch k and ``batches.batch(k)`` its ``(X, y)``.

    Batches must be asked for in order (k = 0, 1, 2, ...). They are drawn ``chunk`` at a time by
    one call of ``loss.sample`` (``chunk x size`` samples, split into consecutive columns); on the
    circle this gives the same numbers as calling ``loss.sample_loss(size, rng)`` at every step,
    only faster (the angles are drawn one after another either way)."""

    def __init__(self, loss, size: int, rng=None, chunk: int = 10):
        if not hasattr(loss, "sample"):
            raise ValueError(f"loss must have a sample(n, rng) method, got {type(loss).__name__}")
        self.loss = loss
        self.size = _val.positive_int("size", size)
        self.chunk = _val.positive_int("chunk", chunk)
        self.rng = _val.rng(rng)
        self._next = 0
        self._X = self._y = None

    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k != self._next:
            raise ValueError(f"k must be the next batch index {self._next}, got {k!r}")
        j = k % self.chunk
        if j == 0:
            self._X, self._y = self.loss.sample(self.size * self.chunk, self.rng)
        self._next += 1
        cols = slice(j * self.size, (j + 1) * self.size)
        return self._X[:, cols], self._y[:, cols]

    def __call__(self, k: int) -> EmpiricalLogisticLoss:
        return EmpiricalLogisticLoss(*self.batch(k))


def sgd_row_network(loss, layers, lr: float, steps: int, batches, *, record_every: int = 1):
    """SGD on the logistic loss of a network with one output (end-to-end row ``w``), each step on
    a fresh batch ``batches.batch(k)`` (a :class:`FreshBatches`): the same steps as
    ``gradient_descent(loss, layers, lr, steps, step_loss=batches)``, in a loop without the
    per-call input checks (about 10 times faster; the unit tests compare the two). Records and
    divergence follow :func:`~linnet_lib.training.descent_loop`; ``loss`` (the population loss)
    gives the recorded loss values."""
    layers = [np.array(w, dtype=float) for w in _val.weights("layers", layers)]
    if layers[-1].shape[0] != 1 or layers[0].shape[1] != loss.dim:
        raise ValueError(f"layers must have a product of shape (1, {loss.dim})")
    lr, steps, record_every, _ = descent_settings(lr, steps, record_every, None)
    n = len(layers)
    counter = [0]

    def advance(ws):
        X, y = batches.batch(counter[0])
        counter[0] += 1
        below = [None] * n
        below[0] = np.eye(ws[0].shape[1])
        for j in range(1, n):
            below[j] = ws[j - 1] @ below[j - 1]
        w = ws[-1] @ below[-1]
        coef = y * expit(-y * (w @ X))
        G = -(coef @ X.T) / X.shape[1]
        above = np.ones((1, 1))  # the row W_n ... W_{j+2} above layer j + 1
        new = [None] * n
        for j in range(n - 1, -1, -1):  # d phi / d W_{j+1} = above^T G below^T
            new[j] = ws[j] - lr * (above.T @ (G @ below[j].T))
            above = above @ ws[j]
        return new, (0.0 if np.all(np.isfinite(w)) else math.nan)

    record_steps, records, diverged = descent_loop(
        layers,
        advance,
        steps,
        record_every=record_every,
        stop_loss=None,
        snapshot=lambda ws: [w.copy() for w in ws],
    )
    weights = tuple(np.array([r[j] for r in records]) for j in range(n))
    mats = np.array([end_to_end(r) for r in records])
    return descent_result(loss, mats, record_steps, lr, n, diverged=diverged, weights=weights)


def _track(loss, res) -> dict:
    """Norm, angle, ``1 - cos``, ``cos``, the exponent u and the loss along a TrainingResult."""
    W = res.end_to_end[:, 0, :]
    theta = _angles(loss, W)
    norm = np.linalg.norm(W, axis=1)
    return {
        "t": np.asarray(res.t, dtype=float),
        "W": W,
        "norm": norm,
        "theta": theta,
        "omc": 2.0 * np.sin(0.5 * theta) ** 2,
        "cos": W @ loss.v / norm,
        "u": _dr.angle_exponent(theta),
        "loss": np.asarray(res.loss, dtype=float),
    }


def figure1_panel(
    loss,
    depth: int,
    *,
    w0=FIGURE1_W0,
    t_end: float = FIGURE1_T_END,
    lr: float = FIGURE1_LR,
    batch: int | None = FIGURE1_BATCH,
    seed: int = 0,
    record_every: int = 25,
) -> dict:
    """One panel of Figure 1: the paper's network (:func:`figure1_layers`, its random unit vectors
    from ``default_rng(seed)``), trained by SGD with ``batch`` fresh samples per step and step
    ``lr`` for ``t_end / lr`` steps (recorded every ``record_every`` steps; ``batch=None`` skips
    SGD), and the exact-gradient flow of the same layers (per layer), recorded at the SGD's times
    and on a grid refined after 0 and after the turning time T (:func:`flow_grid`). T and w(T)
    come from :func:`~linnet_lib.directional.induced_flow`. Returns a dict: ``depth``, ``T``, ``wT``, ``layers``,
    ``flow`` and ``sgd`` (tracks: t, W, norm, theta, omc, cos, u, loss), ``on_records`` (the flow's
    indices at the SGD's times), ``lr``, ``batch``, ``loss``."""
    depth = _val.positive_int("depth", depth)
    t_end = _val.real("t_end", t_end, low=0.0, strict_low=True)
    lr = _val.real("lr", lr, low=0.0, strict_low=True)
    record_every = _val.positive_int("record_every", record_every)
    gen = np.random.default_rng(seed)
    layers = figure1_layers(w0, depth, gen)
    w_start = end_to_end(layers)[0]
    steps = int(round(t_end / lr))
    records = lr * np.unique(np.append(np.arange(0, steps + 1, record_every), steps))
    T, wT = _turn(loss, w_start, depth, t_end)
    t = np.unique(np.concatenate([records, flow_grid(records[-1], T)]))
    flow = _track(loss, gradient_flow(loss, layers, t))
    out = {
        "depth": depth,
        "T": T,
        "wT": wT,
        "layers": layers,
        "flow": flow,
        "on_records": np.searchsorted(t, records),
        "lr": lr,
        "batch": batch,
        "loss": loss,
        "sgd": None,
    }
    if batch is not None:
        batches = FreshBatches(loss, batch, gen)
        res = sgd_row_network(loss, layers, lr, steps, batches, record_every=record_every)
        out["sgd"] = _track(loss, res)
    return out


def state_at(panel: dict, t0: float) -> tuple[float, float]:
    """``(||w(t0)||, theta(t0))`` of the panel's flow at a grid time ``t0`` (T is not on the
    grid: use ``panel['wT']``)."""
    t = panel["flow"]["t"]
    k = int(np.argmin(np.abs(t - t0)))
    if abs(t[k] - t0) > 1e-9 * max(1.0, t0):
        raise ValueError(f"t0 must be a time of the flow's grid, got {t0!r}")
    return float(panel["flow"]["norm"][k]), float(panel["flow"]["theta"][k])


def figure1_exponents(panel: dict, *, restart=None, depth=None, **perturb):
    """The bounds of the panel as exponents on the flow's grid, ``(lower, upper)``: Theorem 1
    (depth 1, ``upper`` None) or Theorem 3 (depth > 2), drawn from t = 0 and restarted at the
    turning time T (at the last time if T is beyond it), or at the grid time ``restart``. ``depth`` overrides the depth in the formulas
    (a control); ``perturb`` goes to :func:`~linnet_lib.directional.theorem1_exponent` or
    :func:`~linnet_lib.directional.theorem3_exponents`."""
    flow, loss = panel["flow"], panel["loss"]
    n = panel["depth"] if depth is None else _val.positive_int("depth", depth)
    if restart is None and math.isfinite(panel["T"]):
        t0, r0 = panel["T"], float(np.linalg.norm(panel["wT"]))
        th0 = loss.angle(panel["wT"][None, :])
    elif restart is None:  # no turn before the horizon: the first phase only
        t0 = float(flow["t"][-1])
        r0, th0 = state_at(panel, t0)
    else:
        t0 = float(restart)
        r0, th0 = state_at(panel, t0)
    args = (flow["t"], _dr.c0(loss.data))
    start = (flow["norm"][0], flow["theta"][0], t0, r0, th0)
    if n == 1:
        return _dr.theorem1_exponent(*args, *start, **perturb), None
    if n == 2:
        raise ValueError("depth 2 has an exact solution (Proposition 4), not a bound")
    return _dr.theorem3_exponents(*args, n, *start, **perturb)


def bound_gaps(panel: dict, lower, upper=None, *, run: str = "flow", margin=None) -> dict:
    """Smallest gaps of the bounds to the run's exponent u, in the exponent and in cos theta:
    ``lower_gap = min(u - lower)``, ``upper_gap = min(upper - u)`` (>= 0 when the bounds hold),
    where they occur, and for SGD (``run='sgd'``, bounds taken at the SGD's times)
    ``cos_gap = min(cos - cos_lower + margin)`` with the allowance ``margin`` in cos theta."""
    if run not in ("flow", "sgd"):
        raise ValueError(f"run must be 'flow' or 'sgd', got {run!r}")
    track = panel[run]
    idx = slice(None) if run == "flow" else panel["on_records"]
    lower = np.asarray(lower)[idx]
    u, t = track["u"], track["t"]
    ok = np.isfinite(u)
    gap = np.where(ok, u - lower, np.inf)
    k = int(np.argmin(gap))
    out = {"lower_gap": float(gap[k]), "t_lower": float(t[k])}
    if upper is not None:
        up = np.where(ok, np.asarray(upper)[idx] - u, np.inf)
        j = int(np.argmin(up))
        out.update(upper_gap=float(up[j]), t_upper=float(t[j]))
    if run == "sgd":
        allowance = 0.0 if margin is None else np.asarray(margin)
        cos_lower = 1.0 - _dr.one_minus_cos(lower)
        cos_gap = track["cos"] - cos_lower + allowance
        out["cos_gap"] = float(np.min(cos_gap))
        if upper is not None:
            cos_upper = 1.0 - _dr.one_minus_cos(np.asarray(upper)[idx])
            out["cos_upper_gap"] = float(np.min(cos_upper - track["cos"] + allowance))
    return out


def sgd_noise_margin(panel: dict, *, sigmas: float = 4.0) -> dict:
    """An allowance for the distance between SGD and the flow, at the SGD's times.

    Each SGD step adds to the exact-gradient step a zero-mean error of the end-to-end row of size
    ``lr N ||w||^{2 - 2/N} ||xi||``, with ``xi`` the mini-batch gradient's error, ``E||xi||^2 <=
    E||x||^2 / batch`` (= 1 / batch on the circle: a sample's gradient has norm at most ||x||).
    Adding these variances along the flow gives the root-mean-square ``rms(t)``. For depth 1 the
    loss is convex and the exact step (lr < 2 / beta = 16) does not expand distances, so ``rms``
    bounds the RMS distance between SGD and exact-gradient descent; for depth N it is a
    linearised estimate. The gradient-descent step itself departs from the flow by at most
    ``lr beta c0 t / 2`` (beta = 1/8; depth 1, the same reasoning). Returns ``rms``,
    ``drift``, ``w = sigmas * rms + drift`` (in w) and ``cos = w / (||w_flow|| - w)`` (an allowance
    on cos theta, valid where the denominator is positive), and the measured
    ``dist_w = ||w_sgd - w_flow||``, ``dist_cos = |cos_sgd - cos_flow|`` with their largest
    ratios to the allowances (<= 1 when SGD tracks the flow within them)."""
    flow, sgd = panel["flow"], panel["sgd"]
    if sgd is None:
        raise ValueError("panel must have an SGD run (batch not None)")
    idx = panel["on_records"]
    n, lr = panel["depth"], panel["lr"]
    t, norm = flow["t"][idx], flow["norm"][idx]
    every = int(round((t[1] - t[0]) / lr))
    var = (lr * n * norm ** (2.0 - 2.0 / n)) ** 2 / panel["batch"]
    rms = np.sqrt(np.concatenate([[0.0], np.cumsum(var[:-1] * every)]))
    drift = lr * (1.0 / 8.0) * _dr.c0(panel["loss"].data) * t / 2.0
    allow_w = sigmas * rms + drift
    denom = norm - allow_w
    allow_cos = np.where(denom > 0, allow_w / np.where(denom > 0, denom, 1.0), 2.0)
    dist_w = np.linalg.norm(sgd["W"] - flow["W"][idx], axis=1)
    dist_cos = np.abs(sgd["cos"] - flow["cos"][idx])
    pos = allow_w > 0
    return {
        "t": t,
        "rms": rms,
        "drift": drift,
        "w": allow_w,
        "cos": allow_cos,
        "dist_w": dist_w,
        "dist_cos": dist_cos,
        "ratio_w": float(np.max(dist_w[pos] / allow_w[pos])),
        "ratio_cos": float(np.max(dist_cos[pos] / allow_cos[pos])),
    }


def norm_dip(track: dict, T: float) -> dict:
    """The norm's fall and rise along a track: the number of grid steps whose increment has the
    wrong sign for its side of T (falling before, rising after), the smallest norm and where, and
    the norm at the start and at the end."""
    t, norm = track["t"], track["norm"]
    steps = np.diff(norm)
    wrong = int(np.sum(steps[t[1:] <= T] >= 0) + np.sum(steps[t[:-1] >= T] <= 0))
    k = int(np.argmin(norm))
    return {
        "wrong_sign": wrong,
        "min_norm": float(norm[k]),
        "t_min": float(t[k]),
        "start": float(norm[0]),
        "end": float(norm[-1]),
    }


def stuck_window(track: dict, window=(5.0, 10.0)) -> dict:
    """Over the times in ``window``: the largest norm, the fall of the loss and the rise of
    cos theta between its ends."""
    t = track["t"]
    a, b = (float(x) for x in window)
    inside = (t >= a) & (t <= b)
    if np.sum(inside) < 2:
        raise ValueError(f"window must contain at least 2 times of the track, got {window!r}")
    i, j = np.flatnonzero(inside)[[0, -1]]
    return {
        "max_norm": float(np.max(track["norm"][inside])),
        "loss_drop": float(track["loss"][i] - track["loss"][j]),
        "cos_rise": float(track["cos"][j] - track["cos"][i]),
    }


def plot_figure1(axes, panel: dict, exponents, *, restart_label: str = "T") -> None:
    """A row of three axes: ``1 - cos theta`` (log scale) with the bounds, the loss and the norm,
    against t = step x iteration, for SGD (a wide, translucent blue line) and the flow (a thin
    black line)."""
    flow, sgd = panel["flow"], panel["sgd"]
    lower, upper = exponents
    ax_a, ax_l, ax_n = axes
    t = flow["t"]
    if sgd is not None:
        ax_a.semilogy(sgd["t"], sgd["omc"], color="C0", lw=2.5, alpha=0.6, label="SGD")
        ax_l.plot(sgd["t"], sgd["loss"], color="C0", lw=2.5, alpha=0.6, label="SGD")
        ax_n.plot(sgd["t"], sgd["norm"], color="C0", lw=2.5, alpha=0.6, label="SGD")
    ax_a.semilogy(t, flow["omc"], "k-", lw=1, label="gradient flow")
    ax_a.semilogy(t, _dr.one_minus_cos(lower), "C3--", lw=1, label="lower bound on cos θ")
    if upper is not None:
        ax_a.semilogy(t, _dr.one_minus_cos(upper), "C2:", lw=1.5, label="upper bound on cos θ")
    ax_l.plot(t, flow["loss"], "k-", lw=1, label="gradient flow")
    ax_n.plot(t, flow["norm"], "k-", lw=1, label="gradient flow")
    ax_a.set_ylim(max(1e-12, 0.3 * float(np.min(flow["omc"]))), 3.0)
    for ax in axes:
        ax.axvline(panel["T"], color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("t = step x iteration")
        ax.set_xlim(0, t[-1])
        ax.legend(fontsize=7)
    ax_a.set_ylabel("1 - cos θ")
    ax_l.set_ylabel("population loss")
    ax_n.set_ylabel("norm of the end-to-end row")
    ax_a.set_title(f"angle (bounds restarted at {restart_label})", fontsize=9)


def rate_runs(loss, w0, depths, *, t_end: float = 200.0, n: int = 2001, floor: float = 1e-6):
    """The exponent ``u = -2 ln tan(theta/2)`` along the induced flow of each depth (balanced,
    end-to-end row ``w0``, ``gradient_flow(..., depth=N)``) on a uniform grid of ``n`` times up to
    ``t_end``; each run is cut where theta first falls below ``floor`` (the population gradient
    does not resolve smaller angles at large norms). Per depth: ``t``, ``u``, ``norm``, the
    turning time ``T`` and ``uT = u(T)`` (:func:`~linnet_lib.directional.induced_flow`)."""
    floor = _val.real("floor", floor, low=0.0, strict_low=True)
    t = np.linspace(0.0, _val.real("t_end", t_end, low=0.0, strict_low=True), n)
    w0 = np.asarray(w0, dtype=float)
    out = {}
    for depth in depths:
        track = _track(loss, gradient_flow(loss, w0[None, :], t, depth=depth))
        keep = np.cumprod(track["theta"] >= floor).astype(bool)
        T, wT = _turn(loss, w0, depth, t_end)
        out[depth] = {
            "t": track["t"][keep],
            "u": track["u"][keep],
            "norm": track["norm"][keep],
            "T": T,
            "uT": float(_dr.angle_exponent(loss.angle(wT[None, :]))),
        }
    return out


def late_slope(run: dict, fraction: float = 0.5) -> tuple[float, float, tuple[float, float]]:
    """The log-log slope of the exponent gained after T, ``u(t) - u(T)``, against ``t - T`` on the
    late window ``t - T >= fraction x (t_last - T)`` (:func:`~linnet_lib.stats.loglog_slope`).
    Returns ``(slope, standard error, window)``."""
    fraction = _val.real("fraction", fraction, low=0.0, strict_low=True)
    if fraction >= 1:
        raise ValueError(f"fraction must be < 1, got {fraction!r}")
    t, u, T = run["t"], run["u"], run["T"]
    s = t - T
    win = s >= fraction * s[-1]
    slope, se = loglog_slope(s[win], u[win] - run["uT"])
    return slope, se, (float(t[win][0]), float(t[win][-1]))


def plot_rates(ax, runs: dict) -> None:
    """``u(t) - u(T)`` against ``t - T`` on log-log axes, one curve per depth, with the late
    windows of :func:`late_slope` thick, and a dotted line of slope 1."""
    for i, (depth, run) in enumerate(runs.items()):
        s, gain = run["t"] - run["T"], run["u"] - run["uT"]
        pos = s > 0
        ax.loglog(s[pos], gain[pos], color=f"C{i}", lw=1, label=f"N = {depth}")
        _, _, (a, b) = late_slope(run)
        win = (run["t"] >= a) & (run["t"] <= b)
        ax.loglog(s[win], gain[win], color=f"C{i}", lw=3.5, alpha=0.5)
    ref = np.geomspace(0.1, 200.0, 10)
    ax.loglog(ref, ref, "k:", lw=1, label="slope 1")
    ax.set_xlabel("t - T")
    ax.set_ylabel("u(t) - u(T),  u = -2 ln tan(θ/2)")
    ax.set_ylim(1e-3, 50)
    ax.legend(fontsize=8)


def explore_runs(depth: int, angle_deg: float, lr: float, *, t_end: float = 25.0) -> dict:
    """For the Explore section: from a unit end-to-end row at ``angle_deg`` degrees to v = (0, 1)
    (the paper's start is at 143.13 degrees), the paper's layers (seed 0), the per-layer flow and
    exact-gradient descent with step ``lr`` up to ``t_end``: tracks ``flow`` and ``gd``, and T."""
    loss = PopulationLogisticLoss([0.0, 1.0])
    a = math.radians(_val.real("angle_deg", angle_deg, low=0.0))
    if a >= math.pi:
        raise ValueError(f"angle_deg must be below 180, got {angle_deg!r}")
    lr = _val.real("lr", lr, low=0.0, strict_low=True)
    w0 = np.array([math.sin(a), math.cos(a)])
    layers = figure1_layers(w0, depth, np.random.default_rng(0))
    steps = max(1, int(round(t_end / lr)))
    every = max(1, steps // 400)
    gd = gradient_descent(loss, layers, lr, steps, record_every=every)
    flow = gradient_flow(loss, layers, np.linspace(0.0, steps * lr, 401))
    T, _ = _turn(loss, w0, depth, steps * lr)
    return {"flow": _track(loss, flow), "gd": _track(loss, gd), "T": T, "depth": depth, "lr": lr}


def plot_explore(ax_angle, ax_norm, run: dict) -> None:
    """``1 - cos theta`` (log scale) and the norm against t for an :func:`explore_runs` run."""
    for ax, key, log in ((ax_angle, "omc", True), (ax_norm, "norm", False)):
        plot = ax.semilogy if log else ax.plot
        plot(run["gd"]["t"], run["gd"][key], "C0o", ms=2, label=f"GD, step {run['lr']:g}")
        plot(run["flow"]["t"], run["flow"][key], "k-", lw=1, label="gradient flow")
        if math.isfinite(run["T"]):
            ax.axvline(run["T"], color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("t")
        ax.legend(fontsize=7)
    ax_angle.set_ylabel("1 - cos θ")
    ax_norm.set_ylabel("norm")
