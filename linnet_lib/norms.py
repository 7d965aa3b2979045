"""Norms that diverge (lecture notes section 4.3: Proposition 5, equations (15)-(18), Exercise 4).

The set-up is the 2 x 2 completion problem of equation (15): the entries (1, 2), (2, 1) and (2, 2)
are observed with values ``b = (1, 1, 0)``, entry (1, 1) is not. Every global minimiser has
determinant ``-1``, so a trajectory whose determinant stays positive can only approach zero loss by
letting ``|w_11|`` grow without bound.

* :func:`completion_2x2` builds the loss (equation (15) for the default values);
* :func:`proof_constants`, :func:`norm_bound` and :func:`w11_bound` are the quantities of the proof
  of Proposition 5, with the constants as the proof gives them;
* :func:`signed_start` draws small starts with a chosen sign of the determinant (balanced, or
  per-layer Gaussian as in the original experiments of Razin & Cohen, 2020);
* :func:`flow` integrates gradient flow to long times on a log-spaced grid (a stiff solver, since
  the loss decays only like a power of time);
* :func:`growth_prediction` is the book's asymptotic law for ``w_11(t)`` and the loss,
  :func:`slow_curve` the curve the flow follows once fitted, :func:`norm_rate_coefficient` the
  first-order rate at which ``||W|| sqrt(l)`` approaches its limit in a given norm, and
  :func:`gd_stability_limit` the ``|w_11|`` beyond which gradient descent with a fixed step is unstable;
* :func:`first_sign_change`, :func:`tail_slope` and :func:`plot_norm_vs_loss` measure and draw.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from . import _validate as v
from .networks import balanced_init, end_to_end, gaussian_init
from .sensing import CompletionLoss
from .training import IntegrationError, TrainingResult

#: Rows of the observed entries, 0-based (the entries (1, 2), (2, 1) and (2, 2) of the notes).
OBSERVED_ROWS = np.array([0, 1, 1])
#: Columns of the observed entries, 0-based (see ``OBSERVED_ROWS``).
OBSERVED_COLS = np.array([1, 0, 1])


def _unit(i: int, j: int) -> np.ndarray:
    E = np.zeros((2, 2))
    E[i, j] = 1.0
    return E


def completion_2x2(values=(1.0, 1.0, 0.0)) -> CompletionLoss:
    """The loss of equation (15): ``1/6 [(w_12 - b_1)^2 + (w_21 - b_2)^2 + (w_22 - b_3)^2]``.

    Parameters
    ----------
    values : three real numbers
        The observations ``b = (b_1, b_2, b_3)`` of entries (1, 2), (2, 1), (2, 2). The notes use
        ``(1, 1, 0)``; Exercise 4 is answered with ``(1, -1, 0)``.
    """
    try:
        b = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"values must be three real numbers, got {values!r}") from exc
    if b.shape != (3,) or not np.all(np.isfinite(b)):
        raise ValueError(f"values must be three finite real numbers, got {values!r}")
    return CompletionLoss((2, 2), OBSERVED_ROWS, OBSERVED_COLS, b)


def frobenius(W) -> float:
    """The Frobenius norm (the default norm of this module)."""
    return float(np.linalg.norm(v.matrix("W", W)))


def _norm_values(norm) -> list[float]:
    if norm is None:
        norm = frobenius
    if not callable(norm):
        raise ValueError(f"norm must be a callable taking a 2 x 2 matrix, got {norm!r}")
    vals = []
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
        try:
            x = float(norm(_unit(i, j)))
        except (TypeError, ValueError) as exc:
            raise ValueError("norm must return a real number for a 2 x 2 matrix") from exc
        if not np.isfinite(x) or x <= 0:
            raise ValueError(
                f"norm must be positive and finite on the unit matrices, got {x!r} for E_{i + 1}{j + 1}"
            )
        vals.append(x)
    return vals


def proof_constants(norm=None) -> tuple[float, float]:
    """The constants ``(c, c')`` that the proof of Proposition 5 yields for a norm.

    ``c = ||E_11|| / sqrt(6)`` and ``c' = min(-sqrt(6) c, -2 (||E_11|| + ||E_12|| + ||E_21|| + ||E_22||))``
    (the first term of the minimum makes the bound non-positive when ``l >= 1/6``; it never binds,
    since ``2 ||E_11|| > ||E_11||``). ``norm`` is a callable on 2 x 2 matrices (default Frobenius,
    for which ``c = 1/sqrt(6)`` and ``c' = -8``).
    """
    e11, e12, e21, e22 = _norm_values(norm)
    c = e11 / np.sqrt(6.0)
    c_prime = min(-np.sqrt(6.0) * c, -2.0 * (e11 + e12 + e21 + e22))
    return float(c), float(c_prime)


def _losses(loss_values) -> np.ndarray:
    try:
        lv = np.asarray(loss_values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("loss_values must be real numbers") from exc
    if lv.ndim > 1 or lv.size == 0 or not np.all(np.isfinite(lv)) or np.any(lv < 0):
        raise ValueError(
            "loss_values must be a number or a non-empty 1-D array of finite values >= 0"
        )
    return lv


def norm_bound(loss_values, c: float, c_prime: float, exponent: float = 0.5) -> np.ndarray:
    """The right side of Proposition 5, ``c l^{-1/2} + c'`` (``+inf`` where ``l = 0``).

    ``exponent`` replaces the ``1/2`` of ``l^{-1/2}``: the book's sharpness controls pass a slightly
    larger one to show that the bound then fails."""
    lv = _losses(loss_values)
    c = v.real("c", c, low=0.0, strict_low=True)
    c_prime = v.real("c_prime", c_prime)
    exponent = v.real("exponent", exponent, low=0.0, strict_low=True)
    with np.errstate(divide="ignore"):
        return c * lv ** (-exponent) + c_prime


def w11_bound(loss_values) -> np.ndarray:
    """The proof's bound ``|w_11| >= (1 - s)^2 / s`` with ``s = sqrt(6 l)``, valid when
    ``l < 1/6`` and a positive determinant; NaN where ``l >= 1/6``, ``+inf`` where ``l = 0``."""
    lv = _losses(loss_values)
    s = np.sqrt(6.0 * lv)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (1.0 - s) ** 2 / s
    return np.where(lv < 1.0 / 6.0, out, np.nan)


def signed_start(
    depth: int, scale: float, det_sign: int = 1, rng=None, *, balanced: bool = True
) -> list[np.ndarray]:
    """A small 2 x 2 network whose end-to-end determinant has the sign ``det_sign``.

    ``balanced=True``: a Gaussian end-to-end matrix with entries ``N(0, scale^2 / 2)`` (so its
    Frobenius norm is about ``scale``), rows swapped if its determinant has the wrong sign, made
    into a balanced network by :func:`~linnet_lib.balanced_init` with random hidden rotations. With
    ``det_sign=0`` the end-to-end matrix is ``scale * u v^T`` for random unit vectors and the network
    is the canonical (unrotated) balanced one, whose zero singular direction gradient flow keeps
    exactly zero.

    ``balanced=False``: independent Gaussian layers with entries ``N(0, scale^2)``, drawn again until
    the determinant of the product has the requested sign (the ``enforce_pos_det`` option of the
    original code of Razin & Cohen, 2020). ``det_sign=0`` is refused here.
    """
    n = v.positive_int("depth", depth)
    scale = v.real("scale", scale, low=0.0, strict_low=True)
    if isinstance(det_sign, bool) or det_sign not in (-1, 0, 1):
        raise ValueError(f"det_sign must be -1, 0 or 1, got {det_sign!r}")
    gen = v.rng(rng)
    if not balanced:
        if det_sign == 0:
            raise ValueError("det_sign = 0 needs balanced=True (a Gaussian draw is never singular)")
        for _ in range(1000):
            layers = gaussian_init([2] * (n + 1), scale, gen)
            if np.sign(np.linalg.det(end_to_end(layers))) == det_sign:
                return layers
        raise RuntimeError("no Gaussian draw with the requested determinant sign in 1000 tries")
    if det_sign == 0:
        u, w = gen.standard_normal(2), gen.standard_normal(2)
        W0 = scale * np.outer(u / np.linalg.norm(u), w / np.linalg.norm(w))
        return balanced_init(W0, n)
    W0 = scale * gen.standard_normal((2, 2)) / np.sqrt(2.0)
    if np.sign(np.linalg.det(W0)) != det_sign:
        W0 = W0[::-1].copy()
    return balanced_init(W0, n, rng=gen)


def _mul(A, B):
    """Product of two ``2 x 2`` matrices stored as tuples ``(a11, a12, a21, a22)``."""
    return (
        A[0] * B[0] + A[1] * B[2],
        A[0] * B[1] + A[1] * B[3],
        A[2] * B[0] + A[3] * B[2],
        A[2] * B[1] + A[3] * B[3],
    )


def _layer_rhs(loss, depth: int):
    """Right side of the per-layer gradient flow for a ``2 x 2`` network stored as one vector.

    The same equations as :func:`linnet_lib.gradient_flow` (``dW_j/dt = -W_{n:j+1}^T G W_{j-1:1}^T``
    with ``G`` the loss gradient at the product), written for ``2 x 2`` layers so that one evaluation
    costs microseconds instead of a pass through the general code: the runs of this module need
    tens of thousands of evaluations each. For a completion loss the arithmetic is plain Python
    floating point (no BLAS, so the result does not depend on the machine's BLAS kernel).
    """
    eye = (1.0, 0.0, 0.0, 1.0)
    if isinstance(loss, CompletionLoss):
        observed = [
            (2 * int(r) + int(c), float(b))
            for r, c, b in zip(loss.rows, loss.cols, loss.values, strict=True)
        ]
        m = float(loss.count)

        def grad(W):
            G = [0.0, 0.0, 0.0, 0.0]
            for k, b in observed:
                G[k] = (W[k] - b) / m
            return G

    else:

        def grad(W):
            return tuple(loss.grad(np.array(W).reshape(2, 2)).ravel().tolist())

    def rhs(_t, y):
        flat = y.tolist()
        layers = [tuple(flat[4 * j : 4 * j + 4]) for j in range(depth)]
        below = [eye]
        for j in range(1, depth):
            below.append(_mul(layers[j - 1], below[-1]))
        G = grad(_mul(layers[depth - 1], below[depth - 1]))
        out = [0.0] * (4 * depth)
        above = eye
        for j in range(depth - 1, -1, -1):
            a, b = above, below[j]
            g = _mul(_mul((a[0], a[2], a[1], a[3]), G), (b[0], b[2], b[1], b[3]))
            out[4 * j : 4 * j + 4] = (-g[0], -g[1], -g[2], -g[3])
            above = _mul(above, layers[j])
        return np.array(out)

    return rhs


def _product_det(y, depth: int) -> float:
    """``det W_{n:1}`` of a network stored as one vector of ``2 x 2`` layers."""
    flat = y.tolist()
    W = (1.0, 0.0, 0.0, 1.0)
    for j in range(depth):
        W = _mul(tuple(flat[4 * j : 4 * j + 4]), W)
    return W[0] * W[3] - W[1] * W[2]


def flow(
    loss,
    layers,
    t_max: float,
    count: int = 121,
    t_min: float = 0.1,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-14,
) -> TrainingResult:
    """Per-layer gradient flow of a ``2 x 2`` network from ``layers``, recorded at ``t = 0`` and
    ``count`` log-spaced times from ``t_min`` to ``t_max``.

    Uses ``solve_ivp``'s LSODA, which switches to a stiff method when needed: near the end the
    entries (1, 2) and (2, 1) relax at a rate of order ``|w_11|^{2 - 2/n}`` while the slow drift
    takes times of order ``|w_11|^{2 + 2/n}``, so an explicit method would need a number of steps
    growing like a power of ``t``. The equations are those of :func:`linnet_lib.gradient_flow`,
    evaluated by a right side specialised to ``2 x 2`` layers (about twenty times faster).
    The recorded states are read from the solver's interpolant; ``det W`` is also evaluated at the end
    of every solver step (``info["solver_steps"]`` of them, short while ``W`` is small), and
    ``info["det_crossings"]`` holds the ends of the steps across which its sign changed: a sign change
    between two recorded times is not missed, only two changes within one solver step would be.
    Raises :class:`~linnet_lib.IntegrationError` if the solver fails.
    """
    t_max = v.real("t_max", t_max, low=0.0, strict_low=True)
    t_min = v.real("t_min", t_min, low=0.0, strict_low=True)
    count = v.positive_int("count", count, minimum=2)
    if t_min >= t_max:
        raise ValueError(f"t_min must be < t_max, got t_min={t_min} and t_max={t_max}")
    ws = v.weights("layers", layers)
    if any(w.shape != (2, 2) for w in ws):
        raise ValueError(f"layers must be 2 x 2 matrices, got shapes {[w.shape for w in ws]}")
    if tuple(getattr(loss, "shape", ())) != (2, 2) or not hasattr(loss, "value"):
        raise ValueError(f"loss must be a loss on 2 x 2 matrices, got {type(loss).__name__}")
    rtol = v.real("rtol", rtol, low=0.0, strict_low=True)
    atol = v.real("atol", atol, low=0.0, strict_low=True)
    n = len(ws)
    t = np.r_[0.0, np.logspace(np.log10(t_min), np.log10(t_max), count)]
    y0 = np.concatenate([w.ravel() for w in ws])
    with np.errstate(over="raise", invalid="raise"):
        try:
            sol = solve_ivp(
                _layer_rhs(loss, n),
                (0.0, t[-1]),
                y0,
                method="LSODA",
                rtol=rtol,
                atol=atol,
                dense_output=True,
            )
        except FloatingPointError as exc:
            raise IntegrationError(f"gradient flow overflowed: {exc}") from exc
    if sol.status != 0:
        raise IntegrationError(f"solve_ivp failed before t = {t[-1]:g}: {sol.message}")
    stack = sol.sol(t).T.reshape(t.size, n, 2, 2)
    stack[0] = y0.reshape(n, 2, 2)
    step_dets = np.array([_product_det(y, n) for y in sol.y.T])
    crossings = np.nonzero(np.sign(step_dets[1:]) != np.sign(step_dets[:-1]))[0]
    mats = stack[:, 0]
    for j in range(1, n):
        mats = stack[:, j] @ mats
    return TrainingResult(
        t=t,
        end_to_end=mats,
        loss=np.array([loss.value(W) for W in mats]),
        singular_values=np.linalg.svd(mats, compute_uv=False),
        depth=n,
        weights=tuple(stack[:, j].copy() for j in range(n)),
        info={
            "nfev": sol.nfev,
            "method": "LSODA",
            "rtol": rtol,
            "atol": atol,
            "solver_steps": sol.t.size - 1,
            "det_crossings": sol.t[crossings + 1],
        },
    )


def growth_prediction(t, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The book's long-time law for loss (15) from a start with positive determinant:
    ``w_11(t) ~ (2 (n + 1) t / 3)^{n / (2n + 2)}`` and ``l(t) ~ 1 / (6 w_11(t)^2)``.

    It comes from Theorem 3 with ``sigma_1 ~ w_11``, ``w_22 ~ 1 / w_11`` and the fast entries
    ``w_12, w_21 ~ 1 - w_22 / w_11``, which make the push on ``sigma_1`` equal to
    ``1 / (3 w_11^3)``; it ignores the time spent before the fit and holds for ``n >= 2``. The next
    order, along :func:`slow_curve` (``det W`` negligible, as at depth 3), is
    ``w_11 = law * (1 - (n^2 + 1) 6 l + ...)``.
    """
    n = v.positive_int("depth", depth, minimum=2)
    t = np.asarray(t, dtype=float)
    if t.ndim > 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("t must be a number or a non-empty 1-D array of finite times > 0")
    w11 = (2.0 * (n + 1) * t / 3.0) ** (n / (2.0 * n + 2.0))
    return w11, 1.0 / (6.0 * w11**2)


def slow_curve(tau) -> np.ndarray:
    """The curve that the depth-n flow from ``det W(0) >= 0`` follows once the off-diagonal entries are
    fitted (to leading order, rank one and symmetric):

    ``W(tau) = (1 - tau^2) / tau * (E_11 + tau (E_12 + E_21) + tau^2 E_22)`` for ``0 < tau < 1``,

    on which ``det W = 0``, ``w_12 = w_21 = 1 - tau^2`` and ``6 l(W) = tau^2 (1 + tau^4)``; ``tau`` is
    the tangent of the angle of the singular vectors. Returns shape ``tau.shape + (2, 2)``.
    """
    t = np.asarray(tau, dtype=float)
    if t.ndim > 1 or not np.all(np.isfinite(t)) or np.any(t <= 0) or np.any(t >= 1):
        raise ValueError("tau must be a number or a 1-D array of values in (0, 1)")
    shape = np.stack([np.ones_like(t), t, t, t**2], axis=-1).reshape(t.shape + (2, 2))
    return ((1.0 - t**2) / t)[..., None, None] * shape


def norm_rate_coefficient(norm, h: float = 1e-7) -> float:
    """``D = lim_{h -> 0+} (||E_11 + h (E_12 + E_21)|| - ||E_11||) / (h ||E_11||)``, by a one-sided
    difference with step ``h``.

    Along :func:`slow_curve`, ``||W|| sqrt(l) / (||E_11|| / sqrt(6)) = 1 + D sqrt(6 l) + O(l)``: the
    limit ``c`` of Proposition 5 is reached at a rate of order ``sqrt(l)`` in general, and of order
    ``l`` for the norms with ``D = 0`` (Frobenius, nuclear, spectral, weighted Frobenius). For the
    entrywise l1 norm ``D = 2``, for the norm induced by the max-norm on vectors ``D = 1``.
    """
    h = v.real("h", h, low=0.0, strict_low=True)
    e11 = _norm_values(norm)[0]
    direction = _unit(0, 0) + h * (_unit(0, 1) + _unit(1, 0))
    return float((float(norm(direction)) - e11) / (h * e11))


def gd_stability_limit(lr: float, depth: int) -> float:
    """The ``|w_11|`` beyond which gradient descent with step ``lr`` cannot follow the balanced flow on
    loss (15): once fitted, the largest curvature of the layer objective is about
    ``|w_11|^(2 - 2/n) / 3`` (the rate at which ``w_12`` and ``w_21`` relax), and a fixed step is
    stable only while it is below ``2 / lr``. Returns ``(6 / lr)^(n / (2n - 2))``."""
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth, minimum=2)
    return float((6.0 / lr) ** (n / (2.0 * n - 2.0)))


def first_sign_change(values, reference_sign: int) -> int | None:
    """Index of the first entry whose sign differs from ``reference_sign`` (zero counts as a
    change when the reference is not zero), or None."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0 or np.any(np.isnan(x)):
        raise ValueError("values must be a non-empty 1-D array without NaN")
    if isinstance(reference_sign, bool) or reference_sign not in (-1, 0, 1):
        raise ValueError(f"reference_sign must be -1, 0 or 1, got {reference_sign!r}")
    bad = np.nonzero(np.sign(x) != reference_sign)[0]
    return int(bad[0]) if bad.size else None


def tail_slope(loss_values, norms, below: float) -> float:
    """Least-squares slope of ``log norm`` against ``log loss`` over the points with
    ``0 < loss < below`` (at least 3 needed)."""
    lv = _losses(loss_values)
    nv = np.asarray(norms, dtype=float)
    if nv.shape != lv.shape or lv.ndim != 1:
        raise ValueError(
            f"norms must be a 1-D array of the same length as loss_values, got {nv.shape}"
        )
    if not np.all(np.isfinite(nv)) or np.any(nv <= 0):
        raise ValueError("norms must be finite and > 0")
    below = v.real("below", below, low=0.0, strict_low=True)
    keep = (lv > 0) & (lv < below)
    if keep.sum() < 3:
        raise ValueError(f"fewer than 3 points have 0 < loss < below = {below:g}")
    return float(np.polyfit(np.log(lv[keep]), np.log(nv[keep]), 1)[0])


def plot_norm_vs_loss(ax, curves: dict, c: float, c_prime: float, loss_range=(1e-9, 0.3)) -> None:
    """Log-log plot of ``||W(t)||`` against ``l(W(t))`` with the x-axis reversed (training goes left
    to right). ``curves`` maps a label to ``(loss, norm, style)`` where ``style`` is a dict of
    matplotlib keywords. Adds the bound ``c l^{-1/2} + c'`` (where positive) and the slope -1/2
    line ``c l^{-1/2}``."""
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: (loss, norm, style)}")
    c = v.real("c", c, low=0.0, strict_low=True)
    c_prime = v.real("c_prime", c_prime)
    lo = v.real("loss_range[0]", loss_range[0], low=0.0, strict_low=True)
    hi = v.real("loss_range[1]", loss_range[1], low=lo, strict_low=True)
    for label, (lv, nv, style) in curves.items():
        lv, nv = np.asarray(lv, dtype=float), np.asarray(nv, dtype=float)
        if lv.shape != nv.shape or lv.ndim != 1:
            raise ValueError(f"curves[{label!r}]: loss and norm must be 1-D of the same length")
        keep = (lv > lo) & (lv < hi)
        ax.loglog(lv[keep], nv[keep], label=label, **dict(style))
    grid = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.loglog(
        grid,
        c / np.sqrt(grid),
        color="0.4",
        lw=1.0,
        ls=":",
        label=r"slope $-1/2$: $c\,\ell^{-1/2}$",
    )
    bound = norm_bound(grid, c, c_prime)
    pos = bound > 0
    ax.loglog(
        grid[pos], bound[pos], color="k", lw=1.0, ls="--", label=r"bound $c\,\ell^{-1/2} + c'$"
    )
    ax.invert_xaxis()
    ax.set_xlabel(r"loss $\ell(W(t))$ (decreasing to the right)")
    ax.set_ylabel(r"$\|W(t)\|_F$")
    ax.legend(fontsize=8, loc="upper left")
