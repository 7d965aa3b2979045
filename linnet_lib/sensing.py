"""Matrix sensing and matrix completion (lecture notes section 4.1), and the nuclear-norm baseline.

Losses follow equation (9) of the notes, ``l(W) = 1/(2m) sum_i (<W, A_i> - b_i)^2``, and are
vectorised: the m measurement matrices are stacked once as an ``(m, d_n d_0)`` array, so a loss or
gradient evaluation costs one matrix-vector product (sensing) or one gather/scatter (completion),
never a Python loop over measurements.
"""

from __future__ import annotations

import numpy as np

from . import _validate as v
from .losses import Loss


class SensingLoss(Loss):
    """Matrix sensing: ``l(W) = 1/(2m) sum_i (<W, A_i> - b_i)^2`` (equation (9)).

    Parameters
    ----------
    measurements : array of shape (m, d_n, d_0)
        The measurement matrices ``A_i``.
    values : array of shape (m,)
        The measurements ``b_i``.
    """

    def __init__(self, measurements, values):
        A = np.asarray(measurements, dtype=float)
        if A.ndim != 3 or A.shape[0] == 0 or not np.all(np.isfinite(A)):
            raise ValueError(
                f"measurements must be a finite array of shape (m, d_n, d_0) with m >= 1, got shape {A.shape}"
            )
        b = np.asarray(values, dtype=float)
        if b.shape != (A.shape[0],) or not np.all(np.isfinite(b)):
            raise ValueError(
                f"values must be a finite vector of length m = {A.shape[0]}, got shape {b.shape}"
            )
        self.shape = (A.shape[1], A.shape[2])
        self.count = A.shape[0]
        self._A = A.reshape(
            A.shape[0], -1
        )  # row i is A_i flattened (row-major, matching W.ravel())
        self.values = b

    def residuals(self, W) -> np.ndarray:
        """``<W, A_i> - b_i`` for every measurement."""
        return self._A @ self._check(W).ravel() - self.values

    def _value(self, W):
        r = self._A @ W.ravel() - self.values
        return 0.5 * np.dot(r, r) / self.count

    def _grad(self, W):
        r = self._A @ W.ravel() - self.values
        return (self._A.T @ r).reshape(self.shape) / self.count


class CompletionLoss(Loss):
    """Matrix completion: sensing with ``A_i = e_{row_i} e_{col_i}^T``, so
    ``l(W) = 1/(2m) sum_i (W[row_i, col_i] - b_i)^2``.

    Parameters
    ----------
    shape : (d_n, d_0)
    rows, cols : integer arrays of length m
        Observed entries (distinct).
    values : array of length m
        Their observed values.
    """

    def __init__(self, shape, rows, cols, values):
        d_out, d_in = v.matrix_shape("shape", shape)
        rows = np.asarray(rows)
        cols = np.asarray(cols)
        b = np.asarray(values, dtype=float)
        if rows.ndim != 1 or rows.size == 0 or rows.shape != cols.shape or rows.shape != b.shape:
            raise ValueError("rows, cols and values must be non-empty vectors of the same length")
        if not (np.issubdtype(rows.dtype, np.integer) and np.issubdtype(cols.dtype, np.integer)):
            raise ValueError("rows and cols must be integer arrays")
        if rows.min() < 0 or rows.max() >= d_out or cols.min() < 0 or cols.max() >= d_in:
            raise ValueError(f"rows and cols must index entries of a {d_out} x {d_in} matrix")
        if not np.all(np.isfinite(b)):
            raise ValueError("values must be finite")
        flat = rows * d_in + cols
        if np.unique(flat).size != flat.size:
            raise ValueError("rows and cols must name distinct entries")
        self.shape = (d_out, d_in)
        self.count = b.size
        self.rows, self.cols, self.values = rows, cols, b

    @classmethod
    def observe(cls, target, count: int, rng=None) -> CompletionLoss:
        """Observe ``count`` entries of ``target`` chosen uniformly without replacement."""
        T = v.matrix("target", target)
        count = v.positive_int("count", count)
        if count > T.size:
            raise ValueError(f"count must be at most the number of entries {T.size}, got {count}")
        gen = v.rng(rng)
        flat = gen.choice(T.size, size=count, replace=False)
        rows, cols = np.divmod(flat, T.shape[1])
        return cls(T.shape, rows, cols, T[rows, cols])

    def mask(self) -> np.ndarray:
        """Boolean matrix of the observed entries."""
        M = np.zeros(self.shape, dtype=bool)
        M[self.rows, self.cols] = True
        return M

    def _value(self, W):
        r = W[self.rows, self.cols] - self.values
        return 0.5 * np.dot(r, r) / self.count

    def _grad(self, W):
        G = np.zeros(self.shape)
        G[self.rows, self.cols] = (W[self.rows, self.cols] - self.values) / self.count
        return G


def gaussian_sensing(target, count: int, rng=None, scale: float | None = None) -> SensingLoss:
    """``count`` Gaussian measurement matrices of ``target`` (entries N(0, scale^2), default
    ``1 / sqrt(d_n d_0)``), with exact measurements ``b_i = <target, A_i>``."""
    T = v.matrix("target", target)
    count = v.positive_int("count", count)
    gen = v.rng(rng)
    scale = (
        1.0 / np.sqrt(T.size) if scale is None else v.real("scale", scale, low=0.0, strict_low=True)
    )
    A = scale * gen.standard_normal((count, *T.shape))
    return SensingLoss(A, np.einsum("kij,ij->k", A, T))


def regression_as_sensing(X, Y) -> SensingLoss:
    """Linear regression ``W x_j = y_j`` written as matrix sensing (section 4.1 of the notes): one
    measurement matrix ``e_i x_j^T`` with value ``Y[i, j]`` per output ``i`` and sample ``j``.

    With ``m`` samples and ``d_n`` outputs this gives ``m d_n`` measurements, so the sensing loss of
    equation (9) is the regression loss ``1/(2m) ||W X - Y||_F^2`` divided by ``d_n``.
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of columns (samples), got {X.shape[1]} and {Y.shape[1]}"
        )
    d_out, m = Y.shape
    eye = np.eye(d_out)
    A = np.einsum("ia,jb->jiab", eye, X.T).reshape(m * d_out, d_out, X.shape[0])
    return SensingLoss(A, Y.T.reshape(-1))


def low_rank_target(
    shape: tuple[int, int], rank: int, rng=None, frobenius: float | None = None
) -> np.ndarray:
    """A random matrix of the given rank, ``U V^T`` with Gaussian factors, rescaled to Frobenius norm
    ``frobenius`` (default ``sqrt(d_n d_0)``, so entries have root-mean-square 1, as in the
    original code of Arora et al. 2019b)."""
    d_out, d_in = v.matrix_shape("shape", shape)
    rank = v.rank_for("rank", rank, (d_out, d_in))
    gen = v.rng(rng)
    T = gen.standard_normal((d_out, rank)) @ gen.standard_normal((rank, d_in))
    norm = (
        np.sqrt(d_out * d_in)
        if frobenius is None
        else v.real("frobenius", frobenius, low=0.0, strict_low=True)
    )
    return T * norm / np.linalg.norm(T)


def spectrum_target(shape: tuple[int, int], singular_values, rng=None) -> np.ndarray:
    """A random matrix ``U diag(s) V^T`` with Haar-random orthonormal ``U``, ``V`` and the given
    singular values ``s`` (non-negative, at most ``min(shape)`` of them; rank = number of non-zeros)."""
    d_out, d_in = v.matrix_shape("shape", shape)
    s = np.asarray(singular_values, dtype=float)
    if s.ndim != 1 or s.size == 0 or s.size > min(d_out, d_in) or not np.all(np.isfinite(s)):
        raise ValueError(
            f"singular_values must be a non-empty vector of at most {min(d_out, d_in)} finite values"
        )
    if np.any(s < 0):
        raise ValueError("singular_values must be non-negative")
    gen = v.rng(rng)
    U, _ = np.linalg.qr(gen.standard_normal((d_out, s.size)))
    V, _ = np.linalg.qr(gen.standard_normal((d_in, s.size)))
    return (U * s) @ V.T


def nuclear_norm_minimizer(loss, solver: str = "SCS", tolerance: float = 1e-9) -> np.ndarray:
    """Solve program (10) of the notes with cvxpy: minimise ``||W||_*`` subject to fitting every
    measurement exactly (``<W, A_i> = b_i``, or ``W[row_i, col_i] = b_i`` for completion).

    The default solver is SCS (the solver of the original code of Arora et al. 2019b) with absolute
    and relative tolerances ``tolerance``: on a 50 x 50 completion problem it agrees with the
    interior-point solver CLARABEL to 6 digits of the nuclear norm and is about 20 times faster.
    ``solver="CLARABEL"`` selects the interior-point method (``tolerance`` is then ignored).

    Raises ``ValueError`` if the loss is of another kind or the solver is unknown, ``RuntimeError``
    if the solver fails.
    """
    import cvxpy as cp

    if not isinstance(loss, (SensingLoss, CompletionLoss)):
        raise ValueError(f"loss must be a SensingLoss or CompletionLoss, got {type(loss).__name__}")
    if solver not in ("SCS", "CLARABEL"):
        raise ValueError(f"solver must be 'SCS' or 'CLARABEL', got {solver!r}")
    tolerance = v.real("tolerance", tolerance, low=0.0, strict_low=True)
    X = cp.Variable(loss.shape)
    if isinstance(loss, CompletionLoss):
        flat = loss.rows * loss.shape[1] + loss.cols
        constraints = [cp.vec(X, order="C")[flat] == loss.values]
    else:
        constraints = [loss._A @ cp.vec(X, order="C") == loss.values]
    problem = cp.Problem(cp.Minimize(cp.normNuc(X)), constraints)
    if solver == "SCS":
        problem.solve(solver="SCS", eps_abs=tolerance, eps_rel=tolerance, max_iters=100_000)
    else:
        problem.solve(solver="CLARABEL")
    if problem.status != "optimal" or X.value is None:
        raise RuntimeError(f"nuclear norm minimisation failed: status {problem.status}")
    return np.asarray(X.value)


def effective_rank(W) -> float:
    """``exp(entropy(sigma / sum sigma))``, the effective rank used by Arora et al. (2019b)."""
    s = np.linalg.svd(v.matrix("W", W), compute_uv=False)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))
