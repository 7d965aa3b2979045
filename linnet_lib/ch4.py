"""Experiments of Chapter 4: matrix completion against the nuclear norm (Figure 2 of the lecture
notes), singular values along gradient descent (Figure 3) and implicit compression (section 4.4).

Each experiment is a function returning numbers; each figure has a ``plot_*`` function drawing
them on axes the notebook provides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v
from . import norms as _norms
from . import tensor as _tensor
from .checks import relative_difference
from .networks import gaussian_init
from .plotting import depth_color
from .sensing import CompletionLoss, SensingLoss, effective_rank, nuclear_norm_minimizer
from .svd_dynamics import central_derivative, stencil_times
from .training import TrainingResult, descent_loop, descent_result, descent_settings


def _depth(depth) -> int:
    return v.positive_int("depth", depth)


def _sensing_loss(loss) -> None:
    if not isinstance(loss, (SensingLoss, CompletionLoss)):
        raise ValueError(f"loss must be a SensingLoss or CompletionLoss, got {type(loss).__name__}")


def relative_error(W, target) -> float:
    """``||W - target||_F / ||target||_F``, the reconstruction error of the notes' Figures 2 and 3."""
    T = v.matrix("target", target)
    W = v.matrix("W", W, shape=T.shape)
    norm = np.linalg.norm(T)
    if norm == 0:
        raise ValueError("target must be non-zero")
    return float(np.linalg.norm(W - T) / norm)


def stable_entry_step(target, depth: int, fraction: float = 0.5) -> float:
    """A step size for completion, per observed entry, that is a ``fraction`` of the stability edge.

    Near a solution whose largest singular value is ``s`` (we use the target's), the end-to-end
    dynamics multiply the gradient by at most ``n s^(2 - 2/n)`` (chapter 1.3), and the sum of squared
    residuals has curvature 1 per observed entry, so descent on it is stable for steps below
    ``2 / (n s^(2 - 2/n))``. The loss of equation (9) divides by the number of observations ``m``:
    pass ``m`` times this value as the learning rate.
    """
    n = _depth(depth)
    fraction = v.real("fraction", fraction, low=0.0, strict_low=True)
    if fraction >= 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    s = np.linalg.norm(v.matrix("target", target), 2)
    if s == 0:
        raise ValueError("target must be non-zero")
    return float(fraction * 2.0 / (n * s ** (2.0 - 2.0 / n)))


def small_gaussian_layers(shape, depth: int, init_scale: float, rng=None) -> list[np.ndarray]:
    """Independent Gaussian layers of width ``max(shape)`` as in the original code of Arora et al.
    (2019b): each entry has standard deviation ``init_scale^(1/n) / sqrt(width)``, so that the
    end-to-end matrix has Frobenius norm about ``init_scale * sqrt(shape[1])``."""
    d_out, d_in = v.matrix_shape("shape", shape)
    n = _depth(depth)
    init_scale = v.real("init_scale", init_scale, low=0.0, strict_low=True)
    width = max(d_out, d_in)
    dims = [d_in] + [width] * (n - 1) + [d_out]
    return gaussian_init(dims, init_scale ** (1.0 / n) / np.sqrt(width), rng=rng)


def _residual_function(loss):
    """``W -> (residuals, gradient-from-residuals)`` for a sensing or completion loss, without the
    per-call validation of the loss methods (the descent below calls it tens of thousands of times)."""
    if isinstance(loss, SensingLoss):
        A, b, m, shape = loss._A, loss.values, loss.count, loss.shape

        def residuals(W):
            return A @ W.ravel() - b

        def gradient(r):
            return (A.T @ r).reshape(shape) / m

    else:
        rows, cols, b, m, shape = loss.rows, loss.cols, loss.values, loss.count, loss.shape

        def residuals(W):
            return W[rows, cols] - b

        def gradient(r):
            G = np.zeros(shape)
            G[rows, cols] = r / m
            return G

    return residuals, gradient


def sensing_descent(
    loss,
    weights,
    lr: float,
    steps: int,
    *,
    record_every: int = 1,
    stop_loss: float | None = None,
) -> TrainingResult:
    """Gradient descent on a linear network for a sensing or completion loss: the iteration of
    :func:`linnet_lib.gradient_descent` (same update, same records, same stopping and divergence
    rules, same result type), written for these losses so that a step costs two products with the
    measurements and the layer products, not a pass through the general code with its checks.

    Every layer takes ``W_j <- W_j - lr * W_{n:j+1}^T G W_{j-1:1}^T`` with ``G`` the loss gradient at
    the end-to-end matrix. Records step 0, every ``record_every``-th step and the last; with
    ``stop_loss``, stops (and records) at the first step whose loss is at most ``stop_loss``; stops
    with ``diverged`` set if the loss becomes non-finite.
    """
    _sensing_loss(loss)
    layers = [w.copy() for w in v.weights("weights", weights)]
    if (layers[-1].shape[0], layers[0].shape[1]) != tuple(loss.shape):
        raise ValueError(
            f"weights must multiply to a {loss.shape} matrix, got "
            f"{(layers[-1].shape[0], layers[0].shape[1])}"
        )
    lr, steps, record_every, stop_loss = descent_settings(lr, steps, record_every, stop_loss)
    residuals, gradient = _residual_function(loss)
    n = len(layers)

    def products(ls):
        below = [ls[0]]
        for W in ls[1:]:
            below.append(W @ below[-1])
        return below

    def advance(state):
        layers, below, r = state
        G = gradient(r)
        above = None
        grads = [None] * n
        for j in range(n - 1, -1, -1):
            left = G if above is None else above.T @ G
            grads[j] = left if j == 0 else left @ below[j - 1].T
            above = layers[j] if above is None else above @ layers[j]
        layers = [w - lr * g for w, g in zip(layers, grads, strict=True)]
        below = products(layers)
        r = residuals(below[-1])
        return (layers, below, r), 0.5 * np.dot(r, r) / loss.count

    below = products(layers)
    record_steps, records, diverged = descent_loop(
        (layers, below, residuals(below[-1])),
        advance,
        steps,
        record_every=record_every,
        stop_loss=stop_loss,
        snapshot=lambda state: [w.copy() for w in state[0]],
    )
    mats = np.array([products(ls)[-1] for ls in records])
    return descent_result(
        loss,
        mats,
        record_steps,
        lr,
        n,
        weights=tuple(np.array([ls[j] for ls in records]) for j in range(n)),
        diverged=diverged,
        info={"lr": lr},
    )


def train_from_small_init(
    loss,
    depth: int,
    init_scale: float,
    lr: float,
    max_steps: int,
    *,
    stop_loss: float,
    rng=None,
    record_every: int | None = None,
) -> TrainingResult:
    """Gradient descent (:func:`sensing_descent`) on a depth-``n`` linear network from
    :func:`small_gaussian_layers`, stopped at the first step with loss at most ``stop_loss`` or after
    ``max_steps`` steps. Depth 1 is plain gradient descent on the loss itself."""
    _sensing_loss(loss)
    layers = small_gaussian_layers(loss.shape, depth, init_scale, rng=rng)
    every = max_steps if record_every is None else record_every
    return sensing_descent(loss, layers, lr, max_steps, record_every=every, stop_loss=stop_loss)


def completion_sweep(
    target,
    counts: Sequence[int],
    depths: Sequence[int] = (2, 3),
    *,
    init_scale: float = 1e-6,
    step_fraction: float = 0.5,
    max_steps: int = 30_000,
    stop_loss: float = 1e-7,
    observation_seed: int = 0,
    init_seed: int = 0,
    nuclear_tolerance: float = 1e-5,
) -> dict:
    """The experiment of Figure 2: for each number of observed entries, the minimum nuclear norm
    completion (program (10), cvxpy with SCS at tolerance ``nuclear_tolerance``: near the recovery
    threshold SCS needs minutes for 1e-9 but seconds for 1e-5, which moves the nuclear norm by a few
    parts per million and the error by about 1e-4 relative) and the end-to-end matrices that gradient descent on depth-n
    networks reaches from small initialisation.

    Returns a dict with ``counts`` and, for the key ``"nuclear"`` and each depth, arrays
    ``error`` (relative to the target), ``nuclear_norm`` and ``effective_rank``; depths also have
    ``converged`` (the loss reached ``stop_loss``), ``steps`` and ``final_loss``; ``"distance"``
    holds, per depth, ``||W_net - W_nuc||_F / ||W_nuc||_F``.
    """
    T = v.matrix("target", target)
    counts = [v.positive_int(f"counts[{i}]", c) for i, c in enumerate(counts)]
    if not counts:
        raise ValueError("counts must be non-empty")
    depths = [_depth(n) for n in depths]
    out: dict = {"counts": np.array(counts), "target_nuclear_norm": np.linalg.norm(T, "nuc")}
    keys = ["nuclear", *depths]
    for key in keys:
        out[key] = {"error": [], "nuclear_norm": [], "effective_rank": []}
        if key != "nuclear":
            out[key].update(converged=[], steps=[], final_loss=[])
    out["distance"] = {n: [] for n in depths}
    out["solutions"] = []
    for i, m in enumerate(counts):
        loss = CompletionLoss.observe(T, m, rng=np.random.default_rng([observation_seed, i]))
        W_nuc = nuclear_norm_minimizer(loss, tolerance=nuclear_tolerance)
        solutions = {"nuclear": W_nuc}
        for n in depths:
            lr = m * stable_entry_step(T, n, step_fraction)
            run = train_from_small_init(
                loss,
                n,
                init_scale,
                lr,
                max_steps,
                stop_loss=stop_loss,
                rng=np.random.default_rng([init_seed, i, n]),
            )
            solutions[n] = run.end_to_end[-1]
            out[n]["converged"].append(bool(run.loss[-1] <= stop_loss))
            out[n]["steps"].append(int(run.steps[-1]))
            out[n]["final_loss"].append(float(run.loss[-1]))
            out["distance"][n].append(relative_error(solutions[n], W_nuc))
        out["solutions"].append(solutions)
        for key in keys:
            W = solutions[key]
            out[key]["error"].append(relative_error(W, T))
            out[key]["nuclear_norm"].append(float(np.linalg.norm(W, "nuc")))
            out[key]["effective_rank"].append(effective_rank(W))
    for key in keys:
        out[key] = {name: np.array(vals) for name, vals in out[key].items()}
    out["distance"] = {n: np.array(vals) for n, vals in out["distance"].items()}
    return out


def plot_figure2(axes, sweep: dict, floor: float = 1e-4) -> None:
    """Left: reconstruction error against the number of observations (errors below ``floor``, the
    level of solver tolerances, are drawn at ``floor``); right: nuclear norm. Runs that did not
    reach the stopping loss are drawn as open markers."""
    ax_err, ax_nuc = axes
    counts = sweep["counts"]
    floor = v.real("floor", floor, low=0.0, strict_low=True)
    ax_err.plot(
        counts, np.maximum(sweep["nuclear"]["error"], floor), "k--s", label="min nuclear norm"
    )
    ax_nuc.plot(counts, sweep["nuclear"]["nuclear_norm"], "k--s", label="min nuclear norm")
    for n in [k for k in sweep if isinstance(k, int)]:
        res = sweep[n]
        color = depth_color(n)
        for ax, values in (
            (ax_err, np.maximum(res["error"], floor)),
            (ax_nuc, res["nuclear_norm"]),
        ):
            ax.plot(counts, values, "-", color=color, label=f"{n}-layer network")
            ok = res["converged"]
            ax.plot(counts[ok], values[ok], "o", color=color)
            ax.plot(counts[~ok], values[~ok], "o", mfc="white", color=color)
    ax_nuc.axhline(sweep["target_nuclear_norm"], color="0.5", lw=1, label="ground truth")
    ax_err.set_yscale("log")
    ax_err.set_xlabel("observed entries")
    ax_err.set_ylabel("relative reconstruction error")
    ax_nuc.set_xlabel("observed entries")
    ax_nuc.set_ylabel("nuclear norm")
    ax_err.legend()
    ax_nuc.legend()


def singular_value_runs(
    loss,
    depths: Sequence[int],
    *,
    init_scale: float,
    lr: float,
    steps: int,
    record_every: int,
    rng_seed: int = 0,
) -> dict[int, TrainingResult]:
    """The experiment of Figure 3: gradient descent at each depth with the same step size and the
    same end-to-end initial size, recording the end-to-end matrix (and so its singular values)."""
    _sensing_loss(loss)
    return {
        n: train_from_small_init(
            loss,
            n,
            init_scale,
            lr,
            steps,
            stop_loss=0.0,
            rng=np.random.default_rng([rng_seed, n]),
            record_every=record_every,
        )
        for n in (_depth(d) for d in depths)
    }


def plot_figure3(
    axes, runs: dict[int, TrainingResult], target, top: int = 6, log_steps: bool = False
) -> None:
    """One panel per depth: the ``top`` largest singular values against the iteration, with the
    final reconstruction error in the title and the target's singular values as dotted lines.
    With ``log_steps`` the step axis is logarithmic beyond step 20 (linear below, so step 0 shows)."""
    T = v.matrix("target", target)
    top = v.positive_int("top", top)
    targets = np.linalg.svd(T, compute_uv=False)
    for ax, (n, run) in zip(axes, runs.items(), strict=True):
        ax.plot(run.steps, run.singular_values[:, :top], color=depth_color(n), lw=1.2)
        for s in targets[targets > 1e-12 * targets[0]]:
            ax.axhline(s, color="0.6", ls=":", lw=1)
        name = "linear (n = 1)" if n == 1 else f"{n}-layer network"
        ax.set_title(f"{name}\nerror {relative_error(run.end_to_end[-1], T):.3g}")
        ax.set_xlabel("gradient descent step")
        if log_steps:
            ax.set_xscale("symlog", linthresh=20)
            ax.set_xlim(0, run.steps[-1])
    axes[0].set_ylabel("singular values of the end-to-end matrix")


def truncation_parameters(shape, rank: int) -> int:
    """Parameters needed for a rank-``rank`` matrix of the given shape: ``rank (d + d' - rank)``
    (footnote 11 of the notes; a thin SVD-like factorisation with the redundancy removed)."""
    d_out, d_in = v.matrix_shape("shape", shape)
    rank = v.rank_for("rank", rank, (d_out, d_in), minimum=0)
    return rank * (d_out + d_in - rank)


def factorization_jacobian_rank(shape, rank: int, rng=None, *, U=None, V=None) -> int:
    """Numerical rank of the Jacobian of ``(U, V) -> U V^T`` at ``U`` (``d x rank``) and ``V``
    (``d' x rank``), random by default: at a generic point this is the dimension of the set of
    rank-``rank`` matrices, i.e. the number of parameters such a matrix really needs (footnote 11 of
    the notes). Pass ``U`` and ``V`` to evaluate it at a given (possibly non-generic) point."""
    d_out, d_in = v.matrix_shape("shape", shape)
    rank = v.rank_for("rank", rank, (d_out, d_in))
    gen = v.rng(rng)
    U = gen.standard_normal((d_out, rank)) if U is None else v.matrix("U", U, shape=(d_out, rank))
    V = gen.standard_normal((d_in, rank)) if V is None else v.matrix("V", V, shape=(d_in, rank))
    # rows: derivative of U V^T (flattened row-major) along each entry of U, then of V
    dU = np.einsum("ip,ja->iapj", np.eye(d_out), V).reshape(d_out * rank, d_out * d_in)
    dV = np.einsum("jq,ia->jaiq", np.eye(d_in), U).reshape(d_in * rank, d_out * d_in)
    jac = np.concatenate([dU, dV]).T
    return int(np.linalg.matrix_rank(jac))


def truncation_curve(loss, W, target, ranks: Sequence[int]) -> dict[str, np.ndarray]:
    """For each rank ``k`` in ``ranks``: the loss and the relative error (to ``target``) of the
    rank-``k`` truncation of ``W``, and its parameter count ``k (d + d' - k)``."""
    _sensing_loss(loss)
    W = v.matrix("W", W, shape=loss.shape)
    ks = [v.positive_int(f"ranks[{i}]", k, minimum=0) for i, k in enumerate(ranks)]
    if not ks:
        raise ValueError("ranks must be non-empty")
    truncations = [truncate(W, k) for k in ks]
    return {
        "ranks": np.array(ks),
        "loss": np.array([loss.value(Wk) for Wk in truncations]),
        "error": np.array([relative_error(Wk, target) for Wk in truncations]),
        "parameters": np.array([truncation_parameters(W.shape, k) for k in ks]),
    }


def truncate(W, rank: int) -> np.ndarray:
    """The best rank-``rank`` approximation of ``W`` (truncated SVD, Eckart-Young)."""
    W = v.matrix("W", W)
    rank = v.positive_int("rank", rank, minimum=0)
    if rank > min(W.shape):
        raise ValueError(f"rank must be at most min(W.shape) = {min(W.shape)}, got {rank}")
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return (U[:, :rank] * s[:rank]) @ Vt[:rank]


def compressed_rank(loss, W, tolerance: float) -> int:
    """The smallest rank ``k`` such that the rank-``k`` truncation of ``W`` has loss at most
    ``tolerance`` (the compressed model's training loss budget)."""
    _sensing_loss(loss)
    W = v.matrix("W", W, shape=loss.shape)
    tolerance = v.real("tolerance", tolerance, low=0.0, strict_low=True)
    for k in range(min(W.shape) + 1):
        if loss.value(truncate(W, k)) <= tolerance:
            return k
    raise ValueError(
        f"tolerance {tolerance:.3g} is below the loss of W itself ({loss.value(W):.3g}): "
        "no truncation can reach it"
    )


# --------------------------------------------------------------------------------------------------
# Section 4.3: unbalanced (Gaussian) starts on loss (15)
# --------------------------------------------------------------------------------------------------


SIGN_RUN_KEYS = (
    "changed",
    "loss_at_change",
    "solver_crossings",
    "final_norm",
    "final_shortfall",
    "final_loss",
    "final_det",
)


def gaussian_sign_runs(
    loss, depth: int, seeds, t_max: float, count: int, scale: float = 8e-3
) -> dict[str, np.ndarray]:
    """Gradient flow on a ``2 x 2`` loss from independent Gaussian layers (the starts of the original
    code of Razin & Cohen, 2020: entries ``N(0, scale^2)``, drawn again until ``det W(0) > 0``), one
    run per seed, each to ``t_max`` with ``count`` log-spaced records (:func:`linnet_lib.norms.flow`).

    Returns arrays over the seeds: ``changed`` (1.0 if ``det W`` has changed sign at a recorded time,
    else 0.0), ``loss_at_change`` (the loss at the first recorded time after the change, NaN if
    none), ``solver_crossings`` (sign changes of ``det W`` between consecutive solver steps),
    ``final_norm`` (``||W||_F`` at the end), ``final_shortfall`` (the Frobenius bound of Proposition 5
    minus ``||W||_F`` at the end: positive where the bound fails), ``final_loss`` and ``final_det``.
    """
    n = v.positive_int("depth", depth, minimum=2)
    seeds = [v.positive_int(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds)]
    if not seeds:
        raise ValueError("seeds must be a non-empty sequence of integers >= 0")
    c, c_prime = _norms.proof_constants()
    out: dict[str, list] = {key: [] for key in SIGN_RUN_KEYS}
    for seed in seeds:
        start = _norms.signed_start(n, scale, 1, rng=seed, balanced=False)
        run = _norms.flow(loss, start, t_max, count)
        det = np.linalg.det(run.end_to_end)
        k = _norms.first_sign_change(det, 1)
        final_norm = float(np.linalg.norm(run.end_to_end[-1]))
        out["changed"].append(float(k is not None))
        out["loss_at_change"].append(np.nan if k is None else float(run.loss[k]))
        out["solver_crossings"].append(float(run.info["det_crossings"].size))
        out["final_norm"].append(final_norm)
        out["final_shortfall"].append(
            float(_norms.norm_bound(run.loss[-1], c, c_prime)) - final_norm
        )
        out["final_loss"].append(float(run.loss[-1]))
        out["final_det"].append(float(det[-1]))
    return {key: np.array(vals) for key, vals in out.items()}


# --------------------------------------------------------------------------------------------------
# Section 4.5: the component norm dynamics, measured by central differences
# --------------------------------------------------------------------------------------------------


def component_rate_gaps(loss, start, centers, h: float, orders) -> tuple[list[float], np.ndarray]:
    """How far the measured speed of the component norms of a CP model is from the book's formulas.

    Solves tensor gradient flow (:func:`linnet_lib.tensor.gradient_flow`) from the factors ``start``
    and records it at ``centers`` and ``centers +- h``; the measured speed is the central difference
    of the component norms. For each entry of ``orders``, the prediction is
    :func:`linnet_lib.tensor.component_rate` with that order ``N`` (the balanced formula
    ``N rho^(2 - 2/N) push``), or, for the string ``"general"``,
    :func:`linnet_lib.tensor.component_rate_from_factors` (any start). Returns the relative
    differences (Frobenius norm over all times and components), one per entry of ``orders``, and the
    recorded component norms (shape ``(3 K, R)``).
    """
    if not isinstance(loss, _tensor.TensorCompletionLoss):
        raise ValueError(f"loss must be a TensorCompletionLoss, got {type(loss).__name__}")
    orders = list(orders)
    if not orders:
        raise ValueError("orders must be a non-empty sequence of orders N >= 1 or 'general'")
    for i, N in enumerate(orders):
        if N != "general":
            v.positive_int(f"orders[{i}]", N)
    times = stencil_times(centers, h)
    path = _tensor.gradient_flow(loss, start, np.concatenate([[0.0], times]))
    states = [[A[k] for A in path] for k in range(1, times.size + 1)]
    component_norms = np.array([_tensor.component_norms(state) for state in states])
    middle = states[1::3]
    push = np.array([loss.component_push(state) for state in middle])
    rho, rho_dot = central_derivative(component_norms, h)
    gaps = []
    for N in orders:
        if N == "general":
            predicted = np.array(
                [
                    _tensor.component_rate_from_factors(state, p)
                    for state, p in zip(middle, push, strict=True)
                ]
            )
        else:
            predicted = _tensor.component_rate(rho, push, N)
        gaps.append(relative_difference(rho_dot, predicted))
    return gaps, component_norms


__all__ = [
    "completion_sweep",
    "component_rate_gaps",
    "gaussian_sign_runs",
    "compressed_rank",
    "factorization_jacobian_rank",
    "plot_figure2",
    "plot_figure3",
    "relative_error",
    "sensing_descent",
    "singular_value_runs",
    "small_gaussian_layers",
    "stable_entry_step",
    "train_from_small_init",
    "truncate",
    "truncation_curve",
    "truncation_parameters",
]
