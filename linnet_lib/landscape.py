"""The loss landscape of linear networks on least squares (Eftekhari 2020, section 2): stationary
points of the layer objective, the bottleneck, rank-constrained regression and its PCA reduction.

Conventions (Eftekhari's): ``X`` is ``d_x x m`` and ``Y`` is ``d_y x m`` (samples as columns), the
network ``[W_1, ..., W_N]`` has layer ``j`` of shape ``(d_j, d_{j-1})`` and the objective of problem
(6) is ``L_N = 1/2 ||Y - W_N ... W_1 X||_F^2`` (no ``1/m``). Parameters are flattened as in
:func:`linnet_lib.ch2.flatten` (layer 1 first, each layer row-major), so gradients and Hessians here
match ``ll.ch2.phi_gradient`` and ``ll.ch2.phi_hessian`` for ``ll.SquareLoss(X, Y)``.

A two-factor point ``(P, Q)`` of problem (10b) is stored as the two-layer network ``[Q, P]`` (layer 1
is ``Q``), and a point ``(P, Q')`` of the PCA problem (12) as the two-layer network ``[Q', P]`` on the
data ``(I_m, Y P_X)``: the same functions then give their gradients and Hessians.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from . import _validate as v
from .losses import _data
from .networks import balanced_init, end_to_end, layer_gradients, partial_products


def _network(weights, X, Y) -> list[np.ndarray]:
    layers = v.weights("weights", weights)
    if layers[0].shape[1] != X.shape[0] or layers[-1].shape[0] != Y.shape[0]:
        raise ValueError(
            f"weights must map R^{X.shape[0]} to R^{Y.shape[0]} (the rows of X and Y), got an "
            f"end-to-end shape ({layers[-1].shape[0]}, {layers[0].shape[1]})"
        )
    return layers


def as_widths(widths) -> list[int]:
    """Check a width tuple ``(d_0, d_1, ..., d_N)`` (at least two positive integers); return it as
    a list."""
    if isinstance(widths, np.ndarray):
        widths = widths.tolist()
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < 2:
        raise ValueError(
            f"widths must be a sequence (d_0, d_1, ..., d_N) of at least 2 widths, got {widths!r}"
        )
    return [v.positive_int(f"widths[{i}]", d) for i, d in enumerate(widths)]


def _rank(name: str, r, low: int = 0) -> int:
    return v.positive_int(name, r, minimum=low)


# ---------------------------------------------------------------------------------------------
# The bottleneck and the product map (equation 9, Appendix A)


def bottleneck(widths) -> int:
    """``r = min_j d_j`` over all widths ``(d_0, ..., d_N)``, input and output included (equation 9):
    the largest rank the end-to-end matrix of the network can have."""
    return min(as_widths(widths))


def widths_of(weights) -> list[int]:
    """The widths ``(d_0, d_1, ..., d_N)`` of a network ``[W_1, ..., W_N]``."""
    layers = v.weights("weights", weights)
    return [layers[0].shape[1], *[w.shape[0] for w in layers]]


def factorize(W, widths) -> list[np.ndarray]:
    """A network with the given widths whose product is ``W``: the induction of Appendix A.

    Write ``W = U (S V^T)`` (full SVD) and keep ``d_{N-1}`` columns of ``U`` (zero-padded if ``U`` has
    fewer) as the last layer and the matching rows of ``S V^T`` (zero-padded) as the product of the
    first ``N - 1`` layers, then recurse. The dropped rows are zero, so the product is ``W``, as long
    as ``rank W <= min_j d_j``; otherwise ``ValueError``.
    """
    W = v.matrix("W", W)
    dims = as_widths(widths)
    if (dims[-1], dims[0]) != W.shape:
        raise ValueError(
            f"widths must start with d_0 = {W.shape[1]} and end with d_N = {W.shape[0]} "
            f"(the shape of W), got {dims}"
        )
    U, s, Vt = np.linalg.svd(W)
    tol = max(W.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)
    rank = int(np.count_nonzero(s > tol))
    if rank > min(dims):
        raise ValueError(
            f"W has rank {rank}, above the bottleneck min(widths) = {min(dims)}: no network "
            "with these widths has W as its product"
        )
    if len(dims) == 2:
        return [W.copy()]
    d_out, d_prev = dims[-1], dims[-2]
    SVt = np.zeros((d_out, W.shape[1]))
    SVt[: s.size] = s[:, None] * Vt[: s.size]
    last = np.zeros((d_out, d_prev))
    rest = np.zeros((d_prev, W.shape[1]))
    k = min(d_out, d_prev)
    last[:, :k] = U[:, :k]
    rest[:k] = SVt[:k]
    return [*factorize(rest, dims[:-1]), last]


# ---------------------------------------------------------------------------------------------
# The layer objective of problem (6): value, gradient, exact Hessian, stationarity


def loss(weights, X, Y) -> float:
    """``L_N = 1/2 ||Y - W_N ... W_1 X||_F^2`` (problem 6)."""
    X, Y = _data(X, Y)
    layers = _network(weights, X, Y)
    R = end_to_end(layers) @ X - Y
    return 0.5 * float(np.sum(R * R))


def gradient(weights, X, Y) -> np.ndarray:
    """The gradient of ``L_N`` over all layer entries, one flat vector (Definition 2.1 asks it to
    vanish). Layer ``j`` gets ``W_{N:j+1}^T (W X - Y) X^T W_{j-1:1}^T``."""
    X, Y = _data(X, Y)
    layers = _network(weights, X, Y)
    G = (end_to_end(layers) @ X - Y) @ X.T
    return np.concatenate([g.ravel() for g in layer_gradients(layers, G)])


def _fast_gradient(layers, X, Y) -> np.ndarray:
    """:func:`gradient` without input checks, for the right-hand side of :func:`flow_limit`."""
    below = [np.eye(X.shape[0])]
    for w in layers[:-1]:
        below.append(w @ below[-1])
    back = (layers[-1] @ below[-1] @ X - Y) @ X.T  # W_{N:j+1}^T G, starting at j = N
    grads = [None] * len(layers)
    for j in range(len(layers) - 1, -1, -1):
        grads[j] = (back @ below[j].T).ravel()
        back = layers[j].T @ back
    return np.concatenate(grads)


def hessian(weights, X, Y) -> np.ndarray:
    """The exact Hessian of ``L_N`` over all layer entries (flattened as in :func:`gradient`).

    ``H = J^T J + C``: ``J`` is the Jacobian of ``vec(W X)`` (the Gauss-Newton part) and ``C`` pairs
    layers ``i < j`` through ``<G, W_{N:j+1} D_j W_{j-1:i+1} D_i W_{i-1:1}>`` with
    ``G = (W X - Y) X^T``; in entries, ``C[(j,c,d), (i,a,b)] = K[c, b] M[d, a]`` with
    ``K = W_{N:j+1}^T G W_{i-1:1}^T`` and ``M = W_{j-1:i+1}``.
    """
    X, Y = _data(X, Y)
    layers = _network(weights, X, Y)
    n = len(layers)
    below, above = partial_products(layers)
    G = (end_to_end(layers) @ X - Y) @ X.T
    blocks = [
        np.einsum("pc,dq->pqcd", above[j], below[j] @ X).reshape(Y.size, layers[j].size)
        for j in range(n)
    ]
    J = np.concatenate(blocks, axis=1)
    H = J.T @ J
    offsets = np.concatenate([[0], np.cumsum([w.size for w in layers])])
    for j in range(n):
        middle = np.eye(layers[j].shape[1])
        for i in range(j - 1, -1, -1):
            K = above[j].T @ G @ below[i].T
            block = np.einsum("cb,da->cdab", K, middle).reshape(layers[j].size, layers[i].size)
            H[offsets[j] : offsets[j + 1], offsets[i] : offsets[i + 1]] += block
            H[offsets[i] : offsets[i + 1], offsets[j] : offsets[j + 1]] += block.T
            middle = middle @ layers[i]
    return H


@dataclass(frozen=True)
class Stationarity:
    """Where a point stands in Definitions 2.1-2.3.

    ``gradient_norm`` is the Euclidean norm of the gradient, ``hessian_min`` the smallest eigenvalue
    of the Hessian, and ``kind`` one of ``'not stationary'`` (gradient above ``grad_tol``),
    ``'strict saddle'`` (an FOSP whose Hessian has an eigenvalue below ``-hess_tol``: Definition 2.3)
    or ``'second-order stationary'`` (an SOSP: Definition 2.2).
    """

    gradient_norm: float
    hessian_min: float
    kind: str


def stationarity(weights, X, Y, *, grad_tol: float = 1e-8, hess_tol: float = 1e-8) -> Stationarity:
    """Classify a network by Definitions 2.1-2.3, with the exact gradient and Hessian."""
    grad_tol = v.real("grad_tol", grad_tol, low=0.0)
    hess_tol = v.real("hess_tol", hess_tol, low=0.0)
    g = float(np.linalg.norm(gradient(weights, X, Y)))
    lam = float(np.linalg.eigvalsh(hessian(weights, X, Y))[0])
    if g > grad_tol:
        kind = "not stationary"
    elif lam < -hess_tol:
        kind = "strict saddle"
    else:
        kind = "second-order stationary"
    return Stationarity(g, lam, kind)


def flow_limit(X, Y, init, t_end: float, *, rtol: float = 1e-8, atol: float = 1e-12):
    """Gradient flow ``dW_j/dt = -dL_N/dW_j`` of every layer up to ``t_end``, with LSODA and the exact
    Hessian as Jacobian (the flow is stiff on non-whitened data). Returns the layers at ``t_end``.

    The tolerances bound the error of the path, not of the limit: where the flow ends is judged by
    the gradient and Hessian there (:func:`stationarity`)."""
    X, Y = _data(X, Y)
    layers = _network(init, X, Y)
    t_end = v.real("t_end", t_end, low=0.0, strict_low=True)
    shapes = [w.shape for w in layers]
    splits = np.cumsum([w.size for w in layers])[:-1]

    def unpack(theta):
        return [p.reshape(s) for p, s in zip(np.split(theta, splits), shapes, strict=True)]

    sol = solve_ivp(
        lambda _, th: -_fast_gradient(unpack(th), X, Y),
        (0.0, t_end),
        np.concatenate([w.ravel() for w in layers]),
        method="LSODA",
        jac=lambda _, th: -hessian(unpack(th), X, Y),
        rtol=v.real("rtol", rtol, low=0.0, strict_low=True),
        atol=v.real("atol", atol, low=0.0, strict_low=True),
    )
    if sol.status != 0:
        raise RuntimeError(f"gradient flow did not reach t = {t_end:g}: {sol.message}")
    return unpack(sol.y[:, -1])


# ---------------------------------------------------------------------------------------------
# Rank-constrained regression (10a), the two-factor problem (10b), the PCA problem (11)-(12)


def best_rank(M, r: int) -> np.ndarray:
    """``[M]_r``: the best rank-``r`` approximation of ``M`` (its truncated SVD; ``r = 0`` gives 0)."""
    M = v.matrix("M", M)
    r = _rank("r", r)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r]


def _inverse_sqrt(S) -> np.ndarray:
    lam, Q = np.linalg.eigh(S)
    if lam.min() <= 1e-12 * lam.max():
        raise ValueError("X must have full row rank (X X^T invertible)")
    return (Q / np.sqrt(lam)) @ Q.T


def rank_constrained_optimum(X, Y, r: int) -> np.ndarray:
    """The minimiser of ``1/2 ||Y - W X||_F^2`` over ``rank W <= r`` (problem 10a), in closed form:
    ``W* = [Y X^T (X X^T)^{-1/2}]_r (X X^T)^{-1/2}``. Needs ``X X^T`` invertible; unique when the
    ``r``-th and ``r+1``-th singular values of ``Y X^T (X X^T)^{-1/2}`` differ."""
    X, Y = _data(X, Y)
    r = _rank("r", r)
    root = _inverse_sqrt(X @ X.T)
    return best_rank(Y @ X.T @ root, r) @ root


def least_squares_optimum(X, Y) -> np.ndarray:
    """The unconstrained minimiser of ``1/2 ||Y - W X||_F^2`` with the smallest norm: ``Y X^+``."""
    X, Y = _data(X, Y)
    return Y @ np.linalg.pinv(X)


def row_projection(X) -> np.ndarray:
    """``P_X = X^+ X``: the orthogonal projection of ``R^m`` onto the row space of ``X``."""
    X = v.matrix("X", X)
    return np.linalg.pinv(X) @ X


def pca_target(X, Y) -> np.ndarray:
    """``Y P_X``, the matrix whose best rank-``r`` approximation the PCA problem (12) seeks."""
    X, Y = _data(X, Y)
    return Y @ row_projection(X)


def pca_minimum(X, Y, r: int) -> float:
    """``min L_2 = 1/2 ||Y P_X-perp||^2 + 1/2 sum_{i>r} sigma_i(Y P_X)^2`` (equations 11-12): the
    part of ``Y`` no linear map of ``X`` reaches, plus the Eckart-Young-Mirsky error of rank ``r``."""
    X, Y = _data(X, Y)
    r = _rank("r", r)
    YP = Y @ row_projection(X)
    s = np.linalg.svd(YP, compute_uv=False)
    return 0.5 * float(np.sum((Y - YP) ** 2)) + 0.5 * float(np.sum(s[r:] ** 2))


def two_factor_split(weights) -> tuple[int, list[np.ndarray]]:
    """``(j0, [Q, P])`` of equations (51)-(52): ``j0`` indexes a narrowest width ``d_{j0} = r`` (the
    first one), ``P = W_N ... W_{j0+1}`` and ``Q = W_{j0} ... W_1`` (identities when empty)."""
    layers = v.weights("weights", weights)
    dims = widths_of(layers)
    j0 = int(np.argmin(dims))
    Q = end_to_end(layers[:j0]) if j0 > 0 else np.eye(dims[0])
    P = end_to_end(layers[j0:]) if j0 < len(layers) else np.eye(dims[-1])
    return j0, [Q, P]


def lift_matrix(weights) -> np.ndarray:
    """The linear map ``(Delta_Q, Delta_P) -> Delta_N`` of equation (57): ``Delta_1 = W_1 Q^+ Delta_Q``,
    ``Delta_N = Delta_P P^+ W_N`` and the other layers unchanged, as a matrix from the flattened
    ``[Delta_Q, Delta_P]`` to the flattened network direction.

    When ``rank P = rank Q = r`` it satisfies ``(W_N + Delta_N) ... (W_1 + Delta_1) =
    (P + Delta_P)(Q + Delta_Q)`` exactly (equation 58), so ``L_2(P + Delta_P, Q + Delta_Q) =
    L_N(W_N + lift Delta)``: the gradient and Hessian of ``L_2`` are ``lift^T g`` and
    ``lift^T H lift`` (equations 63-64). Needs at least two layers.
    """
    layers = v.weights("weights", weights)
    if len(layers) < 2:
        raise ValueError("weights must have at least two layers")
    _, (Q, P) = two_factor_split(layers)
    first = np.kron(layers[0] @ np.linalg.pinv(Q), np.eye(Q.shape[1]))
    last = np.kron(np.eye(P.shape[0]), (np.linalg.pinv(P) @ layers[-1]).T)
    sizes = [w.size for w in layers]
    lift = np.zeros((sum(sizes), Q.size + P.size))
    lift[: sizes[0], : Q.size] = first
    lift[sum(sizes) - sizes[-1] :, Q.size :] = last
    return lift


def pca_point(M, indices: Sequence[int], r: int) -> list[np.ndarray]:
    """The stationary point ``(P, Q')`` of the PCA problem (12) built from the singular triplets
    ``indices`` (0-based, at most ``r`` of them) of ``M``: ``P = U_I S_I^{1/2}``,
    ``Q' = S_I^{1/2} V_I^T``, zero-padded to ``r`` columns and rows. Returned as ``[Q', P]``."""
    M = v.matrix("M", M)
    r = _rank("r", r, low=1)
    idx = [v.positive_int("indices[i]", i, minimum=0) for i in indices]
    if len(idx) > r or len(set(idx)) != len(idx) or any(i >= min(M.shape) for i in idx):
        raise ValueError(
            f"indices must be at most r = {r} distinct triplet numbers below {min(M.shape)}, "
            f"got {list(indices)}"
        )
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    P = np.zeros((M.shape[0], r))
    Qp = np.zeros((r, M.shape[1]))
    root = np.sqrt(s[idx])
    P[:, : len(idx)] = U[:, idx] * root
    Qp[: len(idx)] = root[:, None] * Vt[idx]
    return [Qp, P]


def stationary_network(X, Y, indices: Sequence[int], widths, rng=None) -> list[np.ndarray]:
    """A balanced network with the given widths whose product ``W`` has ``W X = sum_{k in indices}
    s_k u_k v_k^T`` (singular triplets of ``Y P_X``, 0-based): ``W = (that sum) X^+``.

    Through Lemmas 2.4-2.6 it corresponds to the PCA stationary point of those triplets, so it is
    an FOSP of problem (6); with fewer than ``r`` triplets its product is rank-deficient (no triplet
    at all gives the origin). ``rng`` rotates the hidden spaces (see ``ll.balanced_init``).
    """
    X, Y = _data(X, Y)
    dims = as_widths(widths)
    if dims[0] != X.shape[0] or dims[-1] != Y.shape[0]:
        raise ValueError(
            f"widths must start with d_x = {X.shape[0]} and end with d_y = {Y.shape[0]}, got {dims}"
        )
    Qp, P = pca_point(Y @ row_projection(X), indices, bottleneck(dims))
    W = P @ Qp @ np.linalg.pinv(X)
    return balanced_init(W, len(dims) - 1, dims[1:-1], rng=rng)


def missing_triplet_step(point: Sequence[np.ndarray], M, k: int, slot: int, delta: float):
    """The perturbation (91) of the proof of Lemma D.1: at a PCA point ``[Q', P]`` whose column
    ``slot`` of ``P`` and row ``slot`` of ``Q'`` are zero, put ``delta^{1/2} u_k`` and
    ``delta^{1/2} v_k^T`` there (``s_k, u_k, v_k``: triplet ``k`` of ``M``, 0-based).
    The product gains ``delta u_k v_k^T`` and the objective changes by ``-s_k delta + delta^2 / 2``
    (equation 96) when triplet ``k`` is absent from the point."""
    Qp, P = (v.matrix("point[0]", point[0]), v.matrix("point[1]", point[1]))
    M = v.matrix("M", M, shape=(P.shape[0], Qp.shape[1]))
    k = v.positive_int("k", k, minimum=0)
    slot = v.positive_int("slot", slot, minimum=0)
    delta = v.real("delta", delta, low=0.0)
    if slot >= P.shape[1] or np.any(P[:, slot] != 0) or np.any(Qp[slot] != 0):
        raise ValueError(f"slot must index a zero column of P and a zero row of Q', got {slot}")
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    if k >= s.size:
        raise ValueError(f"k must be below {s.size}, got {k}")
    P2, Q2 = P.copy(), Qp.copy()
    P2[:, slot] = np.sqrt(delta) * U[:, k]
    Q2[slot] = np.sqrt(delta) * Vt[k]
    return [Q2, P2]


def eym_spectrum(singular_values, index: int, rows: int, cols: int) -> np.ndarray:
    """The Hessian spectrum of ``1/2 ||M - p q^T||^2`` (problem 12 with ``r = 1``) at the stationary
    point ``p = s_i^{1/2} u_i``, ``q = s_i^{1/2} v_i`` of triplet ``i = index`` (0-based), for ``M`` of
    shape ``(rows, cols)`` with ``rows <= cols`` and the given singular values (length ``rows``):
    ``{2 s_i, 0}``, ``s_i +- s_k`` for each ``k != i``, and ``s_i`` repeated ``cols - rows`` times.
    Sorted increasingly. Every eigenvalue is ``>= 0`` iff ``s_i`` is the largest."""
    s = np.asarray(singular_values, dtype=float)
    rows = v.positive_int("rows", rows)
    cols = v.positive_int("cols", cols)
    if s.ndim != 1 or s.size != rows or rows > cols or np.any(s < 0):
        raise ValueError(
            f"singular_values must be {rows} non-negative numbers and rows <= cols, got {s!r}"
        )
    i = v.positive_int("index", index, minimum=0)
    if i >= rows:
        raise ValueError(f"index must be below {rows}, got {i}")
    others = np.delete(s, i)
    eig = np.concatenate(
        [[2 * s[i], 0.0], s[i] + others, s[i] - others, np.full(cols - rows, s[i])]
    )
    return np.sort(eig)
