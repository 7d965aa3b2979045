"""Experiments of Chapter 3, first half: the discretised end-to-end update (the update rule behind
implicit acceleration) and Claim 1 of the lecture notes on l_p regression.

Each experiment is a function returning numbers; each figure has a ``plot_*`` function drawing
them on axes the notebook provides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v
from .dynamics import end_to_end_velocity
from .networks import end_to_end
from .plotting import depth_color
from .training import TrainingResult, gradient_descent


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
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps, minimum=0)
    record_every = v.positive_int("record_every", record_every)
    if stop_loss is not None:
        stop_loss = v.real("stop_loss", stop_loss)
    record_steps, mats = [0], [W.copy()]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            W = W - lr * end_to_end_velocity(W, loss.grad(W), n)
            if not np.all(np.isfinite(W)):
                diverged = True
                break
            value = loss.value(W)
            if not np.isfinite(value):
                diverged = True
                break
            stop = stop_loss is not None and value <= stop_loss
            if stop or k % record_every == 0 or k == steps:
                record_steps.append(k)
                mats.append(W.copy())
            if stop:
                break
    mats = np.array(mats)
    steps_arr = np.array(record_steps)
    return TrainingResult(
        t=steps_arr * lr,
        end_to_end=mats,
        loss=np.array([loss.value(M) for M in mats]),
        singular_values=np.linalg.svd(mats, compute_uv=False),
        depth=n,
        steps=steps_arr,
        diverged=diverged,
        info={"lr": lr, "route": "end-to-end"},
    )


def iterations_to(run, threshold: float) -> float:
    """First recorded step at which ``run.loss <= threshold`` (inf if never, or if it diverged)."""
    below = np.nonzero(run.loss <= threshold)[0]
    return float(run.steps[below[0]]) if below.size else float("inf")


def best_step_search(run_with_step, steps_grid: Sequence[float], threshold: float) -> dict:
    """Run ``run_with_step(lr)`` for every step size of the grid and keep the fastest.

    ``run_with_step`` must return a :class:`TrainingResult` (with ``steps``). Returns a dict with
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


def row_lp_problem(target, p: float):
    """``l(w) = (1/p) sum_i |w_i - target_i|^p`` for a row ``w`` (a 1 x d end-to-end matrix): l_p
    regression with one output and whitened inputs (X = I)."""
    from .losses import LpLoss

    t = np.atleast_2d(np.asarray(target, dtype=float))
    if t.shape[0] != 1:
        raise ValueError(f"target must be a vector (one output), got shape {np.shape(target)}")
    t = v.matrix("target", t)
    return LpLoss(np.eye(t.shape[1]), t, p=p)


def row_counts(
    target, p: float, depth: int, eps: float, grid, max_steps: int, start=None, scales=None
) -> np.ndarray:
    """Iterations to reach ``l(w) = (1/p) sum_i |x_i (w_i - target_i)|^p <= eps`` for every step
    size of ``grid`` at once (``scales`` is x, default all ones: the regression with inputs
    ``X = diag(x)``, one sample per coordinate).

    Depth 1 is gradient descent on ``l`` from 0. Depth n >= 2 is the discretised end-to-end update
    for one output, ``w <- w - lr ||w||^{2-2/n} (g + (n-1) (w_hat . g) w_hat)`` with ``g = grad l(w)``
    (Exercise 1 of Chapter 1; the same iteration as :func:`end_to_end_descent` on 1 x d matrices,
    which the tests confirm), from ``start`` (default ``1e-3`` times the unit vector along the
    target; the preconditioner vanishes at 0). Vectorised over the grid. A run that diverges or
    does not reach the tolerance within ``max_steps`` counts as inf.
    """
    t = v.matrix("target", np.atleast_2d(np.asarray(target, dtype=float)), shape=(1, None))[0]
    p = v.real("p", p, low=2.0)
    n = v.positive_int("depth", depth)
    eps = v.real("eps", eps, low=0.0, strict_low=True)
    max_steps = v.positive_int("max_steps", max_steps)
    lrs = v.step_sizes("grid", grid)
    if start is None:
        start = 1e-3 * t / np.linalg.norm(t)
    w0 = v.matrix("start", np.atleast_2d(np.asarray(start, dtype=float)), shape=(1, t.size))[0]
    x = (
        np.ones_like(t)
        if scales is None
        else v.matrix("scales", np.atleast_2d(scales), shape=(1, t.size))[0]
    )
    w = np.tile(np.zeros_like(t) if n == 1 else w0, (lrs.size, 1))
    counts = np.full(lrs.size, np.inf)
    active = np.ones(lrs.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(1, max_steps + 1):
            r = x * (w - t)
            g = x * np.sign(r) * np.abs(r) ** (p - 1)
            if n == 1:
                step = g
            else:
                norm = np.linalg.norm(w, axis=1, keepdims=True)
                w_hat = np.where(norm > 0, w / norm, 0.0)
                along = np.sum(w_hat * g, axis=1, keepdims=True)
                step = norm ** (2 - 2 / n) * (g + (n - 1) * along * w_hat)
            w = np.where(active[:, None], w - lrs[:, None] * step, w)
            value = np.sum(np.abs(x * (w - t)) ** p, axis=1) / p
            reached = active & (value <= eps)
            counts[reached] = k
            active &= ~reached & np.isfinite(value)
            if not active.any():
                break
    return counts


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
) -> dict:
    """Best step from ``grid`` and its iteration count for each depth (see :func:`row_counts`).

    Returns ``{depth: {"iterations", "lr", "robust_iterations", "robust_lr", "counts", "edge"}}``:
    the plain best over the grid, the robust best of :func:`robust_best`, every count, and whether
    the plain best sits at an end of the grid.
    """
    grid = v.step_sizes("grid", grid, minimum_size=3)
    out = {}
    for n in depths:
        counts = row_counts(target, p, n, eps, grid, max_steps, start, scales)
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


def plot_claim1(ax, targets, counts: dict[int, np.ndarray]) -> None:
    """Best iteration counts against the target's distance from the origin, one curve per depth."""
    for n, values in counts.items():
        label = "gradient descent on l" if n == 1 else f"end-to-end update, depth {n}"
        ax.loglog(targets, values, "o-", color=depth_color(n), label=label)
    ax.set_xlabel(r"target $w^*$ (distance of the minimiser from the start)")
    ax.set_ylabel("iterations to reach the tolerance\n(best step from the grid)")
    ax.legend()


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
