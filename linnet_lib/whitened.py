"""Whitened linear regression in Eftekhari's (2020) conventions: the data, the target Z, its
leading singular triplet, and the operator A_W of the induced flow.

Eftekhari's loss is ``L(W) = 1/2 ||Y - W X||_F^2`` with no ``1/m`` (``SquareLoss(X, Y)`` with the
default ``normalization='sum'``). With whitened data, ``X X^T = m I`` (Definition 3.5), its gradient
is ``m (W - Z)`` with ``Z = Y X^T / m`` (equation 25), so the induced flow of a balanced network is
``dW/dt = -m A_W(W - Z)`` (equations 16-17), where

    A_W(Delta) = sum_{j=1}^{N} (W W^T)^{(N-j)/N} Delta (W^T W)^{(j-1)/N}.

This is the end-to-end operator of the lecture notes (Theorem 1) with the sum re-indexed
(``j -> N + 1 - j``): ``A_W(G) = end_to_end_velocity(W, G, N)`` (which returns the sum without the minus
sign of the flow). ``operator`` computes it from its own formula so that the two can be checked against
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from . import _validate as v
from .linalg import gram_power, random_orthogonal


def whiten(X) -> np.ndarray:
    """``(X X^T / m)^{-1/2} X``: the same samples, linearly transformed so that ``X X^T = m I``.

    ``X`` has shape ``(d_x, m)`` with ``d_x <= m`` and full row rank.
    """
    X = v.matrix("X", X)
    d, m = X.shape
    if d > m:
        raise ValueError(
            f"X must have at most as many rows as samples (columns), got shape {X.shape}"
        )
    lam, Q = np.linalg.eigh(X @ X.T / m)
    if lam.min() <= 1e-12 * lam.max():
        raise ValueError("X must have full row rank (X X^T invertible) to be whitened")
    return (Q / np.sqrt(lam)) @ Q.T @ X


def whitening_error(X) -> float:
    """``||X X^T / m - I||_F``, which is round-off small for whitened data."""
    X = v.matrix("X", X)
    return float(np.linalg.norm(X @ X.T / X.shape[1] - np.eye(X.shape[0])))


def target(X, Y) -> np.ndarray:
    """``Z = Y X^T / m`` (equation 25): under whitening, ``1/2 ||Y P_X - W X||^2 = m/2 ||Z - W||^2``."""
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of samples (columns), got {X.shape} and {Y.shape}"
        )
    return Y @ X.T / X.shape[1]


@dataclass(frozen=True)
class LeadingTriplet:
    """The leading singular triplet of ``Z`` and the quantities of Assumption 3.6 and equation 27.

    ``s`` is ``s_Z`` (the largest singular value), ``s2`` the second (0 if ``Z`` has rank 1 or one
    row or column), ``gamma = s2 / s`` (``gamma_Z``), ``u``, ``v`` the leading singular vectors and
    ``Z1 = s u v^T`` the best rank-1 approximation.
    """

    s: float
    s2: float
    gamma: float
    u: np.ndarray
    v: np.ndarray
    Z1: np.ndarray


def leading_triplet(Z) -> LeadingTriplet:
    """The leading singular triplet of ``Z`` (see :class:`LeadingTriplet`). ``Z`` must be non-zero
    with ``s_Z > s_{Z,2}`` (a gap, so that ``Z1`` is unique)."""
    Z = v.matrix("Z", Z)
    U, S, Vt = np.linalg.svd(Z, full_matrices=False)
    if S[0] == 0:
        raise ValueError("Z must be non-zero")
    s2 = float(S[1]) if S.size > 1 else 0.0
    if s2 >= S[0]:
        raise ValueError(
            f"Z must have a simple largest singular value (s_Z > s_Z,2), got {S[0]:.6g} and {s2:.6g}"
        )
    u, w = U[:, 0], Vt[0]
    return LeadingTriplet(float(S[0]), s2, s2 / float(S[0]), u, w, float(S[0]) * np.outer(u, w))


def operator(W, Delta, depth: int) -> np.ndarray:
    """``A_W(Delta) = sum_{j=1}^N (W W^T)^{(N-j)/N} Delta (W^T W)^{(j-1)/N}`` (equation 16).

    Fractional powers of the PSD matrices ``W W^T`` and ``W^T W`` (zero eigenvalues stay zero).
    """
    W = v.matrix("W", W)
    Delta = v.matrix("Delta", Delta, shape=W.shape)
    n = v.positive_int("depth", depth)
    out = np.zeros_like(Delta)
    for j in range(1, n + 1):
        left = gram_power(W, (n - j) / n, "left")
        right = gram_power(W, (j - 1) / n, "right")
        out += left @ Delta @ right
    return out


def rank_one_operator(W, Delta, depth: int) -> np.ndarray:
    """``A_W(Delta) = s^{2-2/N} (P_u Delta + Delta P_v + (N - 2) P_u Delta P_v)`` for ``W = s u v^T``
    of rank one (Lemma N.1 with one non-zero singular value); depth 1 gives ``Delta``.

    ``P_u = W W^T / s^2 = u u^T`` and ``P_v = W^T W / s^2 = v v^T`` with ``s^2 = ||W||_F^2``. For one
    output (``W`` a row, ``P_u = 1``) it is ``s^{2-2/N} (Delta + (N - 1) Delta P_v)``. It agrees with
    :func:`operator` on rank-1 matrices, at a fraction of the cost. Accepts stacks of matrices
    (shape ``(..., d_y, d_x)``); each ``W`` must be non-zero and of rank one (second singular value
    at most ``1e-8`` times the first).
    """
    n = v.positive_int("depth", depth)
    W = _stack("W", W)
    Delta = _stack("Delta", Delta, W.shape[-2:])
    s = np.linalg.svd(W, compute_uv=False)
    if np.any(s[..., 0] == 0):
        raise ValueError("W must be non-zero (rank one)")
    if s.shape[-1] > 1 and np.any(s[..., 1] > 1e-8 * s[..., 0]):
        raise ValueError(
            f"W must have rank one (sigma_2 <= 1e-8 sigma_1), got sigma_2 / sigma_1 up to "
            f"{np.max(s[..., 1] / s[..., 0]):.3g}"
        )
    return _rank_one_apply(W, Delta, n)


def _rank_one_apply(W: np.ndarray, Delta: np.ndarray, n: int) -> np.ndarray:
    """:func:`rank_one_operator` without input checks (the right side of the rank-1 flow)."""
    if n == 1:
        return Delta.copy()
    s2 = np.sum(W * W, axis=(-2, -1))[..., None, None]
    Wt = np.swapaxes(W, -1, -2)
    left = W @ Wt / s2  # P_u
    right = Wt @ W / s2  # P_v
    p = s2 ** (1 - 1 / n)
    return p * (left @ Delta + Delta @ right + (n - 2) * left @ Delta @ right)


def _stack(name: str, value, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A finite float array of shape ``(..., d_y, d_x)`` (one matrix or a stack)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real array of matrices") from exc
    if arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"{name} must be a matrix or a stack of matrices, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite entries (no NaN or inf)")
    if shape is not None and arr.shape[-2:] != tuple(shape):
        raise ValueError(f"{name} must have matrices of shape {tuple(shape)}, got {arr.shape}")
    return arr


def induced_velocity(W, Z, depth: int, m: float) -> np.ndarray:
    """``dW/dt = -m A_W(W - Z)``: the induced flow (17) of a balanced depth-``depth`` network on
    whitened data with ``m`` samples (Eftekhari's time; the lecture notes' time is ``m t``)."""
    W = v.matrix("W", W)
    Z = v.matrix("Z", Z, shape=W.shape)
    m = v.real("m", m, low=0.0, strict_low=True)
    return -m * operator(W, W - Z, depth)


def random_problem(m: int, d_x: int, d_y: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Whitened Gaussian inputs ``X`` (``d_x x m``, ``X X^T = m I``) and Gaussian labels ``Y``
    (``d_y x m``), as in the set-up of Eftekhari's Figure 1 (whose label model is not stated)."""
    m = v.positive_int("m", m)
    d_x = v.positive_int("d_x", d_x)
    d_y = v.positive_int("d_y", d_y)
    if d_x > m:
        raise ValueError(f"d_x must be at most m, got d_x={d_x} and m={m}")
    gen = v.rng(rng)
    X = whiten(gen.standard_normal((d_x, m)))
    Y = gen.standard_normal((d_y, m))
    return X, Y


def target_with_spectrum(singular_values, shape, rng=None, *, draw: str = "square") -> np.ndarray:
    """``Z = U diag(singular_values) V^T`` of shape ``(d_y, d_x)`` with random orthonormal columns
    ``U``, ``V``: the singular values (non-increasing, non-negative, 1 to ``min(d_y, d_x)`` of them)
    fix ``s_Z`` and ``gamma_Z`` (equation 26).

    ``draw`` says how the columns come from ``rng`` (each section keeps its own random stream):
    ``"square"``, the Q factors of ``d_y x d_y`` and ``d_x x d_x`` Gaussian matrices as LAPACK
    returns them; ``"haar"``, the same with the signs fixed (:func:`linnet_lib.linalg.random_orthogonal`,
    exactly Haar); ``"thin"``, the Q factors of ``d_y x k`` and ``d_x x k`` Gaussian matrices,
    ``k`` the number of singular values (fewer draws).
    """
    d_y, d_x = v.matrix_shape("shape", shape)
    sv = np.asarray(singular_values, dtype=float)
    if sv.ndim != 1 or not 1 <= sv.size <= min(d_y, d_x):
        raise ValueError(f"singular_values must be a list of 1 to {min(d_y, d_x)} numbers")
    if np.any(sv < 0) or np.any(np.diff(sv) > 0) or not np.all(np.isfinite(sv)):
        raise ValueError("singular_values must be finite, non-negative and non-increasing")
    if draw not in ("square", "haar", "thin"):
        raise ValueError(f"draw must be 'square', 'haar' or 'thin', got {draw!r}")
    gen = v.rng(rng)
    k = sv.size
    if draw == "haar":
        U, V = random_orthogonal(d_y, gen), random_orthogonal(d_x, gen)
    else:
        cols_y, cols_x = (d_y, d_x) if draw == "square" else (k, k)
        U = np.linalg.qr(gen.standard_normal((d_y, cols_y)))[0]
        V = np.linalg.qr(gen.standard_normal((d_x, cols_x)))[0]
    return (U[:, :k] * sv) @ V[:, :k].T


# ----------------------------------------------------------------------------------------------
# The induced flow (17), integrated


@dataclass(frozen=True)
class InducedFlow:
    """A solution of the induced flow (17) computed by :func:`induced_flow`.

    ``t`` and ``W`` (shape ``(T, d_y, d_x)``) are the recorded times and matrices; ``tau`` is the
    first time the size ``s = ||W||_F`` reaches ``s_level`` (``0.0`` if it starts at or below it,
    ``inf`` if it never does within the run, ``nan`` if no level was asked) and ``W_tau`` the matrix
    then (``None`` unless ``0 < tau < inf``); ``solution`` is scipy's dense output (a callable of
    ``t`` returning the flattened ``W``; ``None`` unless asked for); ``info`` holds the solver's
    settings and counts.
    """

    t: np.ndarray
    W: np.ndarray
    tau: float
    W_tau: np.ndarray | None
    solution: object
    info: dict


def induced_flow(
    Z,
    W0,
    depth: int,
    m: float,
    t_eval,
    *,
    rtol: float = 1e-11,
    atol: float = 1e-13,
    atol_scaled: bool = False,
    rank_one: bool = False,
    s_level: float | None = None,
    dense_output: bool = False,
) -> InducedFlow:
    """Integrate the induced flow ``dW/dt = -m A_W(W - Z)`` (equation 17 on whitened data) from
    ``W0`` with ``solve_ivp`` (DOP853), recording it at ``t_eval`` (strictly increasing times
    ``>= 0``, Eftekhari's time).

    * ``rank_one=False``: ``A_W`` is :func:`operator` through :func:`induced_velocity` (any ``W0``,
      Eftekhari's indexing of A_W, not the lecture notes' :func:`linnet_lib.end_to_end_velocity`,
      so that the two can be compared).
    * ``rank_one=True``: ``A_W`` is the closed form :func:`rank_one_operator`, for a rank-1 ``W0``.
      Its values lie in the tangent space of the rank-1 matrices, so the solution stays rank one
      (Lemma 3.3). The general formula gives the same velocity there but raises round-off singular
      values to the powers ``2j/N``, which are not Lipschitz at zero: for ``N >= 3`` an adaptive
      solver then crawls.

    The tolerances are ``rtol`` and ``atol``; with ``atol_scaled`` the absolute tolerance is
    ``atol`` times ``max(||W0||_F, ||Z||_F)``, so that a rescaled problem is solved on exactly
    rescaled steps. With ``s_level`` the run also returns ``tau`` (see :class:`InducedFlow`),
    located by an event function; with ``dense_output`` scipy's interpolant.
    """
    Z = v.matrix("Z", Z)
    W0 = v.matrix("W0", W0, shape=Z.shape)
    n = v.positive_int("depth", depth)
    m = v.real("m", m, low=0.0, strict_low=True)
    t = np.asarray(t_eval, dtype=float)
    if (
        t.ndim != 1
        or t.size == 0
        or not np.all(np.isfinite(t))
        or t[0] < 0
        or np.any(np.diff(t) <= 0)
    ):
        raise ValueError("t_eval must be a non-empty, strictly increasing 1-D array of times >= 0")
    rtol = v.real("rtol", rtol, low=0.0, strict_low=True)
    atol = v.real("atol", atol, low=0.0, strict_low=True)
    shape = Z.shape
    if rank_one:
        s0 = np.linalg.svd(W0, compute_uv=False)
        if s0[0] == 0:
            raise ValueError("W0 must be non-zero (rank one)")
        if s0.size > 1 and s0[1] > 1e-8 * s0[0]:
            raise ValueError(f"W0 must have rank one, got singular values {s0[0]:.3g}, {s0[1]:.3g}")

        def rhs(_, y):
            W = y.reshape(shape)
            return (-m * _rank_one_apply(W, W - Z, n)).ravel()

    else:

        def rhs(_, y):
            return induced_velocity(y.reshape(shape), Z, n, m).ravel()

    if atol_scaled:
        atol = atol * max(np.linalg.norm(W0), np.linalg.norm(Z))
    events = None
    if s_level is not None:
        level = v.real("s_level", s_level, low=0.0, strict_low=True)

        def crossing(_, y):
            return np.linalg.norm(y) - level

        crossing.terminal = False
        crossing.direction = -1
        events = crossing
    info = {"nfev": 0, "rtol": rtol, "atol": atol, "method": "DOP853"}
    if t[-1] == 0:
        tau = float("nan") if s_level is None else (0.0 if np.linalg.norm(W0) <= level else np.inf)
        return InducedFlow(t.copy(), W0[None].copy(), tau, None, None, info)
    sol = solve_ivp(
        rhs,
        (0.0, t[-1]),
        W0.ravel(),
        method="DOP853",
        t_eval=t,
        rtol=rtol,
        atol=atol,
        events=events,
        dense_output=dense_output,
    )
    if sol.status != 0:
        raise RuntimeError(f"the induced flow failed: {sol.message}")
    tau, W_tau = float("nan"), None
    if s_level is not None:
        if np.linalg.norm(W0) <= level:
            tau = 0.0
        elif sol.t_events[0].size:
            tau = float(sol.t_events[0][0])
            W_tau = sol.y_events[0][0].reshape(shape)
        else:
            tau = float("inf")
    info["nfev"] = sol.nfev
    W = sol.y.T.reshape((t.size, *shape))
    return InducedFlow(sol.t, W, tau, W_tau, sol.sol if dense_output else None, info)
