"""Tensor factorisation (lecture notes section 5): a CP model of an order-N tensor fitted to a subset of
its entries by gradient descent, recording the norm of every component along the way.

A CP (CANDECOMP/PARAFAC) factorisation with ``R`` components writes a tensor of shape ``(d_1, ..., d_N)``
as ``W = sum_r a_r^(1) ⊗ ... ⊗ a_r^(N)``. Factor matrix ``n`` stacks the vectors of mode ``n`` as
columns, ``A_n = [a_1^(n) ... a_R^(n)]`` of shape ``(d_n, R)``, and a model is the list
``[A_1, ..., A_N]``. For ``N = 2`` this is the matrix factorisation ``W = A_1 A_2^T`` (a depth-2 linear
network); for ``N >= 3`` it is the shallow arithmetic network of the notes' section 5 (see
:func:`network_output`). The *norm of component r* is ``||a_r^(1) ⊗ ... ⊗ a_r^(N)||_F``, which equals
the product of the factor norms ``||a_r^(1)|| ... ||a_r^(N)||`` (the book calls it the component norm).

Tensor completion observes ``m`` entries ``(i_k, y_k)`` and minimises
``l(W) = 1/(2m) sum_k (W[i_k] - y_k)^2``. Everything is vectorised over the observations: a loss or
gradient evaluation gathers ``N`` rows of ``R`` numbers per observation and contracts them with
``np.einsum``, never looping over entries in Python.
"""

from __future__ import annotations

import numbers
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from . import _validate as v
from .svd_dynamics import reach_times
from .training import IntegrationError

_MODES = string.ascii_lowercase[
    :25
]  # einsum letters of the tensor modes; "z" is the component axis
_MAX_ORDER = len(_MODES)


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


def _shape(name: str, value) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(
            f"{name} must be a sequence of at least 2 positive integers, got {value!r}"
        )
    if not 2 <= len(value) <= _MAX_ORDER:
        raise ValueError(
            f"{name} must have between 2 and {_MAX_ORDER} entries (the tensor order), got {len(value)}"
        )
    return tuple(v.positive_int(f"{name}[{n}]", d) for n, d in enumerate(value))


def _factors(name: str, value, shape: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """A list of at least 2 finite matrices with the same number of columns (components)."""
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence):
        raise ValueError(
            f"{name} must be a list of factor matrices [A_1, ..., A_N] of shapes (d_n, R), "
            f"got {type(value).__name__}"
        )
    if not 2 <= len(value) <= _MAX_ORDER:
        raise ValueError(
            f"{name} must hold between 2 and {_MAX_ORDER} factor matrices, got {len(value)}"
        )
    mats = [v.matrix(f"{name}[{n}]", A) for n, A in enumerate(value)]
    R = mats[0].shape[1]
    for n, A in enumerate(mats):
        if A.shape[1] != R:
            raise ValueError(
                f"{name}: every factor matrix needs the same number of columns (components); "
                f"{name}[0] has {R}, {name}[{n}] has {A.shape[1]}"
            )
    if shape is not None:
        got = tuple(A.shape[0] for A in mats)
        if got != shape:
            raise ValueError(f"{name} must have row counts {shape} (the tensor shape), got {got}")
    return mats


def _tensor(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real array of shape {shape}") from exc
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite entries (no NaN or inf)")
    return arr


def _any_tensor(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real array of order >= 2") from exc
    if arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty array of order >= 2, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite entries (no NaN or inf)")
    return arr


# --------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------


def cp_tensor(factors) -> np.ndarray:
    """The tensor ``sum_r a_r^(1) ⊗ ... ⊗ a_r^(N)`` of factor matrices ``[A_1, ..., A_N]``.

    Parameters
    ----------
    factors : list of N arrays of shapes (d_n, R)

    Returns
    -------
    array of shape (d_1, ..., d_N)
    """
    mats = _factors("factors", factors)
    modes = _MODES[: len(mats)]
    spec = ",".join(f"{m}z" for m in modes) + "->" + modes
    return np.einsum(spec, *mats, optimize=True)


def component_norms(factors) -> np.ndarray:
    """``||a_r^(1) ⊗ ... ⊗ a_r^(N)||_F = prod_n ||a_r^(n)||`` for every component r, shape (R,)."""
    mats = _factors("factors", factors)
    return np.prod([np.linalg.norm(A, axis=0) for A in mats], axis=0)


def balanced(factors) -> list[np.ndarray]:
    """The same tensor with every component's factors rescaled to equal norms.

    Component r keeps its direction in each mode and its norm ``rho_r = prod_n ||a_r^(n)||``; each of its
    factors gets norm ``rho_r^(1/N)``. Components with a zero factor are set to zero in every mode.
    """
    mats = _factors("factors", factors)
    norms = np.array([np.linalg.norm(A, axis=0) for A in mats])  # (N, R)
    target = np.prod(norms, axis=0) ** (1.0 / len(mats))
    out = []
    for A, nrm in zip(mats, norms, strict=True):
        scale = np.divide(target, nrm, out=np.zeros_like(nrm), where=nrm > 0)
        out.append(A * scale)
    return out


def random_factors(shape, components: int, scale: float, rng=None) -> list[np.ndarray]:
    """Factor matrices with independent ``N(0, scale^2)`` entries (the "init std" of Razin et al.).

    Parameters
    ----------
    shape : sequence of N >= 2 positive integers (d_1, ..., d_N)
    components : int
        R, the number of components.
    scale : float
        Standard deviation of every entry (> 0).
    rng : numpy.random.Generator, int seed or None
    """
    dims = _shape("shape", shape)
    R = v.positive_int("components", components)
    scale = v.real("scale", scale, low=0.0, strict_low=True)
    gen = v.rng(rng)
    return [scale * gen.standard_normal((d, R)) for d in dims]


def low_rank_tensor(
    shape, rank: int, rng=None, frobenius: float | None = None, weights=None
) -> np.ndarray:
    """A random tensor of CP rank at most ``rank``, rescaled to Frobenius norm ``frobenius`` (default
    ``sqrt(d_1 ... d_N)``, so that entries have root-mean-square 1, the convention of
    :func:`linnet_lib.sensing.low_rank_target`).

    Without ``weights`` the ``rank`` components have independent standard Gaussian factors, so their
    norms are random. With ``weights`` (``rank`` positive numbers), component r is
    ``w_r u_r^(1) ⊗ ... ⊗ u_r^(N)`` with each ``u_r^(n)`` a uniformly random unit vector, so the
    components' norms before the final rescaling are the weights. For ``rank`` no larger than the
    dimensions, the rank is exactly ``rank`` with probability one.
    """
    dims = _shape("shape", shape)
    rank = v.positive_int("rank", rank)
    if rank > min(dims):
        raise ValueError(f"rank must be at most min(shape) = {min(dims)}, got {rank}")
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != (rank,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"weights must be {rank} positive finite numbers, got {weights!r}")
    gen = v.rng(rng)
    mats = [gen.standard_normal((d, rank)) for d in dims]
    if weights is not None:
        mats = [A / np.linalg.norm(A, axis=0) for A in mats]
        mats[0] = mats[0] * w
    T = cp_tensor(mats)
    norm = (
        np.sqrt(float(np.prod(dims)))
        if frobenius is None
        else v.real("frobenius", frobenius, low=0.0, strict_low=True)
    )
    return T * norm / np.linalg.norm(T)


def network_output(factors, inputs) -> np.ndarray:
    """The shallow arithmetic network that the CP factorisation defines, on a batch of inputs.

    An input is a tuple of N vectors ``x^(n)`` of length ``d_n``; hidden unit r computes the N linear
    maps ``<a_r^(n), x^(n)>`` and multiplies them (product pooling), and the output sums the R units:
    ``f(x) = sum_r prod_n <a_r^(n), x^(n)> = <W, x^(1) ⊗ ... ⊗ x^(N)>``.

    Parameters
    ----------
    factors : list of N arrays of shapes (d_n, R)
    inputs : list of N arrays of shapes (m, d_n)
        ``inputs[n][k]`` is the n-th vector of input k.

    Returns
    -------
    array of shape (m,)
    """
    mats = _factors("factors", factors)
    if (
        isinstance(inputs, np.ndarray)
        or not isinstance(inputs, Sequence)
        or len(inputs) != len(mats)
    ):
        raise ValueError(f"inputs must be a list of {len(mats)} arrays of shapes (m, d_n)")
    xs = [
        v.matrix(f"inputs[{n}]", x, shape=(None, A.shape[0]))
        for n, (x, A) in enumerate(zip(inputs, mats, strict=True))
    ]
    m = xs[0].shape[0]
    for n, x in enumerate(xs):
        if x.shape[0] != m:
            raise ValueError(f"inputs[{n}] must have {m} rows like inputs[0], got {x.shape[0]}")
    hidden = np.prod([np.einsum("ki,iz->kz", x, A) for x, A in zip(xs, mats, strict=True)], axis=0)
    return hidden.sum(axis=1)


# --------------------------------------------------------------------------------------------------
# tensor completion
# --------------------------------------------------------------------------------------------------


def _products_of_the_others(rows: list[np.ndarray]) -> list[np.ndarray]:
    """``others[n]`` = the elementwise product of every array of ``rows`` but the n-th (N >= 2 arrays).

    Built from prefix and suffix products in a fixed order, so no division by zero and the same rounding
    wherever it is used (the single-problem gradient and the batched descent).
    """
    N = len(rows)
    prefix = [None, rows[0]]
    for n in range(1, N - 1):
        prefix.append(prefix[-1] * rows[n])
    suffix = [None] * N
    suffix[N - 2] = rows[N - 1]
    for n in range(N - 3, -1, -1):
        suffix[n] = suffix[n + 1] * rows[n + 1]
    return [suffix[0]] + [prefix[n] if n == N - 1 else prefix[n] * suffix[n] for n in range(1, N)]


class TensorCompletionLoss:
    """Tensor completion: ``l(W) = 1/(2m) sum_k (W[i_k] - y_k)^2`` over m observed entries.

    The loss is defined both on a full tensor ``W`` (:meth:`value`, :meth:`grad`) and on CP factors
    (:meth:`factor_value`, :meth:`factor_grads`), where it is evaluated from the observed entries alone.

    Parameters
    ----------
    shape : sequence of N >= 2 positive integers
    indices : integer array of shape (m, N)
        Row k is the multi-index ``i_k`` of an observed entry; the m entries are distinct.
    values : array of shape (m,)
        The observed values ``y_k``.
    """

    def __init__(self, shape, indices, values):
        self.shape = _shape("shape", shape)
        N = len(self.shape)
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[1] != N or idx.shape[0] == 0:
            raise ValueError(
                f"indices must be a non-empty integer array of shape (m, {N}), got shape {idx.shape}"
            )
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be an integer array, got dtype {idx.dtype}")
        if np.any(idx < 0) or np.any(idx >= np.array(self.shape)):
            raise ValueError(f"indices must index entries of a tensor of shape {self.shape}")
        flat = np.ravel_multi_index(tuple(idx.T), self.shape)
        if np.unique(flat).size != flat.size:
            raise ValueError("indices must name distinct entries")
        y = np.asarray(values, dtype=float)
        if y.shape != (idx.shape[0],) or not np.all(np.isfinite(y)):
            raise ValueError(
                f"values must be a finite vector of length m = {idx.shape[0]}, got shape {y.shape}"
            )
        self.indices = idx.astype(np.intp)
        self.values = y
        self.count = y.size
        self._flat = flat
        self._scatter: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def observe(cls, target, count: int, rng=None) -> TensorCompletionLoss:
        """Observe ``count`` entries of ``target`` chosen uniformly without replacement."""
        T = _any_tensor("target", target)
        count = v.positive_int("count", count)
        if count > T.size:
            raise ValueError(f"count must be at most the number of entries {T.size}, got {count}")
        gen = v.rng(rng)
        flat = gen.choice(T.size, size=count, replace=False)
        idx = np.stack(np.unravel_index(flat, T.shape), axis=1)
        return cls(T.shape, idx, T.reshape(-1)[flat])

    def mask(self) -> np.ndarray:
        """Boolean tensor, True at the observed entries."""
        M = np.zeros(self.shape, dtype=bool)
        M.reshape(-1)[self._flat] = True
        return M

    # ---- on full tensors ------------------------------------------------------------------------
    def value(self, W) -> float:
        """The loss at a full tensor ``W``."""
        W = _tensor("W", W, self.shape)
        r = W.reshape(-1)[self._flat] - self.values
        return float(0.5 * np.dot(r, r) / self.count)

    def grad(self, W) -> np.ndarray:
        """The gradient at a full tensor ``W``: residual / m at observed entries, zero elsewhere."""
        W = _tensor("W", W, self.shape)
        G = np.zeros(W.size)
        G[self._flat] = (W.reshape(-1)[self._flat] - self.values) / self.count
        return G.reshape(self.shape)

    # ---- on CP factors --------------------------------------------------------------------------
    def _rows(self, mats) -> list[np.ndarray]:
        return [A[self.indices[:, n]] for n, A in enumerate(mats)]  # N arrays (m, R)

    def _check_factors(self, factors) -> list[np.ndarray]:
        return _factors("factors", factors, shape=self.shape)

    def residuals(self, factors) -> np.ndarray:
        """``W[i_k] - y_k`` for every observation, with ``W`` the CP tensor of ``factors``."""
        rows = self._rows(self._check_factors(factors))
        return np.prod(rows, axis=0).sum(axis=1) - self.values

    def factor_value(self, factors) -> float:
        """The loss at the CP tensor of ``factors``."""
        r = self.residuals(factors)
        return float(0.5 * np.dot(r, r) / self.count)

    def factor_grads(self, factors) -> list[np.ndarray]:
        """Gradients of ``factor_value`` with respect to each factor matrix (shapes (d_n, R)).

        By the chain rule, the gradient for ``A_n`` is the full-tensor gradient contracted with the
        other factors on their modes; only observed entries contribute, so with
        ``P_k = prod_{n' != n} A_{n'}[i_{k n'}, :]`` it is ``(1/m) sum_k r_k e_{i_{kn}} P_k``.
        """
        mats = self._check_factors(factors)
        return self._grads(mats)[1]

    def _scatter_index(self, n: int, R: int) -> np.ndarray:
        """Flat positions ``i_{kn} R + z`` of every (observation, component) pair in a ``(d_n, R)``
        array, cached per ``R``: the gradient of mode n is one ``np.bincount`` over them (a sum in a
        fixed order, so the result does not depend on the BLAS kernel)."""
        key = (n, R)
        if key not in self._scatter:
            self._scatter[key] = (self.indices[:, n][:, None] * R + np.arange(R)).ravel()
        return self._scatter[key]

    def _grads(self, mats) -> tuple[np.ndarray, list[np.ndarray]]:
        rows = self._rows(mats)
        R = rows[0].shape[1]
        others = _products_of_the_others(rows)
        full = others[0] * rows[0]
        r = full.sum(axis=1) - self.values
        weighted = (r / self.count)[:, None]
        grads = [
            np.bincount(
                self._scatter_index(n, R),
                weights=(weighted * others[n]).ravel(),
                minlength=d * R,
            ).reshape(d, R)
            for n, d in enumerate(self.shape)
        ]
        return r, grads

    def component_push(self, factors) -> np.ndarray:
        """``<-grad l(W), W_r / ||W_r||>`` for every component r (NaN for a zero component): how much
        the loss wants component r to grow along its own direction."""
        mats = self._check_factors(factors)
        rows = self._rows(mats)
        full = np.prod(rows, axis=0)
        r = full.sum(axis=1) - self.values
        inner = -np.einsum("k,kz->z", r, full) / self.count  # <-grad l(W), W_r>
        norms = component_norms(mats)
        return np.divide(inner, norms, out=np.full_like(inner, np.nan), where=norms > 0)


def relative_error(W, target, mask=None) -> float:
    """``||W - target|| / ||target||`` over the entries where ``mask`` is True (all entries if None)."""
    T = _any_tensor("target", target)
    W = _tensor("W", W, T.shape)
    if mask is None:
        sel = np.ones(T.shape, dtype=bool)
    else:
        sel = np.asarray(mask)
        if sel.shape != T.shape or sel.dtype != bool:
            raise ValueError(f"mask must be a boolean array of shape {T.shape}")
    denom = np.linalg.norm(T[sel])
    if denom == 0:
        raise ValueError("target must be non-zero on the selected entries")
    return float(np.linalg.norm((W - T)[sel]) / denom)


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------


@dataclass
class TensorRun:
    """A gradient descent run of a CP model, recorded every few steps.

    Attributes
    ----------
    steps : (T,) int array
        Step indices of the records (0 is the initialisation; the last is the final step).
    component_norms : (T, R) array
        ``prod_n ||a_r^(n)||`` for every component at every record.
    loss : (T,) array
        Training loss (observed entries).
    error : (T,) array or None
        Relative reconstruction error on all entries (if a target was given).
    unobserved_error : (T,) array or None
        Relative error on the unobserved entries (if a target was given).
    factors : list of (d_n, R) arrays
        The factors after the last step.
    diverged : bool
        True if the loss became non-finite; recording stopped just before.
    """

    steps: np.ndarray
    component_norms: np.ndarray
    loss: np.ndarray
    error: np.ndarray | None
    unobserved_error: np.ndarray | None
    factors: list[np.ndarray]
    diverged: bool = False


def gradient_descent(
    loss: TensorCompletionLoss,
    factors,
    lr: float,
    steps: int,
    *,
    record_every: int = 10,
    target=None,
) -> TensorRun:
    """Plain gradient descent ``A_n <- A_n - lr * dl/dA_n`` (all modes at once) for ``steps`` steps.

    Parameters
    ----------
    loss : TensorCompletionLoss
    factors : list of N arrays of shapes (d_n, R)
        The initialisation (not modified).
    lr : float
        Step size (> 0).
    steps : int
        Number of steps (>= 1).
    record_every : int
        Record every this many steps (and always the initial and final steps).
    target : array of the loss's shape, optional
        Ground truth, to record the relative reconstruction errors.
    """
    if not isinstance(loss, TensorCompletionLoss):
        raise ValueError(f"loss must be a TensorCompletionLoss, got {type(loss).__name__}")
    mats = [A.copy() for A in loss._check_factors(factors)]
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps)
    record_every = v.positive_int("record_every", record_every)
    T = None if target is None else _tensor("target", target, loss.shape)
    unobserved = None if T is None else ~loss.mask()
    if unobserved is not None and not unobserved.any():
        unobserved = None

    rec_steps, rec_norms, rec_loss, rec_err, rec_unobs = [], [], [], [], []

    def record(k: int, r: np.ndarray) -> None:
        rec_steps.append(k)
        rec_norms.append(component_norms(mats))
        rec_loss.append(0.5 * np.dot(r, r) / loss.count)
        if T is not None:
            W = cp_tensor(mats)
            rec_err.append(relative_error(W, T))
            rec_unobs.append(np.nan if unobserved is None else relative_error(W, T, unobserved))

    diverged = False
    for k in range(steps + 1):
        r, grads = loss._grads(mats)
        if not np.all(np.isfinite(r)):
            diverged = True
            break
        if k % record_every == 0 or k == steps:
            record(k, r)
        if k == steps:
            break
        for A, G in zip(mats, grads, strict=True):
            A -= lr * G
    return TensorRun(
        steps=np.array(rec_steps, dtype=int),
        component_norms=np.array(rec_norms),
        loss=np.array(rec_loss),
        error=None if T is None else np.array(rec_err),
        unobserved_error=None if T is None else np.array(rec_unobs),
        factors=mats,
        diverged=diverged,
    )


def gradient_flow(
    loss: TensorCompletionLoss, factors, t_eval, *, rtol: float = 1e-10, atol: float = 1e-12
) -> list[np.ndarray]:
    """Gradient flow ``dA_n/dt = -dl/dA_n`` solved by ``scipy.integrate.solve_ivp`` (DOP853).

    Parameters
    ----------
    loss : TensorCompletionLoss
    factors : list of N arrays of shapes (d_n, R)
        The state at time ``t_eval[0]``.
    t_eval : increasing 1-D array of times (at least 2)
    rtol, atol : solver tolerances

    Returns
    -------
    list of N arrays of shapes (T, d_n, R): the factors at every time of ``t_eval``.
    """
    if not isinstance(loss, TensorCompletionLoss):
        raise ValueError(f"loss must be a TensorCompletionLoss, got {type(loss).__name__}")
    mats = loss._check_factors(factors)
    t = np.asarray(t_eval, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError(
            "t_eval must be a strictly increasing 1-D array of at least 2 finite times"
        )
    rtol = v.real("rtol", rtol, low=0.0, strict_low=True)
    atol = v.real("atol", atol, low=0.0, strict_low=True)
    shapes = [A.shape for A in mats]
    sizes = np.cumsum([0] + [A.size for A in mats])

    def unpack(y):
        return [y[sizes[n] : sizes[n + 1]].reshape(s) for n, s in enumerate(shapes)]

    def rhs(_t, y):
        return -np.concatenate([G.ravel() for G in loss._grads(unpack(y))[1]])

    y0 = np.concatenate([A.ravel() for A in mats])
    sol = solve_ivp(rhs, (t[0], t[-1]), y0, t_eval=t, method="DOP853", rtol=rtol, atol=atol)
    if not sol.success or sol.y.shape[1] != t.size:
        raise IntegrationError(f"gradient flow did not reach t = {t[-1]}: {sol.message}")
    Y = sol.y.T
    return [Y[:, sizes[n] : sizes[n + 1]].reshape(t.size, *s) for n, s in enumerate(shapes)]


# --------------------------------------------------------------------------------------------------
# reading a run
# --------------------------------------------------------------------------------------------------


def component_rate(norms, push, order: int) -> np.ndarray:
    """``N * rho^(2 - 2/N) * push``: the speed of a component norm ``rho`` under gradient flow from a
    balanced start (the book's balanced form of the dynamics that Razin, Maman & Cohen 2021 analyse),
    elementwise; ``order`` is N."""
    N = v.positive_int("order", order)
    rho = np.asarray(norms, dtype=float)
    p = np.asarray(push, dtype=float)
    if rho.shape != p.shape:
        raise ValueError(f"norms and push must have the same shape, got {rho.shape} and {p.shape}")
    if np.any(rho < 0):
        raise ValueError("norms must be non-negative")
    return N * rho ** (2.0 - 2.0 / N) * p


def component_rate_from_factors(factors, push) -> np.ndarray:
    """The speed of every component norm under gradient flow from *any* start (balanced or not):
    ``rho_r^2 * push_r * sum_n ||a_r^(n)||^(-2)``, shape (R,).

    Each squared factor norm moves at ``d/dt ||a_r^(n)||^2 = 2 <-grad l(W), W_r> = 2 rho_r push_r``, the
    same for every mode, and ``rho_r`` is the product of the factor norms. From a balanced start
    (``||a_r^(n)||^2 = rho_r^(2/N)``) this is :func:`component_rate`; otherwise the sum exceeds
    ``N rho_r^(-2/N)`` (arithmetic against geometric mean). ``push`` is
    :meth:`TensorCompletionLoss.component_push` (or the same projection for any differentiable loss).
    Components with a zero factor get NaN.
    """
    mats = _factors("factors", factors)
    p = np.asarray(push, dtype=float)
    R = mats[0].shape[1]
    if p.shape != (R,):
        raise ValueError(f"push must have shape ({R},), one number per component, got {p.shape}")
    sq = np.array([np.sum(A**2, axis=0) for A in mats])  # (N, R)
    rho = np.sqrt(np.prod(sq, axis=0))
    ok = np.all(sq > 0, axis=0)
    inv = np.sum(1.0 / np.where(sq > 0, sq, 1.0), axis=0)
    return np.where(ok, rho**2 * p * inv, np.nan)


def count_above(norms, threshold: float) -> np.ndarray | int:
    """How many components have norm above ``threshold``: an int for norms of shape (R,), an int
    array of shape (T,) for norms of shape (T, R)."""
    a = np.asarray(norms, dtype=float)
    if a.ndim not in (1, 2) or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(
            f"norms must be a finite array of shape (R,) or (T, R), got shape {a.shape}"
        )
    threshold = v.real("threshold", threshold, low=0.0)
    counts = np.sum(a > threshold, axis=-1)
    return int(counts) if a.ndim == 1 else counts.astype(int)


def crossing_steps(
    steps, norms, top: int, fraction: float = 0.5, *, from_start: bool = False
) -> np.ndarray:
    """For the ``top`` components of largest final norm (largest first), the first step at which each
    reaches ``fraction`` of its final norm (linear interpolation between records).

    With ``from_start=True`` the fraction is of the component's *rise*: the first step at which
    ``rho(t) - rho(0)`` reaches ``fraction * (rho(end) - rho(0))``, so that a component that starts at a
    sizeable norm is not counted as having risen at step 0. Components that end no larger than they
    started have no rise and get NaN.
    """
    s = np.asarray(steps, dtype=float)
    a = np.asarray(norms, dtype=float)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"norms must be an array of shape (T, R) with T >= 2, got shape {a.shape}")
    if s.shape != (a.shape[0],):
        raise ValueError(f"steps must be a 1-D array of length {a.shape[0]}, got shape {s.shape}")
    top = v.positive_int("top", top)
    if top > a.shape[1]:
        raise ValueError(f"top must be at most the number of components {a.shape[1]}, got {top}")
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, numbers.Real)
        or not 0 < fraction <= 1
    ):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    order = np.argsort(a[-1])[::-1][:top]
    chosen = a[:, order]
    if not from_start:
        return reach_times(s, chosen, fraction)
    rise = chosen - chosen[0]
    out = reach_times(s, rise, fraction)
    out[rise[-1] <= 0] = np.nan
    return out


def level_steps(steps, norms, components, levels) -> np.ndarray:
    """For each index in ``components`` (columns of ``norms``, shape ``(T, R)``), the first step at which
    its norm reaches the matching entry of ``levels``, by linear interpolation between records; NaN if
    it never does (or already starts at or above it, then the first record's step)."""
    s = np.asarray(steps, dtype=float)
    a = np.asarray(norms, dtype=float)
    if a.ndim != 2 or a.shape[0] < 1 or not np.all(np.isfinite(a)):
        raise ValueError(f"norms must be a finite array of shape (T, R), got shape {a.shape}")
    if s.shape != (a.shape[0],):
        raise ValueError(f"steps must be a 1-D array of length {a.shape[0]}, got shape {s.shape}")
    comps = [v.positive_int(f"components[{i}]", c, minimum=0) for i, c in enumerate(components)]
    if any(c >= a.shape[1] for c in comps):
        raise ValueError(f"components must be column indices below {a.shape[1]}, got {comps}")
    lv = np.asarray(levels, dtype=float)
    if lv.shape != (len(comps),) or not np.all(np.isfinite(lv)):
        raise ValueError(f"levels must be {len(comps)} finite numbers, one per component")
    return np.array([_first_reach(s, a[:, c], level) for c, level in zip(comps, lv, strict=True)])


def _first_reach(s: np.ndarray, x: np.ndarray, level: float) -> float:
    above = np.nonzero(x >= level)[0]
    if above.size == 0:
        return np.nan
    k = above[0]
    if k == 0:
        return float(s[0])
    return float(s[k - 1] + (level - x[k - 1]) / (x[k] - x[k - 1]) * (s[k] - s[k - 1]))


def staircase_margin(steps, norms, top: int) -> float:
    """How clearly the ``top`` largest components (by final norm) are learned one at a time.

    Call the rise of a component the stretch between the first steps at which it has covered 10% and
    90% of the way from its initial to its final norm (:func:`crossing_steps` with
    ``from_start=True``; from a small start this is 10% and 90% of the final norm). Order the
    components by the step at which they have covered half the way, and return the smallest gap
    ``t_10(next) - t_90(previous)`` between consecutive rises. Positive: the rises are disjoint, each
    component had done 90% of its rise before the next had done 10% of its own; zero or negative:
    they overlapped. NaN if a component did not grow or a crossing is missing.
    """
    top = v.positive_int("top", top, minimum=2)
    t10, t50, t90 = (crossing_steps(steps, norms, top, f, from_start=True) for f in (0.1, 0.5, 0.9))
    order = np.argsort(t50)
    return float(np.min(t10[order][1:] - t90[order][:-1]))


def gradient_descent_batch(
    losses: Sequence[TensorCompletionLoss],
    factors: Sequence,
    lr: float,
    steps: int,
    *,
    record_every: int = 10,
    targets: Sequence | None = None,
) -> list[TensorRun]:
    """:func:`gradient_descent` on several completion problems at once, one run per problem.

    The problems must share the tensor shape, the number of observations and the number of
    components; each keeps its own observations, start and records, and the iterates are those of
    :func:`gradient_descent` on each problem alone (the gradient sums are taken in the same order),
    only the Python work of a step is shared. A problem whose loss becomes non-finite stops being
    updated and recorded and is flagged ``diverged``, as in :func:`gradient_descent`.

    Parameters
    ----------
    losses : sequence of TensorCompletionLoss
    factors : sequence of starts, one list of N factor matrices (d_n, R) per problem
    lr, steps, record_every : as in :func:`gradient_descent`
    targets : sequence of ground-truth tensors (one per problem), optional
    """
    if isinstance(losses, TensorCompletionLoss) or not isinstance(losses, Sequence) or not losses:
        raise ValueError("losses must be a non-empty sequence of TensorCompletionLoss")
    for k, loss in enumerate(losses):
        if not isinstance(loss, TensorCompletionLoss):
            raise ValueError(
                f"losses[{k}] must be a TensorCompletionLoss, got {type(loss).__name__}"
            )
        if loss.shape != losses[0].shape or loss.count != losses[0].count:
            raise ValueError(
                f"losses[{k}] must have the shape {losses[0].shape} and {losses[0].count} "
                "observations of losses[0]"
            )
    S, shape, m = len(losses), losses[0].shape, losses[0].count
    if not isinstance(factors, Sequence) or len(factors) != S:
        raise ValueError(f"factors must hold one start per problem ({S})")
    starts = [loss._check_factors(f) for loss, f in zip(losses, factors, strict=True)]
    R = starts[0][0].shape[1]
    if any(f[0].shape[1] != R for f in starts):
        raise ValueError("every start must have the same number of components")
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps)
    record_every = v.positive_int("record_every", record_every)
    if targets is not None:
        if not isinstance(targets, Sequence) or len(targets) != S:
            raise ValueError(f"targets must hold one tensor per problem ({S})")
        Ts = [_tensor(f"targets[{k}]", T, shape) for k, T in enumerate(targets)]
        unobserved = [~loss.mask() for loss in losses]
    N = len(shape)
    mats = [np.array([f[n] for f in starts]) for n in range(N)]  # (S, d_n, R)
    idx = np.array([loss.indices for loss in losses])  # (S, m, N)
    values = np.array([loss.values for loss in losses])  # (S, m)
    which = np.arange(S)[:, None]
    gather = [(which * d + idx[:, :, n]).ravel() for n, d in enumerate(shape)]
    scatter = [
        ((which * d + idx[:, :, n])[:, :, None] * R + np.arange(R)).ravel()
        for n, d in enumerate(shape)
    ]
    alive = np.ones(S, dtype=bool)
    recs: list[dict[str, list]] = [
        {"steps": [], "norms": [], "loss": [], "error": [], "unobs": []} for _ in range(S)
    ]

    def record(k: int, r: np.ndarray) -> None:
        norms = np.prod([np.linalg.norm(A, axis=1) for A in mats], axis=0)  # (S, R)
        for s in np.nonzero(alive)[0]:
            rec = recs[s]
            rec["steps"].append(k)
            rec["norms"].append(norms[s])
            rec["loss"].append(0.5 * np.dot(r[s], r[s]) / m)
            if targets is not None:
                W = cp_tensor([A[s] for A in mats])
                rec["error"].append(relative_error(W, Ts[s]))
                rec["unobs"].append(
                    relative_error(W, Ts[s], unobserved[s]) if unobserved[s].any() else np.nan
                )

    for k in range(steps + 1):
        rows = [  # N arrays (S, m, R): the factor rows of every observed entry
            np.take(A.reshape(-1, R), gather[n], axis=0).reshape(S, m, R)
            for n, A in enumerate(mats)
        ]
        others = _products_of_the_others(rows)
        r = (others[0] * rows[0]).sum(axis=2) - values
        bad = alive & ~np.all(np.isfinite(r), axis=1)
        alive &= ~bad
        if not alive.any():
            break
        if k % record_every == 0 or k == steps:
            record(k, r)
        if k == steps:
            break
        weighted = np.where(alive[:, None], r / m, 0.0)[:, :, None]
        for n, d in enumerate(shape):
            grad = np.bincount(
                scatter[n], weights=(weighted * others[n]).ravel(), minlength=S * d * R
            ).reshape(S, d, R)
            mats[n] -= lr * grad
    runs = []
    for s in range(S):
        rec = recs[s]
        runs.append(
            TensorRun(
                steps=np.array(rec["steps"], dtype=int),
                component_norms=np.array(rec["norms"]),
                loss=np.array(rec["loss"]),
                error=None if targets is None else np.array(rec["error"]),
                unobserved_error=None if targets is None else np.array(rec["unobs"]),
                factors=[A[s].copy() for A in mats],
                diverged=not alive[s],
            )
        )
    return runs


def _experiment_problem(shape, weights, count: int, components: int, scale: float, seed: int):
    seed = v.positive_int("seed", seed, minimum=0)
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(
            f"weights must be a non-empty 1-D sequence of positive numbers, got {weights!r}"
        )
    gens = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    target = low_rank_tensor(shape, w.size, rng=gens[0], weights=w)
    loss = TensorCompletionLoss.observe(target, count, rng=gens[1])
    init = random_factors(shape, components, scale, rng=gens[2])
    return target, loss, init


def completion_experiment(
    shape,
    weights,
    count: int,
    *,
    components: int = 10,
    scale: float = 0.01,
    lr: float = 2.0,
    steps: int = 12000,
    record_every: int = 20,
    seed: int = 0,
) -> tuple[TensorRun, np.ndarray, TensorCompletionLoss]:
    """Complete a random low-rank tensor with a CP model trained by gradient descent.

    The target is :func:`low_rank_tensor` with the given component ``weights`` (its rank is their
    number), ``count`` entries are observed uniformly at random, and the CP model with ``components``
    components starts from :func:`random_factors` with standard deviation ``scale``. Target,
    observations and initial directions come from three independent streams spawned from ``seed``, so
    changing ``scale`` rescales the same initial factors and changing ``count`` keeps the same target
    and initial factors. :func:`completion_experiments` runs several at once.

    Returns
    -------
    run, target, loss
    """
    target, loss, init = _experiment_problem(shape, weights, count, components, scale, seed)
    run = gradient_descent(loss, init, lr, steps, record_every=record_every, target=target)
    return run, target, loss


def completion_experiments(
    shape,
    weights,
    count: int,
    settings: Sequence[tuple[float, int]],
    *,
    components: int = 10,
    lr: float = 2.0,
    steps: int = 12000,
    record_every: int = 20,
) -> list[tuple[TensorRun, np.ndarray, TensorCompletionLoss]]:
    """:func:`completion_experiment` for several ``(scale, seed)`` settings, trained together by
    :func:`gradient_descent_batch` (the same runs, a fraction of the time). Returns one
    ``(run, target, loss)`` per setting, in order."""
    if isinstance(settings, (str, bytes)) or not isinstance(settings, Sequence) or not settings:
        raise ValueError("settings must be a non-empty sequence of (scale, seed) pairs")
    problems = []
    for k, setting in enumerate(settings):
        if not isinstance(setting, Sequence) or len(setting) != 2:
            raise ValueError(f"settings[{k}] must be a pair (scale, seed), got {setting!r}")
        scale = v.real(f"settings[{k}] scale", setting[0], low=0.0, strict_low=True)
        problems.append(_experiment_problem(shape, weights, count, components, scale, setting[1]))
    runs = gradient_descent_batch(
        [p[1] for p in problems],
        [p[2] for p in problems],
        lr,
        steps,
        record_every=record_every,
        targets=[p[0] for p in problems],
    )
    return [(run, p[0], p[1]) for run, p in zip(runs, problems, strict=True)]


def plot_component_norms(ax, run: TensorRun, *, threshold: float | None = None, title: str = ""):
    """Every component norm of ``run`` against the step, largest final norm first (coloured lines for
    the components that end above ``threshold``, thin grey lines for the rest)."""
    if not isinstance(run, TensorRun):
        raise ValueError(f"run must be a TensorRun, got {type(run).__name__}")
    norms = run.component_norms
    order = np.argsort(norms[-1])[::-1]
    cut = -np.inf if threshold is None else v.real("threshold", threshold, low=0.0)
    grey_label = "other components"
    for rank, r in enumerate(order):
        if norms[-1, r] > cut:
            ax.plot(run.steps, norms[:, r], lw=1.8, label=f"component {rank + 1}")
        else:
            ax.plot(run.steps, norms[:, r], color="0.6", lw=0.8, label=grey_label)
            grey_label = None
    if threshold is not None:
        ax.axhline(threshold, color="0.3", ls=":", lw=0.8, label="10% of the largest")
    ax.set_xlabel("gradient descent step")
    ax.set_ylabel(r"component norm $\rho_r$")
    if title:
        ax.set_title(title)
    ax.legend(loc="center right", fontsize=8)


def plot_count_and_error(ax, run: TensorRun, threshold: float, *, label: str = ""):
    """The number of components above ``threshold`` (steps, left axis) and the relative error on the
    unobserved entries (right axis, log scale) against the gradient descent step."""
    if not isinstance(run, TensorRun):
        raise ValueError(f"run must be a TensorRun, got {type(run).__name__}")
    if run.unobserved_error is None:
        raise ValueError("run must have been recorded with a target (unobserved_error is None)")
    counts = count_above(run.component_norms, threshold)
    suffix = f" ({label})" if label else ""
    ax.step(
        run.steps, counts, where="post", color="C0", label="components above threshold" + suffix
    )
    ax.set_xlabel("gradient descent step")
    ax.set_ylabel("components above threshold")
    ax.set_ylim(0, run.component_norms.shape[1] + 0.5)
    twin = ax.twinx()
    twin.semilogy(
        run.steps,
        run.unobserved_error,
        color="C3",
        ls="--",
        label="error on unobserved entries" + suffix,
    )
    twin.set_ylabel("relative error, unobserved entries")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    return twin
