"""Unit tests of Section 6.3 (deep linear networks, Lin, Sun & Zhang 2021, section 4): the induced
flow, Lemma 8(ii)'s rate and the sharp-constant option of Lemma 8 in linnet_lib.directional, and
the 6.3 recipes of linnet_lib.ch6."""

import math

import numpy as np
import pytest

import linnet_lib as ll
from linnet_lib import ch6
from linnet_lib import directional as dr

CIRCLE = ll.PopulationLogisticLoss([0.0, 1.0])
GAUSS = ll.PopulationLogisticLoss([0.0, 0.0, 1.0], data="gaussian", dim=3)
W0 = [0.6, -0.8]


@pytest.fixture(scope="module")
def flow4():
    return ch6.deep_flow(CIRCLE, W0, 4, 20.0)


# -- directional: Eq. (14), its flow, Lemma 8 ----------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_induced_velocity_is_the_single_output_end_to_end_velocity(depth):
    rng = np.random.default_rng(depth)
    for d in (2, 4):
        w, g = rng.standard_normal(d), rng.standard_normal(d)
        general = -ll.end_to_end_velocity(w[None, :], g[None, :], depth)[0]
        assert ll.relative_difference(dr.induced_velocity(w, g, depth), general) < 1e-13


def test_induced_velocity_closed_forms_and_errors():
    w, g = np.array([3.0, 4.0]), np.array([1.0, 0.0])
    # along w the speed is N times the across speed, scaled by ||w||^(2 - 2/N)
    v2 = dr.induced_velocity(w, w / 5.0, 2)
    assert v2 == pytest.approx(-5.0 * 2 * w / 5.0)
    assert dr.induced_velocity(w, g, 1) == pytest.approx(-g)
    with pytest.raises(ValueError, match="grad"):
        dr.induced_velocity(w, [1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError, match="depth"):
        dr.induced_velocity(w, g, 0)
    with pytest.raises(ValueError, match="w"):
        dr.induced_velocity([0.0, 0.0], g, 2)


def test_induced_flow_matches_the_end_to_end_flow_and_locates_the_turn():
    t = np.linspace(0.0, 12.0, 13)
    run = dr.induced_flow(CIRCLE, W0, t, 3)
    general = ll.gradient_flow(CIRCLE, np.array([W0]), t, depth=3).end_to_end[:, 0, :]
    assert np.max(np.abs(run["W"] - general)) < 1e-9
    assert run["up"].size == 1 and run["down"].size == 0
    assert run["T"] == pytest.approx(5.703, abs=1e-3)
    assert -float(run["wT"] @ CIRCLE.grad(run["wT"][None, :])[0]) == pytest.approx(0, abs=1e-10)
    # depth 1 is logistic regression: the same T as Lemma 1's event location
    T1, _ = dr.norm_turning_time(CIRCLE, W0, 10.0)
    assert dr.induced_flow(CIRCLE, W0, [10.0], 1)["T"] == pytest.approx(T1, rel=1e-9)
    # no turn: from the ray -v; a start with a rising norm has T = 0
    assert dr.induced_flow(CIRCLE, [0.0, -1.0], [5.0], 4)["T"] == math.inf
    assert dr.induced_flow(CIRCLE, [0.1, 0.5], [1.0], 4)["T"] == 0.0
    with pytest.raises(ValueError, match="t_eval"):
        dr.induced_flow(CIRCLE, W0, [2.0, 1.0], 3)
    with pytest.raises(ValueError, match="rtol"):
        dr.induced_flow(CIRCLE, W0, [1.0], 3, rtol=0.0)


def test_radial_rate_matches_differences_and_is_positive_at_stationary_norms():
    h, w = 1e-3, np.array([0.3, -0.5])
    run = dr.induced_flow(CIRCLE, w, [h, 2 * h], 4)["W"]
    g = [-float(x @ CIRCLE.grad(x[None, :])[0]) for x in (w, run[0], run[1])]
    forward = (-3 * g[0] + 4 * g[1] - g[2]) / (2 * h)
    assert dr.radial_rate(CIRCLE, w, 4) == pytest.approx(forward, rel=1e-5)
    rates = ch6.stationary_norm_rates(GAUSS, [0.2, 0.8, 1.4], 3)
    assert np.all(rates > 0)


def test_lemma8_growth_keyword():
    low, up = dr.lemma8_norm_bounds(2.0, 1.0, 4, 1.0)
    _, up_sharp = dr.lemma8_norm_bounds(2.0, 1.0, 4, 1.0, growth=0.4)
    assert up == pytest.approx(2.2**2) and up_sharp == pytest.approx(1.8**2)
    assert low == pytest.approx((1.0 + 4.0) ** -2)
    with pytest.raises(ValueError, match="growth"):
        dr.lemma8_norm_bounds(1.0, 1.0, 4, 1.0, growth=0.0)


# -- ch6 recipes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_figure1_layers(depth):
    layers = ch6.figure1_layers(W0, depth, rng=3)
    assert len(layers) == depth
    assert ll.end_to_end(layers) == pytest.approx(np.array([W0]))
    assert ll.unbalancedness(layers) < 1e-14
    assert ll.unbalancedness(ch6.figure1_layers([1.2, 0.0], 3, rng=3)) > 0.1
    with pytest.raises(ValueError, match="w0"):
        ch6.figure1_layers([0.0, 0.0], depth)
    with pytest.raises(ValueError, match="depth"):
        ch6.figure1_layers(W0, 0)


def test_eq14_departures():
    t = np.linspace(0.0, 3.0, 4)
    layers = ch6.figure1_layers(W0, 3, rng=1)
    assert ch6.eq14_departure(CIRCLE, layers, t) < 1e-9
    assert ch6.eq14_vs_theorem1(CIRCLE, W0, t, 3) < 1e-9
    skewed = [2.0 * layers[0], layers[1], 0.5 * layers[2]]
    assert ch6.eq14_departure(CIRCLE, skewed, t) > 0.1


def test_deep_flow_and_theorem3(flow4):
    assert flow4["T"] == pytest.approx(8.663, abs=1e-3)
    assert np.any(flow4["t"] == flow4["T"])
    assert ch6.lemma1_report(flow4)["wrong_sign"] == 0
    m = ch6.theorem3_margins(flow4)
    assert min(m["first"], m["second"], m["upper"]) > -1e-9
    assert abs(m["kappa_first"] - 1) < 1e-5 and abs(m["kappa_second"] - 1) < 1e-5
    assert m["at_zero"] < 1e-12
    assert ch6.theorem3_margins(flow4, scale2=1.01)["kappa_second"] < 0.999
    speed, a2 = ch6.second_phase_speed(flow4)
    assert speed == pytest.approx(a2, rel=1e-6)
    ratio_T, gain = ch6.remark5_gaps(flow4)
    assert ratio_T > 10 and gain > 1
    with pytest.raises(ValueError, match="t_end"):
        ch6.deep_flow(CIRCLE, W0, 4, 0.0)


def test_lemma8_ratios_and_layer_flow(flow4):
    r = ch6.lemma8_ratios(flow4)
    assert r["low"] >= 1 - 1e-12 and r["up"] >= 1 - 1e-12
    g_max, r_max = ch6.sharp_radial_bound(CIRCLE)
    top = ch6.deep_flow(CIRCLE, r_max * CIRCLE.v, 4, 2.0)
    assert ch6.lemma8_ratios(top, growth=2 * g_max)["up"] >= 1 - 1e-12
    assert ch6.lemma8_ratios(top, growth=0.99 * 2 * g_max)["up"] < 1 - 1e-5
    layers = ch6.figure1_layers(W0, 4, rng=1)
    run = ch6.layer_flow(CIRCLE, layers, 5.0)
    assert run["T"] == math.inf and run["depth"] == 4
    assert (
        ll.relative_difference(run["W"][-1], dr.induced_flow(CIRCLE, W0, [5.0], 4)["W"][-1]) < 1e-9
    )


def test_proposition4_and_lemma7_recipes():
    t = np.linspace(0.0, 10.0, 11)
    assert ch6.proposition4_error(CIRCLE, W0, t) < 1e-9
    assert ch6.proposition4_error(CIRCLE, W0, t, rate_scale=1.01) > 1e-3
    errs = ch6.lemma7_errors(CIRCLE, ch6.figure1_layers(W0, 3, rng=2), [1.0, 3.0], depths=(3, 4))
    assert errs[3] < 1e-7 and errs[4] > 0.05
    assert ch6.radial_rate_error(CIRCLE, W0, 3, [1.0, 2.0]) < 1e-6
    with pytest.raises(ValueError, match="times"):
        ch6.lemma7_errors(CIRCLE, ch6.figure1_layers(W0, 3), [0.001])
    with pytest.raises(ValueError, match="rate_scale"):
        ch6.proposition4_error(CIRCLE, W0, t, rate_scale=-1.0)


def test_figure_depths_and_plot():
    runs = ch6.figure_depths(CIRCLE, W0, depths=(1, 3), t_end=6.0)
    assert set(runs) == {1, 3}
    fig = ch6.plot_depths(runs)
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
