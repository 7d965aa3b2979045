"""Unit tests of linnet_lib.ch5, section 5.4 (Figure 1 of Eftekhari 2020, the travel of the
layers, the Explore cases)."""

import matplotlib
import numpy as np
import pytest

import linnet_lib as ll
from linnet_lib import ch5, whitened

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figure_problem(seed=1):
    rng = np.random.default_rng(seed)
    X, Y = whitened.random_problem(50, 5, 1, rng)
    Z = whitened.target(X, Y)
    return X, Y, Z, ch5.rotated_start(Z, 30, 10, rng)


# --- rotated_start, target_with_gap ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 5), (3, 4)])
@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 150.0])
def test_rotated_start_has_the_norm_angle_and_rank(shape, angle):
    Z = np.random.default_rng(0).standard_normal(shape)
    t = whitened.leading_triplet(Z)
    W0 = ch5.rotated_start(Z, angle, 7.0, rng=3)
    assert np.linalg.norm(W0) == pytest.approx(7.0 * t.s, rel=1e-12)
    cos = np.sum(W0 * t.Z1) / (np.linalg.norm(W0) * t.s)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))) == pytest.approx(angle, abs=1e-5)
    assert np.linalg.matrix_rank(W0) == 1
    # the left factor is kept: W0 = s0 u w^T
    np.testing.assert_allclose(np.outer(t.u, t.u) @ W0, W0, atol=1e-12)


def test_rotated_start_refuses_bad_input():
    Z = np.ones((1, 3))
    with pytest.raises(ValueError, match="angle"):
        ch5.rotated_start(Z, 190, 1.0)
    with pytest.raises(ValueError, match="angle"):
        ch5.rotated_start(Z, -1, 1.0)
    with pytest.raises(ValueError, match="scale"):
        ch5.rotated_start(Z, 30, 0.0)
    with pytest.raises(ValueError, match="columns"):
        ch5.rotated_start(np.ones((2, 1)) * [[2.0], [0.0]], 30, 1.0)
    with pytest.raises(ValueError, match="rng"):
        ch5.rotated_start(Z, 30, 1.0, rng="seed")


def test_target_with_gap_has_the_prescribed_spectrum():
    Z = ch5.target_with_gap(0.5, 0.3, (2, 5), rng=1)
    np.testing.assert_allclose(np.linalg.svd(Z, compute_uv=False), [0.5, 0.15], rtol=1e-12)
    t = whitened.leading_triplet(Z)
    assert t.gamma == pytest.approx(0.3, rel=1e-12)
    Z1 = ch5.target_with_gap(2.0, 0.0, (1, 4), rng=1)
    assert np.linalg.norm(Z1) == pytest.approx(2.0, rel=1e-12)


def test_target_with_gap_refuses_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        ch5.target_with_gap(1.0, 1.0, (2, 3))
    with pytest.raises(ValueError, match="gamma"):
        ch5.target_with_gap(1.0, 0.5, (1, 3))
    with pytest.raises(ValueError, match="s_Z"):
        ch5.target_with_gap(0.0, 0.0, (2, 3))
    with pytest.raises(ValueError, match="shape"):
        ch5.target_with_gap(1.0, 0.0, (2,))


# --- the operator --------------------------------------------------------------------------------


# --- flows, Euler, crossings ---------------------------------------------------------------------


def test_induced_flow_depth_one_is_an_exponential_and_matches_the_general_velocity():
    _, _, Z, W0 = figure_problem()
    t = np.linspace(0, 0.02, 21)
    run = ch5.induced_flow(Z, W0, 1, 50, t)
    np.testing.assert_allclose(run.distance, np.linalg.norm(W0 - Z) * np.exp(-50 * t), rtol=1e-8)
    assert run.distance_at(0.01) == pytest.approx(run.distance[10], rel=1e-9)
    # the right-hand side is whitened.induced_velocity
    run3 = ch5.induced_flow(Z, W0, 3, 50, np.array([0.0, 1e-7]))
    step = (run3.W[1] - run3.W[0]) / 1e-7
    velocity = whitened.induced_velocity(W0, Z, 3, 50)
    assert ll.relative_difference(step, velocity) < 1e-4


def test_induced_flow_refuses_bad_input():
    _, _, Z, W0 = figure_problem()
    with pytest.raises(ValueError, match="t_eval"):
        ch5.induced_flow(Z, W0, 2, 50, [0.1, 0.2])
    with pytest.raises(ValueError, match="t_eval"):
        ch5.induced_flow(Z, W0, 2, 50, [0.0])
    with pytest.raises(ValueError, match="m"):
        ch5.induced_flow(Z, W0, 2, 0, [0.0, 0.1])
    with pytest.raises(ValueError, match="W0"):
        ch5.induced_flow(Z, W0[:, :3], 2, 50, [0.0, 0.1])
    with pytest.raises(ValueError, match="rank one"):
        ch5.induced_flow(np.eye(2), np.eye(2), 2, 50, [0.0, 0.1])


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_euler_follows_the_flow_to_first_order(depth):
    _, _, Z, W0 = figure_problem()
    t, d, W_last = ch5.euler_distances(Z, W0, depth, 50, 1e-6, 2000, every=100)
    assert t.shape == d.shape == (21,)
    assert t[-1] == pytest.approx(2e-3)
    run = ch5.induced_flow(Z, W0, depth, 50, t)
    err = np.max(np.abs(d / run.distance - 1))
    assert err < 1e-3
    assert np.linalg.norm(W_last - Z) == pytest.approx(d[-1], rel=1e-12)
    _, d2, _ = ch5.euler_distances(Z, W0, depth, 50, 2e-6, 1000, every=50)
    if depth == 1:
        steps = 100 * np.arange(21)
        np.testing.assert_allclose(d, d[0] * (1 - 5e-5) ** steps, rtol=1e-12)
    else:
        assert np.max(np.abs(d2 / run.distance - 1)) / err == pytest.approx(2, rel=0.05)


def test_euler_from_the_target_direction_stays_on_the_line():
    Z = np.array([[1.0, 0.0, 0.0]])
    _, d, W_last = ch5.euler_distances(Z, 3 * Z, 3, 1.0, 1e-3, 100)
    assert np.all(np.diff(d) < 0)
    assert np.all(W_last[0, 1:] == 0)


def test_euler_refuses_bad_input():
    _, _, Z, W0 = figure_problem()
    with pytest.raises(ValueError, match="one row"):
        ch5.euler_distances(np.ones((2, 3)), np.ones((2, 3)), 2, 50, 1e-6, 10)
    with pytest.raises(ValueError, match="multiple"):
        ch5.euler_distances(Z, W0, 2, 50, 1e-6, 10, every=3)
    with pytest.raises(ValueError, match="step"):
        ch5.euler_distances(Z, W0, 2, 50, 0.0, 10)
    with pytest.raises(ValueError, match="non-zero"):
        ch5.euler_distances(Z, 0 * W0, 2, 50, 1e-6, 10)


def test_grid_crossings_interpolates_in_log_scale():
    t = np.linspace(0, 2, 21)
    a = np.exp(-t)
    b = np.exp(-2 * t + 1.0)  # equal at t = 1
    np.testing.assert_allclose(ch5.grid_crossings(t, a, b), [1.0], atol=1e-12)
    c = np.exp(-2 * t + 1.05)  # equal at t = 1.05, between grid points
    np.testing.assert_allclose(ch5.grid_crossings(t, a, c), [1.05], atol=1e-12)
    assert ch5.grid_crossings(t, a, 2 * a).size == 0
    with pytest.raises(ValueError, match="positive"):
        ch5.grid_crossings(t, a, -b)
    with pytest.raises(ValueError, match="same length"):
        ch5.grid_crossings(t, a, b[:-1])


def test_flow_crossings_refines_the_figure_crossing():
    _, _, Z, W0 = figure_problem()
    runs = ch5.figure1_runs(Z, W0, (1, 2), 50, 0.1, points=101)
    (tc,) = ch5.flow_crossings(runs[1], runs[2])
    assert runs[1].distance_at(tc) == pytest.approx(runs[2].distance_at(tc), rel=1e-10)
    assert 50 * tc == pytest.approx(4.09, abs=0.01)
    with pytest.raises(ValueError, match="InducedRun"):
        ch5.flow_crossings(runs[1], "run")
    other = ch5.figure1_runs(Z, W0, (2,), 50, 0.1, points=51)[2]
    with pytest.raises(ValueError, match="same times"):
        ch5.flow_crossings(runs[1], other)


def test_figure1_runs_refuses_bad_input():
    _, _, Z, W0 = figure_problem()
    with pytest.raises(ValueError, match="depths"):
        ch5.figure1_runs(Z, W0, (), 50, 0.1)
    with pytest.raises(ValueError, match="t_end"):
        ch5.figure1_runs(Z, W0, (1,), 50, 0.0)
    with pytest.raises(ValueError, match="points"):
        ch5.figure1_runs(Z, W0, (1,), 50, 0.1, points=2)


def test_times_and_ratios():
    np.testing.assert_allclose(ch5.loss_time([0.0, 0.1], 50), [0.0, 5.0])
    assert ch5.rescaled_time(1.0, 4.0, 2) == pytest.approx(0.25)
    assert ch5.rescaled_time(1.0, 4.0, 1) == pytest.approx(1.0)
    ratios = ch5.consecutive_ratios({1: [1.0, 1.0], 2: [0.5, 1e-9], 3: [2.0, 1e-10]}, floor=1e-6)
    np.testing.assert_allclose(ratios[0], [0.5, 4.0])
    assert ratios[1, 0] == pytest.approx(1e-6)
    assert np.isnan(ratios[1, 1])
    with pytest.raises(ValueError, match="m"):
        ch5.loss_time([1.0], -1)
    with pytest.raises(ValueError, match="c"):
        ch5.rescaled_time(1.0, 0.0, 2)
    with pytest.raises(ValueError, match="two depths"):
        ch5.consecutive_ratios({1: [1.0]})
    with pytest.raises(ValueError, match="floor"):
        ch5.consecutive_ratios({1: [1.0], 2: [1.0]}, floor=-1.0)


def test_nearby_rate_is_reached():
    _, _, Z, W0 = figure_problem()
    s_Z = whitened.leading_triplet(Z).s
    slow, fast = ch5.nearby_rates(s_Z, 3)
    assert fast == pytest.approx(3 * slow)
    run = ch5.figure1_runs(Z, W0, (3,), 50, 0.4, points=41)[3]
    assert ch5.local_rate(run, 0.39, 50) == pytest.approx(slow, rel=0.01)
    run1 = ch5.figure1_runs(Z, W0, (1,), 50, 0.05, points=11)[1]
    assert ch5.local_rate(run1, 0.02, 50) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="t"):
        ch5.local_rate(run1, 0.05, 50)
    with pytest.raises(ValueError, match="InducedRun"):
        ch5.local_rate(None, 0.02, 50)
    with pytest.raises(ValueError, match="s_Z"):
        ch5.nearby_rates(0.0, 2)


# --- travel --------------------------------------------------------------------------------------


def test_relative_travel():
    M = np.array([[[2.0, 0.0]], [[2.0, 1.0]], [[0.0, 0.0]]])
    np.testing.assert_allclose(ch5.relative_travel(M), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="shape"):
        ch5.relative_travel(np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-zero"):
        ch5.relative_travel(np.zeros((2, 1, 2)))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_balanced_travel_predicts_the_layers(depth):
    X, Y, _, W0 = figure_problem()
    net = ll.balanced_init(W0, depth, [4] * (depth - 1), rng=2)
    t = np.linspace(0, 0.02, 11)
    flow = ll.gradient_flow(ll.SquareLoss(X, Y), net, t, rtol=1e-10, atol=1e-12)
    measured = np.array([ch5.relative_travel(w) for w in flow.weights]).T
    predicted = ch5.balanced_travel(flow.end_to_end, depth)
    np.testing.assert_allclose(measured, predicted, atol=1e-8)
    with pytest.raises(ValueError, match="end_to_end"):
        ch5.balanced_travel(flow.end_to_end[0], depth)


def test_lazy_travel_bounds_agree_and_shrink():
    X, Y, _ = ll.width.reduce_data(
        *ll.width.spectrum_data(8, 20, rank=1, kappa=1.0, d_out=2, rng=101, noise=0.1)
    )
    lazy = ch5.lazy_travel(X, Y, (16, 256), 3, 2, rng=7)
    assert lazy["width"].tolist() == [16, 16, 256, 256]
    assert np.all(lazy["travel"] >= lazy["final"] * (1 - 1e-9))
    assert np.all(lazy["travel"] <= lazy["final"] * 1.001)
    assert lazy["travel"][2:].max() < lazy["travel"][:2].max()
    assert np.all(lazy["end_to_end"] > 0)
    with pytest.raises(ValueError, match="widths"):
        ch5.lazy_travel(X, Y, (), 3, 1)
    with pytest.raises(ValueError, match="depth"):
        ch5.lazy_travel(X, Y, (4,), 1, 1)
    with pytest.raises(ValueError, match="Y"):
        ch5.lazy_travel(X, Y[:, :0], (4,), 3, 1)


# --- Explore and drawing -------------------------------------------------------------------------


def test_explore_runs_depth_one_keeps_the_second_singular_value_away():
    runs = ch5.explore_runs(0.5, 0.4, 30, 5, depths=(1, 2), t_end=0.3, points=31)
    assert runs[1].distance[-1] == pytest.approx(0.2, rel=1e-3)
    assert runs[2].distance[-1] < 0.05
    with pytest.raises(ValueError, match="seed"):
        ch5.explore_runs(0.5, 0.0, 30, 5, seed=-1)


def test_drawing_functions_draw_and_validate():
    _, _, Z, W0 = figure_problem()
    runs = ch5.figure1_runs(Z, W0, (1, 2), 50, 0.01, points=11)
    fig, (a, b, c) = plt.subplots(1, 3)
    ch5.plot_distance_curves(
        a, 50, {n: (r.t, r.distance) for n, r in runs.items()}, marks=[(0.005, 1.0)], highlight=2
    )
    assert len(a.lines) == 3
    ch5.plot_explore(b, runs, 50)
    lazy = {"width": np.array([4.0, 8.0]), "travel": np.array([0.1, 0.07])}
    travel = np.ones((11, 2))
    ch5.plot_travel(c, a, 50, runs[1].t, travel, np.ones(11), lazy)
    with pytest.raises(ValueError, match="curves"):
        ch5.plot_distance_curves(a, 50, {})
    with pytest.raises(ValueError, match="runs"):
        ch5.plot_explore(a, {}, 50)
    with pytest.raises(ValueError, match="layer_travel"):
        ch5.plot_travel(c, a, 50, runs[1].t, travel[:3], np.ones(11), lazy)
    plt.close(fig)
