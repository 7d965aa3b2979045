"""Chapter 6, "Directional convergence" (Lin, Sun & Zhang 2021): the recipes and figures of its
notebooks. One section per notebook; the mathematics lives in concept modules (the population loss
in ``population_logistic``)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, lambertw

from . import _validate as _val
from . import directional as _dr
from .checks import relative_difference
from .population_logistic import PopulationLogisticLoss
from .training import gradient_descent, gradient_flow

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
    ``printed=True`` drops the ``a`` (Proposition 3(ii) as printed: ``e^{|t|}``)."""
    a = _val.real("a", a, low=0.0)
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
    """|component of the brute-force gradient orthogonal to v| at ``w = a v``, v = (0.6, 0.8),
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
    """Monte Carlo in d = 5: the largest |part of the sample gradient outside span(w, v)| in units
    of its standard error, over ``count`` random w, for N(0, I_5) and for an anisotropic Gaussian
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
    """Max |residual| of Lemma 2: equation (6) (vector) and equation (5) with ``sin^power``;
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
    """|sample mean of the left side of (5) - c0 sin^2(theta) / pi| / standard error, at the
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
    signs)."""
    shift = _val.real("shift", shift, low=0.0, strict_low=True)
    t, g, norm, wT = flow["t"], flow["g"], flow["norm"], flow["wT"]
    T = flow["T"] * shift
    before, after = t < T, t > T
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
    bound (<= 1 when the bound holds), its maximum and where, and the largest violation
    ``cos_bound - cos theta`` (> 0 when the bound fails) and where. Without ``restart`` the first
    phase's bound is used at all times; ``perturb`` (scale1, scale2, power) goes to
    :func:`~linnet_lib.directional.theorem1_exponent`."""
    loss, t, T, wT = flow["loss"], flow["t"], flow["T"], flow["wT"]
    u = _dr.theorem1_exponent(
        t,
        _dr.c0(loss.data),
        flow["norm"][0],
        flow["theta"][0],
        T if restart else t[-1],
        float(np.linalg.norm(wT)),
        loss.angle(wT[None, :]),
        printed=printed,
        **perturb,
    )
    bound = _dr.one_minus_cos(u)
    ratio = flow["omc"] / bound
    excess = flow["omc"] - bound
    k, j = int(np.argmax(ratio)), int(np.argmax(excess))
    return {
        "ratio": float(ratio[k]),
        "t_worst": float(t[k]),
        "violation": float(excess[j]),
        "t_violation": float(t[j]),
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
    delta of the paper's sufficient route (``chain``, :func:`~linnet_lib.directional.
    condition11_chain_delta`) and of ``delta - chain`` (``slack``, >= 0 when the route is valid)
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
    ``delta_n - chain_n`` of the paper's sufficient route (:func:`~linnet_lib.directional.
    condition11_chain_delta`) with the largest ``(1 + chain_n) / (1 + delta_n)``."""
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

# --- 6.4 Figure 1 ---------------------------------------------------------------------------------
