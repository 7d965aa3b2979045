"""Chapter 6, "Directional convergence" (Lin, Sun & Zhang 2021): the recipes and figures of its
notebooks. One section per notebook; the mathematics lives in concept modules (the population loss
in ``population_logistic``)."""

from __future__ import annotations

# --- 6.1 Set-up: the loss on spherically symmetric data -------------------------------------------
# Brute-force references that integrate equations (1) and (2) directly (no reduction, no symmetry
# argument), the constants of Lemma 3 and Proposition 3(ii), and the section's figure.
import math  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402
from scipy.special import expit, lambertw  # noqa: E402

from . import _validate as _val  # noqa: E402
from .checks import relative_difference  # noqa: E402
from .population_logistic import PopulationLogisticLoss  # noqa: E402

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


def direct_plane_loss(w, v, data: str = "circle", factor=None, pieces: int = 4):
    """Equation (1) and its gradient (2) integrated directly over the plane, by brute force.

    ``x = C z`` with z uniform on the unit circle (``data='circle'``) or standard Gaussian in
    R^2 (``data='gaussian'``) and ``C = factor`` (default the identity; any invertible 2 x 2 gives
    a non-symmetric distribution). Returns ``(L, grad)`` with ``L = E ln(1 + exp(-y w^T x))``,
    ``grad = -E[y x sigma(-y w^T x)]`` and ``y = sgn(v^T x)``: polar quadrature, Gauss-Legendre
    on arcs split where ``v^T x = 0`` (the label jumps) and where ``w^T x = 0`` (the boundary
    layer), and Gauss-Legendre in the radius on [0, 12] for the Gaussian. Accurate to ~1e-13
    for ``||w||`` up to about 10; it uses neither spherical symmetry nor the exact reduction.
    """
    w, v = _plane_vector("w", w), _plane_vector("v", v)
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
    coef = weight * y * rho[:, None] * expit(-margin)  # y rho sigma(-y w^T x)
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


def direct_loss(loss: PopulationLogisticLoss, w) -> tuple[float, np.ndarray]:
    """Brute-force ``(L(w), grad L(w))`` from equations (1)-(2) in the plane of w and v (the
    projection of N(0, I_d) onto a plane is N(0, I_2), and the gradient's part across the plane
    vanishes for it), mapped back to R^d."""
    Q = plane_coordinates(w, loss.v)
    value, grad = direct_plane_loss(Q.T @ w, Q.T @ loss.v, loss.data)
    return value, Q @ grad


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
            mean, se = monte_carlo_gradient(X, y, w, v)
            full, _ = np.linalg.qr(np.column_stack([plane_coordinates(w, v), np.eye(5)]))
            B = full[:, 2:5]  # orthonormal basis of the complement of span(w, v)
            cov = B.T @ np.cov(-(y * expit(-y * (w @ X))) * X) @ B
            ratio = np.abs(B.T @ mean) / np.sqrt(np.diag(cov) / n)
            worst[k] = max(worst[k], float(np.max(ratio)))
    return worst[0], worst[1]


def lemma2_residual(loss: PopulationLogisticLoss, w, grad, power: int = 2) -> float:
    """Max |residual| of Lemma 2: equation (6) (vector) and equation (5) with ``sin^power``."""
    w = np.asarray(w, float)
    wbar = w / np.linalg.norm(w)
    cos_t = float(np.clip(wbar @ loss.v, -1.0, 1.0))
    P = np.eye(loss.dim) - np.outer(wbar, wbar)
    eq6 = -(P @ grad) - loss.c0 / math.pi * (P @ loss.v)
    eq5 = -(loss.v @ P @ grad) - loss.c0 * (1 - cos_t**2) ** (power / 2) / math.pi
    return max(float(np.max(np.abs(eq6))), abs(float(eq5)))


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


# --- 6.2 Logistic regression (N = 1) --------------------------------------------------------------

# --- 6.3 Deep linear networks ---------------------------------------------------------------------

# --- 6.4 Figure 1 ---------------------------------------------------------------------------------
