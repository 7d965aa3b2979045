"""Chapter 5, "Beyond lazy training" (Eftekhari 2020): the recipes and figures of its notebooks.

One section per notebook; the mathematics lives in the concept modules ``whitened``, ``landscape``,
``stable_set`` and ``nonlocal_rates``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import brentq

from . import _validate as v
from . import landscape, whitened
from . import stable_set as stable
from . import width as width_lib
from .ch2 import phi_gradient, phi_hessian
from .networks import (
    balanced_init,
    end_to_end,
    gaussian_init,
)
from .plotting import depth_color
from .whitened import leading_triplet, target_with_spectrum

# --- 5.1 The landscape ---------------------------------------------------------------------------
# Eftekhari's section 2 and appendices A-F: non-whitened data, the origin of a network, limits of
# gradient flow from random starts and where they stand (Definitions 2.1-2.3, Theorem 2.8), and
# the Hessian spectra of the PCA problem at its stationary points (Theorem 2.7).


def landscape_problem(m: int = 20, d_x: int = 5, d_y: int = 3, rng=0):
    """Non-whitened regression data ``(X, Y)``: ``X = diag(c) G`` with Gaussian ``G`` (``d_x x m``)
    and row scales ``c`` geometric from ``4/sqrt(m)`` down to ``1/sqrt(m)`` (so ``X X^T`` is far from
    a multiple of ``I``), and ``Y = A X + 0.3 E`` with Gaussian ``A`` (``d_y x d_x``) and noise ``E``."""
    m = v.positive_int("m", m)
    d_x = v.positive_int("d_x", d_x)
    d_y = v.positive_int("d_y", d_y)
    if d_x > m:
        raise ValueError(f"d_x must be at most m (X X^T invertible), got d_x={d_x} and m={m}")
    gen = v.rng(rng)
    scales = np.geomspace(2.0, 0.5, d_x) * 2 / np.sqrt(m)
    X = scales[:, None] * gen.standard_normal((d_x, m))
    A = gen.standard_normal((d_y, d_x))
    Y = A @ X + 0.3 * gen.standard_normal((d_y, m))
    return X, Y


def zero_network(widths) -> list[np.ndarray]:
    """The origin: zero layers with widths ``(d_0, ..., d_N)``."""
    dims = landscape.as_widths(widths)
    return [np.zeros((dims[j + 1], dims[j])) for j in range(len(dims) - 1)]


def flow_limits(
    X, Y, widths, count: int, *, std: float = 0.5, t_end: float = 50.0, rng=0
) -> list[list[np.ndarray]]:
    """Where gradient flow on ``L_N`` ends from ``count`` Gaussian starts (entries ``N(0, std^2)``)
    with widths ``(d_0, ..., d_N)``: the layers at ``t_end`` (:func:`linnet_lib.landscape.flow_limit`,
    LSODA with rtol 1e-8, atol 1e-12)."""
    dims = landscape.as_widths(widths)
    count = v.positive_int("count", count)
    gen = v.rng(rng)
    return [landscape.flow_limit(X, Y, gaussian_init(dims, std, gen), t_end) for _ in range(count)]


def balanced_rank_one_limits(
    X, Y, widths, count: int, *, t_end: float = 50.0, rng=0
) -> list[list[np.ndarray]]:
    """Gradient flow from ``count`` balanced networks (hidden spaces randomly rotated) whose
    products are random rank-one matrices: a null set of starts, on which the flow keeps the rank
    (Lemma 3.3). Returns the layers at ``t_end``."""
    dims = landscape.as_widths(widths)
    count = v.positive_int("count", count)
    gen = v.rng(rng)
    out = []
    for _ in range(count):
        W0 = np.outer(gen.standard_normal(dims[-1]), gen.standard_normal(dims[0]))
        start = balanced_init(W0, len(dims) - 1, dims[1:-1], rng=gen)
        out.append(landscape.flow_limit(X, Y, start, t_end))
    return out


def correspondence(layers, X, Y, *, tol: float = 1e-8) -> dict:
    """A network and its images under Lemmas 2.4-2.6: the two-factor point ``[Q, P]`` of (10b)
    (:func:`linnet_lib.landscape.two_factor_split`) and the PCA point ``[Q X, P]`` of (12).

    Returns ``identity``, the largest relative error of ``g_2 = lift^T g_N`` and
    ``H_2 = lift^T H_N lift`` (equations 63-64, :func:`linnet_lib.landscape.lift_matrix`);
    ``gradients``, the gradient norms of the three points; ``kinds``, their classes under
    Definitions 2.1-2.3 (tolerance ``tol``); ``hessian_min``, the three smallest Hessian
    eigenvalues; and ``product_gap``, ``||P Q X - W X||`` (zero by construction)."""
    layers = list(v.weights("layers", layers))
    _, (Q, P) = landscape.two_factor_split(layers)
    lift = landscape.lift_matrix(layers)
    M = landscape.pca_target(X, Y)
    eye = np.eye(X.shape[1])
    points = ((layers, X, Y), ([Q, P], X, Y), ([Q @ X, P], eye, M))
    grads = [landscape.gradient(*p) for p in points]
    hessians = [landscape.hessian(*p) for p in points]
    stats = [landscape.stationarity(*p, grad_tol=tol, hess_tol=tol) for p in points]
    identity = max(
        float(np.linalg.norm(grads[1] - lift.T @ grads[0]))
        / max(np.linalg.norm(grads[1]), np.linalg.norm(grads[0]), 1.0),
        float(np.linalg.norm(hessians[1] - lift.T @ hessians[0] @ lift))
        / max(np.linalg.norm(hessians[1]), 1.0),
    )
    return {
        "identity": identity,
        "gradients": [s.gradient_norm for s in stats],
        "kinds": [s.kind for s in stats],
        "hessian_min": [s.hessian_min for s in stats],
        "product_gap": float(np.linalg.norm(P @ Q @ X - end_to_end(layers) @ X)),
    }


def limit_table(limits, X, Y, *, grad_tol: float = 1e-8, hess_tol: float = 1e-8) -> dict:
    """For each network of ``limits``: ``gradient`` (norm), ``hessian_min``, ``kind``
    (:func:`linnet_lib.landscape.stationarity`), ``rank`` of the product (singular values above
    ``1e-8`` times the largest) and ``gap``, ``(L_N - min L_N) / min L_N`` with the minimum for the
    bottleneck of the network (equations 11-12)."""
    if isinstance(limits, np.ndarray) or not isinstance(limits, Sequence) or not limits:
        raise ValueError("limits must be a non-empty list of networks")
    out = {key: [] for key in ("gradient", "hessian_min", "kind", "rank", "gap")}
    for layers in limits:
        st = landscape.stationarity(layers, X, Y, grad_tol=grad_tol, hess_tol=hess_tol)
        best = landscape.pca_minimum(X, Y, landscape.bottleneck(landscape.widths_of(layers)))
        s = np.linalg.svd(end_to_end(layers), compute_uv=False)
        out["gradient"].append(st.gradient_norm)
        out["hessian_min"].append(st.hessian_min)
        out["kind"].append(st.kind)
        out["rank"].append(int(np.sum(s > 1e-8 * s[0])) if s[0] > 0 else 0)
        out["gap"].append((landscape.loss(layers, X, Y) - best) / best)
    return {key: np.array(val) for key, val in out.items()}


def stationary_points_by_rank(X, Y, widths, rng=0) -> list[dict]:
    """Every stationary network :func:`linnet_lib.landscape.stationary_network` with the given
    widths, one per set of at most ``r`` singular triplets of ``Y P_X`` (``r`` the bottleneck),
    smallest sets first. Each entry: ``indices``, ``rank`` of the product (the number of
    triplets), ``kind`` (:func:`linnet_lib.landscape.stationarity`), ``loss`` and
    ``rank_minimum``, the minimum of ``L_N`` over products of that rank (equation 11 with ``r``
    replaced by the rank)."""
    dims = landscape.as_widths(widths)
    r = landscape.bottleneck(dims)
    s = np.linalg.svd(landscape.pca_target(X, Y), compute_uv=False)
    available = int(np.sum(s > 1e-10 * s[0]))
    out = []
    for size in range(min(r, available) + 1):
        for idx in combinations(range(available), size):
            net = landscape.stationary_network(X, Y, list(idx), dims, rng=rng)
            out.append(
                {
                    "indices": idx,
                    "rank": size,
                    "kind": landscape.stationarity(net, X, Y).kind,
                    "loss": landscape.loss(net, X, Y),
                    "rank_minimum": landscape.pca_minimum(X, Y, size),
                }
            )
    return out


def rank_gaps(networks, X, Y, rtol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """For each network: the rank ``r'`` of its product (singular values above ``rtol`` times the
    largest) and ``(L_N - m_{r'}) / m_{r'}``, with ``m_{r'}`` the minimum over products of rank
    ``r'`` (equation 11 with ``r'``). Theorem 35(a) of Bah et al. says a limit of gradient flow has
    gap 0."""
    if isinstance(networks, np.ndarray) or not isinstance(networks, Sequence) or not networks:
        raise ValueError("networks must be a non-empty list of networks")
    rtol = v.real("rtol", rtol, low=0.0, strict_low=True)
    ranks, gaps = [], []
    for layers in networks:
        s = np.linalg.svd(end_to_end(layers), compute_uv=False)
        rank = int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0
        best = landscape.pca_minimum(X, Y, rank)
        ranks.append(rank)
        gaps.append((landscape.loss(layers, X, Y) - best) / best)
    return np.array(ranks), np.array(gaps)


def pca_spectra(M, r: int, index_sets) -> dict:
    """The Hessian eigenvalues (increasing) of the PCA objective ``1/2 ||M - P Q'||^2`` (problem 12)
    at the stationary point of each set of singular triplets (0-based) in ``index_sets``
    (:func:`linnet_lib.landscape.pca_point`): a dict ``tuple(indices) -> eigenvalues``."""
    M = v.matrix("M", M)
    eye = np.eye(M.shape[1])
    out = {}
    for idx in index_sets:
        point = landscape.pca_point(M, idx, r)
        out[tuple(idx)] = np.linalg.eigvalsh(landscape.hessian(point, eye, M))
    return out


def spectrum_text(eigenvalues, decimals: int = 2) -> str:
    """Eigenvalues rounded to ``decimals`` places, each distinct value once with its multiplicity
    (``"-3.63, 0.00 x2, 7.02 x17"``); ``-0.00`` prints as ``0.00``."""
    decimals = v.positive_int("decimals", decimals, minimum=0)
    eig = np.round(np.sort(np.asarray(eigenvalues, dtype=float).ravel()), decimals) + 0.0
    if eig.size == 0:
        raise ValueError("eigenvalues must be non-empty")
    values, counts = np.unique(eig, return_counts=True)
    return ", ".join(
        f"{x:.{decimals}f}" + (f" x{c}" if c > 1 else "")
        for x, c in zip(values, counts, strict=True)
    )


def plot_pca_spectra(ax, spectra: dict, predicted: dict | None = None) -> None:
    """One column of dots per stationary point (``spectra`` from :func:`pca_spectra`), negative
    eigenvalues in red; ``predicted`` (same keys) adds the formula's values as open circles."""
    if not isinstance(spectra, dict) or not spectra:
        raise ValueError("spectra must be a non-empty dict indices -> eigenvalues")
    for k, (idx, eig) in enumerate(spectra.items()):
        eig = np.asarray(eig, dtype=float)
        neg = eig < -1e-8
        ax.plot(np.full(np.sum(~neg), k), eig[~neg], "o", color="C0", ms=4)
        ax.plot(np.full(np.sum(neg), k), eig[neg], "o", color="C3", ms=4)
        if predicted is not None:
            ax.plot(
                np.full(len(predicted[idx]), k), predicted[idx], "o", mfc="none", color="k", ms=8
            )
    ax.plot([], [], "o", color="C0", ms=4, label="eigenvalue >= 0")
    ax.plot([], [], "o", color="C3", ms=4, label="eigenvalue < 0")
    if predicted is not None:
        ax.plot([], [], "o", mfc="none", color="k", ms=8, label="formula")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xticks(range(len(spectra)))
    ax.set_xticklabels([", ".join(str(i + 1) for i in idx) or "none" for idx in spectra])
    ax.set_xlabel("singular triplets of $Y P_X$ in the stationary point")
    ax.set_ylabel("Hessian eigenvalue")
    ax.legend(fontsize=8)


# --- 5.2 Gradient flow and the stable set --------------------------------------------------------
# Eftekhari's section 3 and appendices G-J: balanced starts with the widths of a network, the
# per-layer flow seen through its product, second-order stationarity at a limit, products of
# random layers (Lemma 3.4), the flows of the stable set and their phase portrait.


def balanced_start(W0, widths, rng=None) -> list[np.ndarray]:
    """A balanced network (Definition 3.2) with widths ``(d_0, d_1, ..., d_N)`` whose product is
    ``W0`` (shape ``(d_N, d_0)``): ``ll.balanced_init`` with random rotations of the hidden spaces
    (``rng``), so that no entry is zero by construction."""
    dims = landscape.as_widths(widths)
    W0 = v.matrix("W0", W0, shape=(dims[-1], dims[0]))
    return balanced_init(W0, len(dims) - 1, dims[1:-1], rng=rng)


def second_order_summary(loss, layers, step: float = 1e-5) -> dict:
    """At a network ``layers``: the norm of the gradient of ``phi`` over all weights, and the
    smallest and largest eigenvalues of its Hessian (``ll.ch2.phi_hessian``, central differences
    of the exact gradient with ``step``). A second-order stationary point has a zero gradient
    and ``lam_min >= 0`` (Definitions 2.1-2.2)."""
    layers = list(v.weights("layers", layers))
    eig = np.linalg.eigvalsh(phi_hessian(loss, layers, step))
    return {
        "grad_norm": float(np.linalg.norm(phi_gradient(loss, layers))),
        "lam_min": float(eig[0]),
        "lam_max": float(eig[-1]),
    }


def random_products(widths, count: int, rng=None, entries: str = "gaussian") -> np.ndarray:
    """The products ``W_N ... W_1`` of ``count`` random networks with widths ``(d_0, ..., d_N)``,
    shape ``(count, d_N, d_0)``: entries i.i.d. standard Gaussian (``entries='gaussian'``, an
    absolutely continuous law) or 0/1 with probability 1/2 each (``'bernoulli'``, a law with atoms,
    the control of Lemma 3.4)."""
    dims = landscape.as_widths(widths)
    count = v.positive_int("count", count)
    if entries not in ("gaussian", "bernoulli"):
        raise ValueError(f"entries must be 'gaussian' or 'bernoulli', got {entries!r}")
    gen = v.rng(rng)
    product = None
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        if entries == "gaussian":
            layer = gen.standard_normal((count, d_out, d_in))
        else:
            layer = gen.integers(0, 2, size=(count, d_out, d_in)).astype(float)
        product = layer if product is None else layer @ product
    return product


def numerical_ranks(mats, rtol: float = 1e-10, scale: float | None = None) -> np.ndarray:
    """The rank of each matrix of a stack ``(K, rows, cols)``: the number of singular values above
    ``rtol * scale``, where ``scale`` is each matrix's largest singular value by default (a zero
    matrix then has rank 0). Pass a common ``scale`` to compare a sequence with its limit."""
    mats = np.asarray(mats, dtype=float)
    if mats.ndim != 3:
        raise ValueError(f"mats must have shape (K, rows, cols), got {mats.shape}")
    rtol = v.real("rtol", rtol, low=0.0, strict_low=True)
    s = np.linalg.svd(mats, compute_uv=False)
    if scale is None:
        top = s[:, :1]
        return np.sum((s > rtol * top) & (top > 0), axis=1)
    scale = v.real("scale", scale, low=0.0, strict_low=True)
    return np.sum(s > rtol * scale, axis=1)


def lower_rank_sequence(layers, scales) -> list[list[np.ndarray]]:
    """Networks that converge to one whose product has lower rank (Lemma 3.4, part 1).

    With ``r`` the rank of the product ``W = sum_i sigma_i u_i v_i^T`` of ``layers``, the first layer
    is replaced by ``W_1 (I - (1 - c) v_r v_r^T)`` for each ``c`` in ``scales``: the product becomes
    ``sum_{i<r} sigma_i u_i v_i^T + c sigma_r u_r v_r^T``, of rank ``r`` for ``c > 0``, and the
    networks converge, as ``c -> 0``, to the one with ``c = 0``, whose product has rank ``r - 1``.
    """
    layers = list(v.weights("layers", layers))
    scales = [v.real(f"scales[{k}]", c, low=0.0) for k, c in enumerate(scales)]
    _, s, Vt = np.linalg.svd(end_to_end(layers))
    r = int(np.sum(s > 1e-10 * s[0]))
    if r == 0:
        raise ValueError("layers must have a non-zero product")
    v_r = Vt[r - 1]
    out = []
    for c in scales:
        first = layers[0] @ (np.eye(v_r.size) - (1 - c) * np.outer(v_r, v_r))
        out.append([first, *layers[1:]])
    return out


def flow_summary(run, X, Y, alpha: float) -> dict:
    """What Lemmas J.1, 3.7, 4.1 and Theorem 3.8 say about a run of ``ll.gradient_flow`` on
    ``ll.SquareLoss(X, Y)`` (whitened ``X``), in units of ``s_Z``:

    ``size`` and ``alignment``, the smallest margins of the stable set (28) along the run;
    ``sigma2``, the largest ``sigma_2 / sigma_1`` of the product; ``s_end``, the final size;
    ``distance``, ``||W(T) - Z1||_F``; and ``loss_gap``, ``L(T) - min L`` divided by ``m s_Z^2``.
    """
    lead = leading_triplet(stable.target(X, Y))
    margins = stable.margins_along(run.end_to_end, lead, alpha)
    sv = run.singular_values
    m = X.shape[1]
    return {
        "size": float(margins["size"].min() / lead.s),
        "alignment": float(margins["alignment"].min() / lead.s),
        "sigma2": float((sv[:, 1] / sv[:, 0]).max()) if sv.shape[1] > 1 else 0.0,
        "s_end": float(sv[-1, 0] / lead.s),
        "distance": float(np.linalg.norm(run.end_to_end[-1] - lead.Z1) / lead.s),
        "loss_gap": float((run.loss[-1] - stable.rank_one_minimum(X, Y)) / (m * lead.s**2)),
    }


def phase_path(mats, lead) -> tuple[np.ndarray, np.ndarray]:
    """``(u^T Z1 v / s_Z, s / s_Z)`` along a trajectory of rank-1 matrices ``(T, d_y, d_x)``."""
    mats = np.asarray(mats, dtype=float)
    if mats.ndim != 3:
        raise ValueError(f"mats must have shape (T, d_y, d_x), got {mats.shape}")
    a = np.array([stable.alignment(W, lead) for W in mats]) / lead.s
    s = np.linalg.svd(mats, compute_uv=False)[:, 0] / lead.s
    return a, s


def plot_stable_set(ax, paths: dict, alpha: float, gamma: float) -> None:
    """The phase plane (alignment ``u^T Z1 v / s_Z``, size ``s / s_Z``): the stable set (28) shaded,
    the largest invariant size threshold ``alpha - gamma (1 - alpha)`` dashed, and ``paths``
    (label -> (alignment, size) arrays) with a dot at each start and a cross at each end."""
    if not isinstance(paths, dict) or not paths:
        raise ValueError("paths must be a non-empty dict label -> (alignment, size)")
    top = max(2.2, max(float(np.max(s)) for _, s in paths.values()) * 1.05)
    ax.fill_between(
        [alpha, 1.0], alpha - gamma, top, color="0.85", label=r"stable set $\mathcal{N}_\alpha$"
    )
    ax.axhline(
        alpha - gamma * (1 - alpha),
        color="0.4",
        ls="--",
        lw=1,
        label=r"size threshold $\alpha - \gamma_Z(1-\alpha)$",
    )
    for k, (label, (a, s)) in enumerate(paths.items()):
        color = f"C{k}"
        ax.plot(a, s, color=color, label=label)
        ax.plot(a[0], s[0], "o", color=color, ms=4)
        ax.plot(a[-1], s[-1], "x", color=color, ms=7)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(0.0, top)
    ax.set_xlabel(r"alignment $u^\top Z_1 v / s_Z$")
    ax.set_ylabel(r"size $s / s_Z$")
    ax.legend(fontsize=7, loc="upper center")


# --- 5.3 Non-local rates -------------------------------------------------------------------------
# Eftekhari's section 4 and appendices K-P: targets with a chosen gap, starts turned away from Z1,
# runs of the induced flow on rank-one matrices with the two-phase bound of Theorem 4.4, the decay
# exponents that measure how tight it is, and its figure. The mathematics is in nonlocal_rates.


def gapped_target(singular_values, shape, rng=None) -> np.ndarray:
    """The targets of section 5.3: :func:`linnet_lib.whitened.target_with_spectrum` (Q factors of
    square Gaussian matrices); ``singular_values`` fix ``s_Z`` and ``gamma_Z``."""
    return target_with_spectrum(singular_values, shape, rng, draw="square")


def whitened_data_for(Z, samples: int, rng=None, noise: float = 0.5):
    """Data ``(X, Y)`` with ``X X^T = m I`` and ``Y X^T / m = Z`` exactly: ``Y = Z X`` plus noise
    orthogonal to the rows of ``X`` (it changes the loss by a constant, not the flow)."""
    Z = v.matrix("Z", Z)
    m = v.positive_int("samples", samples)
    d_y, d_x = Z.shape
    if m < d_x + d_y:
        raise ValueError(f"samples must be at least d_x + d_y = {d_x + d_y}, got {m}")
    noise = v.real("noise", noise, low=0.0)
    Q = np.linalg.qr(v.rng(rng).standard_normal((m, d_x + d_y)))[0]
    X = np.sqrt(m) * Q[:, :d_x].T
    return X, Z @ X + noise * np.sqrt(m) * Q[:, d_x:].T


def turned_start(Z, size: float, degrees: float) -> np.ndarray:
    """The starts of section 5.3: ``W0 = size (cos t u_1 + sin t u_2)(cos t v_1 + sin t v_2)^T`` with
    ``t = degrees``, the leading singular vectors of ``Z`` both turned by the same angle towards the
    second ones (:func:`linnet_lib.stable_set.rank_one_start` with ``degrees`` and ``second=1``).
    Then ``s_0 = size`` and ``a_0 = s_Z cos^2 t``; turning both by the same angle is the case where
    appendix N's inequality (181) is an equality."""
    Z = v.matrix("Z", Z)
    if min(Z.shape) < 2:
        raise ValueError(f"Z needs d_y, d_x >= 2 to turn both singular vectors, got {Z.shape}")
    return stable.rank_one_start(Z, size, degrees=degrees, second=1)


def random_rank_one(count: int, shape, s_range, rng=None) -> np.ndarray:
    """``count`` matrices ``s u v^T`` (shape ``(count, d_y, d_x)``) with ``s`` uniform in ``s_range``
    and ``u, v`` uniform on their unit spheres."""
    count = v.positive_int("count", count)
    d_y, d_x = v.matrix_shape("shape", shape)
    low, high = (float(x) for x in s_range)
    if not 0 <= low <= high:
        raise ValueError(f"s_range must be (low, high) with 0 <= low <= high, got {s_range}")
    gen = v.rng(rng)
    u = gen.standard_normal((count, d_y))
    w = gen.standard_normal((count, d_x))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    s = gen.uniform(low, high, count)
    return s[:, None, None] * u[:, :, None] * w[:, None, :]


@dataclass(frozen=True)
class RateRun:
    """A run of the induced flow with the quantities of Theorem 4.4.

    ``t``, ``W`` the recorded times and matrices, ``dist2`` the squared distances ``||Z1 - W||_F^2``,
    ``tau`` the first time ``s <= sqrt(6) s_Z``, ``W_tau`` the matrix then (``None`` if the run
    starts below or never gets there) and ``dist2_tau`` its squared distance (``dist2[0]`` if
    ``tau = 0``), ``rates`` the theorem's two decay rates, ``bound`` the right side of (38) at ``t``.
    """

    depth: int
    m: float
    lead: object
    alpha: float
    beta: float
    t: np.ndarray
    W: np.ndarray
    dist2: np.ndarray
    tau: float
    W_tau: np.ndarray | None
    dist2_tau: float
    rates: tuple[float, float]
    bound: np.ndarray


def theorem_4_4_run(
    Z, W0, depth: int, m: float, alpha: float, beta: float, t_end: float, points: int = 801
) -> RateRun:
    """Run the induced flow from ``W0`` to ``t_end`` (``points`` equally spaced records, solve_ivp
    DOP853 with rtol 1e-11) and evaluate Theorem 4.4's bound along it."""
    from . import nonlocal_rates as rates

    lead = leading_triplet(Z)
    n = v.positive_int("depth", depth, minimum=2)
    theorem = rates.theorem_4_4_rates(n, m, lead, alpha, beta)
    t = np.linspace(0.0, v.real("t_end", t_end, low=0.0, strict_low=True), points)
    run = rates.rank_one_flow(W0, Z, n, m, t, s_level=rates.PHASE_THRESHOLD * lead.s)
    dist2 = 2 * rates.l11(run.W, lead)
    dist2_tau = dist2[0] if run.W_tau is None else float(2 * rates.l11(run.W_tau, lead))
    bound = rates.theorem_4_4_bound(run.t, run.tau, dist2[0], dist2_tau, theorem)
    return RateRun(
        n, m, lead, alpha, beta, run.t, run.W, dist2, run.tau, run.W_tau, dist2_tau, theorem, bound
    )


def decay_ratios(run: RateRun, rates=None, floor: float = 1e-24) -> dict:
    """How a run compares with the two-phase bound, for the theorem's rates or other ``rates``:

    * ``worst``: the largest ratio of ``||Z1 - W(t)||^2`` to the bound over ``t > 0``;
    * ``fast``, ``slow``: the smallest ratio of the measured decay exponent to the bound's, over
      ``0 < t <= tau`` (``log(d(0) / d(t)) / (fast t)``) and over ``t > tau``
      (``log(d(tau) / d(t)) / (slow (t - tau))``); ``nan`` for an empty phase. A ratio ``>= 1``
      means the bound holds, and its size says how loose the bound is.

    Times where the squared distance has fallen below ``floor`` times its start (round-off) are left
    out."""
    from . import nonlocal_rates as nr

    fast, slow = run.rates if rates is None else rates
    t, d = run.t, run.dist2
    keep = d > floor * d[0]
    log_bound = nr.theorem_4_4_bound(t, run.tau, d[0], run.dist2_tau, (fast, slow), log=True)
    pre = (t > 0) & (t <= run.tau) & keep
    post = (t > run.tau) & keep
    with np.errstate(over="ignore"):
        worst = np.exp(np.max((np.log(d) - log_bound)[1:][keep[1:]]))
    out = {"worst": float(worst)}
    out["fast"] = float(np.min(np.log(d[0] / d[pre]) / (fast * t[pre]))) if pre.any() else np.nan
    out["slow"] = (
        float(np.min(np.log(run.dist2_tau / d[post]) / (slow * (t[post] - run.tau))))
        if post.any()
        else np.nan
    )
    return out


def instantaneous_rates(run: RateRun, Z) -> np.ndarray:
    """``-d log ||Z1 - W||^2 / dt = -(dL11/dt) / L11`` at the recorded times, from equation (34)."""
    from . import nonlocal_rates as nr

    return -nr.l11_rate_rank_one(run.W, Z, run.depth, run.m) / nr.l11(run.W, run.lead)


def fitted_final_rate(run: RateRun, low: float = 1e-20, high: float = 1e-12) -> float:
    """The decay rate of ``||Z1 - W(t)||^2`` fitted (least squares on its logarithm) over the times
    where it lies between ``low`` and ``high`` times its start."""
    sel = (run.dist2 >= low * run.dist2[0]) & (run.dist2 <= high * run.dist2[0])
    if sel.sum() < 3:
        raise ValueError("fewer than 3 recorded times in the window: lengthen the run")
    return float(-np.polyfit(run.t[sel], np.log(run.dist2[sel]), 1)[0])


def first_time_below(t, values, level: float) -> float:
    """The first time a positive, recorded quantity drops to ``level``, interpolating its logarithm
    linearly between records (``inf`` if it never does)."""
    t = np.asarray(t, dtype=float)
    values = np.asarray(values, dtype=float)
    level = v.real("level", level, low=0.0, strict_low=True)
    below = np.flatnonzero(values <= level)
    if below.size == 0:
        return float("inf")
    k = below[0]
    if k == 0:
        return float(t[0])
    y0, y1 = np.log(values[k - 1]), np.log(values[k])
    return float(t[k - 1] + (t[k] - t[k - 1]) * (y0 - np.log(level)) / (y0 - y1))


def plot_theorem_4_4(ax, runs: dict, title: str = "", legend: bool = True) -> None:
    """The squared distance ``||Z1 - W(t)||^2`` of each run (solid, coloured by depth) and the
    two-phase bound of Theorem 4.4 (dashed), with ``tau`` marked; log scale, time in units of
    ``1 / (m s_Z^{2-2/N})`` is left to the caller (``runs`` maps a label to a :class:`RateRun`)."""
    for label, run in runs.items():
        color = depth_color(run.depth)
        ax.semilogy(run.t, run.dist2, color=color, lw=1.8, label=label)
        ax.semilogy(run.t, run.bound, color=color, lw=1.0, ls="--")
        if np.isfinite(run.tau) and run.tau > 0:
            ax.plot([run.tau], [run.dist2_tau], "o", color=color, ms=4)
    ax.set_xlabel("time $t$ (Eftekhari's, loss without $1/m$)")
    ax.set_ylabel(r"$\|Z_1 - W(t)\|_F^2$")
    if title:
        ax.set_title(title)
    if legend:
        ax.plot([], [], "k--", lw=1.0, label="bound (38a, 38b)")
        ax.plot([], [], "ko", ms=4, label=r"$\tau$: $s = \sqrt{6}\, s_Z$")
        ax.legend(fontsize=8, loc="lower left")


# --- 5.4 Figure 1, and how far the weights travel ------------------------------------------------
# Eftekhari's Figure 1 (the induced flow of a balanced network with a rank-one end-to-end matrix,
# forward Euler as in the paper and a tight solve_ivp flow), the crossing of the depth curves, the
# distance the layers travel from their start (against Du & Hu's lazy runs of Chapter 2) and the
# Explore cases.


def rotated_start(Z, angle: float, scale: float, rng=None) -> np.ndarray:
    """The start of Figure 1: ``W0 = scale * s_Z * u (cos(a) v + sin(a) e)^T``.

    ``u, v`` are the leading singular vectors of ``Z`` (``s_Z`` its largest singular value), ``a``
    is ``angle`` in degrees and ``e`` a random unit vector orthogonal to ``v`` (drawn from
    ``rng``): :func:`linnet_lib.stable_set.rank_one_start` with ``right_only``. So
    ``||W0|| = scale * s_Z``, ``W0`` is rank one and makes the angle ``a`` with ``Z1 = s_Z u v^T``
    (for one output, ``Z`` is a row and this is the row rotated by ``a`` in the plane spanned by it
    and ``e``). Needs ``d_x >= 2``.
    """
    lead = leading_triplet(Z)
    d_x = lead.v.size
    if d_x < 2:
        raise ValueError(f"Z must have at least 2 columns (a plane to rotate in), got {d_x}")
    angle = v.real("angle", angle, low=0.0)
    if angle > 180:
        raise ValueError(f"angle must be in [0, 180] degrees, got {angle}")
    scale = v.real("scale", scale, low=0.0, strict_low=True)
    return stable.rank_one_start(Z, scale * lead.s, rng=v.rng(rng), degrees=angle, right_only=True)


def target_with_gap(s_Z: float, gamma: float, shape, rng=None) -> np.ndarray:
    """A target ``Z = s_Z (u_1 v_1^T + gamma u_2 v_2^T)`` of shape ``(d_y, d_x)`` with random
    orthonormal ``u``'s and ``v``'s (:func:`linnet_lib.whitened.target_with_spectrum`, thin Q
    factors): largest singular value ``s_Z`` and inverse spectral gap ``gamma_Z = gamma``
    (equation 26), in ``[0, 1)``. ``gamma > 0`` needs ``d_y, d_x >= 2``."""
    s_Z = v.real("s_Z", s_Z, low=0.0, strict_low=True)
    gamma = v.real("gamma", gamma, low=0.0)
    if gamma >= 1:
        raise ValueError(f"gamma must be in [0, 1) (a gap s_Z > s_Z,2), got {gamma}")
    d_y, d_x = v.matrix_shape("shape", shape)
    if gamma > 0 and min(d_y, d_x) < 2:
        raise ValueError(f"gamma > 0 needs shape with d_y, d_x >= 2, got {(d_y, d_x)}")
    values = [s_Z, gamma * s_Z][: min(2, d_y, d_x)]
    return target_with_spectrum(values, (d_y, d_x), rng, draw="thin")


@dataclass(frozen=True)
class InducedRun:
    """A run of the induced flow ``dW/dt = -m A_W(W - Z)`` (Eftekhari's time ``t``).

    ``t`` the recorded times, ``W`` the end-to-end matrices there (shape ``(len(t), d_y, d_x)``),
    ``distance`` the distances ``||W(t) - Z1||_F`` to the best rank-one approximation of ``Z``,
    ``Z1`` that matrix and ``solution`` scipy's dense output (a callable of ``t``, flattened ``W``).
    """

    t: np.ndarray
    W: np.ndarray
    distance: np.ndarray
    Z1: np.ndarray
    solution: object

    def distance_at(self, t: float) -> float:
        """``||W(t) - Z1||_F`` from the dense output, at any time of the run."""
        return float(np.linalg.norm(self.solution(t).reshape(self.Z1.shape) - self.Z1))


def induced_flow(
    Z, W0, depth: int, m: float, t_eval, *, rtol: float = 1e-10, atol: float = 1e-12
) -> InducedRun:
    """The induced flow (17) of a balanced depth-``depth`` network whose end-to-end matrix
    ``W0`` has rank one, on whitened data with target ``Z`` and ``m`` samples:
    :func:`linnet_lib.whitened.induced_flow` with the closed form
    :func:`linnet_lib.whitened.rank_one_operator` (DOP853, tolerances ``rtol``, ``atol``, dense
    output). ``t_eval`` are increasing times from 0 (Eftekhari's time)."""
    t = np.asarray(t_eval, dtype=float)
    if t.ndim != 1 or t.size < 2 or t[0] != 0 or np.any(np.diff(t) <= 0):
        raise ValueError("t_eval must be increasing times starting at 0 (at least two)")
    run = whitened.induced_flow(
        Z, W0, depth, m, t, rtol=rtol, atol=atol, rank_one=True, dense_output=True
    )
    Z1 = leading_triplet(Z).Z1
    distance = np.linalg.norm(run.W - Z1, axis=(1, 2))
    return InducedRun(t=run.t, W=run.W, distance=distance, Z1=Z1, solution=run.solution)


def euler_distances(
    Z, W0, depth: int, m: float, step: float, steps: int, every: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward Euler on the induced flow (17) for one output, as in Eftekhari's Figure 1:
    ``W <- W - step * m A_W(W - Z)``, ``steps`` times.

    For one output ``A_W(Delta) = s^{2-2/N}(Delta + (N - 1)(Delta . w) w / s^2)`` (``s = ||w||``)
    lies in the span of ``Delta`` and ``w``, so every iterate stays in the plane spanned by
    ``W0`` and ``Z``: the loop runs on the two coordinates in that plane, in plain Python floats
    (about 0.3 s per 10^5 steps, and the same digits on every machine).

    Returns ``(t, distance, W_last)``: the times ``k * step`` and distances ``||W_k - Z||`` for
    ``k = 0, every, 2 every, ...`` (``steps`` must be a multiple of ``every``), and the last
    iterate.
    """
    Z = v.matrix("Z", Z)
    if Z.shape[0] != 1:
        raise ValueError(f"Z must have one row (one output, d_y = 1), got shape {Z.shape}")
    W0 = v.matrix("W0", W0, shape=Z.shape)
    n = v.positive_int("depth", depth)
    m = v.real("m", m, low=0.0, strict_low=True)
    h = v.real("step", step, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps)
    every = v.positive_int("every", every)
    if steps % every:
        raise ValueError(f"steps must be a multiple of every, got {steps} and {every}")
    z, w0 = Z[0], W0[0]
    s_z = float(np.linalg.norm(z))
    if s_z == 0 or not np.any(w0):
        raise ValueError("Z and W0 must be non-zero")
    e1 = z / s_z
    rest = w0 - (w0 @ e1) * e1
    e2 = rest / np.linalg.norm(rest) if np.linalg.norm(rest) > 0 else np.zeros_like(e1)
    a, b = float(w0 @ e1), float(w0 @ e2)
    exponent, extra, hm = 1 - 1 / n, n - 1, h * m
    distances = [math.hypot(a - s_z, b)]
    for _ in range(steps // every):
        for _ in range(every):
            da = a - s_z
            s2 = a * a + b * b
            p = hm * s2**exponent
            c = extra * (da * a + b * b) / s2
            a, b = a - p * (da + c * a), b - p * (b + c * b)
        distances.append(math.hypot(a - s_z, b))
    t = h * every * np.arange(len(distances))
    return t, np.array(distances), (a * e1 + b * e2)[None, :]


def grid_crossings(t, upper, lower) -> np.ndarray:
    """Times after ``t[0]`` at which ``log(upper) - log(lower)`` changes sign, by linear
    interpolation between neighbouring grid points (the first point, where curves that start
    together are equal, is skipped)."""
    t = np.asarray(t, dtype=float)
    upper = np.asarray(upper, dtype=float)
    lower = np.asarray(lower, dtype=float)
    if not (t.ndim == 1 and t.shape == upper.shape == lower.shape and t.size >= 3):
        raise ValueError("t, upper and lower must be 1-D arrays of the same length (at least 3)")
    if np.any(upper <= 0) or np.any(lower <= 0):
        raise ValueError("upper and lower must be positive (distances)")
    g = np.log(upper[1:]) - np.log(lower[1:])
    tt = t[1:]
    out = []
    for i, j in _sign_changes(g):
        if j == i + 1:
            out.append(tt[i] + (tt[j] - tt[i]) * g[i] / (g[i] - g[j]))
        else:  # the curves meet exactly on the grid point(s) between
            out.append(tt[i + 1])
    return np.array(out)


def _sign_changes(g: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of consecutive non-zero entries of ``g`` with opposite signs."""
    nonzero = np.nonzero(g)[0]
    return [
        (int(i), int(j)) for i, j in zip(nonzero[:-1], nonzero[1:], strict=True) if g[i] * g[j] < 0
    ]


def flow_crossings(run_a: InducedRun, run_b: InducedRun) -> np.ndarray:
    """Crossing times of two runs' distance curves: each sign change of the log-ratio between
    two grid points (after the first) is refined with ``scipy.optimize.brentq`` on the dense
    outputs (to ``1e-14`` in time)."""
    for name, run in (("run_a", run_a), ("run_b", run_b)):
        if not isinstance(run, InducedRun):
            raise ValueError(f"{name} must be an InducedRun, got {type(run).__name__}")
    if run_a.t.shape != run_b.t.shape or np.any(run_a.t != run_b.t):
        raise ValueError("run_a and run_b must be recorded at the same times")

    def gap(s):
        return math.log(run_a.distance_at(s)) - math.log(run_b.distance_at(s))

    g = np.log(run_a.distance[1:]) - np.log(run_b.distance[1:])
    tt = run_a.t[1:]
    return np.array([brentq(gap, tt[i], tt[j], xtol=1e-14) for i, j in _sign_changes(g)])


def figure1_runs(Z, W0, depths, m: float, t_end: float, points: int = 1001, **tol) -> dict:
    """:func:`induced_flow` for each depth, recorded at ``points`` equally spaced times on
    ``[0, t_end]``; a dict depth -> InducedRun."""
    depths = [v.positive_int(f"depths[{k}]", d) for k, d in enumerate(depths)]
    if not depths:
        raise ValueError("depths must be a non-empty sequence of depths")
    t_end = v.real("t_end", t_end, low=0.0, strict_low=True)
    points = v.positive_int("points", points, minimum=3)
    t = np.linspace(0.0, t_end, points)
    return {n: induced_flow(Z, W0, n, m, t, **tol) for n in depths}


def loss_time(t, m: float) -> np.ndarray:
    """``m t``: Eftekhari's time ``t`` (his loss has no ``1/m``) in the time of the loss
    ``1/(2m) ||Y - W X||^2`` of the lecture notes, the unit of the axes of Figure 1."""
    m = v.real("m", m, low=0.0, strict_low=True)
    return m * np.asarray(t, dtype=float)


def rescaled_time(t, c: float, depth: int) -> np.ndarray:
    """``t / c^{2 - 2/N}``: the time at which the flow for the target ``c Z`` from ``c W0`` is at
    ``c W(t)``, where ``W(t)`` is the flow for ``Z`` from ``W0`` (``A_{cW} = c^{2-2/N} A_W``)."""
    c = v.real("c", c, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth)
    return np.asarray(t, dtype=float) / c ** (2 - 2 / n)


def consecutive_ratios(distances: dict, floor: float = 0.0) -> np.ndarray:
    """``d_{N'}(t) / d_N(t)`` for consecutive depths ``N < N'`` of ``distances`` (depth -> array
    over the same times), shape ``(T, len - 1)``. Distances at or below ``floor`` (where the
    solver's tolerance, not the flow, sets them) count as ``floor``, and the ratio is NaN where
    both are."""
    if not isinstance(distances, dict) or len(distances) < 2:
        raise ValueError("distances must be a dict depth -> array with at least two depths")
    floor = v.real("floor", floor, low=0.0)
    depths = sorted(distances)
    D = np.array([np.asarray(distances[n], dtype=float) for n in depths]).T
    if D.ndim != 2:
        raise ValueError("distances must hold 1-D arrays of the same length")
    clipped = np.maximum(D, floor)
    ratios = clipped[:, 1:] / clipped[:, :-1]
    ratios[(D[:, 1:] <= floor) & (D[:, :-1] <= floor)] = np.nan
    return ratios


def plot_distance_curves(
    ax, m: float, curves: dict, *, marks=(), floor: float = 0.0, highlight: int | None = None
) -> None:
    """``||W(t) - Z1||`` against ``m t`` (log scale), one curve per depth: ``curves`` maps a depth
    to ``(t, distance)`` (Eftekhari's time ``t``). ``marks`` are ``(t, distance)`` points drawn as
    dots (crossings); values at or below ``floor`` are not drawn; with ``highlight`` that depth is
    drawn thick and the others faint."""
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict depth -> (t, distance)")
    floor = v.real("floor", floor, low=0.0)
    for n, (t, d) in sorted(curves.items()):
        d = np.where(np.asarray(d, dtype=float) > floor, d, np.nan)
        style = {"color": depth_color(n), "label": f"N = {n}"}
        if highlight is not None:
            style.update(lw=3 if n == highlight else 1, alpha=1 if n == highlight else 0.35)
        ax.semilogy(loss_time(t, m), d, **style)
    for t, d in marks:
        ax.plot(loss_time(t, m), d, "ko", ms=4)
    ax.set_xlabel("$m t$ (time of the loss with $1/m$)")
    ax.set_ylabel(r"$\|W(t) - Z_1\|_F$")
    ax.legend(fontsize=8)


def nearby_rates(s_Z: float, depth: int) -> tuple[float, float]:
    """``(s_Z^{2-2/N}, N s_Z^{2-2/N})``: the eigenvalues of ``A_{Z1}`` for one output, on the
    directions orthogonal to ``Z1`` and along it. Linearised at ``Z1``, the induced flow makes the
    two parts of ``W - Z1`` decay at ``m`` times these rates, so the distance eventually decays
    at the first one, ``s_Z^{2-2/N}`` per unit of ``m t``."""
    s_Z = v.real("s_Z", s_Z, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth)
    slow = s_Z ** (2 - 2 / n)
    return slow, n * slow


def local_rate(run: InducedRun, t: float, m: float, step: float = 1e-5) -> float:
    """``-d log ||W - Z1|| / d(m t)`` at time ``t`` of a run, by a central difference of width
    ``2 step`` (Eftekhari's time) on the dense output."""
    if not isinstance(run, InducedRun):
        raise ValueError(f"run must be an InducedRun, got {type(run).__name__}")
    t = v.real("t", t, low=0.0)
    m = v.real("m", m, low=0.0, strict_low=True)
    step = v.real("step", step, low=0.0, strict_low=True)
    if t - step < 0 or t + step > run.t[-1]:
        raise ValueError(f"t +- step must lie in [0, {run.t[-1]:g}], got t = {t:g}")
    up, down = math.log(run.distance_at(t + step)), math.log(run.distance_at(t - step))
    return -(up - down) / (2 * step * m)


def relative_travel(trajectory) -> np.ndarray:
    """``||M(t) - M(0)||_2 / ||M(0)||_2`` at each recorded time, for a trajectory of matrices
    (array of shape ``(T, rows, cols)``, ``M(0)`` non-zero)."""
    M = np.asarray(trajectory, dtype=float)
    if M.ndim != 3 or M.shape[0] < 1:
        raise ValueError(f"trajectory must have shape (T, rows, cols), got {M.shape}")
    size = np.linalg.norm(M[0], 2)
    if size == 0:
        raise ValueError("trajectory must start at a non-zero matrix")
    return np.linalg.norm(M - M[0], ord=2, axis=(1, 2)) / size


def balanced_travel(end_to_end, depth: int) -> np.ndarray:
    """The relative travel of each layer of a balanced network with a rank-one end-to-end
    trajectory ``W(t) = s(t) u(t) v(t)^T``, predicted from that trajectory alone.

    Along gradient flow layer 1 is ``s^{1/N} a_1 v^T``, layer N is ``s^{1/N} u a_{N-1}^T`` and the
    layers between are ``s^{1/N} a_j a_{j-1}^T`` with fixed unit hidden vectors ``a_j`` (their
    gradients have these forms), so layer 1 has travelled ``||(s/s_0)^{1/N} v - v_0||``, layer N
    ``||(s/s_0)^{1/N} u - u_0||`` and the others ``|(s/s_0)^{1/N} - 1|``.

    Returns an array of shape ``(T, depth)``.
    """
    M = np.asarray(end_to_end, dtype=float)
    if M.ndim != 3 or M.shape[0] < 1:
        raise ValueError(f"end_to_end must have shape (T, rows, cols), got {M.shape}")
    n = v.positive_int("depth", depth)
    us, ss, vs = [], [], []
    for W in M:
        U, S, Vt = np.linalg.svd(W)
        u, w = U[:, 0], Vt[0]
        if us and u @ us[-1] < 0:
            u, w = -u, -w
        us.append(u)
        ss.append(S[0])
        vs.append(w)
    us, vs = np.array(us), np.array(vs)
    ratio = (np.array(ss) / ss[0]) ** (1 / n)
    if n == 1:
        return relative_travel(M)[:, None]
    out = np.empty((M.shape[0], n))
    out[:, 0] = np.linalg.norm(ratio[:, None] * vs - vs[0], axis=1)
    out[:, 1 : n - 1] = np.abs(ratio - 1)[:, None]
    out[:, n - 1] = np.linalg.norm(ratio[:, None] * us - us[0], axis=1)
    return out


def lazy_travel(X, Y, widths, depth: int, inits: int, rng=None, max_steps: int = 2000) -> dict:
    """How far the layers of Du & Hu's wide Gaussian networks travel (Chapter 2): for each
    width, ``inits`` runs of :func:`linnet_lib.width.descent` at the step
    :func:`linnet_lib.width.dh_step_size` until the loss has fallen by ``1e10``.

    Returns a dict of arrays, one entry per run: ``width``; ``travel``, the largest over layers of
    ``max_t ||W_j(t) - W_j(0)||_F / ||W_j(0)||_2`` (an upper bound on the travel in spectral norm,
    from the Frobenius distances the descent records at every step); ``final``,
    ``max_j ||W_j(T) - W_j(0)||_2 / ||W_j(0)||_2`` at the last step (a lower bound,
    :func:`linnet_lib.width.relative_movement`); and ``end_to_end``,
    ``||W(T) - W(0)||_2 / ||W(0)||_2`` for the product.
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
        raise ValueError(f"widths must be a non-empty sequence of widths, got {widths!r}")
    widths = [v.positive_int(f"widths[{k}]", w) for k, w in enumerate(widths)]
    L = v.positive_int("depth", depth, minimum=2)
    inits = v.positive_int("inits", inits)
    gen = v.rng(rng)
    lr = width_lib.dh_step_size(X, L, Y.shape[0])
    out = {key: [] for key in ("width", "travel", "final", "end_to_end")}
    for width in widths:
        for _ in range(inits):
            init = width_lib.gaussian_network(X.shape[0], width, Y.shape[0], L, gen)
            run = width_lib.descent(X, Y, init, lr, max_steps, stop_gap=1e-10)
            sizes = np.array([width_lib._spectral(w) for w in init])  # Lanczos for big layers
            out["width"].append(width)
            out["travel"].append(np.max(run.layer_distance.max(axis=0) / sizes))
            out["final"].append(width_lib.relative_movement(run.final_weights, init))
            start, end = end_to_end(init), end_to_end(run.final_weights)
            out["end_to_end"].append(np.linalg.norm(end - start, 2) / np.linalg.norm(start, 2))
    return {key: np.array(val, dtype=float) for key, val in out.items()}


def plot_travel(ax_time, ax_width, m: float, t, layer_travel, e2e_travel, lazy: dict) -> None:
    """Left: the relative travel of each layer and of the product against ``m t`` here. Right:
    the largest layer travel of Du & Hu's lazy runs against the width (log-log, geometric mean
    over initialisations, slope -1/2 guide), with the largest travel here as a line."""
    m = v.real("m", m, low=0.0, strict_low=True)
    t = np.asarray(t, dtype=float)
    travel = np.asarray(layer_travel, dtype=float)
    if travel.ndim != 2 or travel.shape[0] != t.size:
        raise ValueError("layer_travel must have shape (len(t), depth)")
    for j in range(travel.shape[1]):
        style = ("-", "-.", ":")[j % 3]
        ax_time.plot(loss_time(t, m), travel[:, j], ls=style, label=f"layer {j + 1}")
    ax_time.plot(loss_time(t, m), e2e_travel, "k--", label="end-to-end $W$")
    ax_time.set_xlabel("$m t$")
    ax_time.set_ylabel(r"$\|W_j(t) - W_j(0)\|_2 / \|W_j(0)\|_2$")
    ax_time.legend()
    widths = np.unique(lazy["width"])
    mean = [np.exp(np.mean(np.log(lazy["travel"][lazy["width"] == w]))) for w in widths]
    ax_width.loglog(widths, mean, "o-", label="Du & Hu, largest layer")
    ax_width.loglog(widths, mean[0] * (widths / widths[0]) ** -0.5, "k:", label="slope $-1/2$")
    ax_width.axhline(travel.max(), color="C3", label="here, largest layer")
    ax_width.axhline(travel.max(axis=0).min(), color="C3", ls="--", label="here, smallest layer")
    ax_width.set_xticks(widths, [f"{w:g}" for w in widths], minor=False)
    ax_width.set_xticks([], minor=True)
    ax_width.set_xlabel("width")
    ax_width.set_ylabel(r"$\max_t \|W_j(t) - W_j(0)\|_2 / \|W_j(0)\|_2$")
    ax_width.legend(fontsize=8)


def explore_runs(
    s_Z: float,
    gamma: float,
    angle: float,
    scale: float,
    depths=(1, 2, 3, 4, 5),
    *,
    m: float = 50.0,
    t_end: float = 0.1,
    points: int = 201,
    seed: int = 0,
) -> dict:
    """The Explore cases: a ``2 x 5`` target with largest singular value ``s_Z`` and inverse gap
    ``gamma`` (:func:`target_with_gap`), the start :func:`rotated_start` at ``angle`` degrees and
    norm ``scale * s_Z``, and the induced flow for each depth (DOP853, rtol 1e-10, atol 1e-12)
    with ``m`` samples up to time ``t_end``. With ``gamma > 0`` depth 1, which has no rank-one
    bottleneck, tends to ``Z`` and stays ``gamma s_Z`` away from ``Z1``."""
    gen = np.random.default_rng(v.positive_int("seed", seed, minimum=0))
    Z = target_with_gap(s_Z, gamma, (2, 5), gen)
    W0 = rotated_start(Z, angle, scale, gen)
    return figure1_runs(Z, W0, depths, m, t_end, points=points, rtol=1e-10, atol=1e-12)


def plot_explore(ax, runs: dict, m: float, highlight: int | None = None) -> None:
    """Draw :func:`explore_runs` (values below ``1e-8`` of the start's distance are not drawn:
    there the solver's tolerance sets them)."""
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict depth -> InducedRun")
    start = max(run.distance[0] for run in runs.values())
    curves = {n: (run.t, run.distance) for n, run in runs.items()}
    plot_distance_curves(ax, m, curves, floor=1e-8 * start, highlight=highlight)
