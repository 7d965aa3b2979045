"""Experiments of Chapter 1 (linear networks and end-to-end dynamics).

Each experiment is a function returning numbers; each figure has a ``plot_*`` function drawing
those numbers on axes the notebook provides. Notebooks only call these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.integrate import trapezoid

from . import _validate as v
from .checks import relative_difference
from .dynamics import end_to_end_velocity
from .networks import balance_gaps, end_to_end, layer_gradients, unbalancedness
from .plotting import depth_color
from .training import gradient_descent, gradient_flow

# ---------------------------------------------------------------------------------------------
# 1.1 The objective and its non-convexity


def phi(loss, weights: Sequence[np.ndarray]) -> float:
    """The overparameterized objective ``phi(W_1..W_n) = l(W_n ... W_1)`` (equation (1))."""
    return loss.value(end_to_end(weights))


def midpoint_gap(loss, a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """``phi((a+b)/2) - (phi(a) + phi(b))/2``; a convex function never makes this positive."""
    a = v.weights("a", a)
    b = v.weights("b", b)
    if [w.shape for w in a] != [w.shape for w in b]:
        raise ValueError("a and b must be networks with the same layer shapes")
    mid = [(x + y) / 2 for x, y in zip(a, b, strict=True)]
    return phi(loss, mid) - 0.5 * (phi(loss, a) + phi(loss, b))


def largest_midpoint_gap(loss, dims: Sequence[int], trials: int, scale: float, rng) -> float:
    """Largest midpoint gap over ``trials`` random pairs of Gaussian networks of widths ``dims``."""
    trials = v.positive_int("trials", trials)
    scale = v.real("scale", scale, low=0.0, strict_low=True)
    gen = v.rng(rng)
    best = -np.inf
    for _ in range(trials):
        a = [scale * gen.standard_normal((dims[j + 1], dims[j])) for j in range(len(dims) - 1)]
        b = [scale * gen.standard_normal((dims[j + 1], dims[j])) for j in range(len(dims) - 1)]
        best = max(best, midpoint_gap(loss, a, b))
    return float(best)


def scalar_landscape(target: float = 1.0, extent: float = 2.0, points: int = 201):
    """Grid values of ``phi(a, b) = (a b - target)^2 / 2``, the depth-2 scalar network."""
    grid = np.linspace(-extent, extent, points)
    A, B = np.meshgrid(grid, grid)
    return A, B, 0.5 * (A * B - target) ** 2


def plot_scalar_landscape(ax, A, B, values, points: dict[str, tuple[float, float]]) -> None:
    """Filled contours of ``sqrt(phi)``, the zero set (a hyperbola) and the named points."""
    filled = ax.contourf(A, B, np.sqrt(values), levels=20, cmap="viridis")
    ax.contour(A, B, values, levels=[1e-3], colors="white", linewidths=1.5)
    xs = [x for x, _ in points.values()]
    ys = [y for _, y in points.values()]
    ax.plot(xs, ys, "--o", color="tab:red", lw=1)
    for name, (x, y) in points.items():
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 6), color="white")
    ax.set_xlabel("$w_1$ (first layer)")
    ax.set_ylabel("$w_2$ (second layer)")
    ax.set_aspect("equal")
    ax.figure.colorbar(filled, ax=ax, label=r"$\sqrt{\phi(w_1, w_2)}$")


# ---------------------------------------------------------------------------------------------
# 1.2 Conservation of unbalancedness


def gap_drift(weights_before: Sequence[np.ndarray], weights_after: Sequence[np.ndarray]) -> float:
    """Largest relative change of the matrices ``W_{j+1}^T W_{j+1} - W_j W_j^T`` (Lemma 1)."""
    before = balance_gaps(weights_before)
    after = balance_gaps(weights_after)
    if not before:
        raise ValueError("weights_before must have at least two layers")
    return max(relative_difference(x, y) for x, y in zip(before, after, strict=True))


def conservation_along_flow(
    loss, init: Sequence[np.ndarray], t_eval, rtol: float | None = None
) -> dict:
    """Integrate the per-layer flow and measure what Lemma 1 and Proposition 2 conserve.

    ``rtol`` is passed to :func:`linnet_lib.gradient_flow` (None: its default); a loose value makes
    the solver's own drift visible. Returns a dict with ``gap_drift`` (largest relative drift over
    j and recorded times), ``unbalancedness`` (series), ``movement``
    (``||W(T) - W(0)||_F / ||W(0)||_F``) and the ``result``.
    """
    options = {} if rtol is None else {"rtol": rtol}
    result = gradient_flow(loss, init, t_eval, **options)
    drift = max(gap_drift(init, result.layers_at(k)) for k in range(len(result.t)))
    series = np.array([unbalancedness(result.layers_at(k)) for k in range(len(result.t))])
    W0, WT = result.end_to_end[0], result.end_to_end[-1]
    return {
        "gap_drift": drift,
        "unbalancedness": series,
        "movement": float(np.linalg.norm(WT - W0) / np.linalg.norm(W0)),
        "result": result,
    }


def descent_gap_drift(loss, init: Sequence[np.ndarray], lr: float, total_time: float) -> float:
    """Gap drift after gradient descent with step ``lr`` run for ``total_time / lr`` steps."""
    steps = int(round(total_time / lr))
    result = gradient_descent(loss, init, lr, steps, record_every=steps)
    if result.diverged:
        raise ValueError(f"lr = {lr} makes gradient descent diverge; choose a smaller lr")
    return gap_drift(init, result.layers_at(-1))


def relative_unbalancedness(loss, init: Sequence[np.ndarray], t_eval) -> dict:
    """Unbalancedness (constant by Proposition 2), the layer size ``max_j ||W_j||_F^2`` and their
    ratio, along the per-layer flow."""
    result = gradient_flow(loss, init, t_eval)
    absolute, size = [], []
    for k in range(len(result.t)):
        layers = result.layers_at(k)
        absolute.append(unbalancedness(layers))
        size.append(max(np.linalg.norm(w) ** 2 for w in layers))
    absolute, size = np.array(absolute), np.array(size)
    return {"t": result.t, "absolute": absolute, "relative": absolute / size, "layer_size": size}


def plot_relative_unbalancedness(ax, runs: dict[float, dict]) -> None:
    for scale, run in runs.items():
        ax.semilogy(run["t"], run["relative"], label=f"init scale {scale:g}")
    ax.set_xlabel("time $t$")
    ax.set_ylabel(r"unbalancedness / $\max_j \|W_j\|_F^2$")
    ax.legend()


# ---------------------------------------------------------------------------------------------
# 1.3 End-to-end dynamics and the preconditioner


def product_rule_velocity(loss, weights: Sequence[np.ndarray]) -> np.ndarray:
    """``d/dt W_{n:1} = sum_j W_{n:j+1} (dW_j/dt) W_{j-1:1}`` under the per-layer flow (eq. (4))."""
    layers = v.weights("weights", weights)
    grads = layer_gradients(layers, loss.grad(end_to_end(layers)))
    total = 0.0
    for j in range(len(layers)):
        above = end_to_end(layers[j + 1 :]) if j + 1 < len(layers) else np.eye(layers[-1].shape[0])
        below = end_to_end(layers[:j]) if j > 0 else np.eye(layers[0].shape[1])
        total = total + above @ (-grads[j]) @ below
    return total


def route_difference(loss, layers: Sequence[np.ndarray], t_eval) -> float:
    """Largest relative difference, over the recorded times, between the end-to-end matrix of the
    per-layer flow from ``layers`` and the end-to-end flow (Theorem 1) from their product."""
    per_layer = gradient_flow(loss, layers, t_eval)
    direct = gradient_flow(loss, end_to_end(layers), t_eval, depth=len(layers))
    return max(
        relative_difference(a, b)
        for a, b in zip(per_layer.end_to_end, direct.end_to_end, strict=True)
    )


def velocity_along_diagonal(sigmas: Sequence[float], depth: int) -> np.ndarray:
    """Velocity of ``W = diag(sigmas)`` under the linear loss ``-tr W``, whose gradient ``-I`` pulls (with equal
    strength on every diagonal entry): entry r is ``n sigma_r^{2(n-1)/n}``."""
    s = np.asarray(sigmas, dtype=float)
    if s.ndim != 1 or s.size == 0 or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError(
            f"sigmas must be a non-empty 1-D array of non-negative numbers, got {sigmas!r}"
        )
    W = np.diag(s)
    return np.diag(end_to_end_velocity(W, np.eye(s.size), depth)).copy()


def plot_velocity_bars(ax, sigmas: Sequence[float], depths: Sequence[int]) -> dict[int, np.ndarray]:
    """Bar chart of the (normalised) velocity of each diagonal entry, one group per depth."""
    width = 0.8 / len(sigmas)
    speeds = {}
    for i, n in enumerate(depths):
        vel = velocity_along_diagonal(sigmas, n)
        speeds[n] = vel / vel.sum()
        for r, share in enumerate(speeds[n]):
            ax.bar(
                i + (r - (len(sigmas) - 1) / 2) * width,
                share,
                width,
                color=f"C{r}",
                label=rf"entry {r + 1} ($\sigma={sigmas[r]:g}$)" if i == 0 else None,
            )
    ax.set_xticks(range(len(depths)), [f"depth {n}" for n in depths])
    ax.set_ylabel("share of the velocity")
    ax.legend()
    return speeds


def plot_eigenvalue_curves(
    ax, sigma_small: np.ndarray, depths: Sequence[int]
) -> dict[int, np.ndarray]:
    """Eigenvalue ``n sigma^{2(n-1)/n}`` of P(W) along ``u_r v_r^T`` against the singular value.

    Returns the drawn curves ``{depth: eigenvalues at sigma_small}``, so that a notebook can check
    them against the dynamics.
    """
    sigma_small = np.asarray(sigma_small, dtype=float)
    if sigma_small.ndim != 1 or sigma_small.size == 0 or np.any(sigma_small <= 0):
        raise ValueError(
            f"sigma_small must be a non-empty 1-D array of positive numbers, got {sigma_small!r}"
        )
    curves = {}
    for n in depths:
        n = v.positive_int("depth", n)
        curves[n] = n * sigma_small ** (2 * (n - 1) / n)
        ax.loglog(sigma_small, curves[n], color=depth_color(n), label=f"depth {n}")
    ax.set_xlabel(r"singular value $\sigma_r$ of $W$")
    ax.set_ylabel(r"eigenvalue of $P(W)$ along $u_r v_r^\top$")
    ax.legend()
    return curves


# ---------------------------------------------------------------------------------------------
# 1.4 Not a gradient field; trajectories


def loop_integral(
    loss, center, direction_a, direction_b, radius: float, depth: int, points: int = 256
) -> float:
    """Line integral of ``g(W) = end_to_end_velocity(W, grad l(W), n)`` around the circle
    ``W(theta) = center + radius (cos theta A + sin theta B)``.

    The integrand is smooth and periodic, so the trapezoidal rule converges exponentially fast.
    A gradient field gives zero on every closed loop.
    """
    C = v.matrix("center", center)
    A = v.matrix("direction_a", direction_a, shape=C.shape)
    B = v.matrix("direction_b", direction_b, shape=C.shape)
    radius = v.real("radius", radius, low=0.0, strict_low=True)
    points = v.positive_int("points", points, minimum=8)
    theta = np.linspace(0.0, 2 * np.pi, points + 1)
    values = []
    for th in theta:
        W = C + radius * (np.cos(th) * A + np.sin(th) * B)
        tangent = radius * (-np.sin(th) * A + np.cos(th) * B)
        values.append(np.sum(end_to_end_velocity(W, loss.grad(W), depth) * tangent))
    return float(trapezoid(values, theta))


def planar_curl(loss, center, direction_a, direction_b, depth: int, step: float = 1e-5) -> float:
    """``<D_A g, B> - <D_B g, A>`` at ``center``: the curl of ``g`` in the plane spanned by the
    orthonormal directions A and B (central differences). By Stokes' theorem the loop integral of
    :func:`loop_integral` is ``pi radius^2`` times this, to leading order in the radius."""
    C = v.matrix("center", center)
    A = v.matrix("direction_a", direction_a, shape=C.shape)
    B = v.matrix("direction_b", direction_b, shape=C.shape)

    def g(W):
        return end_to_end_velocity(W, loss.grad(W), depth)

    d_a = (g(C + step * A) - g(C - step * A)) / (2 * step)
    d_b = (g(C + step * B) - g(C - step * B)) / (2 * step)
    return float(np.sum(d_a * B) - np.sum(d_b * A))


def orthonormal_pair(shape: tuple[int, int], rng) -> tuple[np.ndarray, np.ndarray]:
    """Two random matrices of the given shape, orthonormal in the Frobenius inner product."""
    gen = v.rng(rng)
    A = gen.standard_normal(shape)
    A /= np.linalg.norm(A)
    B = gen.standard_normal(shape)
    B -= np.sum(A * B) * A
    return A, B / np.linalg.norm(B)


def plot_loop_scaling(ax, radii, integrals: dict[int, np.ndarray]) -> None:
    """The absolute value of the loop integral against the loop radius, log-log, with a slope-2
    guide."""
    radii = np.asarray(radii)
    for n, values in integrals.items():
        ax.loglog(
            radii, np.maximum(np.abs(values), 1e-18), "o-", color=depth_color(n), label=f"depth {n}"
        )
    ref = integrals[max(integrals)]
    ax.loglog(
        radii, abs(ref[0]) * (radii / radii[0]) ** 2, "k:", label=r"slope 2 ($\propto \rho^2$)"
    )
    ax.set_xlabel(r"loop radius $\rho$")
    ax.set_ylabel(r"$|\oint \langle g(W), dW \rangle|$")
    ax.legend()


def velocity_jacobian(loss, W, depth: int, step: float = 1e-6) -> np.ndarray:
    """Jacobian of ``vec g(W)`` with respect to ``vec W`` (column-major), by central differences,
    where ``g(W) = end_to_end_velocity(W, grad l(W), depth)``."""
    W = v.matrix("W", W)
    size = W.size
    J = np.zeros((size, size))
    for k in range(size):
        E = np.zeros(size)
        E[k] = step
        E = E.reshape(W.shape, order="F")
        plus = end_to_end_velocity(W + E, loss.grad(W + E), depth)
        minus = end_to_end_velocity(W - E, loss.grad(W - E), depth)
        J[:, k] = (plus - minus).reshape(-1, order="F") / (2 * step)
    return J


def rotation_plane(loss, W, depth: int, step: float = 1e-6) -> tuple[np.ndarray, np.ndarray, float]:
    """The plane through ``W`` in which the field ``g`` rotates most, and how strongly.

    With K the antisymmetric part of the Jacobian J of ``vec g``, its top singular pair gives
    orthonormal A, B (as matrices) with ``<B, J A> - <A, J B> = 2 sigma_1(K)``, the largest curl of
    ``g`` over all planes. Returns ``(A, B, 2 sigma_1(K) / ||J||_2)``, the last a dimensionless
    strength that is zero exactly when J is symmetric.
    """
    W = v.matrix("W", W)
    J = velocity_jacobian(loss, W, depth, step)
    K = (J - J.T) / 2
    U, sig, _ = np.linalg.svd(K)
    a = U[:, 0]
    b = K.T @ a
    norm_b = np.linalg.norm(b)
    if norm_b == 0:
        b = U[:, 1]  # K = 0: any orthonormal pair, zero strength
    else:
        b = b / norm_b
    A = a.reshape(W.shape, order="F")
    B = b.reshape(W.shape, order="F")
    return A, B, float(2 * sig[0] / np.linalg.norm(J, 2))


def jacobian_asymmetry(loss, W, depth: int, step: float = 1e-6) -> float:
    """``||J - J^T||_F / ||J||_F`` for the Jacobian J of ``vec g`` (see :func:`velocity_jacobian`).

    A gradient field has a symmetric Jacobian (it is a Hessian).
    """
    J = velocity_jacobian(loss, W, depth, step)
    return float(np.linalg.norm(J - J.T) / np.linalg.norm(J))


def trajectories(
    target, init_scale: float, depths: Sequence[int], t_end: float, seed: int = 0, points: int = 400
) -> dict[int, object]:
    """End-to-end flows on ``l(W) = ||W - target||^2 / 2`` from one near-zero start, per depth.

    The start is ``init_scale`` times a fixed random matrix with unit Frobenius norm (seeded), so
    every depth starts from the same point. Returns ``{depth: TrainingResult}``.
    """
    from .losses import SquareLoss  # local import keeps the module graph flat

    Y = v.matrix("target", target)
    init_scale = v.real("init_scale", init_scale, low=0.0, strict_low=True)
    gen = np.random.default_rng(seed)
    start = gen.standard_normal(Y.shape)
    start = init_scale * start / np.linalg.norm(start)
    t = np.linspace(0.0, t_end, points)
    loss = SquareLoss.to_target(Y)
    return {n: gradient_flow(loss, start, t, depth=n) for n in depths}


#: The bottom of the loss axis in plot_trajectories. The flows are integrated with an absolute
#: tolerance of 1e-14 on the entries, so a loss below about 1e-24 is integration and round-off
#: error, whose wiggles differ from machine to machine; the axis stops well above it.
LOSS_FLOOR = 1e-20


def plot_trajectories(axes, runs: dict[int, object], target) -> None:
    """Left: the path of the diagonal entries (W_11, W_22). Right: loss against time, on a log
    axis that stops at :data:`LOSS_FLOOR`."""
    ax_path, ax_loss = axes
    for n, run in runs.items():
        ax_path.plot(
            run.end_to_end[:, 0, 0],
            run.end_to_end[:, 1, 1],
            color=depth_color(n),
            label=f"depth {n}",
        )
        ax_loss.semilogy(run.t, run.loss, color=depth_color(n), label=f"depth {n}")
    ax_path.plot(target[0, 0], target[1, 1], "k*", markersize=12, label="target")
    first = next(iter(runs.values()))
    ax_path.plot(first.end_to_end[0, 0, 0], first.end_to_end[0, 1, 1], "ko", label="start")
    ax_path.set_xlabel("$W_{11}$")
    ax_path.set_ylabel("$W_{22}$")
    ax_path.legend()
    # Both ends fixed: an autoscaled top would depend on the data's smallest value (its margin is
    # a share of the logarithmic range), which is round-off.
    top = 10.0 ** np.ceil(np.log10(max(float(np.max(run.loss)) for run in runs.values())) + 0.5)
    ax_loss.set_ylim(LOSS_FLOOR, top)
    ax_loss.set_xlabel("time $t$")
    ax_loss.set_ylabel(r"loss $\ell(W(t))$")
    ax_loss.legend()


def time_to_reach(run, fraction: float) -> float:
    """First recorded time at which the loss falls below ``fraction`` times its initial value."""
    below = np.nonzero(run.loss <= fraction * run.loss[0])[0]
    return float(run.t[below[0]]) if below.size else float("inf")


def time_to_reach_entry(run, index: tuple[int, int], level: float) -> float:
    """First time at which entry ``index`` of the end-to-end matrix reaches ``level``, linearly
    interpolated between the two recorded times around the crossing (inf if never reached)."""
    values = run.end_to_end[:, index[0], index[1]]
    reached = np.nonzero(values >= level)[0]
    if not reached.size:
        return float("inf")
    k = reached[0]
    if k == 0:
        return float(run.t[0])
    t0, t1, v0, v1 = run.t[k - 1], run.t[k], values[k - 1], values[k]
    return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0))


def entry_when(run, index: tuple[int, int], other: tuple[int, int], level: float) -> float:
    """Value of entry ``other`` at the (interpolated) time entry ``index`` first reaches ``level``."""
    t_cross = time_to_reach_entry(run, index, level)
    if not np.isfinite(t_cross):
        return float("nan")
    return float(np.interp(t_cross, run.t, run.end_to_end[:, other[0], other[1]]))
