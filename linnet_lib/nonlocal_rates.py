"""Convergence rates far from the target (Eftekhari 2020, section 4 and appendices K-P): the distance
to the best rank-1 approximation, its exact identity and derivative, and the two-phase rate.

Notation (Assumption 3.6): whitened data, target ``Z = Y X^T / m`` with leading triplet
``s_Z u_Z v_Z^T = Z1`` and inverse spectral gap ``gamma_Z = s_{Z,2} / s_Z`` (see
:func:`linnet_lib.whitened.leading_triplet`); a rank-1 end-to-end matrix ``W = s u v^T`` with
alignment ``a = u^T Z1 v``; ``T1 = (s - a)^2`` and ``T2 = s_Z - a``; ``p = s^{2 - 2/N}``
for depth ``N``. (The paper's ``T_{1,t}`` of equations 33 and 206 is ``T1 / 2``; this book's ``T1``
keeps the factor 1/2 visible in the formulas.) The induced flow is ``dW/dt = -m A_W(W - Z)`` (equation 17), and
``L11(W) = ||Z1 - W||_F^2 / 2`` (equation 31).

Functions that take ``W`` accept one matrix or a stack of them (shape ``(..., d_y, d_x)``), so that
identities can be tested on many matrices at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .linalg import svd_with_rank
from .whitened import (
    InducedFlow,
    LeadingTriplet,
    _stack,
    induced_flow,
    leading_triplet,
    operator,
    rank_one_operator,
)

PHASE_THRESHOLD = float(np.sqrt(6.0))
"""The switch of Theorem 4.4 (tau is the first time the size ``s`` of ``W`` reaches ``sqrt(6) s_Z``)."""


# ----------------------------------------------------------------------------------------------
# Input checks


def _lead(lead) -> LeadingTriplet:
    if not isinstance(lead, LeadingTriplet):
        raise ValueError("lead must be a LeadingTriplet (from linnet_lib.whitened.leading_triplet)")
    return lead


def _depth(depth, minimum: int = 1) -> int:
    return v.positive_int("depth", depth, minimum=minimum)


def _m(m) -> float:
    return v.real("m", m, low=0.0, strict_low=True)


def _set_parameters(lead: LeadingTriplet, alpha, beta) -> tuple[float, float]:
    alpha = v.real("alpha", alpha)
    beta = v.real("beta", beta)
    if not lead.gamma < alpha < 1.0:
        raise ValueError(f"alpha must lie in (gamma_Z, 1) = ({lead.gamma:.6g}, 1), got {alpha}")
    if not beta > 1.0:
        raise ValueError(f"beta must exceed 1, got {beta}")
    return alpha, beta


def _inner(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.sum(A * B, axis=(-2, -1))


# ----------------------------------------------------------------------------------------------
# Equations (29) and (39), Theorem K.1


def rank_one_distance_floor(Z) -> float:
    """``min ||Z - W0||_F`` over matrices ``W0`` of rank at most 1: ``sqrt(s_2^2 + s_3^2 + ...)``
    (Eckart-Young), reached at ``W0 = Z1``. It is at least ``s_2(Z)``, hence at least ``s_min(Z)``."""
    Z = v.matrix("Z", Z)
    s = np.linalg.svd(Z, compute_uv=False)
    return float(np.sqrt(np.sum(s[1:] ** 2)))


def arora_time(c: float, depth: int, loss0: float, eps: float) -> float:
    """Theorem K.1's time ``c^{-2(1 - 1/N)} log(l(0) / eps)`` after which ``l(t) <= eps``, in the time
    of the normalised loss (Eftekhari's time multiplied by ``m``). Equation (29) with ``C = c^2``."""
    c = v.real("c", c, low=0.0, strict_low=True)
    n = _depth(depth)
    loss0 = v.real("loss0", loss0, low=0.0, strict_low=True)
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    return float(c ** (-2 * (1 - 1 / n)) * np.log(loss0 / eps))


# ----------------------------------------------------------------------------------------------
# Lemma N.1: the operator A_W (its rank-1 form is :func:`linnet_lib.whitened.rank_one_operator`)


def _svd_powers(W: np.ndarray):
    """Full SVD of W and the diagonal powers ``(S S^T)^x``, ``(S^T S)^x`` (``0^0 = 1``); singular
    values at round-off level (``svd_with_rank``) count as exact zeros, as in ``whitened.operator``."""
    U, s, Vt, _ = svd_with_rank(W, full_matrices=True)
    d_y, d_x = W.shape
    left_sq = np.zeros(d_y)
    right_sq = np.zeros(d_x)
    left_sq[: s.size] = s**2
    right_sq[: s.size] = s**2

    def power(values: np.ndarray, x: float) -> np.ndarray:
        return np.ones_like(values) if x == 0 else values**x

    return U, Vt.T, left_sq, right_sq, power


def svd_basis_operator(W, Delta, depth: int) -> np.ndarray:
    """The first identity of (173): ``A_W(Delta) = U [sum_j (S S^T)^{(N-j)/N} (U^T Delta V)
    (S^T S)^{(j-1)/N}] V^T`` with the full SVD ``W = U S V^T``."""
    W = v.matrix("W", W)
    Delta = v.matrix("Delta", Delta, shape=W.shape)
    n = _depth(depth)
    U, V, left_sq, right_sq, power = _svd_powers(W)
    core = U.T @ Delta @ V
    total = np.zeros_like(core)
    for j in range(1, n + 1):
        total += power(left_sq, (n - j) / n)[:, None] * core * power(right_sq, (j - 1) / n)
    return U @ total @ V.T


def operator_quadratic_form(W, Delta, depth: int) -> float:
    """The second identity of (173): ``<Delta, A_W(Delta)> = sum_j ||(S S^T)^{(N-j)/(2N)} U^T Delta V
    (S^T S)^{(j-1)/(2N)}||_F^2`` (a sum of squares, so ``A_W`` is positive semi-definite)."""
    W = v.matrix("W", W)
    Delta = v.matrix("Delta", Delta, shape=W.shape)
    n = _depth(depth)
    U, V, left_sq, right_sq, power = _svd_powers(W)
    core = U.T @ Delta @ V
    return float(
        sum(
            np.sum(
                (
                    power(left_sq, (n - j) / (2 * n))[:, None]
                    * core
                    * power(right_sq, (j - 1) / (2 * n))
                )
                ** 2
            )
            for j in range(1, n + 1)
        )
    )


# ----------------------------------------------------------------------------------------------
# The induced flow on rank-one matrices


def rank_one_flow(
    W0,
    Z,
    depth: int,
    m: float,
    t_eval,
    *,
    s_level: float | None = None,
    rtol: float = 1e-11,
    atol: float = 1e-13,
) -> InducedFlow:
    """Solve ``dW/dt = -m A_W(W - Z)`` from the rank-1 ``W0`` (``N >= 2``):
    :func:`linnet_lib.whitened.induced_flow` with the closed form
    :func:`linnet_lib.whitened.rank_one_operator` (DOP853), the absolute tolerance ``atol`` times
    ``max(||W0||_F, ||Z||_F)`` (a rescaled problem is solved on exactly rescaled steps), recorded at
    ``t_eval`` (increasing, from 0). With ``s_level`` the run also returns ``tau``, the first time
    ``||W||_F`` reaches it (see :class:`linnet_lib.whitened.InducedFlow`).
    """
    W0 = v.matrix("W0", W0)
    Z = v.matrix("Z", Z, shape=W0.shape)
    n = _depth(depth, minimum=2)
    m = _m(m)
    t = np.asarray(t_eval, dtype=float)
    if (
        t.ndim != 1
        or t.size < 2
        or t[0] != 0
        or np.any(np.diff(t) <= 0)
        or not np.all(np.isfinite(t))
    ):
        raise ValueError("t_eval must be an increasing 1-D array of times starting at 0")
    return induced_flow(
        Z,
        W0,
        n,
        m,
        t,
        rtol=rtol,
        atol=atol,
        atol_scaled=True,
        rank_one=True,
        s_level=s_level,
    )


# ----------------------------------------------------------------------------------------------
# Equations (31)-(34): the distance to Z1, its identity and its derivative


@dataclass(frozen=True)
class Terms:
    """``s``, ``a = u^T Z1 v``, ``T1 = (s - a)^2`` and ``T2 = s_Z - a`` (arrays for stacks of W)."""

    s: np.ndarray
    a: np.ndarray
    T1: np.ndarray
    T2: np.ndarray


def terms(W, lead: LeadingTriplet) -> Terms:
    """The quantities of equation (33) for ``W`` (one matrix or a stack), from its leading singular
    triplet (for a rank-1 ``W`` the only one). ``a`` does not depend on the SVD's sign convention."""
    lead = _lead(lead)
    W = _stack("W", W, lead.Z1.shape)
    U, S, Vt = np.linalg.svd(W)
    u, w = U[..., :, 0], Vt[..., 0, :]
    s = S[..., 0]
    a = np.einsum("...i,ij,...j->...", u, lead.Z1, w)
    return Terms(s, a, (s - a) ** 2, lead.s - a)


def l11(W, lead: LeadingTriplet) -> np.ndarray:
    """``L11(W) = ||Z1 - W||_F^2 / 2`` (equation 31)."""
    lead = _lead(lead)
    W = _stack("W", W, lead.Z1.shape)
    return 0.5 * np.sum((W - lead.Z1) ** 2, axis=(-2, -1))


def l11_identity(W, lead: LeadingTriplet) -> np.ndarray:
    """``(s - a)^2 / 2 + (s_Z^2 - a^2) / 2``, equal to ``L11(W)`` for rank-1 ``W`` (appendix M, (169))."""
    lead = _lead(lead)
    q = terms(W, lead)
    return 0.5 * q.T1 + 0.5 * (lead.s**2 - q.a**2)


def l11_bound(W, lead: LeadingTriplet) -> np.ndarray:
    """``T1 / 2 + s_Z T2``, the upper bound (33) on ``L11(W)``."""
    lead = _lead(lead)
    q = terms(W, lead)
    return 0.5 * q.T1 + lead.s * q.T2


def l11_rate(W, Z, depth: int, m: float) -> float:
    """``dL11/dt = -m <W - Z1, A_W(W - Z)>`` along the induced flow (equation 34), with ``A_W`` from
    :func:`linnet_lib.whitened.operator` (any ``W``, any depth)."""
    W = v.matrix("W", W)
    Z = v.matrix("Z", Z, shape=W.shape)
    Z1 = leading_triplet(Z).Z1
    return float(-_m(m) * np.sum((W - Z1) * operator(W, W - Z, depth)))


def l11_rate_rank_one(W, Z, depth: int, m: float) -> np.ndarray:
    """Equation (34) with ``A_W`` from :func:`~linnet_lib.whitened.rank_one_operator`: rank-1 ``W``
    (or a stack of them), ``N >= 2``."""
    Z = v.matrix("Z", Z)
    W = _stack("W", W, Z.shape)
    Z1 = leading_triplet(Z).Z1
    return -_m(m) * _inner(W - Z1, rank_one_operator(W, W - Z, depth))


def singular_value_speed(W, Z, depth: int, m: float) -> np.ndarray:
    """``ds/dt = -m N s^{2-2/N} (s - u^T Z v)`` for the size of a rank-1 ``W`` (equation 127), which
    the proof of Lemma 4.3 evaluates on the cap ``s = beta s_Z`` (equation 197)."""
    Z = v.matrix("Z", Z)
    W = _stack("W", W, Z.shape)
    n = _depth(depth, minimum=2)
    U, S, Vt = np.linalg.svd(W)
    u, w, s = U[..., :, 0], Vt[..., 0, :], S[..., 0]
    return -_m(m) * n * s ** (2 - 2 / n) * (s - np.einsum("...i,ij,...j->...", u, Z, w))


# ----------------------------------------------------------------------------------------------
# Lemma 4.2 (equation 35) as printed, and as derived in appendix N (equations 190 and 199)


def lemma_4_2_printed(
    W, lead: LeadingTriplet, depth: int, m: float, *, paper_t1: bool = True
) -> np.ndarray:
    """The right side of (35) as our Markdown copy prints it, ``-2 m N p T_{1,t} - 2 m p a T2
    + sqrt(2) m N p gamma_Z sqrt(T_{1,t} T2) + 2 m p s_{Z,2} T2`` with ``p = s^{2-2/N}``, the square
    root reaching over ``T2``. ``T_{1,t}`` is the paper's own ``(s - a)^2 / 2`` (its equation 206, and
    the plain-text copy of 33) with ``paper_t1``, else ``(s - a)^2`` (the Markdown copy's reading of
    the overbrace in 33, a conversion garble). Read the paper's way, only the third term differs from
    the derivation: it scales like a size to the power 3/2, every other term like a size squared."""
    lead = _lead(lead)
    n = _depth(depth, minimum=2)
    m = _m(m)
    q = terms(W, lead)
    p = q.s ** (2 - 2 / n)
    t1 = 0.5 * q.T1 if paper_t1 else q.T1
    return (
        -2 * m * n * p * t1
        - 2 * m * p * q.a * q.T2
        + np.sqrt(2) * m * n * p * lead.gamma * np.sqrt(t1 * q.T2)
        + 2 * m * p * lead.s2 * q.T2
    )


def lemma_4_2_corrected(W, lead: LeadingTriplet, depth: int, m: float) -> np.ndarray:
    """The bound that appendix N derives (190) and appendix P uses (199): ``-m N p T1 - 2 m p a T2
    + m N p gamma_Z sqrt(T1) T2 + 2 m p s_{Z,2} T2`` with ``p = s^{2-2/N}``."""
    lead = _lead(lead)
    n = _depth(depth, minimum=2)
    m = _m(m)
    q = terms(W, lead)
    p = q.s ** (2 - 2 / n)
    return (
        -m * n * p * q.T1
        - 2 * m * p * q.a * q.T2
        + m * n * p * lead.gamma * np.sqrt(q.T1) * q.T2
        + 2 * m * p * lead.s2 * q.T2
    )


# ----------------------------------------------------------------------------------------------
# Theorem 4.4 and its remark


def theorem_4_4_rates(depth: int, m: float, lead: LeadingTriplet, alpha: float, beta: float):
    """The two exponents of Theorem 4.4 (38a, 38b) as positive decay rates of ``||Z1 - W(t)||_F^2``:

    * before tau: ``m N s_Z^{2-2/N} ((alpha - gamma_Z)^{2-2/N} - 2 gamma_Z beta^{2-2/N})``;
    * after tau: ``m s_Z^{2-2/N} (alpha (alpha - gamma_Z)^{2-2/N} - 2 gamma_Z N beta^{2-2/N})``.

    The theorem needs both positive (``gamma_Z`` small enough); they are returned as computed.
    """
    lead = _lead(lead)
    n = _depth(depth, minimum=2)
    m = _m(m)
    alpha, beta = _set_parameters(lead, alpha, beta)
    p = 2 - 2 / n
    g = lead.gamma
    fast = m * n * lead.s**p * ((alpha - g) ** p - 2 * g * beta**p)
    slow = m * lead.s**p * (alpha * (alpha - g) ** p - 2 * g * n * beta**p)
    return float(fast), float(slow)


def appendix_p_rates(depth: int, m: float, lead: LeadingTriplet, alpha: float, beta: float):
    """The rates that appendix P.1 actually derives, (202) and (205) as computed in (209)-(211):
    ``m s_Z^p (N (alpha - gamma_Z)^p - gamma_Z beta^p (N / sqrt 2 + 1))`` and
    ``m s_Z^p (alpha (alpha - gamma_Z)^p - gamma_Z beta^p (N / sqrt 2 + 1))``, ``p = 2 - 2/N``.
    Theorem 4.4 states the smaller numbers of :func:`theorem_4_4_rates` (``2N >= N / sqrt 2 + 1``)."""
    lead = _lead(lead)
    n = _depth(depth, minimum=2)
    m = _m(m)
    alpha, beta = _set_parameters(lead, alpha, beta)
    p = 2 - 2 / n
    g = lead.gamma
    loss_term = g * beta**p * (n / np.sqrt(2) + 1)
    fast = m * lead.s**p * (n * (alpha - g) ** p - loss_term)
    slow = m * lead.s**p * (alpha * (alpha - g) ** p - loss_term)
    return float(fast), float(slow)


def phase_margin(W, lead: LeadingTriplet) -> np.ndarray:
    """``T = T1 / 2 - s_Z T2`` (equation 206, where the paper's ``T_{1,t}`` is ``T1 / 2``): the fast
    phase of appendix P is ``T >= 0``."""
    lead = _lead(lead)
    q = terms(W, lead)
    return 0.5 * q.T1 - lead.s * q.T2


def theorem_4_4_bound(
    t, tau: float, dist2_0: float, dist2_tau: float, rates, *, log: bool = False
) -> np.ndarray:
    """The right sides of (38): ``dist2_0 exp(-fast t)`` for ``t <= tau`` and
    ``dist2_tau exp(-slow (t - tau))`` for ``t > tau`` (``dist2`` are squared distances to Z1;
    ``tau = inf`` if the size never falls to ``sqrt(6) s_Z``). With ``log=True`` the natural
    logarithm of the bound, which does not underflow."""
    t = np.asarray(t, dtype=float)
    tau = v.real("tau", tau, low=0.0) if np.isfinite(tau) else float("inf")
    dist2_0 = v.real("dist2_0", dist2_0, low=0.0, strict_low=True)
    fast, slow = (v.real("rates[0]", rates[0]), v.real("rates[1]", rates[1]))
    early = np.log(dist2_0) - fast * np.minimum(t, tau)
    if np.isfinite(tau):
        dist2_tau = v.real("dist2_tau", dist2_tau, low=0.0, strict_low=True)
        late = np.log(dist2_tau) - slow * np.maximum(t - tau, 0.0)
        early = np.where(t <= tau, early, late)
    return early if log else np.exp(early)


def time_to_accuracy(eps: float, dist2_0: float, tau: float, rates) -> float:
    """The time after which (38) guarantees ``||Z1 - W(t)||_F^2 <= eps``, chaining (38a) into (38b):
    ``log(C / eps) / fast`` if that is at most ``tau``, otherwise
    ``log(C / eps) / slow - tau (fast / slow - 1)``, with ``C = ||Z1 - W0||_F^2``."""
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    dist2_0 = v.real("dist2_0", dist2_0, low=0.0, strict_low=True)
    tau = v.real("tau", tau, low=0.0)
    fast, slow = v.real("rates[0]", rates[0]), v.real("rates[1]", rates[1])
    if fast <= 0 or slow <= 0:
        raise ValueError("both rates must be positive")
    log_ratio = np.log(dist2_0 / eps)
    if log_ratio / fast <= tau:
        return float(max(log_ratio / fast, 0.0))
    return float(log_ratio / slow - tau * (fast / slow - 1))


def printed_remark_rates(depth: int, m: float, lead: LeadingTriplet, alpha: float, beta: float):
    """The rates implied by the remark after Theorem 4.4 as printed: ``m N s_Z^2 ((alpha - gamma_Z)^2
    - 2 gamma_Z beta^2)`` and ``m s_Z^2 (alpha (alpha - gamma_Z)^2 - 2 gamma_Z N beta^2)``: every
    exponent ``2 - 2/N`` replaced by 2. The plain-text copy prints ``s_Z^2`` in both phases; our
    Markdown copy prints ``s_Z`` in the fast one (a conversion difference; either way the time scales
    wrongly with ``s_Z``)."""
    lead = _lead(lead)
    n = _depth(depth, minimum=2)
    m = _m(m)
    alpha, beta = _set_parameters(lead, alpha, beta)
    g = lead.gamma
    fast = m * n * lead.s**2 * ((alpha - g) ** 2 - 2 * g * beta**2)
    slow = m * lead.s**2 * (alpha * (alpha - g) ** 2 - 2 * g * n * beta**2)
    return float(fast), float(slow)


# ----------------------------------------------------------------------------------------------
# This book's additions: the rate of L11 for a rank-1 target, and the final rate


def rate_sandwich(W, lead: LeadingTriplet, depth: int, m: float) -> tuple[np.ndarray, np.ndarray]:
    """For a rank-1 target (``gamma_Z = 0``) and rank-1 ``W`` with ``a >= 0``: the bounds
    ``2 m p (2 a / (s_Z + a)) <= -dL11/dt / L11 <= 2 m N p``, ``p = s^{2-2/N}``, returned as
    ``(low, high)``. The upper end is reached when ``W`` is aligned with ``Z1``, the lower one when
    ``s = a`` and ``u, v`` are equally far from ``u_Z, v_Z``."""
    lead = _lead(lead)
    if lead.gamma > 1e-12:
        raise ValueError(f"rate_sandwich needs a rank-1 target (gamma_Z = 0), got {lead.gamma:.3g}")
    n = _depth(depth, minimum=2)
    m = _m(m)
    q = terms(W, lead)
    p = q.s ** (2 - 2 / n)
    return 2 * m * p * 2 * q.a / (lead.s + q.a), 2 * m * n * p


def final_rate(depth: int, m: float, lead: LeadingTriplet) -> float:
    """``2 m s_Z^{2-2/N} (1 - gamma_Z)``: the rate at which ``||Z1 - W(t)||_F^2`` eventually decays
    along the induced flow when ``W`` approaches ``Z1`` with a component along the slowest direction,
    the joint turn of ``u`` towards ``u_{Z,2}`` and ``v`` towards ``v_{Z,2}``."""
    lead = _lead(lead)
    n = _depth(depth, minimum=2)
    return float(2 * _m(m) * lead.s ** (2 - 2 / n) * (1 - lead.gamma))
