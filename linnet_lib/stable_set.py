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
from .whitened import LeadingTriplet


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
