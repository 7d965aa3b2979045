"""Singular value dynamics of the end-to-end matrix (lecture notes section 4.3).

Tools for Definition 4, Proposition 4, Theorem 3, Lemma 2 and Exercise 5 of the notes:

* :func:`track_svd` follows an analytic-like SVD along a recorded trajectory, matching the order
  and signs of singular vectors between consecutive times (so singular values may be negative and
  unsorted, as Definition 4 allows);
* :func:`projections` and :func:`theorem3_rate` give the right-hand side of Theorem 3,
  ``n (sigma_r^2)^{1 - 1/n} <-grad l(W), u_r v_r^T>``;
* :func:`stencil_times` and :func:`central_derivative` measure ``d sigma_r / dt`` by central
  differences;
* :func:`exercise5_solution` and :func:`lemma2_solution` are the closed forms;
* :class:`LinearLoss` is ``l(W) = -<C, W>``, whose projections are constant when ``C`` and the start
  are diagonal;
* :func:`sign_changes` locates sign changes of a sampled quantity (the determinant, for Lemma 2);
* :func:`incremental_learning`, :func:`reach_times` and :func:`plot_incremental` make the figure of
  rank-by-rank learning.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import _validate as v
from .checks import relative_difference
from .losses import Loss
from .plotting import depth_color
from .training import gradient_flow


class LinearLoss(Loss):
    """``l(W) = -<C, W>``, with constant gradient ``-C``."""

    def __init__(self, C):
        self.C = v.matrix("C", C)
        self.shape = self.C.shape

    def _value(self, W):
        return -np.sum(self.C * W)

    def _grad(self, W):
        return -self.C.copy()


def _stack(name: str, value, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real array with {ndim} dimensions") from exc
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty array with {ndim} dimensions, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite entries (no NaN or inf)")
    return arr


def track_svd(mats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVDs of ``mats[k]`` (shape ``(T, d, d')``) aligned along time.

    At each time the columns of numpy's SVD are permuted to best match the previous time's (by
    ``|u_prev . u| + |v_prev . v|``), then ``u_r`` is flipped to point like its predecessor and
    ``v_r`` too; if ``v_r`` still points against its predecessor it is flipped alone and ``sigma_r``
    becomes negative. Returns ``U`` ``(T, d, k)``, ``S`` ``(T, k)`` (signed) and ``V`` ``(T, d', k)``
    with ``k = min(d, d')`` and ``mats[k] = U[k] diag(S[k]) V[k]^T``. The alignment is faithful when
    the recorded times are dense compared with how fast the singular vectors turn and singular
    values stay distinct.
    """
    W = _stack("mats", mats, 3)
    Us, Ss, Vts = np.linalg.svd(W, full_matrices=False)
    Vs = np.swapaxes(Vts, 1, 2)
    U, S, V = [Us[0]], [Ss[0]], [Vs[0]]
    for k in range(1, W.shape[0]):
        u, s, vv = Us[k], Ss[k].copy(), Vs[k]
        score = np.abs(U[-1].T @ u) + np.abs(V[-1].T @ vv)
        _, cols = linear_sum_assignment(-score)
        u, s, vv = u[:, cols], s[cols], vv[:, cols]
        flip_u = np.where(np.sum(U[-1] * u, axis=0) < 0, -1.0, 1.0)
        u, vv = u * flip_u, vv * flip_u
        flip_v = np.where(np.sum(V[-1] * vv, axis=0) < 0, -1.0, 1.0)
        vv, s = vv * flip_v, s * flip_v
        U.append(u)
        S.append(s)
        V.append(vv)
    return np.array(U), np.array(S), np.array(V)


def projections(grads, U, V) -> np.ndarray:
    """``<-grads[k], u_r v_r^T> = -u_r^T grads[k] v_r`` for every time ``k`` and index ``r``.

    ``grads`` has shape ``(T, d, d')``, ``U`` ``(T, d, k)`` and ``V`` ``(T, d', k)``; returns ``(T, k)``.
    """
    G = _stack("grads", grads, 3)
    U = _stack("U", U, 3)
    V = _stack("V", V, 3)
    if U.shape[:2] != G.shape[:2]:
        raise ValueError(
            f"U must have shape (T, d, k) = ({G.shape[0]}, {G.shape[1]}, k), got {U.shape}"
        )
    if V.shape != (G.shape[0], G.shape[2], U.shape[2]):
        raise ValueError(
            f"V must have shape (T, d', k) = ({G.shape[0]}, {G.shape[2]}, {U.shape[2]}), got {V.shape}"
        )
    return -np.einsum("tir,tij,tjr->tr", U, G, V)


def theorem3_rate(sigma, projection, depth: int) -> np.ndarray:
    """Theorem 3: ``n (sigma^2)^{1 - 1/n} * projection``, elementwise (same shapes)."""
    n = v.positive_int("depth", depth)
    s = np.asarray(sigma, dtype=float)
    p = np.asarray(projection, dtype=float)
    if s.shape != p.shape:
        raise ValueError(
            f"sigma and projection must have the same shape, got {s.shape} and {p.shape}"
        )
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(p))):
        raise ValueError("sigma and projection must have finite entries")
    return n * (s**2) ** (1.0 - 1.0 / n) * p


def stencil_times(centers, h: float) -> np.ndarray:
    """Times ``c - h, c, c + h`` for each centre, in order: pass them to a solver's ``t_eval``."""
    h = v.real("h", h, low=0.0, strict_low=True)
    c = np.asarray(centers, dtype=float)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError("centers must be a non-empty 1-D array of finite times")
    if np.any(np.diff(c) <= 2 * h) or c[0] - h < 0:
        raise ValueError("centers must increase by more than 2 h and start at h or later")
    return (c[:, None] + np.array([-h, 0.0, h])).ravel()


def central_derivative(values, h: float) -> tuple[np.ndarray, np.ndarray]:
    """From values at :func:`stencil_times` (first axis ``3 K``), return the centre values and
    ``(f(c + h) - f(c - h)) / (2 h)``, both with first axis ``K``."""
    h = v.real("h", h, low=0.0, strict_low=True)
    f = np.asarray(values, dtype=float)
    if f.ndim == 0 or f.shape[0] == 0 or f.shape[0] % 3 != 0:
        raise ValueError(f"values must have a first axis of length 3 K, got shape {f.shape}")
    f = f.reshape(f.shape[0] // 3, 3, *f.shape[1:])
    return f[:, 1], (f[:, 2] - f[:, 0]) / (2 * h)


def theorem3_gap(loss, init, depth: int, centers, h: float, formula_depth: int | None = None):
    """How far the singular value dynamics of a flow are from Theorem 3.

    Integrates gradient flow on ``loss`` from ``init`` (a list of layers: the layer-wise flow; or a
    matrix with the end-to-end flow of depth ``depth``) at ``centers`` and ``centers +- h``, tracks
    the SVD, and returns ``(gap, run)``: the relative difference (Frobenius norm over all times and
    singular values) between the central difference of the tracked singular values and
    ``n (sigma^2)^(1 - 1/n) <-grad l, u v^T>`` with ``n = formula_depth`` (default ``depth``).
    """
    n = v.positive_int("depth", depth)
    n_formula = n if formula_depth is None else v.positive_int("formula_depth", formula_depth)
    h = v.real("h", h, low=0.0, strict_low=True)
    times = stencil_times(centers, h)
    if isinstance(init, np.ndarray) and init.ndim == 2:
        run = gradient_flow(loss, init, times, depth=n)
    else:
        if len(init) != n:
            raise ValueError(f"init must hold depth = {n} layers, got {len(init)}")
        run = gradient_flow(loss, init, times)
    U, S, V = track_svd(run.end_to_end)
    grads = np.array([loss.grad(W) for W in run.end_to_end])
    push = projections(grads, U, V)[1::3]
    sigma, sigma_dot = central_derivative(S, h)
    gap = relative_difference(sigma_dot, theorem3_rate(sigma, push, n_formula))
    return gap, run


def exercise5_solution(t, eps: float, c) -> np.ndarray:
    """Exercise 5 (depth 2, ``sigma_r(0) = eps``, projections fixed at ``c_r``):
    ``sigma_r(t) = eps exp(2 c_r t)``; returns shape ``(len(t), len(c))``."""
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    t = np.asarray(t, dtype=float)
    c = np.asarray(c, dtype=float)
    if t.ndim != 1 or not np.all(np.isfinite(t)):
        raise ValueError("t must be a 1-D array of finite times")
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError("c must be a non-empty 1-D array of finite projections")
    return eps * np.exp(2.0 * np.outer(t, c))


def lemma2_solution(sigma0, integral_g, depth: int) -> np.ndarray:
    """The closed form in the proof of Lemma 2, with ``integral_g[k, r] = int_0^t g_r`` and
    ``g_r = n <-grad l, u_r v_r^T>``. For ``n = 2``: ``sigma0 exp(+-int g)`` (sign of ``sigma0``);
    for ``n >= 3``: ``sign(sigma0) (|sigma0|^{2/n-1} + sign(sigma0) (2/n-1) int g)^{1/(2/n-1)}``;
    zero stays zero. Raises ``ValueError`` for ``n = 1`` (no closed form of this kind) and when the
    base becomes non-positive (the solution has blown up before that time)."""
    n = v.positive_int("depth", depth, minimum=2)
    s0 = np.asarray(sigma0, dtype=float)
    G = np.asarray(integral_g, dtype=float)
    if s0.ndim != 1 or s0.size == 0 or not np.all(np.isfinite(s0)):
        raise ValueError("sigma0 must be a non-empty 1-D array of finite values")
    if G.ndim != 2 or G.shape[1] != s0.size or not np.all(np.isfinite(G)):
        raise ValueError(
            f"integral_g must be a finite array of shape (T, {s0.size}), got {G.shape}"
        )
    sign = np.sign(s0)
    if n == 2:
        return s0 * np.exp(sign * G)
    a = 2.0 / n - 1.0
    out = np.zeros_like(G)
    nz = sign != 0
    base = np.abs(s0[nz]) ** a + sign[nz] * a * G[:, nz]
    if np.any(base <= 0):
        raise ValueError("integral_g reaches the blow-up time of the solution (the base is <= 0)")
    out[:, nz] = sign[nz] * base ** (1.0 / a)
    return out


def reach_times(t, sv, fraction: float = 0.5) -> np.ndarray:
    """For each column of ``sv`` (shape ``(T, k)``), the first time it reaches ``fraction`` of its
    final value, by linear interpolation; NaN if it never does."""
    fraction = v.real("fraction", fraction, low=0.0, strict_low=True)
    t = np.asarray(t, dtype=float)
    s = _stack("sv", sv, 2)
    if t.ndim != 1 or t.size != s.shape[0]:
        raise ValueError(
            f"t must be a 1-D array of length {s.shape[0]} (rows of sv), got shape {t.shape}"
        )
    out = np.full(s.shape[1], np.nan)
    for r in range(s.shape[1]):
        level = fraction * s[-1, r]
        above = np.nonzero(s[:, r] >= level)[0]
        if above.size == 0:
            continue
        k = above[0]
        if k == 0:
            out[r] = t[0]
        else:
            f0, f1 = s[k - 1, r], s[k, r]
            out[r] = t[k - 1] + (level - f0) / (f1 - f0) * (t[k] - t[k - 1])
    return out


def incremental_learning(
    loss, init, depths, t_eval, *, method: str = "DOP853", rtol: float = 1e-12, atol: float = 1e-14
) -> dict[int, np.ndarray]:
    """Singular values (sorted, shape ``(T, k)``) of the end-to-end flow from the same matrix
    ``init`` at each depth in ``depths`` (solver settings passed to
    :func:`linnet_lib.gradient_flow`)."""
    W0 = v.matrix("init", init)
    ds = [v.positive_int("depths[i]", d) for d in depths] if len(depths) else []
    if not ds:
        raise ValueError("depths must be a non-empty sequence of integers >= 1")
    return {
        n: gradient_flow(
            loss, W0, t_eval, depth=n, method=method, rtol=rtol, atol=atol
        ).singular_values
        for n in ds
    }


def sign_changes(t, values) -> np.ndarray:
    """The times at which ``values`` (sampled at the increasing times ``t``) changes sign between two
    consecutive samples, located by linear interpolation; a sample equal to zero counts as a change
    on each side. A change and a change back between the same two samples are not seen: sample
    densely where the values are small."""
    t = np.asarray(t, dtype=float)
    x = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a strictly increasing 1-D array of at least 2 finite times")
    if x.shape != t.shape or not np.all(np.isfinite(x)):
        raise ValueError(f"values must be a finite 1-D array of the same length as t ({t.size})")
    k = np.nonzero(np.sign(x[1:]) != np.sign(x[:-1]))[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(x[k] == x[k + 1], 0.0, x[k] / (x[k] - x[k + 1]))
    return t[k] + frac * (t[k + 1] - t[k])


def plot_incremental(
    axes, t, svals: dict, top: int = 3, targets=None, log_time: bool = False
) -> None:
    """One panel per depth: the ``top`` largest singular values against time, with the target's
    singular values (if given) as dotted lines. With ``log_time`` the time axis is linear up to 1 and
    logarithmic beyond (so that ``t = 0`` shows)."""
    top = v.positive_int("top", top)
    if not isinstance(svals, dict) or not svals:
        raise ValueError("svals must be a non-empty dict {depth: array (T, k)}")
    axes = list(np.ravel(axes))
    if len(axes) != len(svals):
        raise ValueError(f"axes must hold one axis per depth ({len(svals)}), got {len(axes)}")
    t = np.asarray(t, dtype=float)
    styles = ["-", "--", "-.", ":"]
    for ax, (n, s) in zip(axes, svals.items(), strict=True):
        s = _stack(f"svals[{n}]", s, 2)
        if s.shape[0] != t.size:
            raise ValueError(f"svals[{n}] must have {t.size} rows (one per time), got {s.shape[0]}")
        for r in range(min(top, s.shape[1])):
            ax.plot(t, s[:, r], styles[r % 4], color=depth_color(n), label=f"$\\sigma_{r + 1}$")
        if targets is not None:
            for x in np.asarray(targets, dtype=float)[:top]:
                ax.axhline(x, color="0.5", lw=0.8, ls=":")
        if log_time:
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(0, t[-1])
        ax.set_title(f"depth {n}")
        ax.set_xlabel("time $t$")
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("singular value of $W_{n:1}(t)$")
