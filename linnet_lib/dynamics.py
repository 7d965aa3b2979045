"""The end-to-end dynamics (Theorem 1) and its vectorised preconditioner (Corollary 1)."""

from __future__ import annotations

import numpy as np

from . import _validate as v
from .linalg import svd_with_rank


def _left_right_powers(W: np.ndarray, n: int):
    """Callables ``left(a) = [W W^T]^a`` and ``right(a) = [W^T W]^a`` from one SVD of ``W``."""
    U, s, Vt, rank = svd_with_rank(W)
    Ur, Vr, sr = U[:, :rank], Vt[:rank].T, s[:rank]
    d_out, d_in = W.shape

    def left(a: float) -> np.ndarray:
        return np.eye(d_out) if a == 0 else (Ur * sr ** (2 * a)) @ Ur.T

    def right(a: float) -> np.ndarray:
        return np.eye(d_in) if a == 0 else (Vr * sr ** (2 * a)) @ Vr.T

    return left, right


def end_to_end_velocity(W, G, depth: int) -> np.ndarray:
    """``sum_{j=1}^n [W W^T]^{(j-1)/n} G [W^T W]^{(n-j)/n}`` (Theorem 1, equation (3)).

    With ``G = grad l(W)`` the end-to-end matrix of a balanced network moves with velocity
    ``-end_to_end_velocity(W, G, n)``: the sign is *not* included here. Depth 1 returns ``G``.
    """
    W = v.matrix("W", W)
    G = v.matrix("G", G, shape=W.shape)
    n = v.positive_int("depth", depth)
    if n == 1:
        return G.copy()
    left, right = _left_right_powers(W, n)
    return sum(left((j - 1) / n) @ G @ right((n - j) / n) for j in range(1, n + 1))


def preconditioner(W, depth: int) -> np.ndarray:
    """The explicit ``(d_0 d_n) x (d_0 d_n)`` matrix P(W) of Corollary 1:
    ``P = sum_j [W^T W]^{(n-j)/n} kron [W W^T]^{(j-1)/n}``, so that with column-major vec
    ``P @ vec(G) == vec(end_to_end_velocity(W, G, n))``.
    """
    W = v.matrix("W", W)
    n = v.positive_int("depth", depth)
    left, right = _left_right_powers(W, n)
    return sum(np.kron(right((n - j) / n), left((j - 1) / n)) for j in range(1, n + 1))


def preconditioner_eigen(W, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form eigenvalues and eigenvectors of P(W) (Corollary 1).

    Returns ``(eigenvalues, eigenvectors)``: column ``r' * d_n + r`` of ``eigenvectors`` is
    ``vec(u_r v_{r'}^T)`` (left and right singular vectors from a full SVD), with eigenvalue
    ``sum_j sigma_r^{2(n-j)/n} sigma_{r'}^{2(j-1)/n}``, where ``sigma_r = 0`` beyond
    ``min(d_0, d_n)`` and ``0^0 = 1``.
    """
    W = v.matrix("W", W)
    n = v.positive_int("depth", depth)
    d_out, d_in = W.shape
    U, s, Vt, _ = svd_with_rank(W, full_matrices=True)
    sig_left = np.zeros(d_out)
    sig_left[: len(s)] = s
    sig_right = np.zeros(d_in)
    sig_right[: len(s)] = s

    def power(x: np.ndarray, a: float) -> np.ndarray:
        return np.ones_like(x) if a == 0 else x**a

    eig = np.zeros((d_out, d_in))
    for j in range(1, n + 1):
        eig += np.outer(power(sig_left, 2 * (n - j) / n), power(sig_right, 2 * (j - 1) / n))
    eigenvalues = eig.reshape(-1, order="F")
    eigenvectors = np.kron(Vt.T, U)  # column r' * d_out + r is v_{r'} kron u_r = vec(u_r v_{r'}^T)
    return eigenvalues, eigenvectors
