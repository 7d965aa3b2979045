"""Chapter 6, "Directional convergence" (Lin, Sun & Zhang 2021): the recipes and figures of its
notebooks. One section per notebook; the mathematics lives in concept modules (the population loss
in ``population_logistic``)."""

from __future__ import annotations

# --- 6.1 Set-up: the loss on spherically symmetric data -------------------------------------------

# --- 6.2 Logistic regression (N = 1) --------------------------------------------------------------

# isort: split
import math  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import directional as _dr  # noqa: E402
from .training import gradient_descent, gradient_flow  # noqa: E402

# Angles below this are not resolved by the population gradient near w || v at large norms (see
# PopulationLogisticLoss); the GD bounds are checked only at steps with a larger angle.
ANGLE_FLOOR = 1e-6


def _angles(loss, W) -> np.ndarray:
    """Angles of the rows of ``W`` to v, as ``loss.angle`` computes them, vectorised."""
    along = W @ loss.v
    across = np.linalg.norm(W - along[:, None] * loss.v, axis=1)
    return np.arctan2(across, along)


def logistic_flow(loss, w0, t) -> dict:
    """Gradient flow (depth 1, default tolerances of ``gradient_flow``) from ``w0`` at times ``t``:
    the weights, their norms, angles to v, ``1 - cos theta`` (as ``2 sin^2(theta/2)``) and
    ``g = -w^T grad L = (1/2) d||w||^2/dt``."""
    w0 = np.asarray(w0, dtype=float)
    W = gradient_flow(loss, w0[None, :], t, depth=1).end_to_end[:, 0, :]
    theta = _angles(loss, W)
    g = np.array([-float(w @ loss.grad(w[None, :])[0]) for w in W])
    return {
        "t": np.asarray(t, dtype=float),
        "W": W,
        "norm": np.linalg.norm(W, axis=1),
        "theta": theta,
        "omc": 2.0 * np.sin(0.5 * theta) ** 2,
        "g": g,
    }


def flow_grid(t_end: float, T: float, n: int = 601) -> np.ndarray:
    """A uniform grid on [0, t_end], refined (400 more points) on [0, 2T] and geometrically (60
    points from 1e-6 to 1) just after 0 and just after T, where Theorem 1's phases start."""
    parts = [np.linspace(0.0, t_end, n), np.geomspace(1e-6, 1.0, 60)]
    if math.isfinite(T) and T > 0:
        parts += [np.linspace(0.0, 2.0 * T, 401), T + np.geomspace(1e-6, 1.0, 60)]
    t = np.unique(np.concatenate(parts))
    return t[t <= t_end]


def polar_flow_error(loss, w0, t) -> float:
    """Largest difference between the polar form (Eq. (4)) and the Cartesian flow: max over t of
    ``|r_polar - ||w||| / ||w||`` and ``|theta_polar - theta|``."""
    r, theta = _dr.polar_flow(loss, w0, t)
    run = logistic_flow(loss, w0, t)
    return float(max(np.max(np.abs(r / run["norm"] - 1)), np.max(np.abs(theta - run["theta"]))))


def flow_with_turn(loss, w0, t_end: float) -> dict:
    """The flow from ``w0`` on ``flow_grid(t_end, T)`` (:func:`logistic_flow`) with Lemma 1's
    turning time T and ``w(T)`` located by :func:`~linnet_lib.directional.norm_turning_time`."""
    T, wT = _dr.norm_turning_time(loss, w0, t_end)
    run = logistic_flow(loss, w0, flow_grid(t_end, T))
    return {**run, "T": T, "wT": wT, "loss": loss}


def lemma1_report(flow: dict) -> dict:
    """Lemma 1 along a :func:`flow_with_turn`: the number of grid times with the wrong sign of
    d||w||^2/dt (negative before T, non-negative after) or of the norm's increments, the gap
    ``min ||w(t)|| - ||w(T)||`` (>= 0 when T is the norm's minimum) and ``|g(w(T))|``."""
    t, g, norm, T, wT = flow["t"], flow["g"], flow["norm"], flow["T"], flow["wT"]
    before, after = t < T, t > T
    steps = np.diff(norm)
    wrong_g = int(np.sum(g[before] >= 0) + np.sum(g[after] < 0))
    wrong_norm = int(np.sum(steps[t[1:] <= T] >= 0) + np.sum(steps[t[:-1] >= T] <= 0))
    grad_T = flow["loss"].grad(wT[None, :])[0]
    return {
        "T": T,
        "normT": float(np.linalg.norm(wT)),
        "wrong_sign": wrong_g + wrong_norm,
        "min_gap": float(np.min(norm) - np.linalg.norm(wT)) if math.isfinite(T) else -np.inf,
        "g_at_T": abs(float(wT @ grad_T)),
    }


def theorem1_ratios(flow: dict, *, printed=False, restart=True, **perturb) -> dict:
    """Theorem 1 along a :func:`flow_with_turn`: the ratio of ``1 - cos theta`` to the theorem's
    bound (<= 1 when the bound holds), its maximum and where, and the largest violation
    ``cos_bound - cos theta`` (> 0 when the bound fails) and where. Without ``restart`` the first
    phase's bound is used at all times; ``perturb`` (scale1, scale2, power) goes to
    :func:`~linnet_lib.directional.theorem1_exponent`."""
    loss, t, T, wT = flow["loss"], flow["t"], flow["T"], flow["wT"]
    u = _dr.theorem1_exponent(
        t,
        _dr.c0(loss.data),
        flow["norm"][0],
        flow["theta"][0],
        T if restart else t[-1],
        float(np.linalg.norm(wT)),
        loss.angle(wT[None, :]),
        printed=printed,
        **perturb,
    )
    bound = _dr.one_minus_cos(u)
    ratio = flow["omc"] / bound
    excess = flow["omc"] - bound
    k, j = int(np.argmax(ratio)), int(np.argmax(excess))
    return {
        "ratio": float(ratio[k]),
        "t_worst": float(t[k]),
        "violation": float(excess[j]),
        "t_violation": float(t[j]),
        "bound": bound,
    }


def theorem1_tightness(flow: dict) -> tuple[float, float]:
    """How far Theorem 1's constants could be raised along a :func:`flow_with_turn`: the smallest
    ratio over t in (0, T] of ``u(t) - B1`` to ``A1 t`` and over t > T of ``u(t) - B2`` to
    ``A2 sqrt(t - T + C2)`` (u the exact exponent of the angle). Both are >= 1 when the bound
    holds and near 1 when it is tight."""
    loss, t, T, wT = flow["loss"], flow["t"], flow["T"], flow["wT"]
    args = (
        t,
        _dr.c0(loss.data),
        flow["norm"][0],
        flow["theta"][0],
        T,
        float(np.linalg.norm(wT)),
        loss.angle(wT[None, :]),
    )
    base = _dr.theorem1_exponent(*args, scale1=0.0, scale2=0.0)
    slope = _dr.theorem1_exponent(*args) - base
    kappa = (_dr.angle_exponent(flow["theta"]) - base) / np.where(slope > 0, slope, np.nan)
    first, second = (t > 0) & (t <= T), t > T
    return float(np.nanmin(kappa[first])), float(np.nanmin(kappa[second]))


def gd_run(loss, w0, lr: float, steps: int) -> dict:
    """Gradient descent (depth 1) from ``w0`` with a constant step: weights, gradients, norms,
    cosines, angles and ``1 - cos theta``."""
    w0 = np.asarray(w0, dtype=float)
    res = gradient_descent(loss, [w0[None, :]], lr, steps)
    W = res.end_to_end[:, 0, :]
    theta = _angles(loss, W)
    return {
        "lr": float(lr),
        "lrs": np.full(W.shape[0] - 1, float(lr)),
        "W": W,
        "grad": np.array([loss.grad(w[None, :])[0] for w in W[:-1]]),
        "norm": np.linalg.norm(W, axis=1),
        "cos": W @ loss.v / np.linalg.norm(W, axis=1),
        "theta": theta,
        "omc": 2.0 * np.sin(0.5 * theta) ** 2,
        "loss": res.loss,
    }


def identity_residuals(loss, run) -> tuple[float, float]:
    """Largest residuals of Eq. (8) (absolute, on the change of cos theta) and Eq. (10) (relative,
    on ``||w(n+1)||^2``) along a :func:`gd_run`."""
    W, G, cos, lr = run["W"], run["grad"], run["cos"], run["lr"]
    c0 = _dr.c0(loss.data)
    e8 = max(
        abs(_dr.gd_cos_increment(loss.v, W[k], W[k + 1], G[k], lr) - (cos[k + 1] - cos[k]))
        for k in range(len(G))
    )
    e10 = max(
        abs(_dr.gd_norm_sq(W[k], W[k + 1], c0, lr, run["theta"][k]) / run["norm"][k + 1] ** 2 - 1)
        for k in range(len(G))
    )
    return float(e8), float(e10)


def _ratio(run, bound, start: int, stop: int, factor: float) -> float:
    """Max over steps start+1..stop (angle above ANGLE_FLOOR) of ``(1 - cos) / bound``, with the
    bound's exponent multiplied by ``factor``."""
    scaled = bound[0] * (bound / bound[0]) ** factor
    omc = run["omc"][start:]
    idx = np.arange(1, min(stop - start, len(bound) - 1) + 1)
    idx = idx[run["theta"][start + idx] > ANGLE_FLOOR]
    return float(np.max(omc[idx] / scaled[idx])) if idx.size else math.nan


def lemma4_ratio(loss, run, factor: float = 1.0) -> tuple[float, int]:
    """Lemma 4 (Eq. (9)) along a GD run that starts with v^T w < 0: the largest ratio of
    ``1 - cos theta(n)`` to the bound over n = 1..n0 (n0 the first step with cos >= 0)."""
    cos = run["cos"]
    n0 = int(np.argmax(cos >= 0)) if np.any(cos >= 0) else len(cos) - 1
    bound = _dr.lemma4_bound(cos[0], run["norm"][0], _dr.c0(loss.data), run["lrs"])
    return _ratio(run, bound, 0, n0, factor), n0


def lemma5_ratio(loss, run, fraction: float = 0.99, factor: float = 1.0) -> tuple[float, float]:
    """Lemma 5 (Eq. (12)) from step 0 with delta = ``fraction`` times the largest delta for which
    condition (11) holds along the whole run: (largest ratio over the run, that largest delta)."""
    c0 = _dr.c0(loss.data)
    delta = float(np.min(_dr.condition11_delta(loss.v, run["W"], c0, run["lrs"])))
    bound = _dr.lemma5_bound(run["cos"][0], run["norm"][0], c0, run["lrs"], fraction * delta)
    return _ratio(run, bound, 0, len(bound) - 1, factor), delta


def theorem2_phase2(loss, run, factor: float = 1.0) -> dict:
    """Theorem 2's second phase: n1 = the first step with ``v^T w >= lr c0 (1 + 1/pi)``, the
    smallest delta of condition (11) from n1 on (>= 1 is what the theorem uses), and the largest
    ratio of ``1 - cos`` to Eq. (12) restarted at n1 with delta = 1."""
    c0 = _dr.c0(loss.data)
    W = run["W"]
    hit = W @ loss.v >= _dr.theorem2_threshold(run["lr"], c0)
    if not np.any(hit):
        return {"n1": None, "delta": math.nan, "ratio": math.nan}
    n1 = int(np.argmax(hit))
    lrs = run["lrs"][n1:]
    delta = float(np.min(_dr.condition11_delta(loss.v, W[n1:], c0, lrs)))
    bound = _dr.lemma5_bound(run["cos"][n1], run["norm"][n1], c0, lrs, 1.0)
    return {"n1": n1, "delta": delta, "ratio": _ratio(run, bound, n1, len(W) - 1, factor)}


def figure_logistic(loss, w0, lrs=(0.1, 1.0, 5.0), t_end: float = 20.0) -> dict:
    """Data of the section's figure: the flow (with Theorem 1's bound drawn from 0 and restarted
    at T) and gradient descent at the steps ``lrs`` up to time ``t_end`` (t = step x lr)."""
    flow = flow_with_turn(loss, w0, t_end)
    bound = theorem1_ratios(flow)["bound"]
    runs = {lr: gd_run(loss, w0, lr, int(round(t_end / lr))) for lr in lrs}
    return {"flow": flow, "bound": bound, "gd": runs, "t_end": t_end}


def plot_logistic(data: dict):
    """Two panels against t: the angle theta (log scale) with Theorem 1's bound on it, and the
    norm ||w||; the flow as a line, gradient descent as markers, T marked."""
    fig, (ax_a, ax_n) = plt.subplots(1, 2, figsize=(10, 3.8))
    run = data["flow"]
    t, T = run["t"], run["T"]
    bound_theta = 2.0 * np.arcsin(np.sqrt(np.clip(data["bound"] / 2.0, 0.0, 1.0)))
    ax_a.semilogy(t, run["theta"], "k-", label="gradient flow")
    ax_a.semilogy(t, bound_theta, "k--", label="Theorem 1 bound (restarted at T)")
    ax_n.plot(t, run["norm"], "k-", label="gradient flow")
    for (lr, gd), marker in zip(data["gd"].items(), "os^v", strict=False):
        tg = lr * np.arange(len(gd["theta"]))
        keep = gd["theta"] > ANGLE_FLOOR
        every = max(1, len(tg) // 40)
        ax_a.semilogy(
            tg[keep][::every],
            gd["theta"][keep][::every],
            marker,
            ms=4,
            mfc="none",
            label=f"GD, step {lr:g}",
        )
        ax_n.plot(
            tg[::every], gd["norm"][::every], marker, ms=4, mfc="none", label=f"GD, step {lr:g}"
        )
    for ax in (ax_a, ax_n):
        ax.axvline(T, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("time t (GD: step index x step size)")
        ax.set_xlim(0, data["t_end"])
    ax_a.set_ylabel("angle theta to v (radians)")
    ax_n.set_ylabel("norm ||w||")
    ax_a.legend(fontsize=8)
    ax_n.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- 6.3 Deep linear networks ---------------------------------------------------------------------

# --- 6.4 Figure 1 ---------------------------------------------------------------------------------
