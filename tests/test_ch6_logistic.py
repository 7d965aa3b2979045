"""Unit tests of Section 6.2's additions: the section-3 functions of linnet_lib.directional for
condition (11) and Theorem 2, and the 6.2 recipes of linnet_lib.ch6 for equation (3), Remark 1
and Propositions 2-3 (iii)-(iv)."""

import math

import numpy as np
import pytest

import linnet_lib as ll
from linnet_lib import ch6
from linnet_lib import directional as dr

CIRCLE = ll.PopulationLogisticLoss([0.0, 1.0])


@pytest.fixture(scope="module")
def run():
    return ch6.gd_run(CIRCLE, [0.6, -0.8], 1.0, 40)


def test_condition11_gain_is_the_step_increase(run):
    delta = dr.condition11_delta(CIRCLE.v, run["W"], 1.0, run["lrs"])
    share = dr.condition11_gain(
        run["cos"][:-1], run["theta"][:-1], run["norm"][1:], 1.0, run["lrs"], delta
    )
    right = run["cos"][:-1] > 0
    inc = run["omc"][:-1] - run["omc"][1:]
    assert np.allclose(inc[right], share[right], rtol=1e-10, atol=1e-15)
    full = dr.condition11_gain(0.5, math.pi / 3, 2.0, 1.0, [0.1], np.inf)
    assert full[0] == pytest.approx(0.1 * 0.75 / (2 * math.pi))
    with pytest.raises(ValueError, match="norm_next"):
        dr.condition11_gain(0.5, 1.0, 0.0, 1.0, [0.1], 1.0)
    with pytest.raises(ValueError, match="lrs"):
        dr.condition11_gain(0.5, 1.0, 1.0, 1.0, [0.0], 1.0)


def test_condition11_chain_delta():
    r1 = dr.theorem2_threshold(3.0, 1.2)
    assert dr.condition11_chain_delta(r1, 3.0, 1.2, 1.0, 1.2) == pytest.approx(1.0, abs=1e-12)
    assert dr.condition11_chain_delta(2 * r1, 3.0, 1.2, 1.0, 1.2) > 1.0
    with pytest.raises(ValueError, match="lr"):
        dr.condition11_chain_delta(1.0, 0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="c0_value"):
        dr.condition11_chain_delta(1.0, 1.0, 1.0, 1.0, 0.0)


def test_condition11_report_and_theorem2(run):
    rep = ch6.condition11_report(CIRCLE, run)
    assert rep["identity"] < 1e-11 and rep["swapped"] > 0.1
    assert rep["slack"] >= -1e-9 and rep["chain"] <= 1.0 + 1e-12
    ph2 = ch6.theorem2_phase2(CIRCLE, run)
    assert ph2["chain"] >= 1.0 and ph2["slack"] >= -1e-9
    left = ch6.gd_run(CIRCLE, [0.6, -0.8], 1.0, 2)  # still in the wrong half-plane
    assert math.isnan(ch6.condition11_report(CIRCLE, left)["identity"])


def test_lemma1_report_shift():
    flow = ch6.flow_with_turn(CIRCLE, [0.6, -0.8], 6.0)
    rep = ch6.lemma1_report(flow)
    assert rep["wrong_before"] == rep["wrong_after"] == 0
    assert ch6.lemma1_report(flow, shift=0.99)["wrong_after"] > 0
    assert ch6.lemma1_report(flow, shift=1.01)["wrong_before"] > 0
    with pytest.raises(ValueError, match="shift"):
        ch6.lemma1_report(flow, shift=0.0)


def test_lemma4_ratio_until():
    right = ch6.gd_run(CIRCLE, [1.5 * math.sin(0.3), 1.5 * math.cos(0.3)], 0.02, 200)
    assert ch6.lemma4_ratio(CIRCLE, right, until=False)[0] > 1.0


def test_exponent_speed_error():
    assert ch6.exponent_speed_error(CIRCLE, [0.6, -0.8], t_end=1.0) < 1e-7
    assert ch6.exponent_speed_error(CIRCLE, [0.6, -0.8], t_end=1.0, depth=4) > 0.5


def test_growth_slopes_and_descent_projection():
    s = ch6.growth_slopes(CIRCLE, [0.6, -0.8], [0.0, 1000.0, 2000.0])
    assert s["norm3"][-1] == pytest.approx(math.pi / 2, rel=0.03)
    assert s["along"][-1] > s["along"][1] > 0
    along = ch6.descent_projection(CIRCLE, [0.6, -0.8], np.ones(50))
    assert along.shape == (51,) and np.all(np.diff(along) > 0)
    steps = 1.0 / np.arange(1.0, 101.0) ** 2
    capped = ch6.descent_projection(CIRCLE, [0.6, -0.8], steps)
    assert capped[-1] - capped[0] <= 2 / math.pi * steps.sum()
    with pytest.raises(ValueError, match="lrs"):
        ch6.descent_projection(CIRCLE, [0.6, -0.8], [1.0, -1.0])
