"""Tests of linnet_lib.stats: intervals, standard errors and log-log slopes."""

import math

import numpy as np
import pytest

import linnet_lib as ll

S = ll.stats


def test_mean_interval_normal_approximation():
    samples = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = S.mean_interval(samples, level=0.95)
    half = 1.959964 * samples.std(ddof=1) / 2
    assert mean == 2.5
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-6)


@pytest.mark.parametrize(
    "samples, level, name",
    [
        ([1.0], 0.9, "samples"),
        ([1.0, np.nan], 0.9, "samples"),
        ([1.0, 2.0], 1.0, "level"),
        ([1.0, 2.0], 0.0, "level"),
        (["a", "b"], 0.9, "samples"),
    ],
)
def test_mean_interval_validates(samples, level, name):
    with pytest.raises(ValueError, match=name):
        S.mean_interval(samples, level)


def test_quantile_log_se_matches_the_asymptotic_formula():
    # exponential(1): q_0.9 = log 10, density there 0.1, so se(q) = sqrt(0.09 / N) / 0.1 and
    # se(log q) = se(q) / q
    samples = np.random.default_rng(5).exponential(size=4000)
    q, se = S.quantile_log_se(samples, 0.9, rng=6)
    assert q == pytest.approx(np.quantile(samples, 0.9))
    assert q == pytest.approx(math.log(10), rel=0.05)
    predicted = math.sqrt(0.09 / 4000) / 0.1 / math.log(10)
    assert se == pytest.approx(predicted, rel=0.2)
    assert S.quantile_log_se(samples, 0.9, rng=6) == (q, se)


@pytest.mark.parametrize(
    "samples, level, kwargs, name",
    [
        ([1.0], 0.9, {}, "samples"),
        ([1.0, 0.0], 0.9, {}, "samples"),
        ([1.0, np.inf], 0.9, {}, "samples"),
        ([1.0, 2.0], 1.0, {}, "level"),
        ([1.0, 2.0], 0.9, {"resamples": 1}, "resamples"),
    ],
)
def test_quantile_log_se_validates(samples, level, kwargs, name):
    with pytest.raises(ValueError, match=name):
        S.quantile_log_se(samples, level, rng=0, **kwargs)


def test_loglog_slope_matches_polyfit_and_its_standard_error():
    gen = np.random.default_rng(8)
    x = np.repeat([10.0, 20.0, 40.0, 80.0], 5)
    y = 3.0 * x**-0.5 * np.exp(0.1 * gen.standard_normal(x.size))
    slope, se = S.loglog_slope(x, y)
    fit, cov = np.polyfit(np.log(x), np.log(y), 1, cov="unscaled")
    residual = np.log(y) - np.polyval(fit, np.log(x))
    assert slope == pytest.approx(fit[0], rel=1e-12)
    assert se == pytest.approx(math.sqrt(cov[0, 0] * residual @ residual / (x.size - 2)), rel=1e-9)
    assert S.loglog_slope([1.0, 2.0, 4.0], [1.0, 0.5, 0.25]) == pytest.approx(
        (-1.0, 0.0), abs=1e-12
    )


@pytest.mark.parametrize(
    "x, y, name",
    [
        ([1.0, 2.0], [1.0, 2.0], "x"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "x"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "x and y"),
        ([1.0, -2.0, 3.0], [1.0, 2.0, 3.0], "x"),
        ([1.0, 2.0, 3.0], [1.0, 0.0, 3.0], "y"),
    ],
)
def test_loglog_slope_validates(x, y, name):
    with pytest.raises(ValueError, match=name):
        S.loglog_slope(x, y)


def test_standard_error_and_z_score():
    samples = np.array([1.0, 2.0, 3.0, 4.0])
    se = samples.std(ddof=1) / 2
    assert S.standard_error(samples) == pytest.approx(se)
    assert S.z_score(samples, 2.0) == pytest.approx(0.5 / se)
    assert S.z_score(samples, 3.0) == pytest.approx(-0.5 / se)
    with pytest.raises(ValueError, match="samples"):
        S.standard_error([1.0])
    with pytest.raises(ValueError, match="samples"):
        S.z_score([1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="value"):
        S.z_score(samples, np.nan)


def test_log_ratio_z_adds_errors_in_quadrature():
    assert S.log_ratio_z(1.0, math.e, 0.3, 0.4) == pytest.approx(2.0)
    assert S.log_ratio_z(2.0, 1.0, 0.0, 0.5) == pytest.approx(math.log(0.5) / 0.5)


@pytest.mark.parametrize(
    "args, name",
    [
        ((0.0, 1.0, 0.1, 0.1), "before"),
        ((1.0, -1.0, 0.1, 0.1), "after"),
        ((1.0, 1.0, -0.1, 0.1), "se_before"),
        ((1.0, 1.0, 0.0, 0.0), "se_before and se_after"),
    ],
)
def test_log_ratio_z_validates(args, name):
    with pytest.raises(ValueError, match=name):
        S.log_ratio_z(*args)
