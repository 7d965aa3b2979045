"""Experiments of Chapter 3, second half: Figure 1 (left) of the lecture notes reproduced on a
bundled data set, l_p regression by linear networks of depth 1 to 3 against explicit optimisers.

Each experiment is a function returning numbers; each figure has a ``plot_*`` function drawing
them on axes the notebook provides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v
from .losses import LpLoss
from .optimizers import Optimizer, make, minimize, steps_to_loss, tune_step
from .plotting import depth_color
from .training import gradient_descent

# ---------------------------------------------------------------------------------------------
# Data and the minimum of the convex loss


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
# Iterations to a target loss, for descent on a network and for an explicit optimiser


def descent_count(loss, weights: Sequence[np.ndarray], lr: float, cap: int, target: float) -> float:
    """Iterations plain gradient descent on the layers ``weights`` (step ``lr``) needs to bring
    the loss to ``target`` or below; ``inf`` if it does not within ``cap`` steps or diverges.

    Uses :func:`~linnet_lib.training.gradient_descent` with ``stop_loss=target``.
    """
    cap = v.positive_int("cap", cap, minimum=0)
    target = v.real("target", target)
    run = gradient_descent(loss, weights, lr, cap, record_every=max(cap, 1), stop_loss=target)
    return steps_to_loss(run, target)


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
# Figures


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
