"""Linear networks as lists of layer matrices ``[W_1, ..., W_n]`` (input layer first).

Layer ``j`` has shape ``(d_j, d_{j-1})`` and the end-to-end matrix ``W_n ... W_1`` has shape
``(d_n, d_0)`` (Definition 2 of the lecture notes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v
from .linalg import random_orthogonal, svd_with_rank


def end_to_end(weights: Sequence[np.ndarray]) -> np.ndarray:
    """The end-to-end matrix ``W_{n:1} = W_n W_{n-1} ... W_1`` of a network."""
    layers = v.weights("weights", weights)
    product = layers[0]
    for W in layers[1:]:
        product = W @ product
    return product


def partial_products(weights: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return ``(below, above)`` with ``below[j] = W_{j-1:1}`` and ``above[j] = W_{n:j+1}``.

    Indices are 0-based over layers (``below[0]`` and ``above[n-1]`` are identities), so the layer
    gradient of ``phi`` is ``above[j].T @ G @ below[j].T``.
    """
    layers = v.weights("weights", weights)
    n = len(layers)
    below = [np.eye(layers[0].shape[1])]
    for j in range(1, n):
        below.append(layers[j - 1] @ below[j - 1])
    above = [None] * n
    above[n - 1] = np.eye(layers[-1].shape[0])
    for j in range(n - 2, -1, -1):
        above[j] = above[j + 1] @ layers[j + 1]
    return below, above


def layer_gradients(weights: Sequence[np.ndarray], G) -> list[np.ndarray]:
    """Gradients of ``phi(W_1..W_n) = l(W_n...W_1)`` with respect to each layer.

    ``G`` is the gradient of the end-to-end loss at the end-to-end matrix; the gradient for layer
    ``j`` is ``W_{n:j+1}^T G W_{j-1:1}^T`` (proof of Lemma 1 in the lecture notes).
    """
    layers = v.weights("weights", weights)
    shape = (layers[-1].shape[0], layers[0].shape[1])
    G = v.matrix("G", G, shape=shape)
    below, above = partial_products(layers)
    return [above[j].T @ G @ below[j].T for j in range(len(layers))]


def unbalancedness(weights: Sequence[np.ndarray]) -> float:
    """Unbalancedness magnitude (Definition 1): ``max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F``.

    A network of depth 1 has no pair of consecutive layers; its unbalancedness is 0 by convention.
    """
    layers = v.weights("weights", weights)
    gaps = [
        np.linalg.norm(layers[j + 1].T @ layers[j + 1] - layers[j] @ layers[j].T)
        for j in range(len(layers) - 1)
    ]
    return float(max(gaps, default=0.0))


def balance_gaps(weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The matrices ``W_{j+1}^T W_{j+1} - W_j W_j^T``, j = 1..n-1, that Lemma 1 conserves."""
    layers = v.weights("weights", weights)
    return [
        layers[j + 1].T @ layers[j + 1] - layers[j] @ layers[j].T for j in range(len(layers) - 1)
    ]


def balanced_init(
    W, depth: int, hidden_dims: Sequence[int] | None = None, rng=None
) -> list[np.ndarray]:
    """A depth-``depth`` network with unbalancedness zero whose end-to-end matrix is ``W``.

    With the compact SVD ``W = U S V^T`` (round-off singular values set to zero), layer 1 is
    ``S^{1/n} V^T``, the hidden layers are ``S^{1/n}`` and layer n is ``U S^{1/n}``, each
    zero-padded to the hidden widths (Procedure 1 of Arora et al. 2019a). Then
    ``W_{j+1}^T W_{j+1} = W_j W_j^T`` for every j.

    Parameters
    ----------
    W : array of shape (d_n, d_0)
        Target end-to-end matrix, of any shape and rank (zero included).
    depth : int
        Number of layers n >= 1. Depth 1 returns ``[W]``.
    hidden_dims : sequence of n-1 ints, optional
        Widths d_1..d_{n-1}. Each must be at least rank(W). Default: ``min(d_0, d_n)`` for every
        hidden layer, the smallest width that lets the network express any linear map (the
        standing assumption of the lecture notes).
    rng : numpy Generator or int seed, optional
        If given, each hidden space is rotated by a random orthogonal matrix
        (``W_j -> Q_j W_j Q_{j-1}^T``), which keeps the product and the balancedness; this gives a
        generic balanced network instead of the canonical sparse one.
    """
    W = v.matrix("W", W)
    n = v.positive_int("depth", depth)
    gen = None if rng is None else v.rng(rng)
    d_out, d_in = W.shape
    if isinstance(hidden_dims, np.ndarray):
        hidden_dims = hidden_dims.tolist()
    if hidden_dims is None:
        dims = [min(d_in, d_out)] * (n - 1)
    else:
        if isinstance(hidden_dims, (str, bytes)) or not isinstance(hidden_dims, Sequence):
            raise ValueError(
                f"hidden_dims must be a sequence of {n - 1} integers, got {hidden_dims!r}"
            )
        if len(hidden_dims) != n - 1:
            raise ValueError(
                f"hidden_dims must have depth - 1 = {n - 1} entries, got {len(hidden_dims)}"
            )
        dims = [v.positive_int(f"hidden_dims[{i}]", d) for i, d in enumerate(hidden_dims)]
    U, s, Vt, rank = svd_with_rank(W)
    for i, d in enumerate(dims):
        if d < rank:
            raise ValueError(
                f"hidden_dims[{i}] = {d} is below rank(W) = {rank}: the network could not express W"
            )
    if n == 1:
        return [W.copy()]
    k = min([len(s), *dims])  # number of singular components carried through every layer
    root = s[:k] ** (1.0 / n)
    widths = [d_in, *dims, d_out]
    layers = []
    for j in range(n):
        layer = np.zeros((widths[j + 1], widths[j]))
        if j == 0:
            layer[:k, :] = root[:, None] * Vt[:k]
        elif j == n - 1:
            layer[:, :k] = U[:, :k] * root
        else:
            layer[:k, :k] = np.diag(root)
        layers.append(layer)
    if gen is not None:
        rotations = [None, *[random_orthogonal(d, gen) for d in dims], None]
        for j in range(n):
            if rotations[j + 1] is not None:
                layers[j] = rotations[j + 1] @ layers[j]
            if rotations[j] is not None:
                layers[j] = layers[j] @ rotations[j].T
    return layers


def gaussian_init(dims: Sequence[int], std: float, rng=None) -> list[np.ndarray]:
    """Independent Gaussian layers: ``W_j`` has shape ``(dims[j], dims[j-1])`` and entries
    ``N(0, std^2)``. Such a network is generically unbalanced.

    ``dims`` is ``[d_0, d_1, ..., d_n]`` (input width first), with at least two entries.
    """
    if isinstance(dims, np.ndarray):
        dims = dims.tolist()
    if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence) or len(dims) < 2:
        raise ValueError(
            f"dims must be a sequence [d_0, ..., d_n] of at least 2 widths, got {dims!r}"
        )
    widths = [v.positive_int(f"dims[{i}]", d) for i, d in enumerate(dims)]
    std = v.real("std", std, low=0.0)
    gen = v.rng(rng)
    return [std * gen.standard_normal((widths[j + 1], widths[j])) for j in range(len(widths) - 1)]


def printed_balance_gap(layers) -> float:
    """``max_j ||W_{j+1}^T W_{j+1} - W_j^T W_j||_F``: the balance condition as misprinted in two of
    the sources (Eftekhari's equation (14) in our Markdown copy, Lin, Sun & Zhang's equation (13));
    the correct one is ``W_{j+1}^T W_{j+1} = W_j W_j^T`` (:func:`unbalancedness`). Both sides of the
    printed form are Gram matrices of the *columns*, of sizes ``d_j x d_j`` and
    ``d_{j-1} x d_{j-1}``; a ``ValueError`` says so when they differ."""
    layers = list(v.weights("layers", layers))
    gaps = []
    for j in range(len(layers) - 1):
        left, right = layers[j + 1].T @ layers[j + 1], layers[j].T @ layers[j]
        if left.shape != right.shape:
            raise ValueError(
                f"the printed form compares a {left.shape} matrix with a {right.shape} matrix "
                f"(layers {j + 2} and {j + 1}): it is dimension-inconsistent"
            )
        gaps.append(np.linalg.norm(left - right))
    return float(np.max(gaps, initial=0.0))


def product_velocity(layers, loss) -> np.ndarray:
    """``d/dt (W_n ... W_1)`` under the per-layer gradient flow ``dW_j/dt = -grad_j``:
    ``-sum_j W_{n:j+1} grad_j W_{j-1:1}`` with the layer gradients ``grad_j`` of ``loss``."""
    layers = list(v.weights("layers", layers))
    below, above = partial_products(layers)
    grads = layer_gradients(layers, loss.grad(end_to_end(layers)))
    return -sum(above[j] @ grads[j] @ below[j] for j in range(len(layers)))
