"""Experiments of Chapter 2, first half: saddles at the origin, deficiency margin and the
convergence theorem, gradient descent versus gradient flow (lecture notes section 3.1).

Each experiment is a function returning numbers; each figure has a ``plot_*`` function drawing
them on axes the notebook provides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v
from .checks import relative_difference
from .losses import SquareLoss
from .networks import balanced_init, end_to_end, layer_gradients
from .networks import unbalancedness as unbalancedness_of
from .plotting import depth_color
from .training import TrainingResult, gradient_descent, gradient_flow
from .width import (
    DescentRun,
    descent,
    dh_step_size,
    gaussian_network,
    induction_radius,
    perturbation_ratios,
    preconditioner_matrix,
    relative_movement,
)

# ---------------------------------------------------------------------------------------------
# 2.1 Saddle points at the origin


def flatten(weights: Sequence[np.ndarray]) -> np.ndarray:
    """All layer entries in one vector (layer 1 first, each layer row-major)."""
    layers = v.weights("weights", weights)
    return np.concatenate([w.ravel() for w in layers])


def unflatten(theta, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Inverse of :func:`flatten` for the given layer shapes."""
    theta = np.asarray(theta, dtype=float)
    sizes = [int(np.prod(s)) for s in shapes]
    if theta.ndim != 1 or theta.size != sum(sizes):
        raise ValueError(f"theta must be a vector of length {sum(sizes)}, got shape {theta.shape}")
    parts = np.split(theta, np.cumsum(sizes)[:-1])
    return [p.reshape(s) for p, s in zip(parts, shapes, strict=True)]


def phi_gradient(loss, weights: Sequence[np.ndarray]) -> np.ndarray:
    """Gradient of ``phi(W_1..W_n) = l(W_n...W_1)`` as one flat vector."""
    layers = v.weights("weights", weights)
    return flatten(layer_gradients(layers, loss.grad(end_to_end(layers))))


def phi_hessian(loss, weights: Sequence[np.ndarray], step: float = 1e-5) -> np.ndarray:
    """Hessian of phi over all layer entries, by central differences of the exact gradient
    (symmetrised). Its size is the total number of weights."""
    layers = v.weights("weights", weights)
    step = v.real("step", step, low=0.0, strict_low=True)
    shapes = [w.shape for w in layers]
    theta = flatten(layers)
    H = np.zeros((theta.size, theta.size))
    for k in range(theta.size):
        e = np.zeros(theta.size)
        e[k] = step
        plus = phi_gradient(loss, unflatten(theta + e, shapes))
        minus = phi_gradient(loss, unflatten(theta - e, shapes))
        H[:, k] = (plus - minus) / (2 * step)
    return (H + H.T) / 2


def proof_curve(W, depth: int, hidden_dims: Sequence[int] | None = None) -> list[np.ndarray]:
    """The network of the proof of Proposition 3 whose product is ``W``.

    With ``d_0 >= d_n``: layer 1 holds ``||W||_F^{-1+1/n} W`` in its top block and every later
    layer holds ``||W||_F^{1/n} I`` in its top-left ``d_n x d_n`` block (the mirror image when
    ``d_0 < d_n``). Each layer then has Frobenius norm ``||W||_F^{1/n}`` times ``sqrt(min(d_0, d_n))``
    for the identity blocks and exactly ``||W||_F^{1/n}`` for the layer holding ``W``.
    """
    W = v.matrix("W", W)
    n = v.positive_int("depth", depth, minimum=2)
    d_out, d_in = W.shape
    k = min(d_out, d_in)
    dims = [k] * (n - 1) if hidden_dims is None else [int(d) for d in hidden_dims]
    if len(dims) != n - 1 or any(d < k for d in dims):
        raise ValueError(f"hidden_dims must be {n - 1} widths, each at least min(d_0, d_n) = {k}")
    norm = np.linalg.norm(W)
    if norm == 0:
        raise ValueError("W must be non-zero")
    widths = [d_in, *dims, d_out]
    root = norm ** (1.0 / n)
    layers = [np.zeros((widths[j + 1], widths[j])) for j in range(n)]
    if d_in >= d_out:
        layers[0][:d_out, :] = W / norm * root
        for j in range(1, n):
            layers[j][:d_out, :d_out] = root * np.eye(d_out)
    else:
        layers[-1][:, :d_in] = W / norm * root
        for j in range(n - 1):
            layers[j][:d_in, :d_in] = root * np.eye(d_in)
    return layers


def escape_times(
    target, scales: Sequence[float], depths: Sequence[int], fraction: float = 0.5, seed: int = 0
) -> dict[int, np.ndarray]:
    """Time for the end-to-end flow on ``||W - target||^2 / 2`` to bring the loss down to
    ``fraction`` of its starting value, from ``scale`` times a fixed random unit-norm matrix.

    The flow is integrated with :func:`linnet_lib.gradient_flow` on a grid that grows with the
    expected escape time; the crossing time is interpolated. Returns ``{depth: times}``.
    """
    Y = v.matrix("target", target)
    fraction = v.real("fraction", fraction, low=0.0, strict_low=True)
    gen = np.random.default_rng(seed)
    direction = gen.standard_normal(Y.shape)
    direction /= np.linalg.norm(direction)
    loss = SquareLoss.to_target(Y)
    top = np.linalg.norm(Y, 2)
    out = {}
    for n in depths:
        times = []
        for s in scales:
            s = v.real("scales", s, low=0.0, strict_low=True)
            # scalar-model estimate of the escape time, with generous headroom
            if n == 1:
                horizon = 10.0 / top
            elif n == 2:
                horizon = (np.log(1.0 / s) + 10.0) / top
            else:
                horizon = (s ** (-(n - 2) / n) / (n - 2) + 10.0) / top ** (2 - 2 / n) * 3
            t = np.linspace(0.0, horizon, 4001)
            run = gradient_flow(loss, s * direction, t, depth=n)
            below = np.nonzero(run.loss <= fraction * run.loss[0])[0]
            if not below.size:
                raise ValueError(
                    f"loss did not fall to {fraction} of its start by t = {horizon:.3g}"
                )
            k = below[0]
            l0, l1 = run.loss[k - 1], run.loss[k]
            level = fraction * run.loss[0]
            times.append(run.t[k - 1] + (l0 - level) * (run.t[k] - run.t[k - 1]) / (l0 - l1))
        out[n] = np.array(times)
    return out


def plot_escape_times(ax, scales, times: dict[int, np.ndarray]) -> None:
    for n, values in times.items():
        ax.loglog(scales, values, "o-", color=depth_color(n), label=f"depth {n}")
    ax.set_xlabel("scale of the initialisation $\\|W(0)\\|_F$")
    ax.set_ylabel("time to halve the loss")
    ax.invert_xaxis()
    ax.legend()


def phi_along_ray(loss, direction: Sequence[np.ndarray], radii) -> np.ndarray:
    """``phi(r * direction) - phi(0)`` for each radius r: how phi leaves the origin."""
    layers = v.weights("direction", direction)
    zero = [np.zeros_like(w) for w in layers]
    base = loss.value(end_to_end(zero))
    return np.array([loss.value(end_to_end([r * w for w in layers])) - base for r in radii])


# ---------------------------------------------------------------------------------------------
# 2.2 Deficiency margin and convergence


def whitened_regression(target, samples: int, rng=None, noise: float = 0.5):
    """Data ``(X, Y)`` with ``X X^T / m = I`` exactly and ``Y X^T / m = target``.

    Y is ``target @ X`` plus noise orthogonal to the rows of X, so the cross-covariance is exactly
    the target while the loss keeps a positive minimum.
    """
    L = v.matrix("target", target)
    m = v.positive_int("samples", samples)
    d_out, d_in = L.shape
    if m <= d_in:
        raise ValueError(f"samples must exceed d_0 = {d_in} to whiten, got {m}")
    gen = v.rng(rng)
    Q, _ = np.linalg.qr(gen.standard_normal((m, d_in + d_out)))
    X = np.sqrt(m) * Q[:, :d_in].T
    E = np.sqrt(m) * noise * Q[:, d_in:].T
    return X, L @ X + E


def covariances(X, Y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Lambda_xx, Lambda_yy, Lambda_yx)``: the uncentred empirical (co)variances."""
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError("X and Y must have the same number of columns")
    m = X.shape[1]
    return X @ X.T / m, Y @ Y.T / m, Y @ X.T / m


def distance_to_deficient(W, delta: float) -> float:
    """``min ||W - W'||_F`` over W' whose smallest singular value is at most ``delta``:
    ``max(0, sigma_min(W) - delta)`` (the lecture notes' Exercise 3)."""
    W = v.matrix("W", W)
    delta = v.real("delta", delta, low=0.0, strict_low=True)
    return max(0.0, float(np.linalg.svd(W, compute_uv=False)[-1]) - delta)


def margin_whitened(W, target) -> float:
    """``sigma_min(target) - ||W - target||_F`` for the whitened square loss with minimiser
    ``target``: W has deficiency margin delta exactly when delta is below this number (Example 1).
    A non-positive value means no margin at all."""
    W = v.matrix("W", W)
    L = v.matrix("target", target, shape=W.shape)
    return float(np.linalg.svd(L, compute_uv=False)[-1] - np.linalg.norm(W - L))


def theorem2_bound(gap0: float, alpha: float, delta: float, depth: int, t) -> np.ndarray:
    """``gap0 * exp(-2 alpha delta^{2(n-1)/n} t)``, the bound of Theorem 2."""
    gap0 = v.real("gap0", gap0, low=0.0)
    alpha = v.real("alpha", alpha, low=0.0, strict_low=True)
    delta = v.real("delta", delta, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth)
    return gap0 * np.exp(-2 * alpha * delta ** (2 * (n - 1) / n) * np.asarray(t, dtype=float))


def asymptotic_rate(target, depth: int) -> float:
    """``2 lambda_min(P(target))``: the rate at which ``phi - phi*`` decays near the balanced
    minimum of ``||W - target||_F^2 / 2`` along its slowest direction.

    From the eigenvalues of the preconditioner (Corollary 1): ``2 n sigma_min^{2(n-1)/n}`` for a
    square target (n equal terms), ``2 sigma_min^{2(n-1)/n}`` for a non-square one (the direction
    pairing the smallest singular direction with the null space has a single term).
    """
    L = v.matrix("target", target)
    n = v.positive_int("depth", depth)
    s_min = float(np.linalg.svd(L, compute_uv=False)[-1])
    terms = n if L.shape[0] == L.shape[1] else 1
    return 2 * terms * s_min ** (2 * (n - 1) / n)


def tight_start(target, distance: float) -> np.ndarray:
    """``target + distance * u v^T`` with u the left singular vector of the smallest singular
    value and v a unit vector of the null space (for a wide target; the mirror image for a tall
    one): the start from which the gap decays at the rate of Theorem 2's proof, since the
    preconditioner acts there with its smallest eigenvalue ``sigma_min^{2(n-1)/n}``."""
    L = v.matrix("target", target)
    distance = v.real("distance", distance, low=0.0)
    d_out, d_in = L.shape
    if d_out == d_in:
        raise ValueError(f"target must not be square (no null space), got shape {L.shape}")
    U, _, Vt = np.linalg.svd(L, full_matrices=True)
    k = min(d_out, d_in)
    if d_in > d_out:
        return L + distance * np.outer(U[:, k - 1], Vt[-1])
    return L + distance * np.outer(U[:, -1], Vt[k - 1])


def start_at_distance(target, distance: float, rng=None) -> np.ndarray:
    """``target + distance * E`` with E a random matrix of unit Frobenius norm."""
    L = v.matrix("target", target)
    distance = v.real("distance", distance, low=0.0)
    gen = v.rng(rng)
    E = gen.standard_normal(L.shape)
    return L + distance * E / np.linalg.norm(E)


def fitted_rate(t, gap, floor: float = 1e-12) -> float:
    """Slope of ``-log(gap)`` against t, by least squares over the points where gap > floor."""
    t = np.asarray(t, dtype=float)
    gap = np.asarray(gap, dtype=float)
    keep = gap > floor
    if keep.sum() < 2:
        raise ValueError("gap must have at least two values above the floor")
    return float(-np.polyfit(t[keep], np.log(gap[keep]), 1)[0])


def plot_gap_vs_bound(ax, t, gaps: dict[int, np.ndarray], bounds: dict[int, np.ndarray]) -> None:
    for n in gaps:
        ax.semilogy(t, gaps[n], color=depth_color(n), label=f"depth {n}: flow")
        ax.semilogy(t, bounds[n], "--", color=depth_color(n), label=f"depth {n}: bound")
    ax.set_xlabel("time $t$")
    ax.set_ylabel(r"$\phi(t) - \phi^*$")
    ax.legend(ncol=2)


# ---------------------------------------------------------------------------------------------
# 2.3 Gradient descent versus gradient flow


def descent_vs_flow(
    loss, layers: Sequence[np.ndarray], lr: float, total_time: float, records: int = 50
):
    """Run gradient descent with step ``lr`` and gradient flow from the same layers up to
    ``total_time``; return ``(descent, flow, max relative distance of the end-to-end matrices at
    matching times t = k * lr)``."""
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    total_time = v.real("total_time", total_time, low=0.0, strict_low=True)
    steps = int(round(total_time / lr))
    every = max(1, steps // v.positive_int("records", records))
    descent = gradient_descent(loss, layers, lr, steps, record_every=every)
    if descent.diverged:
        return descent, None, float("inf")
    flow = gradient_flow(loss, layers, descent.t if descent.t[0] > 0 else np.r_[descent.t[1:]])
    flow_mats = (
        flow.end_to_end
        if descent.t[0] > 0
        else np.concatenate([[end_to_end(layers)], flow.end_to_end])
    )
    distance = max(
        relative_difference(a, b) for a, b in zip(descent.end_to_end, flow_mats, strict=True)
    )
    return descent, flow, distance


def plot_descent_vs_flow(
    ax,
    flow,
    descents: dict[float, object],
    minimum: float = 0.0,
    diverged: dict[float, object] | None = None,
    bound_lr: float | None = None,
) -> None:
    """``loss - minimum`` against time for the flow (black) and each descent run (step in the
    legend); ``diverged`` runs are drawn with crosses. ``bound_lr`` goes into the title."""
    ax.semilogy(flow.t, flow.loss - minimum, "k-", lw=2, label="gradient flow")
    for lr, run in descents.items():
        ax.semilogy(
            run.t, np.maximum(run.loss - minimum, 1e-16), "o-", ms=2, label=f"descent, step {lr:g}"
        )
    for lr, run in (diverged or {}).items():
        ax.semilogy(run.t, run.loss - minimum, "x-", ms=3, label=f"descent, step {lr:g} (diverges)")
    ax.set_xlabel("time $t$ = step size x iterations")
    ax.set_ylabel(r"$\phi - \phi^*$")
    if bound_lr is not None:
        ax.set_title(f"Descent vs flow; Remark 2 would allow steps up to {bound_lr:.0e}")
    ax.legend(fontsize=8)


def plot_phi_along_rays(ax, radii, values: dict[int, np.ndarray]) -> None:
    """``|phi(r Delta) - phi(0)|`` against r, log-log, one curve per depth."""
    for n, vals in values.items():
        ax.loglog(radii, np.abs(vals), "o-", color=depth_color(n), label=f"depth {n}")
    ax.set_xlabel("distance $r$ along the direction")
    ax.set_ylabel(r"$|\phi(r\Delta) - \phi(0)|$")
    ax.legend()


def balanced_network_near(target, distance: float, depth: int, rng=None) -> list[np.ndarray]:
    """A balanced depth-n network whose product lies at ``distance`` from ``target``."""
    gen = v.rng(rng)
    return balanced_init(start_at_distance(target, distance, gen), depth, rng=gen)


def unbalanced_copy(
    layers: Sequence[np.ndarray], unbalancedness: float, rng=None
) -> list[np.ndarray]:
    """The network with each hidden space j rescaled by ``M_j = I + c A_j`` (random ``A_j``),
    ``W_j -> M_j W_j M_{j-1}^{-1}``, with c found by bisection so that the unbalancedness equals
    ``unbalancedness`` (to 1e-12 relative). The product is unchanged."""
    net = v.weights("layers", layers)
    level = v.real("unbalancedness", unbalancedness, low=0.0, strict_low=True)
    if len(net) < 2:
        raise ValueError("layers must have at least two layers (a hidden space to rescale)")
    gen = v.rng(rng)
    directions = [gen.standard_normal((w.shape[0], w.shape[0])) for w in net[:-1]]

    def rescaled(c: float) -> list[np.ndarray]:
        scales = [np.eye(net[0].shape[1])]
        scales += [np.eye(a.shape[0]) + c * a for a in directions]
        scales += [np.eye(net[-1].shape[0])]
        return [scales[j + 1] @ w @ np.linalg.inv(scales[j]) for j, w in enumerate(net)]

    low, high = 0.0, 1e-6
    while unbalancedness_of(rescaled(high)) < level:
        low, high = high, 2 * high
        if high > 1.0:
            raise ValueError(f"unbalancedness {level:g} is out of reach of small rescalings")
    for _ in range(200):
        mid = (low + high) / 2
        if unbalancedness_of(rescaled(mid)) < level:
            low = mid
        else:
            high = mid
        if high - low <= 1e-13 * high:
            break
    return rescaled(high)


def descent_to_target(
    target, layers: Sequence[np.ndarray], lr: float, steps: int, record_every: int = 1
) -> TrainingResult:
    """Gradient descent on ``phi`` for ``l(W) = ||W - target||_F^2 / 2`` (whitened regression),
    the same steps as :func:`linnet_lib.gradient_descent` but without its per-step validation,
    so that the ~10^5 iterations of Remark 2's prescription run in a second or two. Records
    step 0, every ``record_every``-th step and the last; stops if the loss is no longer finite."""
    L = v.matrix("target", target)
    net = [w.copy() for w in v.weights("layers", layers)]
    if (net[-1].shape[0], net[0].shape[1]) != L.shape:
        raise ValueError(f"layers must multiply to the shape of target {L.shape}")
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps, minimum=0)
    record_every = v.positive_int("record_every", record_every)
    n = len(net)
    record_steps, records = [0], [[w.copy() for w in net]]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            prefix = [np.eye(L.shape[1])]  # prefix[j] = W_j ... W_1
            for w in net:
                prefix.append(w @ prefix[-1])
            back = prefix[-1] - L  # W_n ... W_{j+1} transposed times the gradient, from j = n
            grads = [None] * n
            for j in range(n - 1, -1, -1):
                grads[j] = back @ prefix[j].T
                back = net[j].T @ back
            net = [w - lr * g for w, g in zip(net, grads, strict=True)]
            if not all(np.isfinite(w).all() for w in net):
                diverged = True
                break
            if k % record_every == 0 or k == steps:
                record_steps.append(k)
                records.append([w.copy() for w in net])
    with np.errstate(over="ignore", invalid="ignore"):
        mats = np.array([end_to_end(r) for r in records])
        losses = 0.5 * np.sum((mats - L) ** 2, axis=(1, 2))
    finite = int(np.argmin(np.isfinite(losses))) if not np.isfinite(losses).all() else len(losses)
    if finite < len(losses):  # finite layers whose product overflows count as diverged too
        diverged, records, record_steps = True, records[:finite], record_steps[:finite]
        mats, losses = mats[:finite], losses[:finite]
    steps_arr = np.array(record_steps)
    return TrainingResult(
        t=steps_arr * lr,
        end_to_end=mats,
        loss=losses,
        singular_values=np.array([np.linalg.svd(m, compute_uv=False) for m in mats]),
        depth=n,
        weights=tuple(np.array([r[j] for r in records]) for j in range(n)),
        steps=steps_arr,
        diverged=diverged,
        info={"lr": lr},
    )


def remark2_step_size(target, delta: float, depth: int) -> float:
    """The largest step size Remark 2 allows:
    ``delta^{(4n-2)/n} / (6144 n^3 ||target||_F^{(6n-4)/n})``."""
    L = v.matrix("target", target)
    delta = v.real("delta", delta, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth)
    return delta ** ((4 * n - 2) / n) / (6144 * n**3 * np.linalg.norm(L) ** ((6 * n - 4) / n))


def remark2_unbalancedness(target, delta: float, depth: int) -> float:
    """The largest unbalancedness Remark 2 allows: ``delta^2 / (256 n^3 ||target||_F^{2(n-1)/n})``."""
    L = v.matrix("target", target)
    delta = v.real("delta", delta, low=0.0, strict_low=True)
    n = v.positive_int("depth", depth)
    return delta**2 / (256 * n**3 * np.linalg.norm(L) ** (2 * (n - 1) / n))


# ---------------------------------------------------------------------------------------------
# Du & Hu recipes and figures (sections 2.4 and 2.5), built on linnet_lib.width; each figure
# draws on axes the notebook provides


def lazy_sweep(
    X, Y, widths: Sequence[int], depth: int, inits: int, rng=None, *, max_steps: int = 2000
) -> dict:
    """Gradient descent at Du & Hu's largest step ``d_out / (3 L ||X^T X||)`` from ``inits``
    Gaussian initialisations at each width, each run until the loss has fallen by 1e10 (or
    ``max_steps``). Needs reduced data (Assumption 5.1: ``OPT = 0``).

    Returns a dict of arrays with one entry per run (widths in the order given, initialisations
    within a width): ``width``, ``steps``, ``loss0`` (= l(0)), ``radius`` (R of Section 7 with
    B = l(0)), ``distance`` (largest ``max_i ||W_i(t) - W_i(0)||_F``), ``movement`` (relative
    movement of the last iterate), ``P_change`` (``||P(T) - P(0)||_F / ||P(0)||_F``) and the
    ratios ``"15"``, ``"16"``, ``"17"`` of :func:`linnet_lib.width.perturbation_ratios`; and
    ``runs``, a dict width -> (DescentRun, R) of the first initialisation at each width.
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y, shape=(None, X.shape[1]))
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
        raise ValueError(f"widths must be a non-empty sequence of widths, got {widths!r}")
    widths = [v.positive_int(f"widths[{k}]", w) for k, w in enumerate(widths)]
    L = v.positive_int("depth", depth, minimum=3)
    inits = v.positive_int("inits", inits)
    max_steps = v.positive_int("max_steps", max_steps)
    gen = v.rng(rng)
    d_in, d_out = X.shape[0], Y.shape[0]
    lr = dh_step_size(X, L, d_out)
    keys = ("width", "steps", "loss0", "radius", "distance", "movement", "P_change")
    out = {key: [] for key in keys + ("15", "16", "17")}
    runs = {}
    for width in widths:
        for k in range(inits):
            init = gaussian_network(d_in, width, d_out, L, gen)
            run = descent(X, Y, init, lr, max_steps, stop_gap=1e-10)
            final = run.final_weights
            radius = induction_radius(X, L, d_out, run.loss[0])
            P0 = preconditioner_matrix(init, X)
            values = (
                width,
                run.steps,
                run.loss[0],
                radius,
                run.distance.max(),
                relative_movement(final, init),
                relative_difference(preconditioner_matrix(final, X), P0),
            )
            for key, value in zip(keys, values, strict=True):
                out[key].append(value)
            for key, ratio in perturbation_ratios(final, init, X).items():
                out[key].append(ratio)
            if k == 0:
                runs[width] = (run, radius)
    result = {key: np.array(value, dtype=float) for key, value in out.items()}
    result["runs"] = runs
    return result


def _dh_array(name: str, value) -> np.ndarray:
    """``value`` as a float array, or a ValueError naming the argument."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from exc


def _dh_curves(name: str, curves) -> dict:
    """A non-empty dict of non-empty 1-D float arrays."""
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"{name} must be a non-empty dict of label -> 1-D array")
    out = {}
    for label, values in curves.items():
        arr = _dh_array(f"{name}[{label!r}]", values)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name}[{label!r}] must be a non-empty 1-D array, got {arr.shape}")
        out[label] = arr
    return out


def plot_norm_histograms(ax, ratios: dict[str, np.ndarray]) -> None:
    """Histograms of ``log10(||c W_{L:1}(0) x||^2 / ||x||^2)``, one per label, with the mean 1
    (log 0) marked."""
    ratios = _dh_curves("ratios", ratios)
    for label, values in ratios.items():
        if np.any(values <= 0):
            raise ValueError(
                f"ratios[{label!r}] must be positive (they are plotted on a log scale)"
            )
        ax.hist(np.log10(values), bins=40, alpha=0.55, density=True, label=label)
    ax.axvline(0.0, color="k", ls=":", label="expected value (Claim 3.1)")
    ax.set_xlabel(r"$\log_{10}\, \|c\, W_{L:1}(0)\, x\|^2 / \|x\|^2$")
    ax.set_ylabel("density")
    ax.legend()


def plot_gap_curves(ax, curves: dict[str, np.ndarray], rate: float | None = None) -> None:
    """Relative gap ``(l(t) - OPT) / (l(0) - OPT)`` against the step, log scale; with ``rate``
    the guarantee ``rate^t`` of Theorem 4.1 as a dashed line."""
    curves = _dh_curves("curves", curves)
    if rate is not None:
        rate = v.real("rate", rate, low=0.0)
    longest = 1
    for label, gap in curves.items():
        ax.semilogy(np.arange(gap.size), np.maximum(gap / gap[0], 1e-300), label=label)
        longest = max(longest, gap.size)
    if rate is not None:
        t = np.arange(longest)
        ax.semilogy(t, rate**t, "k--", label="guarantee of Theorem 4.1")
    ax.set_ylim(bottom=1e-12, top=10.0)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$(\ell(t) - \mathrm{OPT}) / (\ell(0) - \mathrm{OPT})$")
    ax.legend()


def plot_iterations_vs_depth(
    ax, depths, narrow: np.ndarray, wide: np.ndarray, guarantee: float, wide_label: str
) -> None:
    """Median (line) and interquartile range (band) of the iterations to reach the target, against
    depth, for width-1 chains and wide networks; the wide networks' guaranteed count as a dashed
    line. Runs that never arrive count as infinitely long."""
    depths = _dh_array("depths", depths)
    if depths.ndim != 1 or depths.size == 0:
        raise ValueError(f"depths must be a non-empty 1-D array, got shape {depths.shape}")
    guarantee = v.real("guarantee", guarantee, low=0.0, strict_low=True)
    for name, data in (("narrow", narrow), ("wide", wide)):
        arr = _dh_array(name, data)
        if arr.ndim != 2 or arr.shape[0] != depths.size:
            raise ValueError(f"{name} must have shape (len(depths), runs), got {arr.shape}")
    for data, label, color in ((narrow, "width 1", "tab:red"), (wide, wide_label, "tab:blue")):
        with np.errstate(invalid="ignore"):  # quantiles between a finite count and inf
            q1, med, q3 = np.percentile(np.asarray(data, dtype=float), [25, 50, 75], axis=1)
        q1, med, q3 = (np.where(np.isnan(q), np.inf, q) for q in (q1, med, q3))
        ax.semilogy(depths, med, "o-", color=color, label=f"{label}: median, 25-75% band")
        ax.fill_between(depths, q1, np.minimum(q3, 1e9), color=color, alpha=0.2)
    ax.axhline(guarantee, color="k", ls="--", label="guaranteed count for wide networks")
    ax.set_xlabel("depth $L$")
    ax.set_ylabel(r"iterations to reach $\epsilon$")
    ax.legend()


def plot_bands(ax, ratios: dict, title: str) -> None:
    """Scaled singular values of ``W_{L:i}(0)`` and ``W_{i:1}(0) X`` against i, with the band
    [0.8, 1.2] of Propositions 6.2-6.3. ``ratios`` holds the arrays of
    :func:`~linnet_lib.width.band_ratios` stacked over seeds (shape ``(seeds, L - 1)`` each)."""
    keys = ("outer_max", "outer_min", "inner_max", "inner_min")
    missing = [k for k in keys if k not in ratios] if isinstance(ratios, dict) else list(keys)
    if missing:
        raise ValueError(f"ratios must be a dict as returned by band_ratios; missing {missing}")
    styles = {
        "outer": ("tab:blue", r"$W_{L:i}(0)$", 2),
        "inner": ("tab:green", r"$W_{i:1}(0) X$", 1),
    }
    for key, (color, name, first) in styles.items():
        for kind, marker in (("max", "^"), ("min", "v")):
            values = np.atleast_2d(np.asarray(ratios[f"{key}_{kind}"], dtype=float))
            index = np.arange(first, first + values.shape[1]) + (0.1 if key == "inner" else -0.1)
            ax.plot(
                np.tile(index, values.shape[0]),
                values.ravel(),
                marker,
                ls="none",
                color=color,
                alpha=0.5,
                label=rf"{name}: $\sigma_{{\{kind}}}$ / scale",
            )
    for level in (0.8, 1.2):
        ax.axhline(level, color="k", ls="--", lw=1)
    ax.set_xlabel("$i$")
    ax.set_ylabel("singular value / its scale")
    ax.set_title(title)
    ax.legend(fontsize=8)


def plot_lazy(ax_loss, ax_move, run: DescentRun, radius: float, label: str = "") -> None:
    """Left: the loss along the run. Right: ``max_i ||W_i(t) - W_i(0)||_F`` and the radius R of
    Section 7."""
    if not isinstance(run, DescentRun):
        raise ValueError(f"run must be a DescentRun, got {type(run).__name__}")
    radius = v.real("radius", radius, low=0.0, strict_low=True)
    t = np.arange(run.loss.size)
    ax_loss.semilogy(t, run.loss, label=label or "loss")
    ax_loss.set_xlabel("step $t$")
    ax_loss.set_ylabel(r"loss $\ell(t)$")
    ax_move.plot(t, run.distance, label=label or r"$\max_i \|W_i(t) - W_i(0)\|_F$")
    ax_move.axhline(radius, color="k", ls="--", label=f"radius $R$ = {radius:.3g}")
    ax_move.set_yscale("log")
    ax_move.set_xlabel("step $t$")
    ax_move.set_ylabel(r"$\max_i \|W_i(t) - W_i(0)\|_F$")
    ax_move.legend()


def plot_relative_movement(ax, widths, movement, ylabel: str | None = None) -> None:
    """Relative movement of the layers against the width, log-log, with a slope -1/2 guide
    (``ylabel`` replaces the default axis label when the values are normalised otherwise)."""
    widths = _dh_array("widths", widths)
    movement = _dh_array("movement", movement)
    if widths.ndim != 1 or widths.shape != movement.shape or widths.size == 0:
        raise ValueError(
            f"widths and movement must be 1-D arrays of the same length, got {widths.shape} "
            f"and {movement.shape}"
        )
    ax.loglog(widths, movement, "o-", label="measured")
    ax.loglog(widths, movement[-1] * (widths / widths[-1]) ** -0.5, "k:", label=r"slope $-1/2$")
    ax.set_xlabel("width $m$")
    ax.set_ylabel(ylabel or r"$\max_i \|W_i(T) - W_i(0)\|_2 / \|W_i(0)\|_2$")
    ax.legend()


def plot_preconditioner(
    ax, runs: dict[str, tuple[np.ndarray, np.ndarray]], low: float, high: float
):
    """Extreme eigenvalues of P(t), each divided by its scale ``L sigma^2 / d_out``, against the
    step, with the bounds ``low`` and ``high`` of Section 7.3."""
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict of label -> (lam_min, lam_max)")
    low = v.real("low", low, low=0.0, strict_low=True)
    high = v.real("high", high, low=0.0, strict_low=True)
    for k, (label, (lam_min, lam_max)) in enumerate(runs.items()):
        t = np.arange(len(lam_min))
        ax.semilogy(t, lam_max, color=f"C{k}", label=f"{label}: " + r"$\lambda_{\max}$")
        ax.semilogy(t, lam_min, color=f"C{k}", ls="-.", label=f"{label}: " + r"$\lambda_{\min}$")
    ax.axhline(high, color="k", ls="--", lw=1, label=f"upper bound {high:g}")
    ax.axhline(low, color="k", ls=":", lw=1, label=f"lower bound {low:g}")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"eigenvalue of $P(t)$ / $(L \sigma^2 / d_{out})$")
    ax.legend(fontsize=8)


def plot_distances(ax, runs: dict, radii: dict | None = None) -> None:
    """``max_i ||W_i(t) - W_i(0)||_F`` against the step, one curve per run (label -> DescentRun);
    with ``radii`` (label -> R) each curve is divided by its run's radius R of Section 7."""
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict of label -> DescentRun")
    if radii is not None and (not isinstance(radii, dict) or set(radii) != set(runs)):
        raise ValueError("radii must be a dict with the same labels as runs")
    for label, run in runs.items():
        if not isinstance(run, DescentRun):
            raise ValueError(f"runs[{label!r}] must be a DescentRun, got {type(run).__name__}")
        scale = 1.0 if radii is None else v.real(f"radii[{label!r}]", radii[label], low=0.0)
        if scale == 0:
            raise ValueError(f"radii[{label!r}] must be positive")
        ax.plot(run.distance / scale, label=label)
    ax.set_xlabel("step $t$")
    ylabel = r"$\max_i \|W_i(t) - W_i(0)\|_F$"
    ax.set_ylabel(ylabel if radii is None else ylabel + " / $R$")
    ax.legend()
