"""Tests of linnet_lib.ch1, the experiments of Chapter 1."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402

ch1 = ll.ch1


@pytest.fixture
def target_loss():
    return ll.SquareLoss.to_target(np.diag([1.0, 0.4]))


def test_phi_is_loss_of_product(target_loss):
    net = [np.eye(2) * 2, np.eye(2) * 0.5]
    assert ch1.phi(target_loss, net) == pytest.approx(target_loss.value(np.eye(2)))


def test_midpoint_gap_positive_for_depth_two_counterexample():
    loss = ll.SquareLoss.to_target(np.eye(3))
    assert ch1.midpoint_gap(loss, [np.eye(3)] * 2, [-np.eye(3)] * 2) == pytest.approx(1.5)


def test_midpoint_gap_never_positive_at_depth_one(target_loss):
    gap = ch1.largest_midpoint_gap(target_loss, [2, 2], 200, 1.0, np.random.default_rng(0))
    assert gap <= 1e-12


def test_midpoint_gap_rejects_mismatched_networks(target_loss):
    with pytest.raises(ValueError, match="same layer shapes"):
        ch1.midpoint_gap(target_loss, [np.eye(2)], [np.eye(2), np.eye(2)])


@pytest.mark.parametrize(
    "trials, scale, name", [(0, 1.0, "trials"), (5, 0.0, "scale"), (5, -1.0, "scale")]
)
def test_largest_midpoint_gap_validates(target_loss, trials, scale, name):
    with pytest.raises(ValueError, match=name):
        ch1.largest_midpoint_gap(target_loss, [2, 2], trials, scale, 0)


def test_gap_drift_zero_for_identical_networks():
    net = ll.gaussian_init([2, 3, 2], 1.0, 0)
    assert ch1.gap_drift(net, net) == 0.0


def test_gap_drift_needs_two_layers():
    with pytest.raises(ValueError, match="weights_before"):
        ch1.gap_drift([np.eye(2)], [np.eye(2)])


def test_descent_gap_drift_rejects_diverging_step(target_loss):
    net = ll.gaussian_init([2, 2, 2], 1.0, 0)
    with pytest.raises(ValueError, match="lr"):
        ch1.descent_gap_drift(target_loss, net, 50.0, 500.0)


def test_product_rule_velocity_matches_theorem_at_balanced_point(target_loss):
    W = np.array([[0.3, 0.1], [-0.2, 0.5]])
    net = ll.balanced_init(W, 3, rng=0)
    expected = -ll.end_to_end_velocity(W, target_loss.grad(W), 3)
    assert ll.relative_difference(ch1.product_rule_velocity(target_loss, net), expected) < 1e-12


def test_route_difference_small_balanced_large_unbalanced(target_loss):
    t = np.linspace(0, 3, 7)
    W = np.array([[0.3, 0.1], [-0.2, 0.5]])
    assert ch1.route_difference(target_loss, ll.balanced_init(W, 2, rng=1), t) < 1e-8
    assert ch1.route_difference(target_loss, ll.gaussian_init([2, 2, 2], 0.8, 1), t) > 1e-2


def test_velocity_along_diagonal_closed_form():
    s = np.array([0.5, 0.1])
    for n in (1, 2, 3):
        assert np.allclose(ch1.velocity_along_diagonal(s, n), n * s ** (2 * (n - 1) / n))


@pytest.mark.parametrize("bad", [[], [-1.0, 1.0], [np.nan], [[1.0]]])
def test_velocity_along_diagonal_validates(bad):
    with pytest.raises(ValueError, match="sigmas"):
        ch1.velocity_along_diagonal(bad, 2)


def test_loop_integral_vanishes_for_gradient_field_and_not_for_depth_three():
    rng = np.random.default_rng(3)
    loss = ll.SquareLoss.to_target(rng.standard_normal((2, 3)))
    W0 = rng.standard_normal((2, 3))
    A, B = ch1.orthonormal_pair((2, 3), rng)
    assert abs(ch1.loop_integral(loss, W0, A, B, 0.05, 1)) < 1e-12
    value = ch1.loop_integral(loss, W0, A, B, 0.01, 3)
    curl = ch1.planar_curl(loss, W0, A, B, 3)
    assert abs(value) > 1e-6
    assert value / (np.pi * 0.01**2) == pytest.approx(curl, rel=1e-2)


def test_loop_integral_validates():
    loss = ll.SquareLoss.to_target(np.eye(2))
    with pytest.raises(ValueError, match="radius"):
        ch1.loop_integral(loss, np.eye(2), np.eye(2), np.eye(2), 0.0, 2)
    with pytest.raises(ValueError, match="direction_b"):
        ch1.loop_integral(loss, np.eye(2), np.eye(2), np.ones((2, 3)), 0.1, 2)


def test_orthonormal_pair_is_orthonormal():
    A, B = ch1.orthonormal_pair((3, 2), 0)
    assert np.linalg.norm(A) == pytest.approx(1)
    assert np.linalg.norm(B) == pytest.approx(1)
    assert abs(np.sum(A * B)) < 1e-14


def test_jacobian_asymmetry_zero_at_depth_one_positive_at_depth_two():
    rng = np.random.default_rng(4)
    loss = ll.SquareLoss.to_target(rng.standard_normal((2, 2)))
    W = rng.standard_normal((2, 2))
    assert ch1.jacobian_asymmetry(loss, W, 1) < 1e-8
    assert ch1.jacobian_asymmetry(loss, W, 2) > 1e-2


def test_trajectories_share_start_and_converge():
    runs = ch1.trajectories(np.diag([1.0, 0.4]), 0.01, (1, 2), t_end=30.0, points=50)
    starts = [r.end_to_end[0] for r in runs.values()]
    assert np.array_equal(starts[0], starts[1])
    assert np.linalg.norm(starts[0]) == pytest.approx(0.01)
    assert all(r.loss[-1] < 1e-6 for r in runs.values())


def test_trajectories_validate_scale():
    with pytest.raises(ValueError, match="init_scale"):
        ch1.trajectories(np.eye(2), 0.0, (1,), 1.0)


def test_time_helpers():
    runs = ch1.trajectories(np.diag([1.0, 0.4]), 0.01, (1,), t_end=10.0, points=101)
    run = runs[1]
    assert ch1.time_to_reach(run, 0.5) == pytest.approx(np.log(2) / 2, abs=0.11)
    assert ch1.time_to_reach_entry(run, (0, 0), 0.5) < ch1.time_to_reach_entry(run, (0, 0), 0.9)
    assert ch1.time_to_reach_entry(run, (0, 0), 5.0) == float("inf")


def test_plot_functions_draw(target_loss):
    fig, axes = plt.subplots(1, 2)
    runs = ch1.trajectories(np.diag([1.0, 0.4]), 0.01, (1, 2), t_end=5.0, points=20)
    ch1.plot_trajectories(axes, runs, np.diag([1.0, 0.4]))
    shares = ch1.plot_velocity_bars(axes[0], (0.5, 0.1), (1, 2))
    assert np.allclose(shares[1], [0.5, 0.5])
    curves = ch1.plot_eigenvalue_curves(axes[1], np.logspace(-2, 0, 5), (1, 2))
    assert np.allclose(curves[1], 1.0)
    assert np.allclose(curves[2], 2 * np.logspace(-2, 0, 5))
    ch1.plot_loop_scaling(axes[1], [0.02, 0.01], {2: np.array([1e-3, 2.5e-4])})
    A, B, values = ch1.scalar_landscape(points=21)
    ch1.plot_scalar_landscape(axes[0], A, B, values, {"a": (1.0, 1.0)})
    plt.close(fig)


def test_rotation_plane_orthonormal_and_strength():
    rng = np.random.default_rng(9)
    loss = ll.SquareLoss.to_target(rng.standard_normal((2, 3)))
    W = rng.standard_normal((2, 3))
    A, B, strength = ch1.rotation_plane(loss, W, 3)
    assert np.linalg.norm(A) == pytest.approx(1)
    assert np.linalg.norm(B) == pytest.approx(1)
    assert abs(np.sum(A * B)) < 1e-12
    assert strength > 0.05
    curl = ch1.planar_curl(loss, W, A, B, 3)
    J = ch1.velocity_jacobian(loss, W, 3)
    assert abs(curl) / np.linalg.norm(J, 2) == pytest.approx(strength, rel=1e-4)
    assert ch1.rotation_plane(loss, W, 1)[2] < 1e-8


def test_velocity_jacobian_is_identity_for_target_loss_at_depth_one():
    loss = ll.SquareLoss.to_target(np.zeros((2, 2)))
    J = ch1.velocity_jacobian(loss, np.ones((2, 2)), 1)
    assert np.allclose(J, np.eye(4), atol=1e-8)


def test_time_to_reach_entry_interpolates_and_entry_when():
    runs = ch1.trajectories(np.diag([1.0, 0.4]), 0.01, (1,), t_end=10.0, points=11)
    run = runs[1]
    w11 = run.end_to_end[:, 0, 0]
    t_half = ch1.time_to_reach_entry(run, (0, 0), 0.5)
    k = np.argmax(w11 >= 0.5)
    assert run.t[k - 1] < t_half < run.t[k]
    assert ch1.entry_when(run, (0, 0), (0, 0), 0.5) == pytest.approx(0.5)
    assert np.isnan(ch1.entry_when(run, (0, 0), (1, 1), 5.0))


def test_plot_eigenvalue_curves_rejects_bad_input():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="sigma_small"):
        ch1.plot_eigenvalue_curves(ax, np.array([0.0, 1.0]), (2,))
    with pytest.raises(ValueError, match="depth"):
        ch1.plot_eigenvalue_curves(ax, np.array([0.5, 1.0]), (0,))
    plt.close(fig)


def test_conservation_along_flow_loose_tolerance_shows_drift(target_loss):
    init = ll.gaussian_init([2, 4, 2], 0.5, np.random.default_rng(0))
    t = np.linspace(0.0, 2.0, 5)
    tight = ll.ch1.conservation_along_flow(target_loss, init, t)
    loose = ll.ch1.conservation_along_flow(target_loss, init, t, rtol=1e-5)
    assert tight["gap_drift"] < 1e-10 < loose["gap_drift"]
    assert loose["gap_drift"] >= ll.ch1.gap_drift(init, loose["result"].layers_at(-1))
    with pytest.raises(ValueError, match="rtol"):
        ll.ch1.conservation_along_flow(target_loss, init, t, rtol=-1.0)
