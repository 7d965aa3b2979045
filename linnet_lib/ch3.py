"""Experiments of Chapter 3: the discretised end-to-end update and Claim 1 of the lecture notes
(sections 3.1-3.2), Figure 1 (left) of the notes reproduced on a bundled regression data set and
set beside explicit optimisers (section 3.3), and the summaries of the factorised-network runs of
Figure 1 (right) (section 3.4; the network itself lives in :mod:`linnet_lib.mlp`).

Each experiment is a function returning numbers; each figure has a ``plot_*`` function drawing
them on axes the notebook provides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v
from .dynamics import end_to_end_velocity
from .losses import LpLoss
from .networks import end_to_end
from .optimizers import Optimizer, make, minimize, steps_to_loss, tune_step
from .plotting import depth_color
from .training import (
    TrainingResult,
    descent_loop,
    descent_result,
    descent_settings,
    gradient_descent,
)


def end_to_end_step(W, G, depth: int, lr: float) -> np.ndarray:
    """One step of the discretised end-to-end dynamics:
    ``W - lr * sum_j [W W^T]^{(j-1)/n} G [W^T W]^{(n-j)/n}`` (Corollary 1, with step ``lr``)."""
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    return np.asarray(W, dtype=float) - lr * end_to_end_velocity(W, G, depth)


def end_to_end_descent(
    loss,
    init,
    depth: int,
    lr: float,
    steps: int,
    *,
    record_every: int = 1,
    stop_loss: float | None = None,
) -> TrainingResult:
    """Iterate :func:`end_to_end_step` on ``loss`` from the end-to-end matrix ``init``.

    Same result type and conventions as :func:`linnet_lib.gradient_descent` (``t`` is step index
    times ``lr``; ``diverged`` set and recording stopped if the loss becomes non-finite; optional
    early stop once the loss is at most ``stop_loss``). Depth 1 is plain gradient descent on the
    loss.
    """
    W = v.matrix("init", init).copy()
    n = v.positive_int("depth", depth)
    lr, steps, record_every, stop_loss = descent_settings(lr, steps, record_every, stop_loss)

    def advance(W):
        W = W - lr * end_to_end_velocity(W, loss.grad(W), n)
        return W, (loss.value(W) if np.all(np.isfinite(W)) else np.nan)

    record_steps, mats, diverged = descent_loop(
        W, advance, steps, record_every=record_every, stop_loss=stop_loss, snapshot=np.copy
    )
    info = {"lr": lr, "route": "end-to-end"}
    return descent_result(loss, mats, record_steps, lr, n, diverged=diverged, info=info)


def iterations_to(run, threshold: float) -> float:
    """First recorded step at which ``run.loss <= threshold`` (inf if never, or if it diverged)."""
    below = np.nonzero(run.loss <= threshold)[0]
    return float(run.steps[below[0]]) if below.size else float("inf")


def best_step_search(run_with_step, steps_grid: Sequence[float], threshold: float) -> dict:
    """Run ``run_with_step(lr)`` for every step size of the grid and keep the fastest.

    ``run_with_step`` must return a :class:`~linnet_lib.training.TrainingResult` (with ``steps``). Returns a dict with
    ``iterations`` (best count, inf if none reaches ``threshold``), ``lr`` (the best step),
    ``counts`` (one per grid value) and ``edge`` (whether the best step is at an end of the grid,
    in which case the grid should be widened).
    """
    grid = v.step_sizes("steps_grid", steps_grid, minimum_size=2)
    counts = np.array([iterations_to(run_with_step(lr), threshold) for lr in grid])
    if not np.any(np.isfinite(counts)):
        return {"iterations": float("inf"), "lr": float("nan"), "counts": counts, "edge": False}
    k = int(np.argmin(counts))
    return {
        "iterations": float(counts[k]),
        "lr": float(grid[k]),
        "counts": counts,
        "edge": k in (0, grid.size - 1),
    }


def row_lp_problem(target, p: float, scales=None):
    """``l(w) = (1/p) sum_i |x_i (w_i - target_i)|^p`` for a row ``w`` (a 1 x d end-to-end matrix):
    l_p regression with one output, one sample per coordinate and inputs ``X = diag(x)``
    (``scales`` is x, default all ones, i.e. whitened inputs ``X = I``)."""
    t = np.atleast_2d(np.asarray(target, dtype=float))
    if t.shape[0] != 1:
        raise ValueError(f"target must be a vector (one output), got shape {np.shape(target)}")
    t = v.matrix("target", t)
    x = _scales(scales, t.shape[1])
    return LpLoss(np.diag(x), x[None, :] * t, p=p)


def _scales(scales, d: int) -> np.ndarray:
    if scales is None:
        return np.ones(d)
    x = v.matrix("scales", np.atleast_2d(scales), shape=(1, d))[0]
    if np.any(x <= 0):
        raise ValueError("scales must be positive")
    return x


def _power(a: np.ndarray, k: float) -> np.ndarray:
    """``a ** k`` for ``a >= 0``; integer ``k`` by repeated multiplication (exactly rounded products,
    so the result does not depend on the CPU's vectorised ``pow``)."""
    if float(k).is_integer() and 0 <= k <= 16:
        out = np.ones_like(a)
        for _ in range(int(k)):
            out = out * a
        return out
    return a**k


#: The values of ``terms`` (ablations of the end-to-end update) of :func:`row_counts` and
#: :func:`row_run`; :func:`family_counts` takes a subset of them.
UPDATE_TERMS = ("both", "norm", "direction")


def row_counts(
    target,
    p: float,
    depth: int,
    eps: float,
    grid,
    max_steps: int,
    start=None,
    scales=None,
    *,
    terms: str = "both",
    early_stop: bool = True,
) -> np.ndarray:
    """Iterations to reach ``l(w) = (1/p) sum_i |x_i (w_i - target_i)|^p <= eps`` for every step
    size of ``grid`` at once (``scales`` is x, default all ones: the regression with inputs
    ``X = diag(x)``, one sample per coordinate).

    Depth 1 is gradient descent on ``l`` from 0. Depth n >= 2 is the discretised end-to-end update
    for one output, ``w <- w - lr ||w||^{2-2/n} (g + (n-1) (w_hat . g) w_hat)`` with
    ``g = grad l(w)`` (Exercise 1 of Chapter 1; the same iteration as :func:`end_to_end_descent`
    on 1 x d matrices, which the tests confirm), from ``start`` (default ``1e-3`` times the unit
    vector along the target; the preconditioner vanishes at 0). ``terms`` selects the ablation:
    ``"both"`` (the update itself), ``"norm"`` (the norm factor only,
    ``w <- w - lr ||w||^{2-2/n} g``) or ``"direction"`` (the directional term only,
    ``w <- w - lr (g + (n-1) (w_hat . g) w_hat)``). Vectorised over the grid. A run that diverges
    or does not reach the tolerance within ``max_steps`` counts as inf.

    With ``early_stop`` (default) the loop ends as soon as no unfinished step can change the
    plain best (the smallest count) or the robust best of :func:`robust_best`; the counts of the
    unfinished steps, all larger than both, are then reported as inf as well.
    """
    t = v.matrix("target", np.atleast_2d(np.asarray(target, dtype=float)), shape=(1, None))[0]
    p = v.real("p", p, low=2.0)
    n = v.positive_int("depth", depth)
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    max_steps = v.positive_int("max_steps", max_steps)
    lrs = v.step_sizes("grid", grid)
    if terms not in UPDATE_TERMS:
        raise ValueError(f"terms must be one of {UPDATE_TERMS}, got {terms!r}")
    if start is None:
        start = 1e-3 * t / np.linalg.norm(t)
    w0 = v.matrix("start", np.atleast_2d(np.asarray(start, dtype=float)), shape=(1, t.size))[0]
    x = _scales(scales, t.size)
    w = np.tile(np.zeros_like(t) if n == 1 else w0, (lrs.size, 1))
    counts = np.full(lrs.size, np.inf)
    active = np.ones(lrs.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(1, max_steps + 1):
            step = _row_step(w, t, x, p, n, terms)
            w = np.where(active[:, None], w - lrs[:, None] * step, w)
            value = np.sum(_power(np.abs(x * (w - t)), p), axis=1) / p
            reached = active & (value <= eps)
            counts[reached] = k
            active &= ~reached & np.isfinite(value)
            if not active.any():
                break
            if early_stop and k % 16 == 0 and _settled(counts, active, k):
                break
    counts[active] = np.inf
    return counts


def _row_step(w: np.ndarray, t, x, p: float, n: int, terms: str) -> np.ndarray:
    """The update direction (before the step size) for each row of ``w``: the gradient for
    n = 1, else ``||w||^{2-2/n} (g + (n-1) (w_hat . g) w_hat)`` or one of its two parts."""
    r = x * (w - t)
    g = x * np.sign(r) * _power(np.abs(r), p - 1)
    if n == 1:
        return g
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    w_hat = np.where(norm > 0, w / norm, 0.0)
    along = np.sum(w_hat * g, axis=1, keepdims=True)
    factor = _power(norm, 2 - 2 / n) if terms in ("both", "norm") else 1.0
    extra = (n - 1) * along * w_hat if terms in ("both", "direction") else 0.0
    return factor * (g + extra)


def _settled(counts: np.ndarray, active: np.ndarray, k: int) -> bool:
    """Whether no step still running (count > k) can change the plain or the robust best."""
    done = np.where(active, np.inf, counts)
    if done.size < 3:
        return bool(np.min(done) <= k)
    window = np.maximum(np.maximum(done[:-2], done[1:-1]), done[2:])
    return bool(np.min(window) <= k)


def gd_lower_bound(target, p: float, eps: float, scales=None, *, limit: float = 2.0) -> dict:
    """A lower bound on the iterations gradient descent from 0 needs, whatever its step size, to
    bring ``l(w) = (1/p) sum_i |x_i (w_i - target_i)|^p`` (the problem of :func:`row_counts`)
    to ``eps`` or below.

    In the coordinates ``rho_i = x_i (w_i - target_i)`` descent with step ``eta`` is
    ``rho_i <- rho_i (1 - eta x_i^2 |rho_i|^{p-2})``, one coordinate at a time. If
    ``eta x_i^2 |rho_i(0)|^{p-2} >= 2`` for some i, ``|rho_i|`` never decreases, so the loss
    never falls below ``|rho_i(0)|^p / p``; any step that succeeds is therefore below
    ``eta_max = min_i 2 / (x_i^2 |rho_i(0)|^{p-2})``. For every coordinate j with
    ``q_j = eta_max x_j^2 |rho_j(0)|^{p-2} < 1``, ``z = |rho_j|^{-(p-2)}`` grows by at most
    ``eta_max x_j^2 C(q_j)`` per iteration, ``C(q) = ((1 - q)^{-(p-2)} - 1) / q``, and it must reach
    ``delta^{-(p-2)}`` with ``delta = (p eps)^{1/p}``. Hence every step needs at least
    ``(delta^{-(p-2)} - |rho_j(0)|^{-(p-2)}) / (eta_max x_j^2 C(q_j))`` iterations.

    ``limit`` replaces the 2 of the divergence threshold (for a sharpness control only).
    Returns ``{"bound", "eta_max", "coordinate", "q"}`` (the bound is the largest over j, rounded
    up to an integer; ``coordinate`` is the j attaining it).
    """
    t = v.matrix("target", np.atleast_2d(np.asarray(target, dtype=float)), shape=(1, None))[0]
    p = v.real("p", p, low=2.0)
    if not p > 2:
        raise ValueError(f"p must be > 2 (for p = 2 descent converges linearly), got {p!r}")
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    limit = v.real("limit", limit, low=0.0, strict_low=True)
    x = _scales(scales, t.size)
    rho = np.abs(x * t)  # |rho_i(0)| from w = 0
    if np.any(rho == 0):
        raise ValueError("target must have no zero entry (each coordinate must have to move)")
    delta = (p * eps) ** (1 / p)
    if np.all(delta >= rho):
        raise ValueError("eps is so large that the start already meets it")
    eta_max = float(np.min(limit / (x**2 * rho ** (p - 2))))
    best, coordinate, q_best = 0.0, -1, float("nan")
    for j in range(t.size):
        h = eta_max * x[j] ** 2
        q = h * rho[j] ** (p - 2)
        if not q < 1 or delta >= rho[j]:
            continue
        growth = h * ((1 - q) ** (-(p - 2)) - 1) / q
        bound = (delta ** (-(p - 2)) - rho[j] ** (-(p - 2))) / growth
        if bound > best:
            best, coordinate, q_best = bound, j, q
    return {
        "bound": float(np.ceil(best)),
        "eta_max": eta_max,
        "coordinate": coordinate,
        "q": q_best,
    }


def weak_feature_instance(s: float) -> tuple[np.ndarray, np.ndarray]:
    """The instance of Section 3.2 with parameter ``s >= 1``: two samples, inputs
    ``x_1 = e_1`` and ``x_2 = e_2 / s`` (a feature ``s`` times weaker), labels 1 and 1, so the
    minimiser is ``w* = (1, s)``. Returns ``(target, scales) = ((1, s), (1, 1/s))`` for
    :func:`row_counts` and :func:`gd_lower_bound`."""
    s = v.real("s", s, low=1.0)
    return np.array([1.0, s]), np.array([1.0, 1.0 / s])


def robust_best(counts, grid) -> tuple[float, float]:
    """Best count over grid points whose two neighbours also reach the target, counting each point
    as the worst of itself and its neighbours. An isolated lucky step (its neighbours diverge or
    stall) cannot win. Returns ``(count, step)``; ``(inf, nan)`` if no such point exists."""
    counts = np.asarray(counts, dtype=float)
    grid = v.step_sizes("grid", grid, minimum_size=3)
    if counts.shape != grid.shape:
        raise ValueError("counts must have one entry per grid point")
    window = np.maximum(np.maximum(counts[:-2], counts[1:-1]), counts[2:])
    if not np.any(np.isfinite(window)):
        return float("inf"), float("nan")
    k = int(np.argmin(window))
    return float(window[k]), float(grid[k + 1])


def claim1_counts(
    target,
    p: float,
    depths: Sequence[int],
    eps: float,
    grid,
    max_steps: int,
    start=None,
    scales=None,
    *,
    terms: str = "both",
) -> dict:
    """Best step from ``grid`` and its iteration count for each depth (see :func:`row_counts`;
    ``terms`` selects the ablation arm for depths n >= 2).

    Returns ``{depth: {"iterations", "lr", "robust_iterations", "robust_lr", "counts", "edge"}}``:
    the plain best over the grid (the notes' minimum over step sizes, restricted to the grid), the
    robust best of :func:`robust_best`, every count (inf for steps stopped early, see
    :func:`row_counts`), and whether the plain best sits at an end of the grid.
    """
    grid = v.step_sizes("grid", grid, minimum_size=3)
    out = {}
    for n in depths:
        counts = row_counts(target, p, n, eps, grid, max_steps, start, scales, terms=terms)
        robust, robust_lr = robust_best(counts, grid)
        if not np.any(np.isfinite(counts)):
            best, lr, edge = float("inf"), float("nan"), False
        else:
            k = int(np.argmin(counts))
            best, lr, edge = float(counts[k]), float(grid[k]), k in (0, grid.size - 1)
        out[n] = {
            "iterations": best,
            "lr": lr,
            "robust_iterations": robust,
            "robust_lr": robust_lr,
            "counts": counts,
            "edge": edge,
        }
    return out


def family_counts(
    p: float,
    s_values: Sequence[float],
    depths: Sequence[int],
    eps: float,
    grid,
    max_steps: int,
    *,
    terms: Sequence[str] = ("both",),
    start=None,
) -> dict:
    """Claim 1 on the instances :func:`weak_feature_instance` ``(s)`` for every ``s``: gradient
    descent (key ``("gd", 1)``) and, for each arm of ``terms`` and each depth n >= 2, the update
    (key ``(arm, n)``).

    Each value is a dict of arrays over ``s``: ``"iterations"`` and ``"lr"`` (plain best over the
    grid), ``"robust_iterations"`` and ``"robust_lr"`` (:func:`robust_best`), ``"edge"``.
    ``start`` is the near-zero start of the updates (default ``1e-3`` along the target).
    """
    s_values = [v.real("s_values", s, low=1.0) for s in s_values]
    if not s_values:
        raise ValueError("s_values must be a non-empty sequence")
    for arm in terms:
        if arm not in UPDATE_TERMS:
            raise ValueError(f"terms must be a subset of {UPDATE_TERMS}, got {arm!r}")
    keys = [("gd", 1)] + [(arm, n) for arm in terms for n in depths if n >= 2]
    fields = ("iterations", "lr", "robust_iterations", "robust_lr", "edge")
    out = {key: {f: np.zeros(len(s_values)) for f in fields} for key in keys}
    for i, s in enumerate(s_values):
        target, scales = weak_feature_instance(s)
        for arm, n in keys:
            res = claim1_counts(
                target, p, (n,), eps, grid, max_steps, start, scales, terms=arm if n > 1 else "both"
            )[n]
            for f in fields:
                out[arm, n][f][i] = res[f]
    return out


def row_run(
    target,
    p: float,
    depth: int,
    lr: float,
    steps: int,
    start=None,
    scales=None,
    *,
    terms: str = "both",
    stop_loss: float = 0.0,
) -> np.ndarray:
    """The loss after each of ``steps`` iterations (entry 0: the start) of one run of
    :func:`row_counts` (same problem, start, arms), for plotting; ``nan`` after a divergence and
    after the first iteration whose loss is at most ``stop_loss`` (default 0: run every step)."""
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps)
    stop_loss = v.real("stop_loss", stop_loss, low=0.0)
    if terms not in UPDATE_TERMS:
        raise ValueError(f"terms must be one of {UPDATE_TERMS}, got {terms!r}")
    t = np.atleast_2d(np.asarray(target, dtype=float))[0]
    loss = row_lp_problem(t, p, scales)
    n = v.positive_int("depth", depth)
    if start is None:
        start = 1e-3 * t / np.linalg.norm(t)
    w = np.zeros_like(t) if n == 1 else np.asarray(start, dtype=float).ravel().copy()
    x = _scales(scales, t.size)
    values = np.full(steps + 1, np.nan)
    values[0] = loss.value(w[None, :])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(1, steps + 1):
            w = w - lr * _row_step(w[None, :], t, x, p, n, terms)[0]
            value = float(np.sum(_power(np.abs(x * (w - t)), p)) / p)
            if not np.isfinite(value):
                break
            values[k] = value
            if value <= stop_loss:
                break
    return values


def plot_family(ax, s_values, gains: dict, *, predicted: dict | None = None) -> None:
    """Gains ``t_l / t_phi`` against ``s`` (log-log). ``gains`` maps a label to
    ``(values, depth, linestyle)``: the colour gives the depth and the line style the arm, and
    the legend lists the styles (with the text of the first label of each, up to its last comma)
    and the depths. ``predicted`` optionally maps a depth to the exponent of a reference line
    ``s^beta`` drawn through the first point of that depth's solid curve."""
    from matplotlib.lines import Line2D

    s_values = np.asarray(s_values, dtype=float)
    styles, depths, lowest = {}, [], np.inf
    for label, (values, n, style) in gains.items():
        values = np.asarray(values, dtype=float)
        ax.loglog(s_values, values, style, marker="o", ms=4, color=depth_color(n))
        styles.setdefault(style, label.rsplit(",", 1)[0])
        depths += [n] if n not in depths else []
        lowest = min(lowest, np.nanmin(values))
    for n, beta in (predicted or {}).items():
        first = next(vals for vals, depth, st in gains.values() if depth == n and st == "-")
        ref = first[0] * (s_values / s_values[0]) ** beta
        ax.loglog(s_values, ref, ":", color="grey", lw=1)
        ax.annotate(
            rf"$s^{{{beta:.2g}}}$", (s_values[-1], ref[-1]), fontsize=9, color="grey", va="top"
        )
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(s_values, [f"{s:g}" for s in s_values])
    ax.minorticks_off()
    ax.set_ylim(bottom=min(lowest, 1.0) / 20)
    ax.set_xlabel(r"$s$ (the weak feature is $e_2 / s$; $w^* = (1, s)$)")
    ax.set_ylabel(r"gain $t_\ell / t_\phi$ (plain best steps)")
    handles = [Line2D([], [], color="k", ls=st, label=text) for st, text in styles.items()]
    handles += [Line2D([], [], color=depth_color(n), lw=4, label=f"depth {n}") for n in depths]
    ax.legend(handles=handles, fontsize=7, loc="lower right", ncol=2)


def layer_step_vs_end_to_end(loss, layers: Sequence[np.ndarray], lr: float) -> float:
    """Relative distance between the product after one gradient descent step on the layers and one
    discretised end-to-end step from their product (both with step ``lr``)."""
    from .checks import relative_difference

    layers = v.weights("layers", layers)
    after = gradient_descent(loss, layers, lr, 1).end_to_end[-1]
    W = end_to_end(layers)
    return relative_difference(after, end_to_end_step(W, loss.grad(W), len(layers), lr))


def paths_2d(
    target, p: float, depths: Sequence[int], lrs: dict[int, float], steps: int, start=None
) -> dict:
    """Iterates of gradient descent (depth 1) and of the end-to-end update (depth n >= 2) on the
    row problem of :func:`row_counts`, for plotting paths in the plane. ``lrs`` maps depth to step.
    Returns ``{depth: (steps + 1, d) array}``."""
    t = np.asarray(target, dtype=float).ravel()
    loss = row_lp_problem(t, p)
    if start is None:
        start = 1e-3 * t / np.linalg.norm(t)
    out = {}
    for n in depths:
        w0 = np.zeros((1, t.size)) if n == 1 else np.atleast_2d(np.asarray(start, dtype=float))
        run = end_to_end_descent(loss, w0, n, lrs[n], steps)
        out[n] = run.end_to_end[:, 0, :]
    return out


def plot_paths_2d(ax, paths: dict, target) -> None:
    for n, path in paths.items():
        label = "gradient descent on l" if n == 1 else f"end-to-end update, depth {n}"
        ax.plot(path[:, 0], path[:, 1], "-", color=depth_color(n), label=label)
        ax.plot(path[::10, 0], path[::10, 1], ".", color=depth_color(n), ms=4)
    ax.plot(*np.asarray(target, dtype=float).ravel(), "k*", ms=12, label="minimiser")
    ax.plot(0, 0, "ko", ms=4)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.legend(fontsize=8)


def loss_curves(target, p: float, settings: dict, steps: int) -> dict:
    """Loss along gradient descent / the end-to-end update on the row problem for each
    ``{label: (depth, lr)}`` in ``settings`` (depth 1 from 0, depth n >= 2 from a tiny start along
    the target). Returns ``{label: TrainingResult}`` recorded at every step."""
    t = np.asarray(target, dtype=float).ravel()
    loss = row_lp_problem(t, p)
    out = {}
    for label, (n, lr) in settings.items():
        w0 = np.zeros((1, t.size)) if n == 1 else (1e-3 * t / np.linalg.norm(t))[None, :]
        out[label] = end_to_end_descent(loss, w0, n, lr, steps)
    return out


def plot_loss_curves(ax, runs: dict, floor: float = 1e-16) -> None:
    for label, run in runs.items():
        ax.loglog(
            np.maximum(run.steps, 1),
            np.maximum(run.loss, floor),
            label=label,
            color=depth_color(run.depth),
        )
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\ell$")
    ax.legend(fontsize=8)


# ---------------------------------------------------------------------------------------------
# Section 3.3 (Figure 1, left): data and the minimum of the convex loss


def diabetes_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled diabetes regression data, standardised, samples as columns.

    442 patients, 10 features (age, sex, body-mass index, blood pressure, six blood serum
    measurements) and a measure of disease progression one year later. Every feature and the
    target are centred and scaled to unit standard deviation (population convention, ``ddof=0``).
    The data ship inside scikit-learn; nothing is downloaded.

    Returns
    -------
    X : array of shape (10, 442)
    Y : array of shape (1, 442)
    """
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    features = np.asarray(data.data, dtype=float)
    target = np.asarray(data.target, dtype=float)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    target = (target - target.mean()) / target.std()
    return features.T.copy(), target[None, :].copy()


def _lp_loss(loss) -> LpLoss:
    if not isinstance(loss, LpLoss):
        raise ValueError(f"loss must be an ll.LpLoss, got {type(loss).__name__}")
    return loss


def lp_hessian(loss, W) -> np.ndarray:
    """The Hessian of an l_p regression loss at ``W``, as a matrix on column-major ``vec(W)``.

    For ``l(W) = (c/p) sum |(W X - Y)_{is}|^p`` (c = 1 or 1/m) the second derivative is
    ``d^2 l / dW_ij dW_kl = delta_ik (p - 1) c sum_s |R_is|^(p-2) X_js X_ls`` with ``R = W X - Y``:
    one block per output row. Defined for p >= 2 (at p = 2 the weight is 1).

    Parameters
    ----------
    loss : LpLoss
    W : array of shape loss.shape

    Returns
    -------
    array of shape (d_n d_0, d_n d_0)
    """
    loss = _lp_loss(loss)
    W = v.matrix("W", W, shape=loss.shape)
    X, Y, p = loss.X, loss.Y, loss.p
    scale = 1.0 if loss.normalization == "sum" else 1.0 / X.shape[1]
    R = W @ X - Y
    weights = np.ones_like(R) if p == 2 else np.abs(R) ** (p - 2)
    blocks = (p - 1) * scale * np.einsum("is,js,ls->ijl", weights, X, X)  # (d_n, d_0, d_0)
    d_out, d_in = W.shape
    H = np.zeros((d_in, d_out, d_in, d_out))
    for i in range(d_out):
        H[:, i, :, i] = blocks[i]
    return H.reshape(d_in * d_out, d_in * d_out)


def lp_minimizer(loss, *, tol: float = 1e-13, max_iter: int = 100) -> tuple[np.ndarray, float]:
    """The minimiser and minimum of a strictly convex l_p regression loss, by Newton's method.

    Starts from the least-squares solution and takes Newton steps with a backtracking line search
    until the gradient's Frobenius norm is at most ``tol`` times its value at the start (or below
    1e-15), or the steps fall to round-off level. Needs ``X X^T`` invertible, so that the loss is strictly convex.

    Returns
    -------
    W_star : array of shape loss.shape
    l_star : float
        ``loss.value(W_star)``.
    """
    loss = _lp_loss(loss)
    tol = v.real("tol", tol, low=0.0, strict_low=True)
    max_iter = v.positive_int("max_iter", max_iter)
    X, Y = loss.X, loss.Y
    gram = X @ X.T
    if np.linalg.matrix_rank(gram) < gram.shape[0]:
        raise ValueError("loss: X X^T is singular, so the minimiser is not unique")
    W = np.linalg.solve(gram, X @ Y.T).T
    g0 = max(np.linalg.norm(loss.grad(W)), 1e-300)
    for _ in range(max_iter):
        G = loss.grad(W)
        if np.linalg.norm(G) <= max(tol * g0, 1e-15):
            break
        H = lp_hessian(loss, W)
        direction = -np.linalg.solve(H, G.ravel(order="F")).reshape(W.shape, order="F")
        value, t = loss.value(W), 1.0
        slope = float(np.sum(G * direction))
        while loss.value(W + t * direction) > value + 1e-4 * t * slope and t > 1e-12:
            t /= 2
        W = W + t * direction
        if np.linalg.norm(t * direction) <= 1e-15 * (1.0 + np.linalg.norm(W)):
            break  # the steps are at round-off level
    else:
        raise ValueError(f"Newton's method did not converge in max_iter = {max_iter} iterations")
    return W, loss.value(W)


def _grid(grid) -> np.ndarray:
    return v.step_sizes("grid", grid)


def step_grid(low: float, high: float, per_octave: int = 4) -> np.ndarray:
    """Log-spaced step sizes ``low * 2^(k / per_octave)``, k = 0, 1, ..., up to ``high``
    (included when it falls on the grid)."""
    low = v.real("low", low, low=0.0, strict_low=True)
    high = v.real("high", high, low=low)
    per_octave = v.positive_int("per_octave", per_octave)
    count = int(np.floor(per_octave * np.log2(high / low) + 1e-9)) + 1
    return low * 2.0 ** (np.arange(count) / per_octave)


# ---------------------------------------------------------------------------------------------
# Section 3.3: iterations to a target loss, for descent on a network and for an explicit optimiser


def descent_count(loss, weights: Sequence[np.ndarray], lr: float, cap: int, target: float) -> float:
    """Iterations plain gradient descent on the layers ``weights`` (step ``lr``) needs to bring
    the loss to ``target`` or below; ``inf`` if it does not within ``cap`` steps or diverges.

    The same iteration as :func:`~linnet_lib.training.gradient_descent` with ``stop_loss=target``,
    operation for operation (see :func:`descent_losses`), so the counts are identical.
    """
    cap = v.positive_int("cap", cap, minimum=0)
    target = v.real("target", target)
    return _descent(loss, weights, lr, cap, target, None)[0]


def descent_losses(
    loss, weights: Sequence[np.ndarray], lr: float, steps: int, *, record_every: int = 1
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The loss along plain gradient descent on the layers ``weights``: ``(recorded steps,
    losses, diverged)``, recorded at step 0, every ``record_every`` steps and the last step
    (stopping before a non-finite loss, like :func:`~linnet_lib.training.gradient_descent`).

    The iteration of :func:`~linnet_lib.training.gradient_descent` operation for operation (the
    layer gradients ``W_{n:j+1}^T G W_{j-1:1}^T`` of :func:`~linnet_lib.networks.layer_gradients`
    built from the same partial products, and the loss's own ``_value`` and ``_grad``), so the
    results are identical (the tests compare them); it only skips the input checks that gradient
    descent repeats at every step, which take about half of its time on small networks.
    """
    steps = v.positive_int("steps", steps, minimum=0)
    record_every = v.positive_int("record_every", record_every)
    _, recorded, values, diverged = _descent(loss, weights, lr, steps, None, record_every)
    return np.array(recorded), np.array(values), diverged


def _descent(loss, weights, lr, steps: int, target, record_every):
    """Shared loop of :func:`descent_count` (``target``) and :func:`descent_losses`
    (``record_every``). Returns ``(count, recorded steps, losses, diverged)``."""
    layers = [w.copy() for w in v.weights("weights", weights)]
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    if not (hasattr(loss, "_value") and hasattr(loss, "_grad")):
        raise ValueError(f"loss must be a loss object of linnet_lib, got {type(loss).__name__}")
    first = loss.value(end_to_end(layers))  # checks once that the loss fits the network
    recorded, values = [0], [first]
    n = len(layers)
    eye_in, eye_out = np.eye(layers[0].shape[1]), np.eye(layers[-1].shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            below = [eye_in]
            for j in range(1, n):
                below.append(layers[j - 1] @ below[j - 1])
            above = [None] * n
            above[n - 1] = eye_out
            for j in range(n - 2, -1, -1):
                above[j] = above[j + 1] @ layers[j + 1]
            G = loss._grad(_product(layers))
            grads = [above[j].T @ G @ below[j].T for j in range(n)]
            layers = [w - lr * g for w, g in zip(layers, grads, strict=True)]
            product = _product(layers)
            value = float(loss._value(product)) if np.all(np.isfinite(product)) else np.nan
            if not np.isfinite(value):
                return float("inf"), recorded, values, True
            if target is not None and value <= target:
                return float(k), recorded, values, False
            if record_every is not None and (k % record_every == 0 or k == steps):
                recorded.append(k)
                values.append(value)
    return float("inf"), recorded, values, False


def _product(layers: list[np.ndarray]) -> np.ndarray:
    """``W_n ... W_1``, multiplied as :func:`~linnet_lib.networks.end_to_end` does."""
    product = layers[0]
    for W in layers[1:]:
        product = W @ product
    return product


def optimizer_count(loss, W0, optimizer: Optimizer, cap: int, target: float) -> float:
    """Iterations ``optimizer`` needs from ``W0`` to bring the loss to ``target`` or below;
    ``inf`` if it does not within ``cap`` steps or diverges (uses
    :func:`~linnet_lib.optimizers.minimize` with ``stop_loss=target``)."""
    cap = v.positive_int("cap", cap, minimum=0)
    target = v.real("target", target)
    run = minimize(loss, W0, optimizer, cap, record_every=max(cap, 1), stop_loss=target)
    return steps_to_loss(run, target)


def tune_descent(
    loss,
    weights: Sequence[np.ndarray],
    grid,
    max_steps: int,
    target: float,
    *,
    patience: int | None = 4,
) -> tuple[float, float, np.ndarray]:
    """The step of ``grid`` with which gradient descent on ``weights`` reaches ``target`` in the
    fewest iterations (at most ``max_steps``): ``(best_lr, best_count, counts)`` as in
    :func:`~linnet_lib.optimizers.tune_step`.

    The default ``patience=4`` stops the search after one octave without improvement on a grid
    with four steps per octave (:func:`step_grid`); ``patience=None`` tries every step. With
    ``patience=2`` we saw the search miss the best step of a three-layer network, whose count is
    not a single-minimum function of the step near the edge of divergence.
    """
    layers = v.weights("weights", weights)
    return tune_step(
        lambda lr, cap: descent_count(loss, layers, lr, cap, target),
        _grid(grid),
        max_steps,
        patience=patience,
    )


def tune_optimizer(
    loss,
    W0,
    name: str,
    grid,
    max_steps: int,
    target: float,
    *,
    patience: int | None = 4,
    **hyper,
) -> tuple[float, float, np.ndarray]:
    """The step of ``grid`` with which the optimiser ``name`` (see
    :func:`~linnet_lib.optimizers.make`; ``hyper`` are its other settings) reaches ``target`` from
    ``W0`` in the fewest iterations: ``(best_lr, best_count, counts)``; ``patience`` as in
    :func:`tune_descent`."""
    make(name, 1.0, **hyper)  # validates the name and the settings
    return tune_step(
        lambda lr, cap: optimizer_count(loss, W0, make(name, lr, **hyper), cap, target),
        _grid(grid),
        max_steps,
        patience=patience,
    )


# ---------------------------------------------------------------------------------------------
# Section 3.3: figures


def _curves(name: str, curves) -> dict:
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"{name} must be a non-empty dict label -> (steps, values)")
    out = {}
    for label, pair in curves.items():
        try:
            steps, values = pair
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}[{label!r}] must be a pair (steps, values)") from exc
        steps = np.asarray(steps, dtype=float)
        values = np.asarray(values, dtype=float)
        if steps.ndim != 1 or steps.shape != values.shape or steps.size == 0:
            raise ValueError(
                f"{name}[{label!r}]: steps and values must be 1-D arrays of the same length"
            )
        out[label] = (steps, values)
    return out


#: Colours of the curves that are not a depth (the explicit optimisers) in the gap figures.
OTHER_COLORS = ("#7f7f7f", "#17becf", "#bcbd22", "#e377c2", "#8c564b", "#1f1f1f")
_DEPTH_STYLES = ("-", "-.", ":")


def plot_gap_curves(
    ax,
    curves: dict,
    *,
    depths: dict | None = None,
    floor: float = 1e-12,
    target: float | None = None,
) -> None:
    """Loss minus its minimum against the iteration, log scale, one curve per label.

    ``curves`` maps a label to ``(steps, gaps)``. ``depths`` maps some labels to a network depth,
    which fixes their colour (:func:`~linnet_lib.plotting.depth_color`); they are drawn solid (a
    second or third curve of the same depth dash-dotted or dotted). The other curves (explicit
    optimisers) are dashed, in colours distinct from the depth colours. Gaps are clipped below at
    ``floor``. With ``target``, a dotted horizontal line marks it.
    """
    curves = _curves("curves", curves)
    depths = {} if depths is None else dict(depths)
    floor = v.real("floor", floor, low=0.0, strict_low=True)
    seen: dict[int, int] = {}
    others = 0
    for label, (steps, gaps) in curves.items():
        if label in depths:
            n = depths[label]
            style = {
                "color": depth_color(n),
                "ls": _DEPTH_STYLES[seen.get(n, 0) % len(_DEPTH_STYLES)],
                "lw": 1.8,
            }
            seen[n] = seen.get(n, 0) + 1
        else:
            style = {"color": OTHER_COLORS[others % len(OTHER_COLORS)], "ls": "--", "lw": 1.4}
            others += 1
        ax.semilogy(steps, np.maximum(gaps, floor), label=label, **style)
    if target is not None:
        target = v.real("target", target, low=0.0, strict_low=True)
        ax.axhline(target, color="k", ls=":", lw=1, label="target")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\ell(W) - \min \ell$")
    ax.set_ylim(bottom=floor)
    ax.legend(fontsize=8)


def plot_iteration_bars(ax, counts: dict, *, depths: dict | None = None) -> None:
    """Horizontal bars: iterations to the target per method (``inf`` drawn as an empty bar
    labelled "not reached"). Colours follow :func:`plot_gap_curves` with the same ``depths`` and
    the same order of labels."""
    if not isinstance(counts, dict) or not counts:
        raise ValueError("counts must be a non-empty dict label -> iterations")
    depths = {} if depths is None else dict(depths)
    labels = list(counts)
    try:
        values = np.array([float(counts[k]) for k in labels])
    except (TypeError, ValueError) as exc:
        raise ValueError("counts must map labels to numbers of iterations") from exc
    finite = values[np.isfinite(values)]
    top = finite.max() if finite.size else 1.0
    others = 0
    for row, (label, value) in enumerate(zip(labels, values, strict=True)):
        if label in depths:
            color = depth_color(depths[label])
        else:
            color = OTHER_COLORS[others % len(OTHER_COLORS)]
            others += 1
        if np.isfinite(value):
            ax.barh(row, value, color=color)
            ax.text(value, row, f" {value:.0f}", va="center", fontsize=8)
        else:
            ax.barh(row, top, color="none", edgecolor=color, hatch="//")
            ax.text(top, row, " not reached", va="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("iterations to the target")


# ---------------------------------------------------------------------------------------------
# Section 3.4 (Figure 1, right): summaries of training curves over step sizes and seeds


def _runs(runs) -> np.ndarray:
    arr = np.asarray(runs, dtype=float)
    if arr.ndim != 3 or arr.shape[2] < 2:
        raise ValueError(
            f"runs must have shape (step sizes, seeds, epochs + 1) with epochs >= 1, got {arr.shape}"
        )
    return arr


def trains(runs, fraction: float = 0.1) -> np.ndarray:
    """For each step size (first axis of ``runs``, shaped ``(steps, seeds, epochs + 1)`` as the
    arrays of :func:`linnet_lib.mlp.factorisation_experiment`): whether every seed ends finite and
    at most ``fraction`` times its initial loss."""
    arr = _runs(runs)
    fraction = v.real("fraction", fraction, low=0.0, strict_low=True)
    final = arr[:, :, -1]
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(final) & (final <= fraction * arr[:, :, 0]), axis=1)


def best_step_index(runs, fraction: float = 0.1) -> int:
    """The index of the step size with the lowest median final loss among those that train
    (:func:`trains`); raises ``ValueError`` if none does."""
    arr = _runs(runs)
    ok = trains(arr, fraction)
    if not ok.any():
        raise ValueError("runs: no step size trains, so there is no best one")
    final = np.where(ok, np.median(np.nan_to_num(arr[:, :, -1], nan=np.inf), axis=1), np.inf)
    return int(np.argmin(final))
