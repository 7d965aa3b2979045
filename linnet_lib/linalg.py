"""Linear algebra the book leans on: exact PSD powers, column-major vec, Kronecker helpers.

Fractional powers of ``W W^T`` and ``W^T W`` are computed from one singular value decomposition of
``W``. Singular values at round-off level (below ``rtol * sigma_max``, default
``max(W.shape) * eps``, the convention of ``numpy.linalg.matrix_rank``) are treated as exact zeros:
a round-off eigenvalue of 1e-16 raised to the power 1/4 would otherwise leak 1e-4 into the result.
The power 0 is the identity by definition (the convention 0^0 = 1 of the lecture notes).
"""

from __future__ import annotations

import numpy as np

from . import _validate as v


def _rtol_default(shape: tuple[int, ...]) -> float:
    return max(shape) * np.finfo(float).eps


def svd_with_rank(W, *, rtol: float | None = None, full_matrices: bool = False):
    """SVD of ``W`` together with its numerical rank.

    Returns ``(U, s, Vt, rank)`` where ``s`` is non-increasing, entries at or below
    ``rtol * s[0]`` are set to exactly 0, and ``rank`` counts the others.
    """
    W = v.matrix("W", W)
    rtol = _rtol_default(W.shape) if rtol is None else v.real("rtol", rtol, low=0.0)
    U, s, Vt = np.linalg.svd(W, full_matrices=full_matrices)
    s = s.copy()
    if s.size and s[0] > 0:
        s[s <= rtol * s[0]] = 0.0
    else:
        s[:] = 0.0
    return U, s, Vt, int(np.count_nonzero(s))


def gram_power(W, beta: float, side: str = "left", *, rtol: float | None = None) -> np.ndarray:
    """Return ``[W W^T]^beta`` (``side='left'``) or ``[W^T W]^beta`` (``side='right'``).

    Exact for singular and rank-deficient ``W``: see the module docstring.
    ``beta = 0`` gives the identity of the matching size.
    """
    W = v.matrix("W", W)
    beta = v.real("beta", beta, low=0.0)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    size = W.shape[0] if side == "left" else W.shape[1]
    if beta == 0.0:
        return np.eye(size)
    U, s, Vt, rank = svd_with_rank(W, rtol=rtol)
    basis = U[:, :rank] if side == "left" else Vt[:rank].T
    return (basis * s[:rank] ** (2 * beta)) @ basis.T


def psd_power(A, beta: float, *, rtol: float | None = None) -> np.ndarray:
    """Power ``A^beta`` of a symmetric positive semi-definite matrix, by eigendecomposition.

    Eigenvalues at or below ``rtol * lambda_max`` are exact zeros; ``beta = 0`` gives the
    identity. Raises ``ValueError`` if ``A`` is not square, not symmetric, or has an eigenvalue
    clearly below zero.
    """
    A = v.matrix("A", A)
    beta = v.real("beta", beta, low=0.0)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square, got shape {A.shape}")
    scale = max(np.abs(A).max(), np.finfo(float).tiny)
    if np.abs(A - A.T).max() > 1e-10 * scale:
        raise ValueError("A must be symmetric")
    if beta == 0.0:
        return np.eye(A.shape[0])
    lam, Q = np.linalg.eigh((A + A.T) / 2)
    rtol = _rtol_default(A.shape) if rtol is None else v.real("rtol", rtol, low=0.0)
    lam_max = max(lam.max(), 0.0)
    if lam.min() < -1e-8 * max(lam_max, np.finfo(float).tiny):
        raise ValueError(f"A must be positive semi-definite, found eigenvalue {lam.min():.3g}")
    lam = np.where(lam <= rtol * lam_max, 0.0, lam)
    return (Q * lam**beta) @ Q.T


def vec(A) -> np.ndarray:
    """Column-major (column-first) vectorisation, the convention of the lecture notes."""
    A = v.matrix("A", A)
    return A.reshape(-1, order="F")


def unvec(x, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`vec`: fold a vector back into a matrix of the given shape."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be a 1-D vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must have finite entries (no NaN or inf)")
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0 for k in shape
        )
        or shape[0] * shape[1] != x.size
    ):
        raise ValueError(
            f"shape must be a pair of positive integers (rows, cols) with rows*cols == {x.size}, got {shape!r}"
        )
    return x.reshape((int(shape[0]), int(shape[1])), order="F")


def random_orthogonal(size: int, rng=None) -> np.ndarray:
    """A Haar-distributed random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    size = v.positive_int("size", size)
    gen = v.rng(rng)
    Q, R = np.linalg.qr(gen.standard_normal((size, size)))
    return Q * np.sign(np.diag(R))
