"""Chapter 2, second half: Du & Hu (2019), randomly initialised deep linear networks and why width
matters.

This module follows Du & Hu's letters, not the lecture notes': ``L`` is the depth, ``m`` the common
width of the hidden layers and ``n`` the number of samples. A network is the list
``[W_1, ..., W_L]`` with ``W_1`` of shape ``(m, d_in)``, ``W_2, ..., W_{L-1}`` of shape ``(m, m)``
and ``W_L`` of shape ``(d_out, m)`` (the paper prints ``m x d_out`` for ``W_L``, a misprint). Data
are columns: ``X`` is ``(d_in, n)`` and ``Y`` is ``(d_out, n)``. The objective (1) is

    l(W_1, ..., W_L) = 1/2 || c W_{L:1} X - Y ||_F^2,   c = (m^{L-1} d_out)^{-1/2},

which is ``ll.SquareLoss(c * X, Y)`` evaluated at the raw product ``W_{L:1}``, so the book's
``ll.gradient_descent`` and ``ll.layer_gradients`` serve unchanged. Products are written
``W_{j:i} = W_j ... W_i`` with 1-based layer indices, as in the paper.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg.blas import dgemm
from scipy.sparse.linalg import svds
from scipy.special import digamma, logsumexp, polygamma
from scipy.stats import chi2

from . import _validate as v
from .losses import SquareLoss
from .networks import end_to_end, gaussian_init, partial_products

# ---------------------------------------------------------------------------------------------
# Set-up: scaling, initialisation, objective, data


def xavier_factor(width: int, depth: int, d_out: int) -> float:
    """The scaling ``c = (m^{L-1} d_out)^{-1/2}`` of Du & Hu's objective (1)."""
    m = v.positive_int("width", width)
    L = v.positive_int("depth", depth)
    d_out = v.positive_int("d_out", d_out)
    return float((float(m) ** (L - 1) * d_out) ** -0.5)


def _numbers(name: str, value) -> np.ndarray:
    """``value`` as a float array, or a ValueError naming the argument."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from exc


def _vector_or_matrix(name: str, value, rows: int) -> np.ndarray:
    """A vector of length ``rows`` (returned as one column) or a matrix with ``rows`` rows."""
    arr = _numbers(name, value)
    if arr.ndim == 1:
        arr = arr[:, None]
    return v.matrix(name, arr, shape=(rows, None))


def _network(weights) -> list[np.ndarray]:
    """Validate a Du & Hu network: layers chain and every hidden layer has the same width."""
    layers = v.weights("weights", weights)
    widths = {w.shape[0] for w in layers[:-1]}
    if len(widths) > 1:
        raise ValueError(
            f"weights: every hidden layer must have the same width m, got widths {sorted(widths)}"
        )
    return layers


def _width(layers: list[np.ndarray]) -> int:
    return layers[0].shape[0] if len(layers) > 1 else 1


def network_factor(weights: Sequence[np.ndarray]) -> float:
    """The scaling ``c`` of objective (1) read off a network's shapes (depth L, width m, d_out)."""
    layers = _network(weights)
    return xavier_factor(_width(layers), len(layers), layers[-1].shape[0])


def gaussian_network(d_in: int, width: int, d_out: int, depth: int, rng=None) -> list[np.ndarray]:
    """Du & Hu's initialisation: ``L`` layers with independent ``N(0, 1)`` entries.

    Shapes ``(m, d_in)``, ``(m, m)`` (L - 2 times), ``(d_out, m)``; depth 1 gives one
    ``(d_out, d_in)`` layer.
    """
    d_in = v.positive_int("d_in", d_in)
    m = v.positive_int("width", width)
    d_out = v.positive_int("d_out", d_out)
    L = v.positive_int("depth", depth)
    return gaussian_init([d_in] + [m] * (L - 1) + [d_out], 1.0, rng)


def objective(X, Y, width: int, depth: int) -> SquareLoss:
    """Objective (1) as a loss on the raw product ``W_{L:1}``: ``SquareLoss(c X, Y)``.

    Its ``value(W_{L:1})`` is ``1/2 ||c W_{L:1} X - Y||_F^2`` and its gradient, passed through
    ``ll.layer_gradients``, is equation (5).
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    c = xavier_factor(width, depth, Y.shape[0])
    return SquareLoss(c * X, Y)


def predictions(weights: Sequence[np.ndarray], X) -> np.ndarray:
    """The scaled prediction ``U = c W_{L:1} X`` of shape ``(d_out, n)``."""
    layers = _network(weights)
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    return network_factor(layers) * (end_to_end(layers) @ X)


def network_loss(weights: Sequence[np.ndarray], X, Y) -> float:
    """Objective (1), ``1/2 ||c W_{L:1} X - Y||_F^2``, computed directly from its definition."""
    U = predictions(weights, X)
    Y = v.matrix("Y", Y, shape=U.shape)
    return float(0.5 * np.sum((U - Y) ** 2))


def spectrum_data(
    d_in: int,
    n: int,
    rank: int,
    kappa: float,
    d_out: int,
    rng=None,
    *,
    target_norm: float = 1.0,
    noise: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Data with a chosen rank ``r`` and condition number ``kappa = lambda_max / lambda_r`` of
    ``X^T X``.

    ``X = U diag(s) V^T`` with random orthonormal ``U`` (``d_in x r``) and ``V`` (``n x r``) and
    singular values ``s`` spaced geometrically from 1 down to ``kappa^{-1/2}``. The labels are
    ``Y = Phi_0 X + noise * Z``: ``Phi_0`` is a Gaussian matrix rescaled to spectral norm
    ``target_norm`` and ``Z`` has standard normal entries (so the optimal loss is positive when
    ``noise > 0`` and ``n > r``).
    """
    d_in = v.positive_int("d_in", d_in)
    n = v.positive_int("n", n)
    r = v.positive_int("rank", rank)
    if r > min(d_in, n):
        raise ValueError(f"rank must be at most min(d_in, n) = {min(d_in, n)}, got {r}")
    kappa = v.real("kappa", kappa, low=1.0)
    d_out = v.positive_int("d_out", d_out)
    target_norm = v.real("target_norm", target_norm, low=0.0)
    noise = v.real("noise", noise, low=0.0)
    gen = v.rng(rng)
    U = np.linalg.qr(gen.standard_normal((d_in, r)))[0]
    V = np.linalg.qr(gen.standard_normal((n, r)))[0]
    s = np.geomspace(1.0, kappa**-0.5, r)
    X = (U * s) @ V.T
    phi0 = gen.standard_normal((d_out, d_in))
    phi0 *= target_norm / np.linalg.norm(phi0, 2)
    Y = phi0 @ X + noise * gen.standard_normal((d_out, n))
    return X, Y


def _rank_svd(X: np.ndarray):
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.count_nonzero(s > max(X.shape) * np.finfo(float).eps * s[0])) if s[0] > 0 else 0
    if r == 0:
        raise ValueError("X must be non-zero")
    return U, s, Vt, r


def rank_and_condition(X) -> tuple[int, float]:
    """``(r, kappa)``: the numerical rank of ``X`` and ``kappa = lambda_max(X^T X) /
    lambda_r(X^T X)`` (Section 4 of Du & Hu)."""
    X = v.matrix("X", X)
    _, s, _, r = _rank_svd(X)
    return r, float((s[0] / s[r - 1]) ** 2)


def least_squares(X, Y) -> tuple[np.ndarray, float]:
    """``(Phi, OPT)`` of problem (3): ``Phi = Y X^+`` and ``OPT = 1/2 ||Phi X - Y||_F^2``.

    ``Phi`` is the minimiser of smallest Frobenius norm, and also of smallest spectral norm (its
    rows lie in the range of X, and any other minimiser adds rows orthogonal to it).
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    U, s, Vt, r = _rank_svd(X)
    phi = (Y @ Vt[:r].T / s[:r]) @ U[:, :r].T
    return phi, float(0.5 * np.sum((phi @ X - Y) ** 2))


def reduce_data(X, Y) -> tuple[np.ndarray, np.ndarray, float]:
    """The reduction behind Assumption 5.1: ``(X_red, Y_red, OPT)``.

    With the compact SVD ``X = U_r S_r V_r^T``, ``X_red = U_r S_r`` (``d_in x r``, rank r, the
    same singular values) and ``Y_red = Y V_r = Phi X_red``. For every end-to-end matrix ``W``,
    ``||W X - Y||^2 = ||W X_red - Y_red||^2 + 2 OPT``, so the network objective on the reduced
    data differs from the original by the constant OPT, with the same gradients.
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    U, s, Vt, r = _rank_svd(X)
    X_red = U[:, :r] * s[:r]
    Y_red = Y @ Vt[:r].T
    opt = 0.5 * (np.sum(Y**2) - np.sum(Y_red**2))
    return X_red, Y_red, float(max(opt, 0.0))


def width_requirement(X, Y, depth: int, delta: float, constant: float = 1.0) -> float:
    """The right side of Theorem 4.1's width condition (4) for a given universal constant C:

        ``C L max{r kappa^3 d_out (1 + ||Phi||^2), r kappa^3 log(r / delta), log L}``,

    with r, kappa and Phi of the data (X, Y). The paper leaves C unspecified; ``constant=1`` gives
    a lower bound on what any admissible C asks."""
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    L = v.positive_int("depth", depth)
    delta = v.real("delta", delta, low=0.0, strict_low=True)
    if delta >= 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    constant = v.real("constant", constant, low=0.0, strict_low=True)
    r, kappa = rank_and_condition(X)
    phi, _ = least_squares(X, Y)
    d_out = Y.shape[0]
    terms = (
        r * kappa**3 * d_out * (1 + np.linalg.norm(phi, 2) ** 2),
        r * kappa**3 * math.log(r / delta),
        math.log(L),
    )
    return float(constant * L * max(terms))


def dh_step_size(X, depth: int, d_out: int) -> float:
    """The largest step Theorem 4.1 allows: ``eta = d_out / (3 L ||X^T X||)``."""
    X = v.matrix("X", X)
    L = v.positive_int("depth", depth)
    d_out = v.positive_int("d_out", d_out)
    return float(d_out / (3 * L * np.linalg.norm(X, 2) ** 2))


def rate_factor(X, depth: int, d_out: int, lr: float) -> float:
    """Theorem 4.1's contraction per step: ``1 - eta L lambda_r(X^T X) / (4 d_out)``."""
    X = v.matrix("X", X)
    L = v.positive_int("depth", depth)
    d_out = v.positive_int("d_out", d_out)
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    _, s, _, r = _rank_svd(X)
    return float(1.0 - lr * L * s[r - 1] ** 2 / (4 * d_out))


def induction_radius(X, depth: int, d_out: int, loss_bound: float) -> float:
    """The radius of Section 7, ``R = 24 sqrt(B d_out) ||X|| / (L sigma_min(X)^2)``, where
    ``B >= l(0)`` bounds the initial loss and ``sigma_min`` is the smallest non-zero singular
    value of X."""
    X = v.matrix("X", X)
    L = v.positive_int("depth", depth)
    d_out = v.positive_int("d_out", d_out)
    B = v.real("loss_bound", loss_bound, low=0.0)
    _, s, _, r = _rank_svd(X)
    return float(24 * math.sqrt(B * d_out) * s[0] / (L * s[r - 1] ** 2))


# ---------------------------------------------------------------------------------------------
# Monte Carlo over Gaussian products


def gaussian_products(V, dims: Sequence[int], draws: int, rng=None, *, batch: int = 128):
    """Independent draws of ``A_q ... A_1 V`` for Gaussian matrices ``A_j`` of shape
    ``(dims[j], dims[j-1])`` with ``N(0, 1)`` entries, fresh in every draw.

    ``V`` is a vector of length ``dims[0]`` or a ``(dims[0], k)`` matrix. Returns an array of
    shape ``(draws, dims[-1], k)`` (``k = 1`` for a vector). The matrices are sampled in full
    (no rotation-invariance shortcut), ``batch`` draws at a time.
    """
    if isinstance(dims, np.ndarray):
        dims = dims.tolist()
    if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence) or len(dims) < 2:
        raise ValueError(
            f"dims must be a sequence [d_0, ..., d_q] of at least 2 sizes, got {dims!r}"
        )
    dims = [v.positive_int(f"dims[{i}]", d) for i, d in enumerate(dims)]
    V = _vector_or_matrix("V", V, dims[0])
    draws = v.positive_int("draws", draws)
    batch = v.positive_int("batch", batch)
    gen = v.rng(rng)
    out = np.empty((draws, dims[-1], V.shape[1]))
    for start in range(0, draws, batch):
        b = min(batch, draws - start)
        Z = np.broadcast_to(V, (b, *V.shape))
        for j in range(1, len(dims)):
            Z = gen.standard_normal((b, dims[j], dims[j - 1])) @ Z
        out[start : start + b] = Z
    return out


def expected_log_gain(width: int, depth: int, d_out: int) -> float:
    """``E log(||c W_{L:1}(0) x||^2 / ||x||^2)`` for Du & Hu's initialisation, any ``x != 0``.

    By rotation invariance the ratio has the law of independent factors
    ``(chi^2_m / m)^{L-1} (chi^2_{d_out} / d_out)``, and ``E log chi^2_k = digamma(k/2) + log 2``,
    so the value is ``(L - 1) (digamma(m/2) + log(2/m)) + digamma(d_out/2) + log(2/d_out)``.
    """
    m = v.positive_int("width", width)
    L = v.positive_int("depth", depth)
    d_out = v.positive_int("d_out", d_out)

    def term(k: int) -> float:
        return float(digamma(k / 2) + math.log(2 / k))

    return (L - 1) * term(m) + term(d_out)


def initial_losses(X, Y, width: int, depth: int, draws: int, rng=None) -> np.ndarray:
    """``l(0)`` of objective (1) for ``draws`` independent Gaussian initialisations."""
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    m = v.positive_int("width", width)
    L = v.positive_int("depth", depth)
    dims = [X.shape[0]] + [m] * (L - 1) + [Y.shape[0]]
    U = xavier_factor(m, L, Y.shape[0]) * gaussian_products(X, dims, draws, rng)
    return 0.5 * np.sum((U - Y) ** 2, axis=(1, 2))


# ---------------------------------------------------------------------------------------------
# The proof's objects: gradient (5), P(t) of (7), the bounds (10), singular-value bands


def gradient_formula(weights: Sequence[np.ndarray], X, Y) -> list[np.ndarray]:
    """Equation (5), written out: ``c W_{L:i+1}^T (U - Y) (W_{i-1:1} X)^T`` for each layer i."""
    layers = _network(weights)
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    U = predictions(layers, X)
    Y = v.matrix("Y", Y, shape=U.shape)
    c = network_factor(layers)
    below, above = partial_products(layers)
    return [c * above[j].T @ (U - Y) @ (below[j] @ X).T for j in range(len(layers))]


def preconditioner_matrix(weights: Sequence[np.ndarray], X) -> np.ndarray:
    """The matrix P of equation (7), built with ``numpy.kron``:

    ``P = c^2 sum_i (W_{i-1:1} X)^T (W_{i-1:1} X) kron W_{L:i+1} W_{L:i+1}^T``,

    of size ``(d_out n) x (d_out n)``, acting on column-major ``vec`` of ``d_out x n`` matrices.
    """
    layers = _network(weights)
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    c = network_factor(layers)
    below, above = partial_products(layers)
    total = 0.0
    for j in range(len(layers)):
        F = below[j] @ X
        total = total + np.kron(F.T @ F, above[j] @ above[j].T)
    return c**2 * total


def preconditioner_bounds(weights: Sequence[np.ndarray], X) -> tuple[float, float]:
    """The two sides of (10): ``(upper, lower)`` with
    ``upper = c^2 sum_i sigma_max^2(W_{i-1:1} X) sigma_max^2(W_{L:i+1})`` and ``lower`` the same
    with ``sigma_min`` (the r-th singular value of ``W_{i-1:1} X`` with r = rank X, and the
    ``d_out``-th of ``W_{L:i+1}``)."""
    layers = _network(weights)
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    _, _, _, r = _rank_svd(X)
    d_out = layers[-1].shape[0]
    c = network_factor(layers)
    below, above = partial_products(layers)
    upper = lower = 0.0
    for j in range(len(layers)):
        s_in = np.linalg.svd(below[j] @ X, compute_uv=False)
        s_out = np.linalg.svd(above[j], compute_uv=False)
        upper += s_in[0] ** 2 * s_out[0] ** 2
        lower += (s_in[r - 1] if r <= s_in.size else 0.0) ** 2 * (
            s_out[d_out - 1] if d_out <= s_out.size else 0.0
        ) ** 2
    return float(c**2 * upper), float(c**2 * lower)


def step_remainder(weights: Sequence[np.ndarray], X, Y, lr: float, P=None) -> float:
    """``||vec(U(t+1) - U(t)) + lr P vec(U(t) - Y)||`` after one step of (2) from ``weights``.

    With ``P`` the matrix of (7) (the default) this is ``c ||E(t) X||_F``, the size of the
    higher-order remainder of (6); any other ``P`` can be passed to test the first-order term.
    """
    layers = _network(weights)
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    Y = v.matrix("Y", Y, shape=(layers[-1].shape[0], X.shape[1]))
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    size = Y.size
    P = preconditioner_matrix(layers, X) if P is None else v.matrix("P", P, shape=(size, size))
    U = predictions(layers, X)
    grads = gradient_formula(layers, X, Y)
    U_next = predictions([w - lr * g for w, g in zip(layers, grads, strict=True)], X)
    residual = (U - Y).reshape(-1, order="F")
    return float(np.linalg.norm((U_next - U).reshape(-1, order="F") + lr * P @ residual))


def output_jacobian(weights: Sequence[np.ndarray], X, step: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of ``vec(U)`` (column-major) with respect to all weights
    (layer 1 first, each layer column-major): shape ``(d_out n, number of weights)``."""
    layers = [w.copy() for w in _network(weights)]
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    step = v.real("step", step, low=0.0, strict_low=True)
    columns = []
    for i, layer in enumerate(layers):
        for index in itertools.product(range(layer.shape[1]), range(layer.shape[0])):
            row_col = (index[1], index[0])  # column-major order over the layer's entries
            plus = [w.copy() for w in layers]
            minus = [w.copy() for w in layers]
            plus[i][row_col] += step
            minus[i][row_col] -= step
            diff = predictions(plus, X) - predictions(minus, X)
            columns.append(diff.reshape(-1, order="F") / (2 * step))
    return np.array(columns).T


def band_failure_one_layer(width: int, low: float = 0.9, high: float = 1.1) -> float:
    """Exact probability that ``||A v|| / sqrt(m)`` leaves ``[low, high]`` for one Gaussian
    ``m x d`` matrix A and a unit vector v: ``||A v||^2`` is chi-squared with m degrees of
    freedom, so this is ``P(chi2_m / m < low^2) + P(chi2_m / m > high^2)``."""
    m = v.positive_int("width", width)
    low = v.real("low", low, low=0.0)
    high = v.real("high", high, low=0.0)
    if not low < high:
        raise ValueError(f"low must be < high, got low={low} and high={high}")
    return float(chi2.cdf(m * low**2, m) + chi2.sf(m * high**2, m))


def band_failure(
    width: int, factors: int = 1, low: float = 0.9, high: float = 1.1, *, resolution: int = 8
) -> float:
    """Exact probability that ``||A_q ... A_1 v|| / m^{q/2}`` leaves ``[low, high]`` (Lemma 6.1),
    for q = ``factors`` independent Gaussian matrices with m = ``width`` rows and a unit vector v.

    By rotation invariance ``||A_q ... A_1 v||^2 / m^q`` is a product of q independent
    ``chi2_m / m`` variables, so its logarithm is a sum ``S_{q-1} + Z`` of q independent copies of
    ``Z = log(chi2_m / m)``. The density of ``S_{q-1}`` is built by repeated convolution on a
    uniform grid (``resolution`` points per standard deviation of Z, in log space so that tails
    far below 1e-300 are kept), and the two tails are ``int f_S(s) P(Z < 2 log(low) - s) ds``
    and ``int f_S(s) P(Z > 2 log(high) - s) ds`` with the exact chi-squared distribution
    function. For q = 1 this is :func:`band_failure_one_layer`.
    """
    m = v.positive_int("width", width)
    q = v.positive_int("factors", factors)
    low = v.real("low", low, low=0.0, strict_low=True)
    high = v.real("high", high, low=0.0)
    if not low < high:
        raise ValueError(f"low must be < high, got low={low} and high={high}")
    resolution = v.positive_int("resolution", resolution, minimum=4)
    if q == 1:
        return band_failure_one_layer(m, low, high)
    a_low, a_high = 2 * math.log(low), 2 * math.log(high)
    sd = math.sqrt(float(polygamma(1, m / 2)))  # standard deviation of Z
    mean_s = (q - 1) * (float(digamma(m / 2)) + math.log(2 / m))
    sd_s = math.sqrt(q - 1) * sd
    left = min(mean_s - 14 * sd_s, 1.5 * a_low)
    right = max(mean_s + 14 * sd_s, 1.5 * a_high)
    h = sd / resolution
    s = left + h * np.arange(int(math.ceil((right - left) / h)) + 1)

    def log_density_z(z):
        return math.log(m) + z + chi2.logpdf(m * np.exp(z), m)

    log_f = log_density_z(s)  # S_1 = Z
    offsets = s[:, None] - s[None, :]
    for _ in range(q - 2):  # S_k = S_{k-1} + Z
        log_f = logsumexp(log_f[None, :] + log_density_z(offsets), axis=1) + math.log(h)
    tail_low = logsumexp(log_f + chi2.logcdf(m * np.exp(a_low - s), m)) + math.log(h)
    tail_high = logsumexp(log_f + chi2.logsf(m * np.exp(a_high - s), m)) + math.log(h)
    return float(np.exp(tail_low) + np.exp(tail_high))


def band_failure_rate(factors: int, low: float = 0.9, high: float = 1.1) -> float:
    """The exponential rate of :func:`band_failure` per unit of ``m / q``: the limit of
    ``-log(p) / (m / q)`` as the width m grows (Cramer's theorem for a sum of q independent
    copies of ``log(chi2_m / m)``, whose rate function per unit m is ``J(z) = (e^z - 1 - z)/2``):

        ``q^2 min(J(2 log(low) / q), J(2 log(high) / q))``.

    For q = 1 it is ``min_x (x - 1 - log x) / 2`` over ``x in {low^2, high^2}``; as q grows it
    decreases to ``min(log(low)^2, log(high)^2)``, so it stays bounded below by a constant that
    does not depend on q (the ``Omega(m / q)`` of Lemma 6.1).
    """
    q = v.positive_int("factors", factors)
    low = v.real("low", low, low=0.0, strict_low=True)
    high = v.real("high", high, low=0.0)
    if not low < 1.0 < high:
        raise ValueError(f"need low < 1 < high, got low={low} and high={high}")

    def rate(z: float) -> float:
        return (math.expm1(z) - z) / 2

    return q * q * min(rate(2 * math.log(low) / q), rate(2 * math.log(high) / q))


def fuss_catalan_edge(k: int) -> float:
    """``sqrt((k+1)^{k+1} / k^k)``: the limit, as the width grows, of ``||A_k ... A_1|| /
    m^{k/2}`` for k independent square Gaussian matrices (the edge of the Fuss-Catalan law of
    the squared singular values)."""
    k = v.positive_int("k", k)
    return float(math.sqrt((k + 1) ** (k + 1) / k**k))


def _spectral(A: np.ndarray) -> float:
    """Spectral norm; for large matrices by Lanczos iteration (ARPACK) from a fixed start vector,
    which is exact to about 1e-10 relative and much faster than a full SVD."""
    if min(A.shape) <= 128 or not np.any(A):
        return float(np.linalg.norm(A, 2))
    start = np.cos(np.arange(min(A.shape)) + 0.5)
    top = svds(A, k=1, v0=start, tol=1e-12, return_singular_vectors=False)
    return float(top[0])


def band_ratios(weights: Sequence[np.ndarray], X, *, middle: bool = True) -> dict:
    """Singular values of the products that Propositions 6.2-6.4 and B(t) control, each divided by
    its scale, so that the paper's bands read directly.

    Returns a dict of arrays:

    * ``outer_max``, ``outer_min`` (i = 2..L): ``sigma_max``, ``sigma_min`` of ``W_{L:i}`` over
      ``m^{(L-i+1)/2}`` (``sigma_min`` is the ``d_out``-th singular value);
    * ``inner_max``, ``inner_min`` (i = 1..L-1): ``sigma_max(W_{i:1} X) / (m^{i/2}
      sigma_max(X))`` and ``sigma_r(W_{i:1} X) / (m^{i/2} sigma_r(X))``, r = rank X;
    * ``middle`` (if requested): rows ``(j - i + 1, ||W_{j:i}|| / m^{(j-i+1)/2})`` over
      1 < i <= j < L.
    """
    layers = _network(weights)
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    L, m, d_out = len(layers), _width(layers), layers[-1].shape[0]
    _, sX, _, r = _rank_svd(X)
    outer_max, outer_min = [], []
    top = np.eye(d_out)
    for i in range(L, 1, -1):  # W_{L:i}, built from the top
        top = top @ layers[i - 1]
        s = np.linalg.svd(top, compute_uv=False)
        scale = m ** ((L - i + 1) / 2)
        outer_max.append(s[0] / scale)
        outer_min.append((s[d_out - 1] if d_out <= s.size else 0.0) / scale)
    inner_max, inner_min = [], []
    bottom = X
    for i in range(1, L):  # W_{i:1} X
        bottom = layers[i - 1] @ bottom
        s = np.linalg.svd(bottom, compute_uv=False)
        scale = m ** (i / 2)
        inner_max.append(s[0] / (scale * sX[0]))
        inner_min.append((s[r - 1] if r <= s.size else 0.0) / (scale * sX[r - 1]))
    result = {
        "outer_max": np.array(outer_max[::-1]),
        "outer_min": np.array(outer_min[::-1]),
        "inner_max": np.array(inner_max),
        "inner_min": np.array(inner_min),
    }
    if middle:
        rows = []
        for i in range(2, L):
            prod = np.eye(m)
            for j in range(i, L):
                prod = layers[j - 1] @ prod
                rows.append((j - i + 1, _spectral(prod) / m ** ((j - i + 1) / 2)))
        result["middle"] = np.array(rows).reshape(-1, 2)
    return result


def perturbation_ratios(
    weights: Sequence[np.ndarray], weights0: Sequence[np.ndarray], X, *, middle: bool = True
) -> dict[str, float]:
    """Left sides of (15), (16), (17) divided by their right sides (so each must be <= 1):

    * ``"15"``: max over 1 < i <= L of ``||W_{L:i}(t) - W_{L:i}(0)|| / (0.05 m^{(L-i+1)/2})``;
    * ``"16"``: max over 1 <= i < L of ``||(W_{i:1}(t) - W_{i:1}(0)) X|| / (0.05 m^{i/2}
      sigma_min(X))``;
    * ``"17"``: max over 1 < i <= j < L of ``||W_{j:i}(t) - W_{j:i}(0)|| / (0.05 sqrt(L)
      m^{(j-i+1)/2})`` (only if ``middle``; 0 when there is no such pair).
    """
    now = _network(weights)
    start = _network(weights0)
    if [w.shape for w in now] != [w.shape for w in start]:
        raise ValueError("weights and weights0 must have the same layer shapes")
    X = v.matrix("X", X, shape=(now[0].shape[1], None))
    L, m, d_out = len(now), _width(now), now[-1].shape[0]
    _, sX, _, r = _rank_svd(X)
    ratios = {"15": 0.0, "16": 0.0}
    top_now, top_start = np.eye(d_out), np.eye(d_out)
    for i in range(L, 1, -1):
        top_now, top_start = top_now @ now[i - 1], top_start @ start[i - 1]
        value = _spectral(top_now - top_start) / (0.05 * m ** ((L - i + 1) / 2))
        ratios["15"] = max(ratios["15"], value)
    bottom_now, bottom_start = X, X
    for i in range(1, L):
        bottom_now, bottom_start = now[i - 1] @ bottom_now, start[i - 1] @ bottom_start
        value = _spectral(bottom_now - bottom_start) / (0.05 * m ** (i / 2) * sX[r - 1])
        ratios["16"] = max(ratios["16"], value)
    if middle:
        ratios["17"] = 0.0
        for i in range(2, L):
            p_now, p_start = np.eye(m), np.eye(m)
            for j in range(i, L):
                p_now, p_start = now[j - 1] @ p_now, start[j - 1] @ p_start
                value = _spectral(p_now - p_start) / (0.05 * math.sqrt(L) * m ** ((j - i + 1) / 2))
                ratios["17"] = max(ratios["17"], value)
    return {k: float(val) for k, val in ratios.items()}


def relative_movement(weights: Sequence[np.ndarray], weights0: Sequence[np.ndarray]) -> float:
    """``max_i ||W_i - W_i(0)||_2 / ||W_i(0)||_2``: how far, relative to their size, the layers
    have moved."""
    now = v.weights("weights", weights)
    start = v.weights("weights0", weights0)
    if [w.shape for w in now] != [w.shape for w in start]:
        raise ValueError("weights and weights0 must have the same layer shapes")
    if any(not np.any(b) for b in start):
        raise ValueError("weights0 must have no zero layer (movement is relative to its size)")
    return max(_spectral(a - b) / _spectral(b) for a, b in zip(now, start, strict=True))


def expansion_terms(factors0: Sequence[np.ndarray], deltas: Sequence[np.ndarray], s: int):
    """Terms of the expansion of ``(A_k + D_k) ... (A_1 + D_1)`` (factors listed first to last
    as ``A_1..A_k``) in which exactly ``s`` factors are perturbations ``D``.

    Returns ``(count, total)``: how many such terms there are and their sum. Used to check the
    binomial coefficient in the proof of (16).
    """
    A = v.weights("factors0", factors0)
    D = v.weights("deltas", deltas)
    if [a.shape for a in A] != [d.shape for d in D]:
        raise ValueError("factors0 and deltas must have the same shapes")
    k = len(A)
    s = v.positive_int("s", s, minimum=0)
    if s > k:
        raise ValueError(f"s must be at most the number of factors {k}, got {s}")
    count, total = 0, np.zeros((A[-1].shape[0], A[0].shape[1]))
    for chosen in itertools.combinations(range(k), s):
        term = np.eye(A[0].shape[1])
        for pos in range(k):
            term = (D[pos] if pos in chosen else A[pos]) @ term
        total += term
        count += 1
    return count, total


# ---------------------------------------------------------------------------------------------
# Training with the proof's quantities recorded at every step


@dataclass
class DescentRun:
    """Gradient descent on objective (1), with per-step records.

    Attributes
    ----------
    loss : (T+1,) array
        ``l(t)`` for t = 0..T (T the number of steps taken).
    distance : (T+1,) array
        ``max_i ||W_i(t) - W_i(0)||_F``.
    layer_distance : (T+1, L) array
        ``||W_i(t) - W_i(0)||_F`` for each layer i (column i - 1).
    residual : (T+1,) array
        ``||U(t) - Y||_F``.
    gradient_ratio : (T+1,) array
        ``max_i ||d l / d W_i (t)||_F / (3 sqrt(l(t)) ||X|| / sqrt(d_out))``, the first bound of
        (14) read with ``l(t)`` in place of its bound (<= 1 under B(t)).
    lam_min, lam_max : (T,) arrays or None
        Extreme eigenvalues of P(t) (if ``track_preconditioner``).
    error_term : (T,) array or None
        ``c ||E(t) X||_F``, the higher-order remainder of (6) (if ``track_error``).
    snapshots : dict
        Step -> list of layers, at the requested steps that were reached.
    final_weights : list
        The layers after the last step taken.
    """

    loss: np.ndarray
    distance: np.ndarray
    layer_distance: np.ndarray
    residual: np.ndarray
    gradient_ratio: np.ndarray
    lr: float
    diverged: bool
    lam_min: np.ndarray | None = None
    lam_max: np.ndarray | None = None
    error_term: np.ndarray | None = None
    snapshots: dict = field(default_factory=dict)
    final_weights: list = field(default_factory=list)

    @property
    def steps(self) -> int:
        return self.loss.size - 1


def _forward(layers: list[np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """``[X, W_1 X, W_2 W_1 X, ..., W_{L:1} X]``: the data pushed through the layers (thin
    products, each layer read once)."""
    outs = [X]
    for w in layers:
        outs.append(w @ outs[-1])
    return outs


def descent(
    X,
    Y,
    weights: Sequence[np.ndarray],
    lr: float,
    steps: int,
    *,
    opt: float = 0.0,
    stop_gap: float | None = None,
    snapshots: Sequence[int] = (),
    track_preconditioner: bool = False,
    track_error: bool = False,
) -> DescentRun:
    """Gradient descent (2) on objective (1), recording the quantities of Du & Hu's proof.

    Each step is ``W_i <- W_i - lr * dl/dW_i`` with the gradients (5) of every layer taken at the
    same point. They are computed in factored form, ``dl/dW_i = T_i (W_{i-1:1} X)^T`` with
    ``T_i = c W_{L:i+1}^T (U - Y)``, so that a step reads each layer a few times and forms no
    product of two square layers; ``ll.gradient_descent`` gives the same iterates (checked in
    the tests and on page 2.4). Stops early when ``l(t) - opt <= stop_gap * (l(0) - opt)`` (if
    ``stop_gap`` is given) or when the loss stops being finite or exceeds ``1e12 * l(0)``
    (``diverged``).
    """
    layers = [np.array(w, dtype=float, order="C") for w in _network(weights)]
    X = v.matrix("X", X, shape=(layers[0].shape[1], None))
    Y = v.matrix("Y", Y, shape=(layers[-1].shape[0], X.shape[1]))
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps, minimum=0)
    opt = v.real("opt", opt, low=0.0)
    if stop_gap is not None:
        stop_gap = v.real("stop_gap", stop_gap, low=0.0, strict_low=True)
    wanted = {v.positive_int("snapshots[]", s, minimum=0) for s in snapshots}
    L, d_out = len(layers), Y.shape[0]
    c = network_factor(layers)
    x_norm = np.linalg.norm(X, 2)
    start = [w.copy() for w in layers]

    def backward(layers, outs):
        """``T_i = c W_{L:i+1}^T (U - Y)`` for every layer (top first), and the gradient norms."""
        T = [None] * L
        T[L - 1] = c * (c * outs[L] - Y)
        for j in range(L - 2, -1, -1):
            T[j] = layers[j + 1].T @ T[j + 1]
        norms = [
            math.sqrt(max(float(np.sum((t.T @ t) * (b.T @ b))), 0.0))
            for t, b in zip(T, outs[:L], strict=True)
        ]
        return T, norms

    def gradient_scale(value):
        return 3 * math.sqrt(max(value, 0.0)) * x_norm / math.sqrt(d_out)

    def update(layers, T, outs, factor):
        """``W_i <- W_i - factor * T_i (W_{i-1:1} X)^T`` in place (BLAS, no temporary)."""
        for j, w in enumerate(layers):
            dgemm(alpha=-factor, a=outs[j], b=T[j], beta=1.0, c=w.T, trans_b=1, overwrite_c=1)

    outs = _forward(layers, X)
    residual = c * outs[L] - Y
    losses = [0.5 * float(np.sum(residual**2))]
    residuals = [float(np.linalg.norm(residual))]
    squared_dists = np.zeros(L)
    dists, grad_ratios = [np.zeros(L)], []
    lam_min, lam_max, errors = [], [], []
    snaps = {0: [w.copy() for w in layers]} if 0 in wanted else {}
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            T, norms = backward(layers, outs)
            scale = gradient_scale(losses[-1])
            grad_ratios.append(max(norms) / scale if scale else 0.0)
            if track_preconditioner:
                lam = np.linalg.eigvalsh(preconditioner_matrix(layers, X))
            # <W_i - W_i(0), dl/dW_i>, from thin products: W_i (W_{i-1:1} X) is outs[i]
            cross = [
                float(np.sum(T[j] * outs[j + 1]) - np.sum(T[j] * (start[j] @ outs[j])))
                for j in range(L)
            ]
            if track_error:
                # first-order change of U is -lr c sum_i W_{L:i+1} T_i (W_{i-1:1} X)^T W_{i-1:1} X
                first, above = 0.0, np.eye(d_out)
                for j in range(L - 1, -1, -1):
                    first = first + above @ T[j] @ (outs[j].T @ outs[j])
                    above = above @ layers[j]
            update(layers, T, outs, lr)
            new_outs = _forward(layers, X)
            new_residual = c * new_outs[L] - Y
            value = 0.5 * float(np.sum(new_residual**2))
            if not np.isfinite(value) or value > 1e12 * max(losses[0], 1e-300):
                diverged = True
                # keep the last finite iterate: replay the k - 1 finite steps exactly (undoing
                # a huge step in place would not give it back to round-off)
                layers = descent(X, Y, start, lr, k - 1).final_weights
                outs = _forward(layers, X)
                grad_ratios.pop()
                break
            if track_preconditioner:
                lam_min.append(lam[0])
                lam_max.append(lam[-1])
            if track_error:
                change = c * (new_outs[L] - outs[L])
                errors.append(float(np.linalg.norm(change + lr * c * first)))
            outs = new_outs
            losses.append(value)
            residuals.append(float(np.linalg.norm(new_residual)))
            # ||W - W(0) - lr g||^2 = ||W - W(0)||^2 - 2 lr <W - W(0), g> + lr^2 ||g||^2
            squared_dists += -2 * lr * np.array(cross) + lr**2 * np.array(norms) ** 2
            dists.append(np.sqrt(np.maximum(squared_dists, 0.0)))
            if k in wanted:
                snaps[k] = [w.copy() for w in layers]
            if stop_gap is not None and losses[-1] - opt <= stop_gap * (losses[0] - opt):
                break
    _, norms = backward(layers, outs)
    scale = gradient_scale(losses[-1])
    grad_ratios.append(max(norms) / scale if scale else 0.0)
    return DescentRun(
        loss=np.array(losses),
        distance=np.array(dists).max(axis=1),
        layer_distance=np.array(dists),
        residual=np.array(residuals),
        gradient_ratio=np.array(grad_ratios),
        lr=lr,
        diverged=diverged,
        lam_min=np.array(lam_min) if track_preconditioner else None,
        lam_max=np.array(lam_max) if track_preconditioner else None,
        error_term=np.array(errors) if track_error else None,
        snapshots=snaps,
        final_weights=layers,
    )


def iterations_to(loss, eps: float, opt: float = 0.0) -> float:
    """First step t with ``l(t) - opt <= eps * (l(0) - opt)``; ``inf`` if never reached."""
    arr = _numbers("loss", loss)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"loss must be a non-empty 1-D array, got shape {arr.shape}")
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    opt = v.real("opt", opt)
    gap = arr - opt
    hit = np.nonzero(gap <= eps * gap[0])[0]
    return float(hit[0]) if hit.size else float("inf")


def chain_iterations(
    depth: int,
    seeds: int,
    eps: float,
    max_steps: int,
    rng=None,
    *,
    x: float = 1.0,
    y: float = 1.0,
    lr: float | None = None,
) -> np.ndarray:
    """Iterations gradient descent needs on the width-1 chain (Shamir's one-dimensional network).

    Loss ``1/2 (w_L ... w_1 x - y)^2`` with scalar ``w_i ~ N(0, 1)`` (Du & Hu's initialisation;
    with ``m = d_out = 1`` the scaling c is 1), step ``lr`` (default Du & Hu's
    ``1 / (3 L x^2)``). Runs ``seeds`` independent initialisations side by side and returns, for
    each, the first step with ``loss <= eps * loss(0)``; ``inf`` if that does not happen within
    ``max_steps`` steps or the run diverges.
    """
    L = v.positive_int("depth", depth)
    seeds = v.positive_int("seeds", seeds)
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    max_steps = v.positive_int("max_steps", max_steps)
    x = v.real("x", x)
    if x == 0:
        raise ValueError("x must be non-zero")
    y = v.real("y", y)
    lr = 1.0 / (3 * L * x * x) if lr is None else v.real("lr", lr, low=0.0, strict_low=True)
    gen = v.rng(rng)
    w = gen.standard_normal((seeds, L))
    target = eps * 0.5 * (np.prod(w, axis=1) * x - y) ** 2
    result = np.full(seeds, np.inf)
    active = np.arange(seeds)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, max_steps + 1):
            wa = w[active]
            ones = np.ones((wa.shape[0], 1))
            before = np.cumprod(np.hstack([ones, wa[:, :-1]]), axis=1)
            after = np.cumprod(np.hstack([ones, wa[:, :0:-1]]), axis=1)[:, ::-1]
            residual = (np.prod(wa, axis=1) * x - y) * x
            wa = wa - lr * residual[:, None] * before * after
            w[active] = wa
            value = 0.5 * (np.prod(wa, axis=1) * x - y) ** 2
            done = value <= target[active]
            result[active[done]] = k
            keep = ~done & np.isfinite(value)
            active = active[keep]
            if active.size == 0:
                break
    return result


def network_iterations(
    X,
    Y,
    width: int,
    depth: int,
    seeds: int,
    eps: float,
    max_steps: int,
    rng=None,
    *,
    lr_multiplier: float = 1.0,
) -> np.ndarray:
    """Iterations to ``l(t) - OPT <= eps (l(0) - OPT)`` for ``seeds`` Gaussian initialisations of
    a width-``m`` depth-``L`` network, at ``lr_multiplier`` times Du & Hu's step (``inf`` if not
    reached within ``max_steps`` or diverged)."""
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    seeds = v.positive_int("seeds", seeds)
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    lr_multiplier = v.real("lr_multiplier", lr_multiplier, low=0.0, strict_low=True)
    gen = v.rng(rng)
    _, opt = least_squares(X, Y)
    lr = lr_multiplier * dh_step_size(X, depth, Y.shape[0])
    counts = []
    for _ in range(seeds):
        init = gaussian_network(X.shape[0], width, Y.shape[0], depth, gen)
        run = descent(X, Y, init, lr, max_steps, opt=opt, stop_gap=eps)
        counts.append(iterations_to(run.loss, eps, opt))
    return np.array(counts)
