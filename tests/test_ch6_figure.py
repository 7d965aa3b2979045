"""Unit tests of Section 6.4's recipes in linnet_lib.ch6 (the paper's Figure 1, rates against depth,
Explore) and of stochastic steps in ``training.gradient_descent`` (``step_loss``)."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402
from linnet_lib import ch6  # noqa: E402
from linnet_lib import directional as dr  # noqa: E402

CIRCLE = ll.PopulationLogisticLoss([0.0, 1.0], data="circle")
W0 = np.array([0.6, -0.8])


@pytest.fixture(scope="module")
def small_panels():
    return {
        n: ch6.figure1_panel(CIRCLE, n, t_end=1.0, lr=0.01, batch=100, record_every=5)
        for n in (1, 4)
    }


# -- training.gradient_descent with a loss per step ------------------------------------------------


def test_step_loss_reduces_to_plain_descent():
    layers = ch6.figure1_layers(W0, 3, np.random.default_rng(1))
    plain = ll.gradient_descent(CIRCLE, layers, 0.05, 20)
    same = ll.gradient_descent(CIRCLE, layers, 0.05, 20, step_loss=lambda k: CIRCLE)
    assert np.array_equal(plain.end_to_end, same.end_to_end)
    assert np.allclose(plain.loss, same.loss)


def test_step_loss_is_called_in_order_and_validated():
    seen = []

    def factory(k):
        seen.append(k)
        return CIRCLE

    ll.gradient_descent(CIRCLE, [W0[None, :]], 0.1, 7, step_loss=factory)
    assert seen == list(range(7))
    with pytest.raises(ValueError, match="step_loss"):
        ll.gradient_descent(CIRCLE, [W0[None, :]], 0.1, 3, step_loss=CIRCLE)
    wrong = ll.PopulationLogisticLoss([0.0, 0.0, 1.0], data="gaussian", dim=3)
    with pytest.raises(ValueError, match="shape"):
        ll.gradient_descent(CIRCLE, [W0[None, :]], 0.1, 3, step_loss=lambda k: wrong)


def test_sgd_with_fresh_batches_is_unbiased_on_average():
    # one step from w0: the mean over many batches of the SGD step equals the exact step
    steps = [
        ll.gradient_descent(
            CIRCLE, [W0[None, :]], 1.0, 1, step_loss=lambda k, g=g: CIRCLE.sample_loss(400, g)
        ).end_to_end[-1, 0]
        for g in (np.random.default_rng(s) for s in range(200))
    ]
    exact = W0 - CIRCLE.grad(W0[None, :])[0]
    se = np.std(steps, axis=0, ddof=1) / math.sqrt(len(steps))
    assert np.all(np.abs(np.mean(steps, axis=0) - exact) <= 4 * se)


# -- the paper's network, turning time, batches, fast SGD -------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 4, 6])
def test_figure1_layers_product_and_balance(depth):
    layers = ch6.figure1_layers(W0, depth, np.random.default_rng(depth))
    assert len(layers) == depth
    assert np.allclose(ll.end_to_end(layers)[0], W0, atol=1e-15)
    assert ll.unbalancedness(layers) < 1e-14
    scaled = ch6.figure1_layers(3 * W0, depth, np.random.default_rng(depth))
    assert np.allclose(ll.end_to_end(scaled)[0], 3 * W0)
    expected = 0.0 if depth == 1 else 8.0
    assert ll.unbalancedness(scaled) == pytest.approx(expected, abs=1e-12)


def test_figure1_layers_errors():
    with pytest.raises(ValueError, match="w0"):
        ch6.figure1_layers([0.0, 0.0], 3)
    with pytest.raises(ValueError, match="w0"):
        ch6.figure1_layers([1.0], 3)
    with pytest.raises(ValueError, match="depth"):
        ch6.figure1_layers(W0, 0)


def test_induced_turning_time():
    """T along Eq. (14) (``directional.induced_flow``), as the 6.4 recipes use it."""
    T1 = dr.induced_flow(CIRCLE, W0, [30.0], 1)["T"]
    T_ref, _ = dr.norm_turning_time(CIRCLE, W0, 30.0)
    assert T1 == pytest.approx(T_ref, rel=1e-9)
    run = dr.induced_flow(CIRCLE, W0, [30.0], 4)
    T4, w4 = run["T"], run["wT"]
    assert T4 == pytest.approx(8.663, abs=2e-3)
    assert abs(float(w4 @ CIRCLE.grad(w4[None, :])[0])) < 1e-10
    # the induced flow at T: the norm is smallest there (compared with a grid)
    t = np.linspace(0.0, 12.0, 121)
    res = ll.gradient_flow(CIRCLE, W0[None, :], t, depth=4)
    assert np.min(np.linalg.norm(res.end_to_end[:, 0, :], axis=1)) >= np.linalg.norm(w4) - 1e-12
    assert ch6._turn(CIRCLE, [0.6, 0.8], 4, 5.0)[0] == 0.0
    assert ch6._turn(CIRCLE, W0, 4, 1.0)[0] == math.inf
    with pytest.raises(ValueError, match="t_max"):
        ch6._turn(CIRCLE, W0, 2, 0.0)


def test_fresh_batches_match_sample_loss():
    batches = ch6.FreshBatches(CIRCLE, 50, np.random.default_rng(3), chunk=4)
    gen = np.random.default_rng(3)
    for k in range(10):
        ref = CIRCLE.sample_loss(50, gen)
        got = batches(k)
        assert np.array_equal(got.X, ref.X) and np.array_equal(got.y, ref.y)
    with pytest.raises(ValueError, match="k"):
        batches(3)
    with pytest.raises(ValueError, match="size"):
        ch6.FreshBatches(CIRCLE, 0)
    with pytest.raises(ValueError, match="loss"):
        ch6.FreshBatches(object(), 10)


@pytest.mark.parametrize("depth", [1, 3])
def test_fast_sgd_matches_library_descent(depth):
    layers = ch6.figure1_layers(W0, depth, np.random.default_rng(0))
    fast = ch6.sgd_row_network(
        CIRCLE, layers, 0.02, 60, ch6.FreshBatches(CIRCLE, 64, 9), record_every=7
    )
    ref = ll.gradient_descent(
        CIRCLE, layers, 0.02, 60, record_every=7, step_loss=ch6.FreshBatches(CIRCLE, 64, 9)
    )
    assert np.array_equal(fast.steps, ref.steps)
    assert np.allclose(fast.end_to_end, ref.end_to_end, rtol=0, atol=1e-14)
    for a, b in zip(fast.weights, ref.weights, strict=True):
        assert np.allclose(a, b, rtol=0, atol=1e-14)
    assert np.allclose(fast.loss, ref.loss)


def test_fast_sgd_errors():
    with pytest.raises(ValueError, match="layers"):
        ch6.sgd_row_network(CIRCLE, [np.ones((2, 2))], 0.1, 3, ch6.FreshBatches(CIRCLE, 5))
    with pytest.raises(ValueError, match="lr"):
        ch6.sgd_row_network(CIRCLE, [W0[None, :]], -0.1, 3, ch6.FreshBatches(CIRCLE, 5))


# -- panels, bounds, margins -------------------------------------------------------------------------


def test_panel_structure(small_panels):
    for p in small_panels.values():
        flow, sgd = p["flow"], p["sgd"]
        assert np.allclose(flow["t"][p["on_records"]], sgd["t"])
        assert sgd["t"][-1] == pytest.approx(1.0)
        assert np.allclose(flow["W"][0], W0) and np.allclose(sgd["W"][0], W0)
        assert np.allclose(flow["cos"], 1.0 - dr.one_minus_cos(flow["u"]), atol=1e-12)
        assert p["T"] == math.inf  # the horizon is before the turn
    nosgd = ch6.figure1_panel(CIRCLE, 1, t_end=0.5, lr=0.1, batch=None)
    assert nosgd["sgd"] is None
    with pytest.raises(ValueError, match="panel"):
        ch6.sgd_noise_margin(nosgd)


def test_bounds_hold_on_the_flow_and_fail_perturbed():
    p1 = ch6.figure1_panel(CIRCLE, 1, t_end=6.0, lr=0.05, batch=None)
    p4 = ch6.figure1_panel(CIRCLE, 4, t_end=12.0, lr=0.05, batch=None)
    assert ch6.bound_gaps(p1, *ch6.figure1_exponents(p1))["lower_gap"] >= -1e-9
    g4 = ch6.bound_gaps(p4, *ch6.figure1_exponents(p4))
    assert min(g4["lower_gap"], g4["upper_gap"]) >= -1e-9
    assert ch6.bound_gaps(p1, *ch6.figure1_exponents(p1, scale2=1.01))["lower_gap"] < -1e-6
    assert ch6.bound_gaps(p4, *ch6.figure1_exponents(p4, scale2=1.01))["lower_gap"] < -1e-6
    assert ch6.bound_gaps(p4, *ch6.figure1_exponents(p4, restart=5.0))["lower_gap"] < -1e-3
    # the restart state comes from the grid
    r, th = ch6.state_at(p1, 5.0)
    k = int(np.argmin(np.abs(p1["flow"]["t"] - 5.0)))
    assert (r, th) == (p1["flow"]["norm"][k], p1["flow"]["theta"][k])
    with pytest.raises(ValueError, match="t0"):
        ch6.state_at(p1, 5.0123)
    with pytest.raises(ValueError, match="depth 2"):
        ch6.figure1_exponents(p4, depth=2)
    with pytest.raises(ValueError, match="run"):
        ch6.bound_gaps(p1, np.zeros(3), run="gd")


def test_noise_margin_formula(small_panels):
    p = small_panels[1]
    m = ch6.sgd_noise_margin(p)
    n_steps = np.round(m["t"] / p["lr"])
    assert np.allclose(m["rms"], p["lr"] * np.sqrt(n_steps / p["batch"]))
    assert np.allclose(m["drift"], p["lr"] * m["t"] / 16)
    assert np.allclose(m["w"], 4 * m["rms"] + m["drift"])
    assert 0 < m["ratio_w"] < 1 and 0 < m["ratio_cos"] < 1
    tight = ch6.sgd_noise_margin(p, sigmas=0.01)
    assert tight["ratio_w"] > m["ratio_w"]


def test_dip_and_stuck_window():
    track = {
        "t": np.arange(6.0),
        "norm": np.array([3.0, 2.0, 1.0, 1.5, 2.5, 4.0]),
        "loss": np.array([1.0, 0.9, 0.8, 0.75, 0.7, 0.6]),
        "cos": np.array([-1.0, -0.5, 0.0, 0.5, 0.9, 1.0]),
    }
    dip = ch6.norm_dip(track, 2.0)
    assert dip == {"wrong_sign": 0, "min_norm": 1.0, "t_min": 2.0, "start": 3.0, "end": 4.0}
    assert ch6.norm_dip(track, 4.0)["wrong_sign"] == 2
    s = ch6.stuck_window(track, (1.0, 3.0))
    assert s == pytest.approx({"max_norm": 2.0, "loss_drop": 0.15, "cos_rise": 1.0})
    with pytest.raises(ValueError, match="window"):
        ch6.stuck_window(track, (1.2, 1.8))


# -- rates against depth, Explore, plots -------------------------------------------------------------


def test_rate_runs_and_slopes():
    runs = ch6.rate_runs(CIRCLE, W0, (2, 3), t_end=20.0, n=201)
    slope2, se2, window = ch6.late_slope(runs[2])
    assert slope2 == pytest.approx(1.0, abs=1e-8) and se2 < 1e-8
    assert window[1] == pytest.approx(20.0)
    assert ch6.late_slope(runs[3])[0] > 1.0
    assert runs[2]["T"] == pytest.approx(dr.induced_flow(CIRCLE, W0, [20.0], 2)["T"])
    cut = ch6.rate_runs(CIRCLE, W0, (2,), t_end=20.0, n=201, floor=0.1)[2]
    assert cut["t"][-1] < 20.0 and np.all(np.diff(cut["t"]) > 0)
    with pytest.raises(ValueError, match="fraction"):
        ch6.late_slope(runs[2], fraction=1.0)
    with pytest.raises(ValueError, match="floor"):
        ch6.rate_runs(CIRCLE, W0, (2,), floor=0.0)


def test_explore_runs_and_plots(small_panels):
    run = ch6.explore_runs(2, 143.13, 0.5, t_end=5.0)
    assert run["gd"]["t"][-1] == pytest.approx(5.0)
    assert np.allclose(run["flow"]["W"][0], W0, atol=1e-4)
    with pytest.raises(ValueError, match="angle_deg"):
        ch6.explore_runs(2, 180.0, 0.1)
    with pytest.raises(ValueError, match="lr"):
        ch6.explore_runs(2, 90.0, 0.0)
    fig, axes = plt.subplots(2, 3)
    ch6.plot_explore(axes[0, 0], axes[0, 1], run)
    p = small_panels[4]
    ch6.plot_figure1(axes[1], p, ch6.figure1_exponents(p))
    runs = ch6.rate_runs(CIRCLE, W0, (1, 2), t_end=10.0, n=101)
    ch6.plot_rates(axes[0, 2], runs)
    plt.close(fig)
