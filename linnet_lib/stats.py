"""Statistics used by several pages: confidence intervals of a mean, standard errors of a quantile
and of a ratio of two estimates, and least-squares slopes on log-log axes.

These are the tools the book uses to decide whether a Monte Carlo estimate agrees with a formula
("within 3.29 standard errors", the half-width of a two-sided 99.9% interval) and whether a
measured exponent agrees with a predicted one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from . import _validate as v


def _sample(name: str, value, *, positive: bool = False) -> np.ndarray:
    """``value`` flattened to a 1-D float array of at least two finite numbers (positive if asked)."""
    try:
        x = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from exc
    if x.size < 2:
        raise ValueError(f"{name} must hold at least 2 numbers, got {x.size}")
    if not np.all(np.isfinite(x)) or (positive and np.any(x <= 0)):
        raise ValueError(f"{name} must be finite" + (" and positive" if positive else ""))
    return x


def _level(level) -> float:
    level = v.real("level", level, low=0.0, strict_low=True)
    if level >= 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level


def mean_interval(samples, level: float = 0.999) -> tuple[float, float, float]:
    """``(mean, low, high)``: the sample mean and a two-sided normal-approximation confidence
    interval ``mean +- z * s / sqrt(N)`` at the given level (``s`` the sample standard
    deviation with ``ddof=1``)."""
    x = _sample("samples", samples)
    z = norm.ppf(0.5 + _level(level) / 2)
    mean = float(x.mean())
    half = float(z * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def standard_error(samples) -> float:
    """``s / sqrt(N)``: the standard error of the sample mean (``s`` with ``ddof=1``)."""
    x = _sample("samples", samples)
    return float(x.std(ddof=1) / math.sqrt(x.size))


def z_score(samples, value: float) -> float:
    """``(mean - value) / (s / sqrt(N))``: how many standard errors the sample mean lies above
    ``value`` (below it when negative)."""
    x = _sample("samples", samples)
    value = v.real("value", value)
    se = x.std(ddof=1) / math.sqrt(x.size)
    if se == 0:
        raise ValueError("samples must not all be equal (zero standard error)")
    return float((x.mean() - value) / se)


def quantile_log_se(
    samples, level: float, rng=None, *, resamples: int = 400
) -> tuple[float, float]:
    """``(q, se)``: the empirical ``level`` quantile ``q`` of positive samples and a bootstrap
    standard error of ``log q`` (``resamples`` resamples with replacement, drawn from ``rng``).

    The log scale makes the standard errors of a ratio of two independent quantiles add in
    quadrature: ``se(log(q_a / q_b))^2 = se_a^2 + se_b^2`` (see :func:`log_ratio_z`).
    """
    x = _sample("samples", samples, positive=True)
    level = _level(level)
    resamples = v.positive_int("resamples", resamples, minimum=2)
    gen = v.rng(rng)
    boot = gen.choice(x, size=(resamples, x.size), replace=True)
    logs = np.log(np.quantile(boot, level, axis=1))
    return float(np.quantile(x, level)), float(logs.std(ddof=1))


def log_ratio_z(before: float, after: float, se_before: float, se_after: float) -> float:
    """``log(after / before) / sqrt(se_before^2 + se_after^2)``: by how many standard errors a
    positive estimate grew from ``before`` to ``after``, for two independent estimates whose
    logarithms have standard errors ``se_before`` and ``se_after`` (negative when it fell)."""
    before = v.real("before", before, low=0.0, strict_low=True)
    after = v.real("after", after, low=0.0, strict_low=True)
    se_before = v.real("se_before", se_before, low=0.0)
    se_after = v.real("se_after", se_after, low=0.0)
    scale = math.hypot(se_before, se_after)
    if scale == 0:
        raise ValueError("se_before and se_after must not both be 0")
    return math.log(after / before) / scale


def loglog_slope(x, y) -> tuple[float, float]:
    """``(slope, se)``: the least-squares slope of ``log y`` against ``log x`` and its standard
    error (from the residual variance, ``n - 2`` degrees of freedom). Repeated ``x`` values are
    allowed (several runs per width), and need at least two distinct ones and three points."""
    try:
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError("x and y must be arrays of real numbers") from exc
    if x.size != y.size:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 3 or np.unique(x).size < 2:
        raise ValueError("x must hold at least 3 numbers with at least 2 distinct values")
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        raise ValueError("x must be finite and positive")
    if not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise ValueError("y must be finite and positive")
    lx, ly = np.log(x), np.log(y)
    centred = lx - lx.mean()
    slope = float(centred @ (ly - ly.mean()) / (centred @ centred))
    residual = ly - ly.mean() - slope * centred
    se = math.sqrt(float(residual @ residual) / (x.size - 2) / float(centred @ centred))
    return slope, se
