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

from . import _validate as v
from .linalg import gram_power


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
