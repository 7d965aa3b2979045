"""Gradient flow from a balanced start with a rank-1 bottleneck and the stable sets of Eftekhari
(2020), section 3 and appendices G-J: rank invariance and the sets the flow cannot leave.

The sets are written with the thin SVD ``W = s u v^T`` of a rank-1 end-to-end matrix (equation 32)
and the leading triplet of the target (:func:`linnet_lib.whitened.leading_triplet`): ``s`` is the
size of ``W`` and ``a = u^T Z1 v`` its alignment with ``Z1`` (``a = s_Z`` exactly when ``u, v`` are the
leading singular vectors of ``Z``, up to a common sign).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .whitened import (
    LeadingTriplet,
    induced_flow,
    leading_triplet,
    target,
    target_with_spectrum,
    whiten,
    whitening_error,
)


@dataclass(frozen=True)
class RankOne:
    """``W = s u v^T`` with ``s >= 0`` and unit ``u``, ``v``; ``rest`` is ``sigma_2(W)`` (0 for rank 1)."""

    s: float
    u: np.ndarray
    v: np.ndarray
    rest: float


def rank_one_parts(W) -> RankOne:
    """The leading singular triplet of ``W`` (equation 32) and its second singular value, which is
    zero up to round-off for the rank-1 matrices of a bottleneck-1 network."""
    W = v.matrix("W", W)
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    rest = float(S[1]) if S.size > 1 else 0.0
    return RankOne(float(S[0]), U[:, 0], Vt[0], rest)


def alignment(W, lead: LeadingTriplet) -> float:
    """``a = u^T Z1 v`` for the leading triplet ``s u v^T`` of ``W``: the alignment in equations
    (28) and (33). It does not depend on the sign convention of the SVD (``u, v`` flip together)."""
    if not isinstance(lead, LeadingTriplet):
        raise ValueError("lead must be a LeadingTriplet (from linnet_lib.whitened.leading_triplet)")
    W = v.matrix("W", W, shape=lead.Z1.shape)
    parts = rank_one_parts(W)
    return float(parts.u @ lead.Z1 @ parts.v)


def stable_set_margins(W, lead: LeadingTriplet, alpha: float, beta: float | None = None) -> dict:
    """How far ``W`` is inside the stable set: each margin is positive exactly when its condition holds.

    * ``size``: ``s - (alpha - gamma_Z) s_Z`` (equation 28: ``s > (alpha - gamma_Z) s_Z``);
    * ``alignment``: ``a - alpha s_Z`` (equation 28: ``u^T Z1 v > alpha s_Z``);
    * ``cap`` (only with ``beta``): ``beta s_Z - s`` (equation 36: ``s < beta s_Z``).

    ``alpha`` must lie in ``[gamma_Z, 1)``; ``beta`` (if given) must exceed ``alpha - gamma_Z``.
    """
    if not isinstance(lead, LeadingTriplet):
        raise ValueError("lead must be a LeadingTriplet (from linnet_lib.whitened.leading_triplet)")
    alpha = v.real("alpha", alpha)
    if not lead.gamma <= alpha < 1.0:
        raise ValueError(f"alpha must lie in [gamma_Z, 1) = [{lead.gamma:.6g}, 1), got {alpha}")
    W = v.matrix("W", W, shape=lead.Z1.shape)
    parts = rank_one_parts(W)
    margins = {
        "size": parts.s - (alpha - lead.gamma) * lead.s,
        "alignment": float(parts.u @ lead.Z1 @ parts.v) - alpha * lead.s,
    }
    if beta is not None:
        beta = v.real("beta", beta)
        if beta <= alpha - lead.gamma:
            raise ValueError(
                f"beta must exceed alpha - gamma_Z = {alpha - lead.gamma:.6g}, got {beta}"
            )
        margins["cap"] = beta * lead.s - parts.s
    return margins


# ----------------------------------------------------------------------------------------------
# Problems with a prescribed gap, and rank-1 starts with a prescribed size and alignment


def gapped_problem(
    m: int, d_x: int, d_y: int, gamma: float, *, s_Z: float = 1.0, residual: float = 0.5, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """Whitened inputs ``X`` (``d_x x m``) and labels ``Y`` (``d_y x m``) whose target
    ``Z = Y X^T / m`` has the singular values ``s_Z, gamma s_Z, gamma s_Z / 2, gamma s_Z / 4, ...``
    (so ``gamma_Z = gamma`` exactly, Assumption 3.6) with random singular vectors.

    ``Y = Z X + residual * E (I - P_X)`` with Gaussian ``E``: the second part lies outside the row
    space of ``X`` (``P_X = X^T X / m`` for whitened ``X``), so ``Z`` does not see it, but the loss
    ``1/2 ||Y - W X||^2`` does (it is the constant ``1/2 ||Y P_X-perp||^2`` of equation 24).
    """
    m = v.positive_int("m", m)
    d_x = v.positive_int("d_x", d_x)
    d_y = v.positive_int("d_y", d_y)
    if d_x > m:
        raise ValueError(f"d_x must be at most m, got d_x={d_x} and m={m}")
    gamma = v.real("gamma", gamma, low=0.0)
    if gamma >= 1.0:
        raise ValueError(f"gamma must lie in [0, 1) (a spectral gap), got {gamma}")
    k = min(d_x, d_y)
    if k == 1 and gamma > 0:
        raise ValueError("gamma must be 0 when Z has a single singular value (d_x or d_y is 1)")
    s_Z = v.real("s_Z", s_Z, low=0.0, strict_low=True)
    residual = v.real("residual", residual, low=0.0)
    gen = v.rng(rng)
    svals = s_Z * np.array([1.0] + [gamma * 0.5**i for i in range(k - 1)])
    Z = target_with_spectrum(svals, (d_y, d_x), gen, draw="haar")
    X = whiten(gen.standard_normal((d_x, m)))
    outside = np.eye(m) - X.T @ X / m
    Y = Z @ X + residual * gen.standard_normal((d_y, m)) @ outside
    return X, Y


def rank_one_start(
    Z,
    size: float,
    alignment: float | None = None,
    rng=None,
    *,
    second: int | None = None,
    degrees: float | None = None,
    right_only: bool = False,
):
    """A rank-1 matrix ``W0 = size * u0 v0^T`` with a prescribed alignment ``u0^T Z1 v0`` to
    ``Z1 = s_Z u_Z v_Z^T``, given either as ``alignment`` (a fraction of ``s_Z``) or as an angle.

    ``u0 = a u_Z + a' p`` and ``v0 = b v_Z + b' q`` with ``a^2 + a'^2 = b^2 + b'^2 = 1``, ``p``
    orthogonal to ``u_Z`` and ``q`` to ``v_Z``, so that ``u0^T Z1 v0 = a b s_Z``:

    * by default both are turned: ``|a| = |b| = sqrt(|alignment|)`` (``a < 0`` for a negative
      alignment), or, with ``degrees = t``, ``a = b = cos t`` and ``a' = b' = sin t`` (alignment
      ``cos^2 t``);
    * with ``right_only`` only ``v0`` is turned (``u0 = u_Z``): ``b = alignment``, or ``b = cos t``
      and ``b' = sin t`` (the angle between ``W0`` and ``Z1`` is ``t``, alignment ``cos t``).

    By default ``p, q`` are random unit vectors (``rng``). With ``second = +1`` or ``-1`` they are
    the second singular vectors of ``Z``: ``p = u_2``, ``q = second * v_2``, so that
    ``u0^T (Z - Z1) v0 = second * s_Z,2 (1 - |alignment|)`` for a start turned on both sides, the
    extreme values for this alignment:

    * ``second = -1`` gives the smallest ``u0^T Z v0``, where the size grows the least (equation
      127 and :func:`size_rate_floor`);
    * ``second = +1`` (with a positive alignment) gives the slowest growth of the alignment
      (:func:`alignment_rate_floor`); with ``degrees`` it is the start of section 5.3, where
      appendix N's inequality (181) is an equality.
    """
    Z = v.matrix("Z", Z)
    size = v.real("size", size, low=0.0, strict_low=True)
    if (alignment is None) == (degrees is None):
        raise ValueError("give exactly one of alignment and degrees")
    if degrees is not None:
        t = np.deg2rad(v.real("degrees", degrees))
        b, b_rest = np.cos(t), np.sin(t)
        a, a_rest = (1.0, 0.0) if right_only else (b, b_rest)
    else:
        c = v.real("alignment", alignment)
        if not -1.0 <= c <= 1.0:
            raise ValueError(f"alignment must lie in [-1, 1] (a fraction of s_Z), got {alignment}")
        if right_only:
            a, a_rest, b, b_rest = 1.0, 0.0, c, np.sqrt(1.0 - c**2)
        else:
            root = np.sqrt(abs(c))
            a = -root if c < 0 else root
            b, b_rest = root, np.sqrt(1.0 - root**2)
            a_rest = b_rest
    U, _, Vt = np.linalg.svd(Z)
    u_Z, v_Z = U[:, 0], Vt[0]
    if second is not None:
        if second not in (1, -1) or isinstance(second, bool):
            raise ValueError(f"second must be None, 1 or -1, got {second!r}")
        if min(Z.shape) < 2:
            raise ValueError("second needs Z with at least two rows and two columns")
        p, q = U[:, 1], second * Vt[1]
    else:
        gen = v.rng(rng)
        p = np.zeros_like(u_Z) if right_only else _unit_orthogonal_to(u_Z, gen)
        q = _unit_orthogonal_to(v_Z, gen)
    u0 = a * u_Z + a_rest * p
    v0 = b * v_Z + b_rest * q
    return size * np.outer(u0, v0)


def _unit_orthogonal_to(w: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    if w.size == 1:
        return np.zeros(1)
    x = gen.standard_normal(w.size)
    x -= (w @ x) * w
    return x / np.linalg.norm(x)


# ----------------------------------------------------------------------------------------------
# The size and the alignment along the induced flow (appendix J)


def _rank_one(W, tol: float = 1e-8) -> RankOne:
    parts = rank_one_parts(W)
    if parts.s == 0 or parts.rest > tol * parts.s:
        raise ValueError(
            f"W must have rank 1 (sigma_2 <= {tol:g} sigma_1), got singular values "
            f"{parts.s:.3g} and {parts.rest:.3g}"
        )
    return parts


def rank_one_rates(W, Z, depth: int, m: float) -> tuple[float, float]:
    """``(ds/dt, d(u^T Z1 v)/dt)`` for a rank-1 ``W = s u v^T`` under the induced flow (17) on
    whitened data, from the closed forms of appendix J:

    * ``ds/dt = -m N s^(2 - 2/N) (s - u^T Z v)`` (equations 105 and 125-127);
    * ``du/dt = m s^(1 - 2/N) (I - u u^T) Z v`` and ``dv/dt = m s^(1 - 2/N) (I - v v^T) Z^T u``
      (equation 139), so ``d(u^T Z1 v)/dt = du/dt^T Z1 v + u^T Z1 dv/dt`` (equation 144).
    """
    Z = v.matrix("Z", Z)
    W = v.matrix("W", W, shape=Z.shape)
    n = v.positive_int("depth", depth)
    m = v.real("m", m, low=0.0, strict_low=True)
    lead = leading_triplet(Z)
    parts = _rank_one(W)
    s, u, w = parts.s, parts.u, parts.v
    s_dot = -m * n * s ** (2 - 2 / n) * (s - u @ Z @ w)
    u_dot = m * s ** (1 - 2 / n) * (Z @ w - (u @ Z @ w) * u)
    v_dot = m * s ** (1 - 2 / n) * (Z.T @ u - (u @ Z @ w) * w)
    a_dot = u_dot @ lead.Z1 @ w + u @ lead.Z1 @ v_dot
    return float(s_dot), float(a_dot)


def triplet_rates(W, velocity, lead: LeadingTriplet) -> tuple[float, float]:
    """``(ds/dt, d(u^T Z1 v)/dt)`` for a rank-1 ``W = s u v^T`` moving with any ``velocity``
    ``dW/dt``, by first-order perturbation of the simple singular value ``s``:
    ``ds/dt = u^T W' v``, ``du/dt = (I - u u^T) W' v / s``, ``dv/dt = (I - v v^T) W'^T u / s``
    (equations 131-137)."""
    if not isinstance(lead, LeadingTriplet):
        raise ValueError("lead must be a LeadingTriplet (from linnet_lib.whitened.leading_triplet)")
    W = v.matrix("W", W, shape=lead.Z1.shape)
    V = v.matrix("velocity", velocity, shape=W.shape)
    parts = _rank_one(W)
    s, u, w = parts.s, parts.u, parts.v
    u_dot = (V @ w - (u @ V @ w) * u) / s
    v_dot = (V.T @ u - (u @ V @ w) * w) / s
    return float(u @ V @ w), float(u_dot @ lead.Z1 @ w + u @ lead.Z1 @ v_dot)


def alignment_rate_floor(W, lead: LeadingTriplet, depth: int, m: float) -> float:
    """A lower bound on ``d(u^T Z1 v)/dt`` along the induced flow, valid for every rank-1 ``W``
    (this book; it sharpens the estimate (147)-(153) of appendix J.2)::

        m s^(1 - 2/N) s_Z (s_Z - s_Z,2) (x^2 + y^2),   x = b sqrt(1 - a^2),  y = a sqrt(1 - b^2),

    with ``a = u_Z^T u`` and ``b = v_Z^T v``. It is never negative, so the alignment never
    decreases, whatever ``alpha``. Equality holds when ``a = b`` and the parts of ``u, v``
    orthogonal to ``u_Z, v_Z`` are the second singular vectors of ``Z`` with the same sign
    (:func:`rank_one_start` with ``second=+1``).
    """
    if not isinstance(lead, LeadingTriplet):
        raise ValueError("lead must be a LeadingTriplet (from linnet_lib.whitened.leading_triplet)")
    W = v.matrix("W", W, shape=lead.Z1.shape)
    n = v.positive_int("depth", depth)
    m = v.real("m", m, low=0.0, strict_low=True)
    parts = _rank_one(W)
    a = float(np.clip(lead.u @ parts.u, -1.0, 1.0))
    b = float(np.clip(lead.v @ parts.v, -1.0, 1.0))
    spread = b**2 * (1 - a**2) + a**2 * (1 - b**2)
    return m * parts.s ** (1 - 2 / n) * lead.s * (lead.s - lead.s2) * spread


def weakest_correlation(alpha: float, lead: LeadingTriplet) -> float:
    """The smallest ``u^T Z v`` over unit ``u, v`` with ``u^T Z1 v = alpha s_Z`` (``alpha`` in
    ``[0, 1]``): ``(alpha - gamma_Z (1 - alpha)) s_Z`` (this book). Appendix J uses the weaker
    ``(alpha - gamma_Z) s_Z`` (the step ``u^T Z_1+ v >= -s_Z,2`` of equation 127)."""
    if not isinstance(lead, LeadingTriplet):
        raise ValueError("lead must be a LeadingTriplet (from linnet_lib.whitened.leading_triplet)")
    alpha = v.real("alpha", alpha, low=0.0)
    if alpha > 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return (alpha - lead.gamma * (1.0 - alpha)) * lead.s


def size_rate_floor(size: float, alpha: float, lead: LeadingTriplet, depth: int, m: float):
    """The smallest ``ds/dt`` of the induced flow over rank-1 ``W`` of size ``s`` whose alignment is
    at least ``alpha s_Z``: ``m N s^(2 - 2/N) (weakest_correlation(alpha) - s)`` (this book).

    At the boundary ``s = (alpha - gamma_Z) s_Z`` of the stable set (28) it equals
    ``m N s^(2 - 2/N) alpha gamma_Z s_Z >= 0``: equation (127) with its slack made explicit.
    """
    size = v.real("size", size, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth)
    m = v.real("m", m, low=0.0, strict_low=True)
    return m * n * size ** (2 - 2 / n) * (weakest_correlation(alpha, lead) - size)


# ----------------------------------------------------------------------------------------------
# Flows and what they reach


def induced_trajectory(
    W0, Z, depth: int, m: float, t_eval, *, rtol: float = 1e-11, atol: float = 1e-13
):
    """The induced flow ``dW/dt = -m A_W(W - Z)`` (equation 17 on whitened data) from ``W0`` at
    ``t_eval`` (strictly increasing times ``>= 0``), shape ``(T, d_y, d_x)``:
    :func:`linnet_lib.whitened.induced_flow` with the general operator (DOP853, ``rtol``, ``atol``).

    It uses :func:`linnet_lib.whitened.induced_velocity` (Eftekhari's indexing of A_W), not the
    lecture notes' :func:`linnet_lib.end_to_end_velocity`, so that the two can be compared.
    """
    return induced_flow(Z, W0, depth, m, t_eval, rtol=rtol, atol=atol).W


def margins_along(mats, lead: LeadingTriplet, alpha: float) -> dict:
    """:func:`stable_set_margins` at every matrix of a trajectory (shape ``(T, d_y, d_x)``):
    a dict of arrays ``size`` and ``alignment``."""
    mats = np.asarray(mats, dtype=float)
    if mats.ndim != 3:
        raise ValueError(f"mats must have shape (T, d_y, d_x), got {mats.shape}")
    rows = [stable_set_margins(W, lead, alpha) for W in mats]
    return {key: np.array([r[key] for r in rows]) for key in ("size", "alignment")}


def rank_one_minimum(X, Y) -> float:
    """``min over rank(W) <= 1 of 1/2 ||Y - W X||_F^2`` for whitened ``X`` (Definition 3.5):
    ``1/2 ||Y (I - P_X)||^2 + m/2 sum_{i >= 2} s_i(Z)^2`` with ``Z = Y X^T / m`` (equations 24 and
    161-164 with Eckart-Young). Raises if ``X`` is not whitened to 1e-8."""
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    if whitening_error(X) > 1e-8:
        raise ValueError("X must be whitened (X X^T = m I); see linnet_lib.whitened.whiten")
    Z = target(X, Y)
    m = X.shape[1]
    outside = Y - Y @ X.T @ X / m
    tail = np.linalg.svd(Z, compute_uv=False)[1:]
    return float(0.5 * np.sum(outside**2) + 0.5 * m * np.sum(tail**2))
